//! `govctl remediate`: move functions off outdated layer versions, through the change gate.
//!
//! `--plan` discovers what to change and writes a sealed plan ([`planning`]); `plan show`
//! renders it for people and for the owners of the functions ([`show`]); `--apply` deploys
//! the remediation StackSet wave by wave ([`apply`]); `status` compares the plan with the
//! world; `--cleanup` removes the rollout once it is done.

pub mod apply;
pub mod planning;
pub mod rollout;
pub mod show;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::cli::{AwsArgs, DiscoveryArgs, GateArgs, env, parse_account, parse_region};
use crate::error::Result;
use crate::ui::Ui;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RemediateArgs {
    #[command(subcommand)]
    pub command: Option<RemediateCommand>,

    /// Make a plan (written to --out) instead of changing anything
    #[arg(long, conflicts_with_all = ["apply", "cleanup"],
          required_unless_present_any = ["apply", "cleanup"])]
    pub plan: bool,

    /// Apply an approved plan file
    #[arg(long, value_name = "FILE", conflicts_with = "cleanup")]
    pub apply: Option<PathBuf>,

    /// Remove the stack instances and the StackSet of an applied or rolled-back plan
    #[arg(long, value_name = "FILE")]
    pub cleanup: Option<PathBuf>,

    #[command(flatten)]
    pub planning: PlanningArgs,

    /// With --apply or --cleanup: take over the apply lock of a run that died
    #[arg(long)]
    pub break_lock: bool,

    /// StackSet administration role (self-managed permissions)
    #[arg(long, value_name = "ARN")]
    pub admin_role_arn: Option<String>,

    /// Role the StackSet assumes in each target account (self-managed permissions)
    #[arg(
        long,
        value_name = "NAME",
        default_value = "AWSCloudFormationStackSetExecutionRole"
    )]
    pub execution_role_name: String,

    /// How often to poll a running StackSet operation, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 10, hide = true)]
    pub poll_seconds: u64,

    #[command(flatten)]
    pub gate: GateArgs,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Subcommand)]
pub enum RemediateCommand {
    /// Per account and region: the stack instance status, and how many of the planned
    /// functions are on the new version now
    #[command(after_help = "Example:\n  govctl remediate status plan.json")]
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The plan file
    pub file: PathBuf,

    #[command(flatten)]
    pub output: crate::cli::OutputArgs<crate::cli::TableDefault>,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// What `--plan` takes besides discovery.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Planning options")]
pub struct PlanningArgs {
    #[command(flatten)]
    pub discovery: DiscoveryArgs,

    /// The layer to remediate, by name (needed when several layers are outdated)
    #[arg(long, value_name = "NAME")]
    pub layer: Option<String>,

    /// Move to this version instead of the approved or newest one
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub new_version: Option<u64>,

    /// Make the inverse of this applied plan (new version back to old, same targets)
    #[arg(long, value_name = "FILE", requires = "plan")]
    pub rollback: Option<PathBuf>,

    /// Leave these accounts out (comma-separated IDs)
    #[arg(long, value_name = "ID,...", value_delimiter = ',', value_parser = parse_account)]
    pub exclude_accounts: Vec<String>,

    /// Only accounts under these organizational unit paths, e.g. Root/Workloads
    #[arg(long, value_name = "PATH,...", value_delimiter = ',')]
    pub ous: Vec<String>,

    /// Accounts that are never touched, whatever the other filters say
    #[arg(long, env = env::PROTECTED_ACCOUNTS, value_name = "ID,...", value_delimiter = ',',
          value_parser = parse_account)]
    pub protected_accounts: Vec<String>,

    /// Accounts to change first, in a wave of their own
    #[arg(long, value_name = "ID,...", value_delimiter = ',', value_parser = parse_account)]
    pub canary: Vec<String>,

    /// Accounts per wave after the canary
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub wave_size: usize,

    /// Stack instances deployed at once, as a count
    #[arg(long, value_name = "N", conflicts_with = "max_concurrent_percentage")]
    pub max_concurrent_count: Option<i32>,

    /// Stack instances deployed at once, as a percentage of the accounts
    #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(i32).range(1..=100))]
    pub max_concurrent_percentage: Option<i32>,

    /// Failed instances tolerated per region before the operation stops, as a count
    #[arg(
        long,
        value_name = "N",
        conflicts_with = "failure_tolerance_percentage"
    )]
    pub failure_tolerance_count: Option<i32>,

    /// Failed instances tolerated per region, as a percentage
    #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(i32).range(0..=100))]
    pub failure_tolerance_percentage: Option<i32>,

    /// Regions in this order (comma-separated)
    #[arg(long, value_name = "REGION,...", value_delimiter = ',', value_parser = parse_region)]
    pub region_order: Vec<String>,

    /// Deploy regions one after another or at once
    #[arg(long, value_name = "MODE", default_value = "SEQUENTIAL",
          value_parser = ["SEQUENTIAL", "PARALLEL"])]
    pub region_concurrency: String,

    /// StackSet concurrency mode
    #[arg(long, value_name = "MODE", default_value = "STRICT_FAILURE_TOLERANCE",
          value_parser = ["STRICT_FAILURE_TOLERANCE", "SOFT_FAILURE_TOLERANCE"])]
    pub concurrency_mode: String,

    /// When the remediation may start in member accounts (UTC, e.g. 2026-12-10T20:00:00Z)
    #[arg(long, value_name = "TIME")]
    pub window_start: Option<String>,

    /// When the remediation must have started by (UTC)
    #[arg(long, value_name = "TIME")]
    pub window_end: Option<String>,

    /// How long the plan stays valid: a number with s, m, h or d (e.g. 36h, 7d)
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub expires_in: i64,

    /// Where to write the plan
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Exit 0 when nothing needs to change and 2 when the plan has changes (errors: 1)
    #[arg(long)]
    pub detailed_exitcode: bool,
}

pub async fn run(args: RemediateArgs, ui: &Ui) -> Result<ExitCode> {
    if let Some(RemediateCommand::Status(status)) = args.command {
        return apply::status(status, ui).await;
    }
    let settings = crate::change::commands::settings(&args.gate);
    if let Some(file) = &args.apply {
        return apply::apply(file, &args, settings, ui).await;
    }
    if let Some(file) = &args.cleanup {
        return apply::cleanup(file, &args, settings, ui).await;
    }
    planning::plan(&args.planning, &args.aws, settings, ui).await
}

/// Seconds in a duration such as `90s`, `30m`, `36h` or `7d`.
pub fn parse_duration(value: &str) -> std::result::Result<i64, String> {
    let expected = || format!("'{value}' is not a duration: expected a number with s, m, h or d");
    let unit = value.chars().last().ok_or_else(expected)?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(expected()),
    };
    let number: i64 = value[..value.len() - 1].parse().map_err(|_| expected())?;
    if !(1..=365 * 86_400).contains(&(number * scale)) {
        return Err(format!("'{value}' is out of range: from 1s to 365d"));
    }
    Ok(number * scale)
}

/// Whether a failure of this invocation should exit 1 rather than 2 (`--detailed-exitcode`).
pub fn errors_exit_1(args: &RemediateArgs) -> bool {
    args.plan && args.planning.detailed_exitcode
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("36h"), Ok(36 * 3600));
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400));
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("400d").is_err());
    }
}
