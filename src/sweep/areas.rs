//! The areas of a sweep: each runs one of govctl's reports and writes it into the sweep.
//!
//! An area is prepared from its `[sweep.<area>]` table before anything runs (see
//! [`super::settings`]), then run: it collects its report, writes `<area>.csv` and
//! `<area>.json`, and says what it found in an [`AreaSummary`], with the section of the
//! HTML page that shows it. A failure becomes a `failed` summary naming the error; it never
//! ends the sweep.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::html::{Chart, Section};
use super::settings::{self, Area};
use super::{AreaSummary, Status, SweepArgs};
use crate::cli::{Format, LayersReportArgs};
use crate::cost::{self, CostReportArgs};
use crate::error::{Error, Result};
use crate::layers::report::{self as layers, Finding};
use crate::ocu::StatusArgs;
use crate::ocu::status::{self as ocu, StatusRow};
use crate::ocu::threshold::{FailOn, State};
use crate::output::{self, Row};
use crate::tailscale::status::{self as tailscale_status, StatusRow as TailscaleRow};
use crate::tailscale::{self, StatusArgs as TailscaleStatusArgs};
use crate::ui::Ui;

/// An area with its report's arguments, ready to run.
pub enum Job {
    Layers {
        args: Box<LayersReportArgs>,
    },
    Ocu {
        args: Box<StatusArgs>,
        fail_on: Option<FailOn>,
    },
    Tailscale {
        args: Box<TailscaleStatusArgs>,
    },
    Cost {
        args: Box<CostReportArgs>,
        fail_on_movers: bool,
    },
}

/// Keys a table may not have: the sweep decides where and how reports are written.
const REFUSED: &[&str] = &["output", "out"];

impl Job {
    /// Parses the area's table with its report's definition; the sweep's targets and AWS
    /// options win over the table.
    pub fn prepare(area: Area, table: &settings::Table, sweep: &SweepArgs) -> Result<Job> {
        if let Some(key) = REFUSED.iter().find(|key| table.contains_key(**key)) {
            return Err(Error::SweepSetting {
                area: area.name(),
                message: format!("{key} cannot be set: a sweep writes CSV and JSON itself"),
            });
        }
        match area {
            Area::Layers => {
                let mut own = settings::split(area, table, &[])?;
                if !table.contains_key("fail_on_findings") {
                    own.argv.push("--fail-on-findings".into());
                }
                let mut args: LayersReportArgs = settings::parse(area, &own.argv)?;
                args.aws = sweep.aws.clone();
                if let Some(accounts) = &sweep.targets.accounts {
                    args.discovery.accounts = Some(accounts.clone());
                }
                if let Some(regions) = &sweep.targets.regions {
                    args.discovery.regions = Some(regions.clone());
                }
                Ok(Job::Layers {
                    args: Box::new(args),
                })
            }
            Area::Ocu => {
                let own = settings::split(area, table, &["fail_on"])?;
                let fail_on = match own.keys.get("fail_on") {
                    None => Some(FailOn::Approaching),
                    Some(value) => fail_level(area, value)?,
                };
                let mut args: StatusArgs = settings::parse(area, &own.argv)?;
                args.aws = sweep.aws.clone();
                args.targets = sweep.targets.clone();
                Ok(Job::Ocu {
                    args: Box::new(args),
                    fail_on,
                })
            }
            Area::Tailscale => {
                let mut own = settings::split(area, table, &["fail_on"])?;
                match own.keys.get("fail_on") {
                    None => own.argv.extend(["--fail-on".into(), "any".into()]),
                    Some(toml::Value::String(never)) if never == "never" => {}
                    Some(value) => own.argv.extend(settings::words(area, "fail_on", value)?),
                }
                let mut args: TailscaleStatusArgs = settings::parse(area, &own.argv)?;
                args.aws = sweep.aws.clone();
                if args.selection.secret_id.is_empty() {
                    args.selection.targets = sweep.targets.clone();
                }
                Ok(Job::Tailscale {
                    args: Box::new(args),
                })
            }
            Area::Cost => {
                let own = settings::split(area, table, &["fail_on_movers"])?;
                let fail_on_movers = match own.keys.get("fail_on_movers") {
                    None => false,
                    Some(value) => value.as_bool().ok_or_else(|| Error::SweepSetting {
                        area: area.name(),
                        message: "fail_on_movers must be true or false".into(),
                    })?,
                };
                let mut args: CostReportArgs = settings::parse(area, &own.argv)?;
                args.aws = sweep.aws.clone();
                if let Some(accounts) = &sweep.targets.accounts {
                    args.accounts = accounts.clone();
                }
                Ok(Job::Cost {
                    args: Box::new(args),
                    fail_on_movers,
                })
            }
        }
    }

    pub fn area(&self) -> Area {
        match self {
            Job::Layers { .. } => Area::Layers,
            Job::Ocu { .. } => Area::Ocu,
            Job::Tailscale { .. } => Area::Tailscale,
            Job::Cost { .. } => Area::Cost,
        }
    }

    /// Runs the report and writes its files into `dir`; never fails, but says it failed.
    pub async fn run(self, dir: &Path, ui: &Ui) -> AreaSummary {
        let area = self.area();
        let outcome = match self {
            Job::Layers { args } => run_layers(&args, dir, ui).await,
            Job::Ocu { args, fail_on } => run_ocu(&args, fail_on, dir, ui).await,
            Job::Tailscale { args } => run_tailscale(&args, dir, ui).await,
            Job::Cost {
                args,
                fail_on_movers,
            } => run_cost(&args, fail_on_movers, dir, ui).await,
        };
        outcome.unwrap_or_else(|error| failed(area, &error))
    }
}

fn fail_level(area: Area, value: &toml::Value) -> Result<Option<FailOn>> {
    let text = value.as_str().unwrap_or_default();
    if text == "never" {
        return Ok(None);
    }
    <FailOn as clap::ValueEnum>::from_str(text, true)
        .map(Some)
        .map_err(|_| Error::SweepSetting {
            area: area.name(),
            message: format!("fail_on is '{text}'; expected approaching, reached or never"),
        })
}

/// What an area found; the summaries and the page section are made from it.
struct Found {
    area: Area,
    status: Status,
    rows: usize,
    findings: usize,
    headline: String,
    details: Value,
    chart: Option<Chart>,
    table: (Vec<String>, Vec<Vec<String>>),
    files: Vec<String>,
}

impl From<Found> for AreaSummary {
    fn from(found: Found) -> AreaSummary {
        AreaSummary {
            area: found.area,
            status: found.status,
            rows: found.rows,
            findings: found.findings,
            headline: found.headline.clone(),
            error: None,
            files: found.files.clone(),
            seconds: 0.0,
            details: found.details,
            section: Some(Section {
                title: found.area.title().into(),
                status: found.status.as_str().into(),
                headline: found.headline,
                chart: found.chart,
                table: Some(found.table),
                files: found.files,
            }),
        }
    }
}

fn failed(area: Area, error: &Error) -> AreaSummary {
    let message = match error.hint() {
        Some(hint) => format!("{error} (hint: {hint})"),
        None => error.to_string(),
    };
    AreaSummary {
        area,
        status: Status::Failed,
        rows: 0,
        findings: 0,
        headline: format!("failed: {message}"),
        error: Some(message),
        files: Vec::new(),
        seconds: 0.0,
        details: Value::Null,
        section: None,
    }
}

/// Writes `rows` as `<name>.csv` and `<name>.json`; returns the file names.
fn write_both<T: Row>(
    dir: &Path,
    name: &str,
    kind: &str,
    rows: &[T],
    missing: &[String],
) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for (format, extension) in [(Format::Csv, "csv"), (Format::Json, "json")] {
        let file = format!("{name}.{extension}");
        output::emit_partial(rows, format, kind, Some(&dir.join(&file)), missing)?;
        files.push(file);
    }
    Ok(files)
}

fn status_of(findings: usize) -> Status {
    if findings > 0 {
        Status::Findings
    } else {
        Status::Ok
    }
}

async fn run_layers(args: &LayersReportArgs, dir: &Path, ui: &Ui) -> Result<AreaSummary> {
    let found = layers::discover(&args.discovery, &args.aws, None, ui).await?;
    let files = write_both(dir, "layers", "layers_report", &found.rows, &found.missing)?;

    let rows = &found.rows;
    let distinct = |f: fn(&Finding) -> &str| rows.iter().map(f).collect::<BTreeSet<_>>().len();
    let findings = if args.fail_on_findings { rows.len() } else { 0 };
    let mut status = status_of(findings);
    let mut headline = layers::summary(rows, found.scanned, &found.mode);
    if !found.missing.is_empty() {
        status = status.max(Status::Findings);
        headline = format!(
            "partial: {} accounts and regions could not be read; {headline}",
            found.missing.len()
        );
    }

    let mut worst: Vec<&Finding> = rows.iter().collect();
    worst.sort_by_key(|r| std::cmp::Reverse(r.versions_behind.unwrap_or(u64::MAX)));
    let table = (
        strings(&[
            "account",
            "region",
            "function",
            "layer",
            "version",
            "latest",
            "behind",
            "managed_by",
        ]),
        worst
            .iter()
            .map(|r| {
                vec![
                    named(&r.account_id, &r.account_name),
                    r.region.to_string(),
                    r.function_name.clone(),
                    r.layer_name.to_string(),
                    r.layer_version.to_string(),
                    optional(r.latest_version),
                    optional(r.versions_behind),
                    r.managed_by.to_string(),
                ]
            })
            .collect(),
    );
    Ok(Found {
        area: Area::Layers,
        status,
        rows: rows.len(),
        findings,
        headline,
        details: json!({
            "functions": distinct(|r| &r.function_arn),
            "accounts": distinct(|r| &r.account_id),
            "regions": distinct(|r| &r.region),
            "layers": distinct(|r| r.layer_arn.rsplit_once(':').map_or("", |(layer, _)| layer)),
            "scanned": found.scanned,
            "missing": found.missing,
        }),
        chart: None,
        table,
        files,
    }
    .into())
}

async fn run_ocu(
    args: &StatusArgs,
    fail_on: Option<FailOn>,
    dir: &Path,
    ui: &Ui,
) -> Result<AreaSummary> {
    let status = ocu::collect(args, ui).await?;
    let files = write_both(dir, "ocu", ocu::KIND, &status.rows, &[])?;
    let findings = fail_on.map_or(0, |level| status.at_or_past(level));
    let area_status = status_of(findings);

    let mut states = serde_json::Map::new();
    for state in [
        State::Reached,
        State::Approaching,
        State::Ok,
        State::NoData,
        State::NoLimit,
    ] {
        let count = status.rows.iter().filter(|r| r.state == state).count();
        states.insert(state.as_str().into(), count.into());
    }
    let label = |r: &StatusRow| format!("{} {}", named(&r.account_id, &r.account_name), r.region);
    let chart = (!status.rows.is_empty()).then(|| Chart::Percentages {
        title: "Peak OCU utilisation, % of the maximum".into(),
        dimensions: strings(&["indexing", "search"]),
        rows: status
            .rows
            .iter()
            .take(30)
            .map(|r| {
                (
                    label(r),
                    vec![r.indexing_utilisation_pct, r.search_utilisation_pct],
                )
            })
            .collect(),
        marks: vec![75.0, 100.0],
    });
    let table = (
        strings(&[
            "account",
            "region",
            "state",
            "indexing peak / max",
            "indexing %",
            "search peak / max",
            "search %",
        ]),
        status
            .rows
            .iter()
            .map(|r| {
                vec![
                    named(&r.account_id, &r.account_name),
                    r.region.clone(),
                    r.state.as_str().into(),
                    peak_of(r.indexing_peak, r.indexing_max),
                    optional(r.indexing_utilisation_pct),
                    peak_of(r.search_peak, r.search_max),
                    optional(r.search_utilisation_pct),
                ]
            })
            .collect(),
    );
    let headline = status.summary();
    Ok(Found {
        area: Area::Ocu,
        status: area_status,
        rows: status.rows.len(),
        findings,
        headline,
        details: json!({"visited": status.visited, "states": states}),
        chart,
        table,
        files,
    }
    .into())
}

async fn run_tailscale(args: &TailscaleStatusArgs, dir: &Path, ui: &Ui) -> Result<AreaSummary> {
    let (rows, missing) = tailscale_status::rows(args, ui).await?;
    let files = write_both(dir, "tailscale", tailscale_status::KIND, &rows, &missing)?;
    let findings = rows
        .iter()
        .filter(|r| tailscale::fails_on(&args.fail_on, r.state))
        .count();
    let mut status = status_of(findings);
    let mut headline = tailscale_status::summary(&rows);
    if !missing.is_empty() {
        status = status.max(Status::Findings);
        headline = format!(
            "partial: {} accounts and regions could not be read; {headline}",
            missing.len()
        );
    }

    let mut states = serde_json::Map::new();
    for row in &rows {
        let count = states.entry(row.state.word()).or_insert(Value::from(0));
        *count = Value::from(count.as_u64().unwrap_or(0) + 1);
    }
    let mut worst: Vec<&TailscaleRow> = rows.iter().collect();
    worst.sort_by_key(|r| (std::cmp::Reverse(r.state), r.days_left));
    let table = (
        strings(&[
            "account",
            "region",
            "secret",
            "state",
            "days left",
            "expires",
            "last rotated",
            "detail",
        ]),
        worst
            .iter()
            .map(|r| {
                vec![
                    r.account_id.clone(),
                    r.region.clone(),
                    r.secret_name.clone(),
                    r.state.word().into(),
                    optional(r.days_left),
                    r.key_expires.clone().unwrap_or_default(),
                    r.last_rotated.clone().unwrap_or_default(),
                    r.detail.clone(),
                ]
            })
            .collect(),
    );
    Ok(Found {
        area: Area::Tailscale,
        status,
        rows: rows.len(),
        findings,
        headline,
        details: json!({"states": states, "missing": missing}),
        chart: None,
        table,
        files,
    }
    .into())
}

async fn run_cost(
    args: &CostReportArgs,
    fail_on_movers: bool,
    dir: &Path,
    ui: &Ui,
) -> Result<AreaSummary> {
    let costs = cost::collect(args, ui).await?;
    let rows = costs.rows();
    let movers = costs.movers();
    let mut files = write_both(dir, "cost", cost::REPORT_KIND, &rows, &[])?;
    files.extend(write_both(
        dir,
        "cost-movers",
        cost::MOVERS_KIND,
        &movers,
        &[],
    )?);
    let findings = if fail_on_movers { movers.len() } else { 0 };
    let status = status_of(findings);

    let totals: BTreeMap<&str, &str> = rows
        .iter()
        .filter(|r| r.total)
        .map(|r| (r.month.as_str(), r.amount.as_str()))
        .collect();
    let forecast = rows
        .iter()
        .find(|r| r.total && r.month_to_date)
        .and_then(|r| r.forecast.clone());
    let currency = costs.report.currency.clone();
    let table = (
        strings(&[
            "account", "service", "from", "to", "change", "change %", "movement",
        ]),
        movers
            .iter()
            .map(|m| {
                vec![
                    named(&m.account_id, &m.account_name),
                    m.service.clone(),
                    format!("{} {}", m.previous_month, money(&m.previous_amount)),
                    format!("{} {}", m.month, money(&m.amount)),
                    money(&m.change),
                    m.change_pct.clone().unwrap_or_default(),
                    m.movement.as_str().into(),
                ]
            })
            .collect(),
    );
    let headline = costs.summary();
    Ok(Found {
        area: Area::Cost,
        status,
        rows: rows.len(),
        findings,
        headline,
        details: json!({
            "currency": currency,
            "totals": totals,
            "forecast": forecast,
            "movers": movers.len(),
        }),
        chart: cost_chart(&rows, &currency),
        table,
        files,
    }
    .into())
}

/// Most series a cost chart stacks; the smaller ones are summed as "other".
const MAX_SERIES: usize = 8;

/// Cost per month stacked by account (or by service when the report has no accounts).
fn cost_chart(rows: &[cost::report::CostRow], currency: &str) -> Option<Chart> {
    let months: Vec<String> = rows
        .iter()
        .filter(|r| r.total)
        .map(|r| r.month.clone())
        .collect();
    let mut series: BTreeMap<String, Vec<Decimal>> = BTreeMap::new();
    for row in rows.iter().filter(|r| !r.total) {
        let key = if row.account_id.is_empty() {
            row.service.clone()
        } else {
            named(&row.account_id, &row.account_name)
        };
        let Some(index) = months.iter().position(|m| *m == row.month) else {
            continue;
        };
        let amount: Decimal = row.amount.parse().unwrap_or_default();
        series
            .entry(key)
            .or_insert_with(|| vec![Decimal::ZERO; months.len()])[index] += amount;
    }
    if series.is_empty() {
        return None;
    }

    let mut ranked: Vec<(String, Vec<Decimal>)> = series.into_iter().collect();
    ranked.sort_by_key(|(_, amounts)| std::cmp::Reverse(amounts.iter().copied().sum::<Decimal>()));
    if ranked.len() > MAX_SERIES {
        let rest = ranked.split_off(MAX_SERIES - 1);
        let mut other = vec![Decimal::ZERO; months.len()];
        for (_, amounts) in rest {
            for (sum, amount) in other.iter_mut().zip(amounts) {
                *sum += amount;
            }
        }
        ranked.push(("other".into(), other));
    }
    let to_f64 = |d: &Decimal| d.to_string().parse::<f64>().unwrap_or(0.0);
    Some(Chart::StackedBars {
        title: format!(
            "Cost per month ({})",
            if currency.is_empty() { "-" } else { currency }
        ),
        unit: currency.to_string(),
        months,
        series: ranked
            .into_iter()
            .map(|(name, amounts)| (name, amounts.iter().map(to_f64).collect()))
            .collect(),
    })
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

fn named(account: &str, name: &str) -> String {
    if name.is_empty() {
        account.to_string()
    } else {
        format!("{name} ({account})")
    }
}

fn optional<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn peak_of(peak: Option<f64>, max: Option<i32>) -> String {
    format!("{} / {}", optional(peak), optional(max))
}

/// An exact decimal string rounded to cents for people.
fn money(amount: &str) -> String {
    amount
        .parse::<Decimal>()
        .map(|d| d.round_dp(2).to_string())
        .unwrap_or_else(|_| amount.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::report::CostRow;

    fn row(account: &str, month: &str, amount: &str, total: bool) -> CostRow {
        CostRow {
            account_id: account.into(),
            account_name: String::new(),
            service: "AWS Lambda".into(),
            total,
            month: month.into(),
            month_to_date: false,
            amount: amount.into(),
            currency: "USD".into(),
            change: "0".into(),
            change_pct: None,
            forecast: None,
        }
    }

    #[test]
    fn the_cost_chart_sums_each_account_per_month() {
        let rows = vec![
            row("111111111111", "2026-10", "1.50", false),
            row("111111111111", "2026-11", "2.25", false),
            row("222222222222", "2026-11", "10", false),
            row("", "2026-10", "1.50", true),
            row("", "2026-11", "12.25", true),
        ];
        let Some(Chart::StackedBars { months, series, .. }) = cost_chart(&rows, "USD") else {
            panic!("no chart");
        };
        assert_eq!(months, ["2026-10", "2026-11"]);
        assert_eq!(series[0], ("222222222222".into(), vec![0.0, 10.0]));
        assert_eq!(series[1], ("111111111111".into(), vec![1.5, 2.25]));
    }

    #[test]
    fn fail_levels_take_never() {
        let level = |text: &str| fail_level(Area::Ocu, &toml::Value::String(text.into()));
        assert_eq!(level("never").unwrap(), None);
        assert_eq!(level("reached").unwrap(), Some(FailOn::Reached));
        assert!(
            level("sometimes")
                .unwrap_err()
                .to_string()
                .contains("sometimes")
        );
    }
}
