//! `govctl sweep`: every read-only check in one run, written into a dated directory that
//! explains itself.
//!
//! A sweep runs the reports of its areas ([`settings::Area`]) at once, each with its own
//! AWS session and request budget, and writes each report as CSV and JSON, then
//! `summary.json` (for machines: per area its status, counts and files) and `summary.html`
//! (for people: the findings worst first, and charts). A failing area is reported as failed
//! and does not stop the others. The directory is written as `<stamp>.partial` and renamed
//! to `<stamp>` only once complete, so an interrupted sweep never passes for a whole one.

pub mod areas;
pub mod html;
pub mod settings;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use crate::aws::Aws;
use crate::change::plan::{now, timestamp};
use crate::cli::{AwsArgs, env};
use crate::error::{EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, Error, Result};
use crate::output;
use crate::targets::TargetArgs;
use crate::ui::Ui;
use settings::Area;

pub const ABOUT: &str = "\
Runs every read-only check at once (outdated layers, OCU limits, Tailscale auth keys, cost)
and writes DIR/<UTC date-time>/: each report as CSV and JSON, summary.json and summary.html
(findings worst first, with charts; opens without network). What each area runs and what
counts as a finding comes from the [sweep] section of the config file.

Exit status: 0 nothing at or above the configured thresholds, 1 findings, 2 an area failed
(the others are still written) or bad usage.";

pub const EXAMPLES: &str = "\
Examples:
  govctl sweep --out ~/sweeps
  govctl sweep --out ~/sweeps --areas layers,cost
  govctl --config ops/govctl.toml sweep --out /mnt/reports --regions us-east-1,eu-west-1";

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Directory to write into; each sweep makes DIR/<UTC date-time>/
    #[arg(long, env = env::SWEEP_OUT, value_name = "DIR")]
    pub out: PathBuf,

    /// Only these areas (comma-separated) [default: those the config file enables]
    #[arg(long, value_enum, value_delimiter = ',', value_name = "AREA,...")]
    pub areas: Option<Vec<Area>>,

    /// Leave these areas out (comma-separated)
    #[arg(long, value_enum, value_delimiter = ',', value_name = "AREA,...")]
    pub skip: Vec<Area>,

    #[command(flatten)]
    pub targets: TargetArgs,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// How an area ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    Findings,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Findings => "findings",
            Status::Failed => "failed",
        }
    }
}

/// One area's result, as `summary.json` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct AreaSummary {
    pub area: Area,
    pub status: Status,
    /// Rows of the area's report.
    pub rows: usize,
    /// Rows at or above the area's threshold.
    pub findings: usize,
    pub headline: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub files: Vec<String>,
    pub seconds: f64,
    /// Counts particular to the area.
    pub details: Value,
    #[serde(skip)]
    pub section: Option<html::Section>,
}

pub async fn run(args: SweepArgs, file: &settings::File, ui: &Ui) -> Result<ExitCode> {
    let areas = selected(&args, file);
    if areas.is_empty() {
        return Err(Error::InvalidInput {
            what: "--areas",
            value: format!("{:?}", args.skip),
            expected: "at least one area left to run".into(),
        });
    }
    // Everything the areas will run is parsed first: a bad setting fails here, before AWS.
    let jobs: Vec<areas::Job> = areas
        .iter()
        .map(|area| areas::Job::prepare(*area, file.table(*area), &args))
        .collect::<Result<_>>()?;
    check_out_dir(&args.out)?;

    let aws = Aws::connect(&args.aws).await?;
    let started_at = now();
    let (partial, done) = claim(&args.out, &stamp(started_at))?;
    ui.status(format!(
        "sweeping {} into {}",
        names(&areas),
        done.display()
    ));

    let runs = jobs.into_iter().map(|job| {
        let partial = &partial;
        async move {
            let area = job.area();
            let clock = Instant::now();
            let label = ui.labelled(area.name());
            let mut summary = job.run(partial, &label).await;
            summary.seconds = (clock.elapsed().as_secs_f64() * 10.0).round() / 10.0;
            match &summary.error {
                Some(error) => ui.warn(format!("{area} failed: {error}")),
                None => label.status(&summary.headline),
            }
            summary
        }
    });
    let summaries: Vec<AreaSummary> = futures::future::join_all(runs).await;

    let code = exit_code(&summaries);
    let finished_at = now();
    write_summary(&partial, &aws, &summaries, started_at, finished_at, code)?;
    std::fs::rename(&partial, &done).map_err(|source| Error::Write {
        path: done.clone(),
        source,
    })?;

    let count = |status: Status| summaries.iter().filter(|s| s.status == status).count();
    ui.status(format!(
        "{} areas: {} ok, {} with findings, {} failed; open {}",
        summaries.len(),
        count(Status::Ok),
        count(Status::Findings),
        count(Status::Failed),
        done.join("summary.html").display()
    ));
    println!("{}", done.display());
    Ok(ExitCode::from(code))
}

/// The areas to run: `--areas`, else the file's `areas`, else all; minus `--skip` and the
/// areas the file disables (unless named with `--areas`).
fn selected(args: &SweepArgs, file: &settings::File) -> Vec<Area> {
    let named = args.areas.is_some();
    let mut areas: Vec<Area> = args
        .areas
        .clone()
        .or_else(|| file.areas.clone())
        .unwrap_or_else(|| Area::ALL.to_vec());
    areas.sort();
    areas.dedup();
    areas.retain(|area| !args.skip.contains(area));
    if !named {
        areas.retain(|area| {
            file.table(*area)
                .get("enabled")
                .and_then(toml::Value::as_bool)
                .unwrap_or(true)
        });
    }
    areas
}

fn names(areas: &[Area]) -> String {
    areas
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_out_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// Creates `DIR/<stamp>.partial` for this sweep and returns it with the name it gets when
/// complete. A second sweep in the same second gets `<stamp>-1`, and so on: creating the
/// directory is the claim, so two sweeps never share one.
fn claim(out: &Path, stamp: &str) -> Result<(PathBuf, PathBuf)> {
    for n in 0..100 {
        let name = match n {
            0 => stamp.to_string(),
            n => format!("{stamp}-{n}"),
        };
        let done = out.join(&name);
        let partial = out.join(format!("{name}.partial"));
        if done.exists() {
            continue;
        }
        match std::fs::create_dir(&partial) {
            Ok(()) => return Ok((partial, done)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(Error::Write {
                    path: partial,
                    source,
                });
            }
        }
    }
    Err(Error::Write {
        path: out.join(stamp),
        source: std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "a hundred sweeps already started in this second",
        ),
    })
}

/// `2026-12-04T021500Z`: sortable, and without the colons some file systems refuse.
fn stamp(seconds: i64) -> String {
    timestamp(seconds).replace(':', "")
}

/// 2 when an area failed, else 1 when one has findings, else 0.
fn exit_code(summaries: &[AreaSummary]) -> u8 {
    match summaries.iter().map(|s| s.status).max() {
        Some(Status::Failed) => EXIT_ERROR,
        Some(Status::Findings) => EXIT_FINDINGS,
        _ => EXIT_OK,
    }
}

fn write_summary(
    dir: &Path,
    aws: &Aws,
    summaries: &[AreaSummary],
    started_at: i64,
    finished_at: i64,
    code: u8,
) -> Result<()> {
    let status = summaries
        .iter()
        .map(|s| s.status)
        .max()
        .unwrap_or(Status::Ok);
    let document = json!({
        "schema_version": output::SCHEMA_VERSION,
        "kind": "sweep_summary",
        "started_at": timestamp(started_at),
        "finished_at": timestamp(finished_at),
        "caller": {"account": aws.caller().account, "arn": aws.caller().arn},
        "region": aws.region(),
        "status": status,
        "exit_code": code,
        "areas": summaries,
    });
    output::write_file(&dir.join("summary.json"), |writer| {
        serde_json::to_writer_pretty(&mut *writer, &document)
            .map_err(|e| Error::Encode(e.to_string()))?;
        writer.write_all(b"\n")?;
        Ok(())
    })?;

    let sections: Vec<html::Section> = summaries
        .iter()
        .map(|s| {
            s.section.clone().unwrap_or_else(|| html::Section {
                title: s.area.title().to_string(),
                status: s.status.as_str().to_string(),
                headline: s.headline.clone(),
                chart: None,
                table: None,
                files: s.files.clone(),
            })
        })
        .collect();
    let meta = [
        ("status", status.as_str().to_string()),
        ("started", timestamp(started_at)),
        ("finished", timestamp(finished_at)),
        ("account", aws.caller().account.clone()),
        ("by", aws.caller().arn.clone()),
    ];
    let page = html::page(
        &format!("govctl sweep {}", timestamp(started_at)),
        &meta,
        &sections,
    );
    output::write_file(&dir.join("summary.html"), |writer| {
        writer.write_all(page.as_bytes())?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(status: Status) -> AreaSummary {
        AreaSummary {
            area: Area::Layers,
            status,
            rows: 0,
            findings: 0,
            headline: String::new(),
            error: None,
            files: Vec::new(),
            seconds: 0.0,
            details: Value::Null,
            section: None,
        }
    }

    #[test]
    fn a_failed_area_outranks_findings_and_findings_outrank_ok() {
        assert_eq!(exit_code(&[]), EXIT_OK);
        assert_eq!(exit_code(&[summary(Status::Ok)]), EXIT_OK);
        let findings = [summary(Status::Ok), summary(Status::Findings)];
        assert_eq!(exit_code(&findings), EXIT_FINDINGS);
        let failed = [summary(Status::Failed), summary(Status::Findings)];
        assert_eq!(exit_code(&failed), EXIT_ERROR);
    }

    #[test]
    fn sweeps_in_the_same_second_get_their_own_directories() {
        let out = tempfile::tempdir().unwrap();
        let (first, first_done) = claim(out.path(), "2026-12-04T021500Z").unwrap();
        std::fs::rename(&first, &first_done).unwrap();
        let (second, _) = claim(out.path(), "2026-12-04T021500Z").unwrap();
        let (third, third_done) = claim(out.path(), "2026-12-04T021500Z").unwrap();
        assert!(first_done.ends_with("2026-12-04T021500Z"));
        assert!(second.ends_with("2026-12-04T021500Z-1.partial"));
        assert!(third.ends_with("2026-12-04T021500Z-2.partial"));
        assert!(third_done.ends_with("2026-12-04T021500Z-2"));
    }

    #[test]
    fn stamps_sort_and_have_no_colons() {
        assert_eq!(stamp(1_796_000_000), "2026-11-30T005320Z");
        assert!(stamp(1_796_000_000) < stamp(1_796_000_001));
    }
}
