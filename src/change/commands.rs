//! `govctl change approve | list | show` and `govctl plan show`.

use std::process::ExitCode;

use serde::Serialize;

use super::gate::{Gate, Settings};
use super::plan::Plan;
use super::record::Records;
use crate::aws::Aws;
use crate::change::audit::AuditLog;
use crate::cli::{ChangeApproveArgs, ChangeCommand, ChangeListArgs, ChangeShowArgs, Format};
use crate::cli::{GateArgs, PlanCommand};
use crate::error::{EXIT_OK, Error, Result};
use crate::output::{self, Row};
use crate::ui::Ui;

/// One change record, as `change list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeRow {
    pub plan_id: String,
    pub kind: String,
    pub status: String,
    pub planned_by: String,
    pub planned_at: String,
    pub expires_at: String,
    pub approvals: usize,
    pub summary: String,
}

impl Row for ChangeRow {
    const COLUMNS: &'static [&'static str] = &[
        "plan_id",
        "kind",
        "status",
        "planned_by",
        "planned_at",
        "expires_at",
        "approvals",
        "summary",
    ];
}

pub async fn run(command: ChangeCommand, ui: &Ui) -> Result<ExitCode> {
    match command {
        ChangeCommand::Approve(args) => approve(args, ui).await,
        ChangeCommand::List(args) => list(args, ui).await,
        ChangeCommand::Show(args) => show(args).await,
    }
}

pub async fn run_plan(command: PlanCommand, ui: &Ui) -> Result<ExitCode> {
    match command {
        PlanCommand::Show(args) => {
            // Each kind of change renders its own plans; layer remediation is the default.
            let plan = Plan::load(&args.file)?;
            if crate::ocu::shows(&plan.kind) {
                crate::ocu::show_plan(&args, ui)
            } else if plan.kind == crate::tailscale::plan::KIND {
                crate::tailscale::show::run(args, ui).await
            } else {
                crate::remediate::show::run(args, ui).await
            }
        }
    }
}

/// The gate settings from the command line.
pub fn settings(gate: &GateArgs) -> Settings {
    Settings {
        allow_self_approval: gate.allow_self_approval,
        calendar: gate.change_calendar.clone(),
        audit: AuditLog::new(
            gate.audit_log
                .clone()
                .unwrap_or_else(AuditLog::default_path),
        ),
    }
}

async fn approve(args: ChangeApproveArgs, ui: &Ui) -> Result<ExitCode> {
    let plan = Plan::load(&args.file)?;
    let aws = Aws::connect(&args.aws).await?;
    let gate = Gate::new(&aws, settings(&args.gate));
    let record = gate.approve(&plan, args.comment).await?;
    ui.status(format!(
        "approved {} ({}) as {}; {} approval(s) of digest {}",
        plan.plan_id,
        record.summary,
        gate.caller().arn,
        record
            .approvals
            .iter()
            .filter(|a| a.digest == plan.digest)
            .count(),
        plan.digest
    ));
    Ok(ExitCode::from(EXIT_OK))
}

async fn list(args: ChangeListArgs, ui: &Ui) -> Result<ExitCode> {
    let aws = Aws::connect(&args.aws).await?;
    let records = Records::new(&aws).list().await?;
    let rows: Vec<ChangeRow> = records
        .into_iter()
        .filter(|r| args.status.is_none_or(|s| r.status == s))
        .map(|r| ChangeRow {
            approvals: r.approvals.iter().filter(|a| a.digest == r.digest).count(),
            status: r.status.to_string(),
            planned_by: r.planned_by.arn,
            plan_id: r.plan_id,
            kind: r.kind,
            planned_at: r.planned_at,
            expires_at: r.expires_at,
            summary: r.summary,
        })
        .collect();
    output::emit(
        &rows,
        args.output.output,
        "change_records",
        args.output.out.as_deref(),
    )?;
    ui.status(format!("{} change records", rows.len()));
    Ok(ExitCode::from(EXIT_OK))
}

async fn show(args: ChangeShowArgs) -> Result<ExitCode> {
    let aws = Aws::connect(&args.aws).await?;
    let record = Records::new(&aws)
        .get(&args.id)
        .await?
        .ok_or_else(|| Error::NoRecord {
            plan_id: args.id.clone(),
        })?;
    if args.output.output == Format::Json {
        let text =
            serde_json::to_string_pretty(&record).map_err(|e| Error::Encode(e.to_string()))?;
        let write = |out: &mut dyn std::io::Write| -> Result<()> {
            writeln!(out, "{text}")?;
            Ok(())
        };
        match &args.output.out {
            Some(path) => output::write_file(path, write)?,
            None => write(&mut std::io::stdout().lock())?,
        }
        return Ok(ExitCode::from(EXIT_OK));
    }

    let mut out = std::io::stdout().lock();
    use std::io::Write;
    writeln!(out, "{} ({})", record.plan_id, record.kind)?;
    writeln!(out, "  status     {}", record.status)?;
    writeln!(out, "  summary    {}", record.summary)?;
    writeln!(out, "  digest     {}", record.digest)?;
    writeln!(
        out,
        "  planned by {} at {}",
        record.planned_by.arn, record.planned_at
    )?;
    writeln!(out, "  expires    {}", record.expires_at)?;
    writeln!(out, "Approvals:")?;
    for a in &record.approvals {
        let current = if a.digest == record.digest {
            ""
        } else {
            " (another version)"
        };
        let comment = a
            .comment
            .as_deref()
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        writeln!(out, "  {} by {}{current}{comment}", a.at, a.by.arn)?;
    }
    writeln!(out, "Events:")?;
    if record.events_truncated {
        writeln!(out, "  (older events are in the SSM parameter's history)")?;
    }
    for e in &record.events {
        let detail = if e.detail.is_empty() {
            String::new()
        } else {
            format!(" {}", e.detail)
        };
        writeln!(out, "  {} {} by {}{detail}", e.at, e.event, e.by)?;
    }
    Ok(ExitCode::from(EXIT_OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_match_the_serialized_fields() {
        let row = ChangeRow {
            plan_id: "p".into(),
            kind: "k".into(),
            status: "planned".into(),
            planned_by: "a".into(),
            planned_at: "t".into(),
            expires_at: "t".into(),
            approvals: 0,
            summary: "s".into(),
        };
        assert_eq!(output::serialized_keys(&row), ChangeRow::COLUMNS);
    }
}
