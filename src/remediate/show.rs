//! Plans for people: the per-function diff a reviewer approves, and the notice for owners.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

use super::planning::rollout_of;
use super::rollout::Rollout;
use crate::change::plan::Plan;
use crate::cli::PlanShowArgs;
use crate::error::{EXIT_OK, Result};
use crate::ui::Ui;

/// `govctl plan show FILE`.
pub async fn run(args: PlanShowArgs, ui: &Ui) -> Result<ExitCode> {
    let plan = Plan::load(&args.file)?;
    if let Err(error) = plan.check_digest() {
        ui.warn(format!(
            "{error}; showing it anyway, but it will not be applied"
        ));
    }
    let rollout = rollout_of(&plan, &args.file)?;
    let mut stdout = std::io::stdout().lock();
    if args.notice {
        notice(&plan, &rollout, &mut stdout)?;
    } else {
        render(&plan, &rollout, &mut stdout)?;
    }
    stdout.flush()?;
    Ok(ExitCode::from(EXIT_OK))
}

/// One line for change records and lists.
pub fn summary(rollout: &Rollout) -> String {
    let accounts: BTreeSet<&str> = rollout
        .functions
        .iter()
        .map(|f| f.account_id.as_str())
        .collect();
    format!(
        "{}: {} functions in {} accounts and {} regions, {} waves",
        rollout.layer_name,
        rollout.functions.len(),
        accounts.len(),
        rollout.swaps.len(),
        rollout.waves.len()
    )
}

/// The plan as a reviewer reads it: per account, region and function, the old layer list
/// and the new one, then totals, waves, window and the estimated duration.
pub fn render(plan: &Plan, rollout: &Rollout, out: &mut dyn Write) -> Result<()> {
    plan.write_header(out)?;
    writeln!(
        out,
        "  rollout   {} (StackSet {})",
        rollout.rollout_id, rollout.stack_set_name
    )?;
    writeln!(out)?;

    for (region, swap) in &rollout.swaps {
        writeln!(out, "In {region}: {} -> {}", swap.old.join(", "), swap.new)?;
    }
    writeln!(out)?;

    let mut last: Option<(&str, &str)> = None;
    for f in &rollout.functions {
        let here = (f.account_id.as_str(), f.region.as_str());
        if last != Some(here) {
            let name = if f.account_name.is_empty() {
                String::new()
            } else {
                format!(" ({})", f.account_name)
            };
            writeln!(out, "account {}{name}, {}", f.account_id, f.region)?;
            last = Some(here);
        }
        let managed = if f.managed_by.is_empty() {
            String::new()
        } else {
            format!("  [CloudFormation stack {}: will drift]", f.managed_by)
        };
        writeln!(out, "  ~ {}{managed}", f.function_name)?;
        for (i, (before, after)) in pairs(&f.layers_before, &f.layers_after).enumerate() {
            match (before, after) {
                (Some(b), Some(a)) if b == a => writeln!(out, "      {}. {b}", i + 1)?,
                (Some(b), Some(a)) => writeln!(out, "    - {}. {b}\n    + {}. {a}", i + 1, i + 1)?,
                (Some(b), None) => writeln!(out, "    - {}. {b}", i + 1)?,
                (None, Some(a)) => writeln!(out, "    + {}. {a}", i + 1)?,
                (None, None) => {}
            }
        }
    }
    writeln!(out)?;

    writeln!(out, "Totals: {}", summary(rollout))?;
    if !rollout.protected.is_empty() {
        writeln!(
            out,
            "Protected, left alone: {}",
            rollout.protected.join(", ")
        )?;
    }
    writeln!(out, "Waves:")?;
    for wave in &rollout.waves {
        writeln!(
            out,
            "  {:<8} {} accounts ({}) in {}",
            wave.name,
            wave.accounts.len(),
            wave.accounts.join(", "),
            wave.regions.join(", ")
        )?;
    }
    writeln!(
        out,
        "Window: {} to {} (UTC)",
        rollout.window_start, rollout.window_end
    )?;
    writeln!(
        out,
        "Estimated duration of the StackSet deployment: about {} minutes",
        rollout.estimated_minutes
    )?;
    Ok(())
}

/// A Markdown notice for the owners of the affected functions.
pub fn notice(plan: &Plan, rollout: &Rollout, out: &mut dyn Write) -> Result<()> {
    let accounts: BTreeSet<(&str, &str)> = rollout
        .functions
        .iter()
        .map(|f| (f.account_id.as_str(), f.account_name.as_str()))
        .collect();
    writeln!(out, "# Planned change: Lambda layer {}", rollout.layer_name)?;
    writeln!(out)?;
    writeln!(
        out,
        "Change {} moves the functions below to a new version of the layer `{}`. The \
         change runs in each account and region between {} and {} (UTC). Please test your \
         functions with the new version before the window, and reply to the platform team \
         if a function must be left out.",
        plan.plan_id, rollout.layer_name, rollout.window_start, rollout.window_end
    )?;
    writeln!(out)?;
    for (region, swap) in &rollout.swaps {
        writeln!(
            out,
            "- {region}: `{}` → `{}`",
            swap.old.join("`, `"),
            swap.new
        )?;
    }
    writeln!(out)?;
    writeln!(out, "| account | region | function | managed by |")?;
    writeln!(out, "|---|---|---|---|")?;
    for f in &rollout.functions {
        writeln!(
            out,
            "| {} {} | {} | {} | {} |",
            f.account_id, f.account_name, f.region, f.function_name, f.managed_by
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{} functions in {} accounts. Functions managed by CloudFormation will drift from \
         their templates: update the templates to the new version too. Published versions and \
         aliases are not changed; only `$LATEST` is.",
        rollout.functions.len(),
        accounts.len()
    )?;
    Ok(())
}

fn pairs<'a>(
    before: &'a [String],
    after: &'a [String],
) -> impl Iterator<Item = (Option<&'a String>, Option<&'a String>)> {
    let n = before.len().max(after.len());
    (0..n).map(move |i| (before.get(i), after.get(i)))
}
