//! Which accounts and regions a command visits, and visiting them concurrently.
//!
//! Organization-wide commands (OCU status, Tailscale key status, their plans) take the same
//! selection: named accounts, or every active account of the organization, times a list of
//! regions. They resolve it once into [`Target`]s, before any per-account call, so that a
//! typo in an account ID or a missing Organizations permission fails the command at once
//! rather than half way through.

use std::collections::HashMap;
use std::future::Future;

use clap::Args;
use futures::{StreamExt, stream};

use crate::aws::Aws;
use crate::cli::{env, parse_account, parse_region};
use crate::error::Result;
use crate::org;
use crate::ui::Ui;

/// The account and region selection shared by organization-wide commands.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Targets")]
pub struct TargetArgs {
    /// Only these accounts (comma-separated IDs)
    #[arg(long, value_name = "ID,...", value_delimiter = ',', value_parser = parse_account,
          conflicts_with = "org")]
    pub accounts: Option<Vec<String>>,

    /// Every active account of the organization (the default when --accounts is not given)
    #[arg(long)]
    pub org: bool,

    /// Leave these accounts out (comma-separated IDs)
    #[arg(long, value_name = "ID,...", value_delimiter = ',', value_parser = parse_account)]
    pub exclude_accounts: Vec<String>,

    /// Regions to visit (comma-separated) [default: the --region]
    #[arg(long, env = env::REGIONS, value_name = "REGION,...", value_delimiter = ',',
          value_parser = parse_region)]
    pub regions: Option<Vec<String>>,
}

/// One account and region to visit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    pub account: String,
    pub region: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// The targets `args` select, sorted by account and region, without duplicates.
///
/// Without `--accounts`, the organization's active accounts are listed (one paginated
/// Organizations call); suspended and closing accounts are left out, since nothing can be
/// read or changed in them.
pub async fn resolve(aws: &Aws, args: &TargetArgs) -> Result<Vec<Target>> {
    let accounts = accounts_or_org(aws, args.accounts.as_deref()).await?;
    let regions = regions_or_home(aws, args.regions.as_deref());
    Ok(cross(&accounts, &regions, &args.exclude_accounts))
}

/// Like [`resolve`], with the organization's account names for a report.
///
/// When the accounts come from the organization, its one listing gives both. Named
/// accounts are named with a listing of their own; a caller that cannot read
/// Organizations then gets no names, and a warning, rather than no report.
pub async fn resolve_named(
    aws: &Aws,
    args: &TargetArgs,
    ui: &Ui,
) -> Result<(Vec<Target>, HashMap<String, String>)> {
    let (accounts, names) = match &args.accounts {
        Some(accounts) => {
            let names = org::account_names(aws).await.unwrap_or_else(|error| {
                ui.warn(format!("account names are left empty: {error}"));
                HashMap::new()
            });
            (accounts.clone(), names)
        }
        None => {
            let members = org::members(aws).await?;
            let active = members
                .iter()
                .filter(|member| member.is_active())
                .map(|member| member.id.clone())
                .collect();
            let names = members
                .into_iter()
                .map(|member| (member.id, member.name))
                .collect();
            (active, names)
        }
    };
    let regions = regions_or_home(aws, args.regions.as_deref());
    Ok((cross(&accounts, &regions, &args.exclude_accounts), names))
}

/// The accounts named, or else the organization's active accounts, in the order given.
pub async fn accounts_or_org(aws: &Aws, named: Option<&[String]>) -> Result<Vec<String>> {
    match named {
        Some(accounts) => Ok(accounts.to_vec()),
        None => Ok(org::members(aws)
            .await?
            .into_iter()
            .filter(|member| member.is_active())
            .map(|member| member.id)
            .collect()),
    }
}

/// The regions named, or else the region the command runs in.
pub fn regions_or_home(aws: &Aws, named: Option<&[String]>) -> Vec<String> {
    match named {
        Some(regions) => regions.to_vec(),
        None => vec![aws.region().to_string()],
    }
}

/// Every account times every region, minus the excluded accounts, sorted and unique.
pub fn cross(accounts: &[String], regions: &[String], exclude: &[String]) -> Vec<Target> {
    let mut targets: Vec<Target> = accounts
        .iter()
        .filter(|account| !exclude.contains(account))
        .flat_map(|account| {
            regions.iter().map(move |region| Target {
                account: account.clone(),
                region: region.clone(),
            })
        })
        .collect();
    targets.sort();
    targets.dedup();
    targets
}

/// Runs `visit` for every target, at most `aws.concurrency()` at once, and returns each
/// target with its outcome, in target order. A failing target does not stop the others:
/// the caller decides whether one failure fails the command.
pub async fn visit<'a, T, F, Fut>(
    aws: &'a Aws,
    targets: &'a [Target],
    visit: F,
) -> Vec<(&'a Target, Result<T>)>
where
    F: Fn(&'a Target) -> Fut,
    Fut: Future<Output = Result<T>> + 'a,
{
    let mut outcomes: Vec<(usize, &Target, Result<T>)> = stream::iter(targets.iter().enumerate())
        .map(|(index, target)| {
            let fut = visit(target);
            async move { (index, target, fut.await) }
        })
        .buffer_unordered(aws.concurrency().max(1))
        .collect()
        .await;
    outcomes.sort_by_key(|(index, _, _)| *index);
    outcomes
        .into_iter()
        .map(|(_, target, outcome)| (target, outcome))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn targets_are_the_sorted_cross_product_without_excluded_accounts() {
        let targets = cross(
            &strings(&[
                "222222222222",
                "111111111111",
                "333333333333",
                "111111111111",
            ]),
            &strings(&["us-east-1", "eu-west-1"]),
            &strings(&["333333333333"]),
        );
        let shown: Vec<String> = targets.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "111111111111/eu-west-1",
                "111111111111/us-east-1",
                "222222222222/eu-west-1",
                "222222222222/us-east-1",
            ]
        );
    }
}
