//! `govctl ocu set-limits --plan / --apply`: maximum OCUs changed through the change gate.
//!
//! The plan records, per account and region, the current maximum and the new one, and the
//! peak usage the new one was checked against. A value below 2 (the service's minimum) or
//! below the peak is refused while planning, naming the account, region and value. The
//! apply re-reads every account and region first: one whose maximum is neither the planned
//! old value nor (after an interrupted apply) the new one makes the plan stale, since
//! someone changed it in between.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aws_sdk_opensearchserverless::types::CapacityLimits;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::threshold::{MINIMUM_OCU, refusal};
use super::usage::{self, Limits};
use super::{PlanArgs, SetLimitsArgs};
use crate::aws::{Aws, Call};
use crate::change::commands::settings;
use crate::change::gate::Gate;
use crate::change::plan::{Identity, Plan, now};
use crate::change::record::Status;
use crate::error::{EXIT_OK, Error, Result};
use crate::output;
use crate::targets::{self, Target};
use crate::ui::Ui;

/// The kind of change in plan files and change records.
pub const KIND: &str = "ocu-limits";

/// One account and region whose maximum changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitsChange {
    pub account_id: String,
    pub region: String,
    pub old: Limits,
    pub new: Limits,
    /// The peak usage over the plan's window, which the new values were checked against.
    pub peak_indexing: Option<f64>,
    pub peak_search: Option<f64>,
}

/// What a limits plan holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitsPlan {
    pub indexing: Option<i32>,
    pub search: Option<i32>,
    pub since_seconds: i64,
    pub changes: Vec<LimitsChange>,
    /// Targets already at the requested values.
    pub unchanged: Vec<String>,
}

pub async fn run(args: SetLimitsArgs, ui: &Ui) -> Result<ExitCode> {
    match &args.apply {
        Some(file) => apply(file, &args, ui).await,
        None => plan(&args, ui).await,
    }
}

/// Refuses a requested value below the minimum before anything is read.
fn check_requested(what: &'static str, value: Option<i32>) -> Result<()> {
    match value {
        Some(v) if v < MINIMUM_OCU => Err(Error::InvalidInput {
            what,
            value: v.to_string(),
            expected: format!(
                "at least {MINIMUM_OCU} OCUs, the minimum OpenSearch Serverless accepts"
            ),
        }),
        _ => Ok(()),
    }
}

/// The change for one target, or why it is refused (`Err((flag, value, reason))`).
pub fn change_for(
    target: &Target,
    old: Limits,
    peaks: (Option<f64>, Option<f64>),
    indexing: Option<i32>,
    search: Option<i32>,
) -> std::result::Result<LimitsChange, (&'static str, i32, String)> {
    if let Some(value) = indexing
        && let Some(reason) = refusal(value, peaks.0)
    {
        return Err(("--indexing", value, reason));
    }
    if let Some(value) = search
        && let Some(reason) = refusal(value, peaks.1)
    {
        return Err(("--search", value, reason));
    }
    Ok(LimitsChange {
        account_id: target.account.clone(),
        region: target.region.clone(),
        old,
        new: Limits {
            indexing: indexing.or(old.indexing),
            search: search.or(old.search),
        },
        peak_indexing: peaks.0,
        peak_search: peaks.1,
    })
}

async fn plan(args: &SetLimitsArgs, ui: &Ui) -> Result<ExitCode> {
    check_requested("--indexing", args.indexing)?;
    check_requested("--search", args.search)?;
    if let Some(out) = &args.plan_options.out {
        output::check_destination(out)?;
    }
    let aws = Aws::connect(&args.aws).await?;
    let targets = targets::resolve(&aws, &args.targets).await?;
    let since = args.since;

    let spinner = ui.spinner("reading OCU limits and peak usage");
    let outcomes = targets::visit(&aws, &targets, |target| {
        let aws = &aws;
        async move {
            let old = usage::limits(aws, target).await?;
            let (indexing, search) = usage::usage(aws, target, since).await?;
            Ok((old, (indexing.peak, search.peak)))
        }
    })
    .await;
    spinner.finish_and_clear();

    let mut changes = Vec::new();
    let mut unchanged = Vec::new();
    for (target, outcome) in outcomes {
        let (old, peaks) = outcome?;
        let change = change_for(target, old, peaks, args.indexing, args.search).map_err(
            |(what, value, reason)| Error::InvalidInput {
                what,
                value: value.to_string(),
                expected: format!(
                    "a maximum the account {} in {} can take: {reason}",
                    target.account, target.region
                ),
            },
        )?;
        if change.new == change.old {
            unchanged.push(target.to_string());
        } else {
            changes.push(change);
        }
    }
    for place in &unchanged {
        ui.status(format!(
            "{place}: already at the requested maximum; no change"
        ));
    }
    let content = LimitsPlan {
        indexing: args.indexing,
        search: args.search,
        since_seconds: since,
        changes,
        unchanged,
    };
    if content.changes.is_empty() {
        ui.status("nothing to change: every target is at the requested maximum");
        return Ok(ExitCode::from(EXIT_OK));
    }
    let inputs = json!({
        "indexing": args.indexing,
        "search": args.search,
        "since": args.since,
        "accounts": args.targets.accounts,
        "exclude_accounts": args.targets.exclude_accounts,
        "regions": args.targets.regions,
    });
    let gate = Gate::new(&aws, settings(&args.gate));
    let (plan, path) = seal(&aws, KIND, inputs, &content, &args.plan_options)?;
    plan.save(&path)?;
    gate.record_plan(&plan, summary(&content)).await?;

    let mut stdout = std::io::stdout().lock();
    render(&plan, &content, &mut stdout)?;
    plan.write_next_step(&path, &mut stdout)?;
    Ok(ExitCode::from(EXIT_OK))
}

/// Seals a plan of `kind` made by the caller; returns it and where it goes.
pub fn seal<T: Serialize>(
    aws: &Aws,
    kind: &str,
    inputs: serde_json::Value,
    content: &T,
    options: &PlanArgs,
) -> Result<(Plan, PathBuf)> {
    let caller = Identity {
        arn: aws.caller().arn.clone(),
        account: aws.caller().account.clone(),
    };
    let changes = serde_json::to_value(content).map_err(|e| Error::Encode(e.to_string()))?;
    let plan = Plan::new(
        kind,
        caller,
        inputs,
        changes,
        now(),
        options.expires_in.max(1),
    );
    let path = options
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.json", plan.plan_id)));
    Ok((plan, path))
}

/// One line for change records and lists.
pub fn summary(content: &LimitsPlan) -> String {
    let accounts: BTreeSet<&str> = content
        .changes
        .iter()
        .map(|c| c.account_id.as_str())
        .collect();
    let value = |v: Option<i32>| v.map_or("unchanged".to_string(), |v| v.to_string());
    format!(
        "OCU limits (indexing {}, search {}): {} account-regions in {} accounts",
        value(content.indexing),
        value(content.search),
        content.changes.len(),
        accounts.len()
    )
}

/// The limits plan a plan file holds.
pub fn content_of(plan: &Plan, path: &Path) -> Result<LimitsPlan> {
    plan.changes_as(KIND, path)
}

fn shown(value: Option<i32>) -> String {
    value.map_or_else(|| "not set".to_string(), |v| v.to_string())
}

fn shown_peak(value: Option<f64>) -> String {
    value.map_or_else(|| "no data".to_string(), |v| v.to_string())
}

/// The plan as a reviewer reads it: old -> new per account and region, then totals.
pub fn render(plan: &Plan, content: &LimitsPlan, out: &mut dyn Write) -> Result<()> {
    plan.write_header(out)?;
    writeln!(out)?;
    for change in &content.changes {
        writeln!(out, "account {}, {}", change.account_id, change.region)?;
        for (name, old, new, peak) in [
            (
                "indexing",
                change.old.indexing,
                change.new.indexing,
                change.peak_indexing,
            ),
            (
                "search",
                change.old.search,
                change.new.search,
                change.peak_search,
            ),
        ] {
            let mark = if old == new { " " } else { "~" };
            writeln!(
                out,
                "  {mark} {name:<9} {} -> {}   (peak {} over the window)",
                shown(old),
                shown(new),
                shown_peak(peak)
            )?;
        }
    }
    writeln!(out)?;
    writeln!(out, "Totals: {}", summary(content))?;
    if !content.unchanged.is_empty() {
        writeln!(
            out,
            "Already at the requested maximum: {}",
            content.unchanged.join(", ")
        )?;
    }
    Ok(())
}

async fn apply(file: &Path, args: &SetLimitsArgs, ui: &Ui) -> Result<ExitCode> {
    let plan = Plan::load(file)?;
    let content = content_of(&plan, file)?;
    let aws = Aws::connect(&args.aws).await?;
    let gate = Gate::new(&aws, settings(&args.gate));
    let mut record = gate.check_apply(&plan).await?;

    // Stale check: every planned place must still be at its old value (or, when an
    // earlier apply was interrupted, already at its new one).
    let spinner = ui.spinner("checking that the plan still holds");
    let places: Vec<Target> = content
        .changes
        .iter()
        .map(|c| Target {
            account: c.account_id.clone(),
            region: c.region.clone(),
        })
        .collect();
    let current = targets::visit(&aws, &places, |target| usage::limits(&aws, target)).await;
    spinner.finish_and_clear();
    let mut pending = Vec::new();
    for ((_, now_limits), change) in current.into_iter().zip(&content.changes) {
        let now_limits = now_limits?;
        if now_limits == change.new {
            continue;
        }
        if now_limits != change.old {
            return Err(Error::PlanStale {
                plan_id: plan.plan_id.clone(),
                detail: format!(
                    "the maximum OCUs of account {} in {} are now indexing {}, search {}; the \
                     plan expected indexing {}, search {}",
                    change.account_id,
                    change.region,
                    shown(now_limits.indexing),
                    shown(now_limits.search),
                    shown(change.old.indexing),
                    shown(change.old.search)
                ),
            });
        }
        pending.push(change);
    }

    gate.start_apply(&plan, &mut record, args.plan_options.break_lock)
        .await?;
    for change in &pending {
        let outcome = update(&aws, change).await;
        let detail = json!({"account": change.account_id, "region": change.region,
                            "old": change.old, "new": change.new});
        if let Err(error) = outcome {
            let failed = json!({"error": error.to_string(), "at": detail});
            gate.finish(&plan, &mut record, Status::Failed, failed)
                .await
                .ok();
            return Err(error);
        }
        gate.step(&plan, &mut record, "limits-changed", detail)
            .await?;
        ui.status(format!(
            "{}/{}: indexing {} -> {}, search {} -> {}",
            change.account_id,
            change.region,
            shown(change.old.indexing),
            shown(change.new.indexing),
            shown(change.old.search),
            shown(change.new.search)
        ));
    }
    let detail = json!({"changed": pending.len(), "planned": content.changes.len()});
    gate.finish(&plan, &mut record, Status::Applied, detail)
        .await?;
    ui.status(format!(
        "applied {}: {} account-regions changed ({} were already done)",
        plan.plan_id,
        pending.len(),
        content.changes.len() - pending.len()
    ));
    Ok(ExitCode::from(EXIT_OK))
}

/// `aoss:UpdateAccountSettings` with the new values (both, so the result is exact).
async fn update(aws: &Aws, change: &LimitsChange) -> Result<()> {
    let config = aws.config_for(&change.account_id, &change.region).await?;
    let client = aws_sdk_opensearchserverless::Client::new(&config);
    let call = Call::new(
        "aoss:UpdateAccountSettings",
        &change.account_id,
        &change.region,
    )
    .endpoint_of(&config);
    let limits = CapacityLimits::builder()
        .set_max_indexing_capacity_in_ocu(change.new.indexing)
        .set_max_search_capacity_in_ocu(change.new.search)
        .build();
    client
        .update_account_settings()
        .capacity_limits(limits)
        .send()
        .await
        .map_err(|e| call.error(e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            account: "111122223333".into(),
            region: "eu-west-1".into(),
        }
    }

    #[test]
    fn a_change_keeps_the_dimension_not_asked_for() {
        let old = Limits {
            indexing: Some(10),
            search: Some(8),
        };
        let change = change_for(&target(), old, (Some(4.0), Some(6.0)), Some(20), None).unwrap();
        assert_eq!(
            change.new,
            Limits {
                indexing: Some(20),
                search: Some(8)
            }
        );
        assert_eq!(change.old, old);
    }

    #[test]
    fn values_below_the_peak_are_refused_with_the_flag() {
        let old = Limits::default();
        let (what, value, reason) =
            change_for(&target(), old, (Some(4.0), Some(6.5)), Some(4), Some(6)).unwrap_err();
        assert_eq!((what, value), ("--search", 6));
        assert!(reason.contains("6.5"), "{reason}");
        assert!(change_for(&target(), old, (None, None), Some(1), None).is_err());
    }

    #[test]
    fn requested_values_below_two_are_refused_at_once() {
        let error = check_requested("--indexing", Some(1))
            .unwrap_err()
            .to_string();
        assert!(error.contains("'1' for --indexing"), "{error}");
        assert!(check_requested("--search", Some(2)).is_ok());
    }
}
