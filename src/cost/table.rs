//! The cost report for people: one line per row with the months side by side, then the
//! largest movers.
//!
//! CSV and JSON carry one row per group and month (see [`super::report::cost_rows`]), which
//! suits machines; a person compares months across a line, so the table turns them into
//! columns, with the amounts rounded to two decimals.

use std::collections::HashMap;
use std::io::Write;

use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::cost::query::{Dimension, Grouping, Metric};
use crate::cost::report::{Change, Line, Movement, Report, Thresholds, parts};
use crate::error::Result;

/// What the tables show besides the report itself.
pub struct View<'a> {
    pub report: &'a Report,
    pub grouping: &'a Grouping,
    pub names: &'a HashMap<String, String>,
    pub metric: Metric,
    pub thresholds: Thresholds,
    /// Whether forecasts were asked for (a column of their own).
    pub forecasts: bool,
}

/// An amount for people: two decimals, halves away from zero.
pub fn money(amount: Decimal) -> String {
    let mut rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(2);
    rounded.to_string()
}

fn percent(change: &Change) -> String {
    match (change.movement, change.percent) {
        (Movement::New, _) => "new".into(),
        (_, Some(p)) => format!("{}%", money(p)),
        (_, None) => String::new(),
    }
}

/// The report table, then the movers (both when `movers_only` is false).
pub fn write(view: &View<'_>, movers_only: bool, writer: &mut dyn Write) -> Result<()> {
    if !movers_only {
        write_report(view, writer)?;
        writeln!(writer)?;
    }
    write_movers(view, writer)
}

fn key_headers(grouping: &Grouping) -> Vec<String> {
    let mut headers = Vec::new();
    if grouping.has(Dimension::Account) {
        headers.extend(["account_id".to_string(), "account_name".to_string()]);
    }
    if grouping.has(Dimension::Service) {
        headers.push("service".into());
    }
    headers
}

fn key_cells(view: &View<'_>, line: &Line) -> Vec<String> {
    let (account, service) = parts(view.grouping, &line.keys);
    let mut cells = Vec::new();
    if view.grouping.has(Dimension::Account) {
        let name = view.names.get(account).cloned().unwrap_or_default();
        cells.extend([account.to_string(), name]);
    }
    if view.grouping.has(Dimension::Service) {
        cells.push(service.to_string());
    }
    cells
}

fn new_table(headers: Vec<String>, numbers_from: usize) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers.clone());
    for index in numbers_from..headers.len() {
        if let Some(column) = table.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

fn write_report(view: &View<'_>, writer: &mut dyn Write) -> Result<()> {
    let report = view.report;
    let current = report.current();
    let closed = &report.months[1..report.months.len() - 1];
    let latest = report.latest_closed();
    writeln!(
        writer,
        "{} in {} by {}, {} to {current}.",
        capitalised(view.metric.describe()),
        currency_or_none(report),
        view.grouping.describe(),
        report.months[1],
    )?;
    let forecast = if view.forecasts {
        "; forecast: month to date plus Cost Explorer's forecast for the rest of the month"
    } else {
        ""
    };
    writeln!(
        writer,
        "change: from {} to {}. {current}: month to date{forecast}.",
        report.months[latest - 1],
        report.months[latest],
    )?;

    let mut headers = key_headers(view.grouping);
    let numbers_from = headers.len();
    headers.extend(closed.iter().map(ToString::to_string));
    headers.extend([
        "change".to_string(),
        "change %".to_string(),
        format!("{current} MTD"),
    ]);
    if view.forecasts {
        headers.push("forecast".into());
    }
    let mut table = new_table(headers, numbers_from);

    for (line, is_total) in report
        .lines
        .iter()
        .map(|line| (line, false))
        .chain(std::iter::once((&report.total, true)))
    {
        let mut cells = if is_total {
            let mut cells = vec![String::new(); numbers_from];
            if let Some(first) = cells.first_mut() {
                *first = "total".into();
            }
            cells
        } else {
            key_cells(view, line)
        };
        let closed_amounts = &line.amounts[1..line.amounts.len() - 1];
        cells.extend(closed_amounts.iter().copied().map(money));
        let latest = report.latest_change(line);
        cells.push(money(latest.amount));
        cells.push(percent(&latest));
        cells.push(money(line.month_to_date()));
        if view.forecasts {
            cells.push(line.forecast.map(money).unwrap_or_default());
        }
        table.add_row(cells.into_iter().map(Cell::new).collect::<Vec<_>>());
    }
    writeln!(writer, "{table}")?;
    Ok(())
}

fn write_movers(view: &View<'_>, writer: &mut dyn Write) -> Result<()> {
    let report = view.report;
    let latest = report.latest_closed();
    let (before, after) = (report.months[latest - 1], report.months[latest]);
    let movers = report.movers(&view.thresholds);
    let rule = format!(
        "a change over {}% and of at least {} {}",
        view.thresholds.percent.normalize(),
        money(view.thresholds.min_change),
        currency_or_none(report),
    );
    if movers.is_empty() {
        writeln!(
            writer,
            "No largest movers from {before} to {after} ({rule})."
        )?;
        return Ok(());
    }
    writeln!(writer, "Largest movers from {before} to {after} ({rule}):")?;

    let mut headers = key_headers(view.grouping);
    let numbers_from = headers.len();
    headers.extend([
        before.to_string(),
        after.to_string(),
        "change".to_string(),
        "change %".to_string(),
        "movement".to_string(),
    ]);
    let mut table = new_table(headers, numbers_from);
    for (line, change) in movers {
        let mut cells = key_cells(view, line);
        cells.extend([
            money(line.amounts[latest - 1]),
            money(line.amounts[latest]),
            money(change.amount),
            percent(&change),
            change.movement.as_str().to_string(),
        ]);
        table.add_row(cells.into_iter().map(Cell::new).collect::<Vec<_>>());
    }
    writeln!(writer, "{table}")?;
    Ok(())
}

fn currency_or_none(report: &Report) -> &str {
    if report.currency.is_empty() {
        "no amounts"
    } else {
        &report.currency
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::calendar::Month;
    use crate::cost::query::parse_grouping;
    use crate::cost::report::MonthCosts;
    use std::collections::BTreeMap;
    use std::str::FromStr;

    #[test]
    fn money_has_two_decimals_rounded_half_away_from_zero() {
        let d = |text: &str| Decimal::from_str(text).unwrap();
        assert_eq!(money(d("120.0000000005")), "120.00");
        assert_eq!(money(d("0.125")), "0.13");
        assert_eq!(money(d("-0.125")), "-0.13");
        assert_eq!(money(d("7")), "7.00");
    }

    #[test]
    fn the_table_puts_months_side_by_side_then_the_movers() {
        let month = |offset: i32| Month::new(2026, 12).unwrap().plus(-offset);
        let costs = |offset: i32, amount: &str| MonthCosts {
            month: month(offset),
            currency: Some("USD".into()),
            groups: BTreeMap::from([(
                vec!["111122223333".to_string(), "AWS Lambda".to_string()],
                Decimal::from_str(amount).unwrap(),
            )]),
            estimated: offset == 0,
        };
        let report = Report::build(&[costs(2, "100"), costs(1, "60.005"), costs(0, "3")]).unwrap();
        let grouping = parse_grouping("account,service").unwrap();
        let names = HashMap::from([("111122223333".to_string(), "prod".to_string())]);
        let view = View {
            report: &report,
            grouping: &grouping,
            names: &names,
            metric: Metric::UnblendedCost,
            thresholds: Thresholds {
                percent: Decimal::from(20),
                min_change: Decimal::from(10),
            },
            forecasts: true,
        };
        let mut out = Vec::new();
        write(&view, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(
            "Unblended cost in USD by account and service, 2026-11 to 2026-12.\n\
             change: from 2026-10 to 2026-11. 2026-12: month to date; forecast:"
        ));
        for expected in [
            "2026-11",
            "2026-12 MTD",
            "prod",
            "60.01",
            "-40.00",
            "-40.00%",
            "total",
            "Largest movers from 2026-10 to 2026-11",
            "down",
        ] {
            assert!(text.contains(expected), "{expected} missing in:\n{text}");
        }
    }
}
