//! The arithmetic of a cost report: amounts per row and month, month-over-month changes,
//! forecasts and the largest movers, all in exact decimals.
//!
//! Cost Explorer's amounts are decimal strings; they are summed and compared as
//! [`Decimal`]s and written back as decimal strings, so a CSV total matches the sum of its
//! rows to the last digit. Nothing here calls AWS.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::cost::calendar::Month;
use crate::cost::query::{Dimension, Grouping};
use crate::output::Row;

/// One month of a query's answer: the amount of each group (keys in grouping order).
#[derive(Debug, Clone, PartialEq)]
pub struct MonthCosts {
    pub month: Month,
    /// The unit Cost Explorer gave the amounts in; `None` when the month has no amounts.
    pub currency: Option<String>,
    pub groups: BTreeMap<Vec<String>, Decimal>,
    /// Cost Explorer may still change these amounts (the current month, or a month whose
    /// bill is not final yet): such a month is never cached.
    pub estimated: bool,
}

/// When a row's change makes it one of the largest movers.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// The change must exceed this percentage of the previous month (either way)...
    pub percent: Decimal,
    /// ...and be at least this amount (either way), in the report's currency.
    pub min_change: Decimal,
}

/// How a row moved from one month to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// Nothing before, something now: no percentage.
    New,
    /// Something before, nothing now.
    Gone,
    Up,
    Down,
    Flat,
}

impl Movement {
    pub fn as_str(self) -> &'static str {
        match self {
            Movement::New => "new",
            Movement::Gone => "gone",
            Movement::Up => "up",
            Movement::Down => "down",
            Movement::Flat => "flat",
        }
    }
}

/// The change from one month to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub amount: Decimal,
    /// Of the previous month's absolute amount, unrounded; `None` when that was zero.
    pub percent: Option<Decimal>,
    pub movement: Movement,
}

pub fn change(previous: Decimal, latest: Decimal) -> Change {
    let amount = latest - previous;
    let percent = if previous.is_zero() {
        None
    } else {
        amount
            .checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|scaled| scaled.checked_div(previous.abs()))
    };
    let movement = match (previous.is_zero(), latest.is_zero()) {
        (true, false) => Movement::New,
        (false, true) => Movement::Gone,
        _ if amount > Decimal::ZERO => Movement::Up,
        _ if amount < Decimal::ZERO => Movement::Down,
        _ => Movement::Flat,
    };
    Change {
        amount,
        percent,
        movement,
    }
}

/// Whether a change is large enough to list among the movers.
pub fn is_mover(change: &Change, thresholds: &Thresholds) -> bool {
    if change.amount.abs() < thresholds.min_change {
        return false;
    }
    match change.movement {
        Movement::New | Movement::Gone => true,
        Movement::Flat => false,
        Movement::Up | Movement::Down => change
            .percent
            .is_some_and(|percent| percent.abs() > thresholds.percent),
    }
}

/// One row of the report: a group's amount in each month of [`Report::months`].
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub keys: Vec<String>,
    pub amounts: Vec<Decimal>,
    /// The current month's expected total: month to date plus Cost Explorer's forecast for
    /// the rest of the month. `None` when not asked for or when Cost Explorer gave none.
    pub forecast: Option<Decimal>,
}

impl Line {
    /// The current month's amount so far.
    pub fn month_to_date(&self) -> Decimal {
        self.amounts.last().copied().unwrap_or_default()
    }
}

/// A whole report: the months, one line per group, and their total.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Consecutive months: the baseline (only there to give the first shown month its
    /// change), the closed months shown, and the current month, last.
    pub months: Vec<Month>,
    /// `""` when no month has any amount.
    pub currency: String,
    /// Sorted by keys.
    pub lines: Vec<Line>,
    pub total: Line,
}

impl Report {
    /// Builds the lines from consecutive months (at least the baseline, one closed month and
    /// the current month). Errors name what does not fit.
    pub fn build(months: &[MonthCosts]) -> Result<Report, String> {
        if months.len() < 3 {
            return Err(format!("{} months are too few for a report", months.len()));
        }
        for pair in months.windows(2) {
            if pair[1].month != pair[0].month.plus(1) {
                return Err(format!(
                    "{} does not follow {}",
                    pair[1].month, pair[0].month
                ));
            }
        }
        let currencies: BTreeSet<&str> = months
            .iter()
            .filter_map(|m| m.currency.as_deref())
            .collect();
        if currencies.len() > 1 {
            let list: Vec<&str> = currencies.into_iter().collect();
            return Err(format!(
                "the amounts come in several currencies ({})",
                list.join(", ")
            ));
        }

        let keys: BTreeSet<&Vec<String>> = months.iter().flat_map(|m| m.groups.keys()).collect();
        let lines: Vec<Line> = keys
            .into_iter()
            .map(|keys| Line {
                keys: keys.clone(),
                amounts: months
                    .iter()
                    .map(|m| m.groups.get(keys).copied().unwrap_or_default())
                    .collect(),
                forecast: None,
            })
            .collect();
        let total = Line {
            keys: Vec::new(),
            amounts: (0..months.len())
                .map(|index| lines.iter().map(|line| line.amounts[index]).sum())
                .collect(),
            forecast: None,
        };
        Ok(Report {
            months: months.iter().map(|m| m.month).collect(),
            currency: currencies.first().copied().unwrap_or_default().to_string(),
            lines,
            total,
        })
    }

    pub fn current(&self) -> Month {
        self.months[self.months.len() - 1]
    }

    /// The index in `months` of the last closed month.
    pub fn latest_closed(&self) -> usize {
        self.months.len() - 2
    }

    /// The change of `line` into the month at `index` (at least 1).
    pub fn change_at(&self, line: &Line, index: usize) -> Change {
        change(line.amounts[index - 1], line.amounts[index])
    }

    /// The change the movers are judged on: into the last closed month, from the month
    /// before. Both are complete, whereas the current month is not over.
    pub fn latest_change(&self, line: &Line) -> Change {
        self.change_at(line, self.latest_closed())
    }

    /// The lines whose latest change makes them movers, largest change first.
    pub fn movers(&self, thresholds: &Thresholds) -> Vec<(&Line, Change)> {
        let mut movers: Vec<(&Line, Change)> = self
            .lines
            .iter()
            .map(|line| (line, self.latest_change(line)))
            .filter(|(_, change)| is_mover(change, thresholds))
            .collect();
        movers.sort_by(|(a, x), (b, y)| {
            y.amount
                .abs()
                .cmp(&x.amount.abs())
                .then_with(|| a.keys.cmp(&b.keys))
        });
        movers
    }

    /// The lines with spend this month: those a row forecast is asked for.
    pub fn lines_to_forecast(&self) -> Vec<&Line> {
        self.lines
            .iter()
            .filter(|line| line.month_to_date() > Decimal::ZERO)
            .collect()
    }

    /// Sets the forecasts from Cost Explorer's forecasts for the rest of the month, by keys
    /// (the total's keys are empty).
    pub fn set_forecasts(&mut self, rest_of_month: &HashMap<Vec<String>, Decimal>) {
        for line in self
            .lines
            .iter_mut()
            .chain(std::iter::once(&mut self.total))
        {
            line.forecast = rest_of_month
                .get(&line.keys)
                .map(|rest| line.month_to_date() + rest);
        }
    }
}

/// A decimal as CSV and JSON carry it: exact, without trailing zeros.
pub fn exact(amount: Decimal) -> String {
    amount.normalize().to_string()
}

/// A percentage as CSV and JSON carry it: two decimals at most.
pub fn percent_text(percent: Decimal) -> String {
    exact(percent.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
}

/// Account and service of a line, by the grouping (empty when not grouped by it).
pub fn parts<'a>(grouping: &Grouping, keys: &'a [String]) -> (&'a str, &'a str) {
    let part = |dimension| {
        grouping
            .position(dimension)
            .and_then(|index| keys.get(index))
            .map_or("", String::as_str)
    };
    (part(Dimension::Account), part(Dimension::Service))
}

/// One row and month of `--output csv|json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostRow {
    pub account_id: String,
    pub account_name: String,
    pub service: String,
    /// The sum of the report's rows rather than one group.
    pub total: bool,
    pub month: String,
    /// The current month, not over yet.
    pub month_to_date: bool,
    pub amount: String,
    pub currency: String,
    /// From the month before.
    pub change: String,
    /// Of the month before; empty when that was zero.
    pub change_pct: Option<String>,
    /// The current month only: month to date plus Cost Explorer's forecast of the rest.
    pub forecast: Option<String>,
}

impl Row for CostRow {
    const COLUMNS: &'static [&'static str] = &[
        "account_id",
        "account_name",
        "service",
        "total",
        "month",
        "month_to_date",
        "amount",
        "currency",
        "change",
        "change_pct",
        "forecast",
    ];
}

/// One mover of `--movers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoverRow {
    pub account_id: String,
    pub account_name: String,
    pub service: String,
    pub previous_month: String,
    pub previous_amount: String,
    pub month: String,
    pub amount: String,
    pub currency: String,
    pub change: String,
    pub change_pct: Option<String>,
    pub movement: Movement,
}

impl Row for MoverRow {
    const COLUMNS: &'static [&'static str] = &[
        "account_id",
        "account_name",
        "service",
        "previous_month",
        "previous_amount",
        "month",
        "amount",
        "currency",
        "change",
        "change_pct",
        "movement",
    ];
}

/// The rows of `--output csv|json`: each line's shown months (the baseline left out),
/// lines in key order, then the total.
pub fn cost_rows(
    report: &Report,
    grouping: &Grouping,
    names: &HashMap<String, String>,
) -> Vec<CostRow> {
    let current = report.months.len() - 1;
    let mut rows = Vec::new();
    for (line, total) in report
        .lines
        .iter()
        .map(|line| (line, false))
        .chain(std::iter::once((&report.total, true)))
    {
        let (account, service) = parts(grouping, &line.keys);
        for index in 1..report.months.len() {
            let change = report.change_at(line, index);
            rows.push(CostRow {
                account_id: account.to_string(),
                account_name: names.get(account).cloned().unwrap_or_default(),
                service: service.to_string(),
                total,
                month: report.months[index].to_string(),
                month_to_date: index == current,
                amount: exact(line.amounts[index]),
                currency: report.currency.clone(),
                change: exact(change.amount),
                change_pct: change.percent.map(percent_text),
                forecast: line.forecast.filter(|_| index == current).map(exact),
            });
        }
    }
    rows
}

/// The rows of `--movers`, largest change first.
pub fn mover_rows(
    report: &Report,
    grouping: &Grouping,
    names: &HashMap<String, String>,
    thresholds: &Thresholds,
) -> Vec<MoverRow> {
    let latest = report.latest_closed();
    report
        .movers(thresholds)
        .into_iter()
        .map(|(line, change)| {
            let (account, service) = parts(grouping, &line.keys);
            MoverRow {
                account_id: account.to_string(),
                account_name: names.get(account).cloned().unwrap_or_default(),
                service: service.to_string(),
                previous_month: report.months[latest - 1].to_string(),
                previous_amount: exact(line.amounts[latest - 1]),
                month: report.months[latest].to_string(),
                amount: exact(line.amounts[latest]),
                currency: report.currency.clone(),
                change: exact(change.amount),
                change_pct: change.percent.map(percent_text),
                movement: change.movement,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::query::parse_grouping;
    use crate::output::serialized_keys;
    use std::str::FromStr;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn month(offset: i32) -> Month {
        Month::new(2026, 12).unwrap().plus(-offset)
    }

    /// Months 3, 2, 1 (closed) and 0 (current), groups of (account, service).
    fn months(series: &[(&str, &str, [&str; 4])]) -> Vec<MonthCosts> {
        (0..4)
            .map(|index| MonthCosts {
                month: month(3 - index as i32),
                currency: Some("USD".into()),
                groups: series
                    .iter()
                    .filter(|(_, _, amounts)| !amounts[index].is_empty())
                    .map(|(account, service, amounts)| {
                        (
                            vec![account.to_string(), service.to_string()],
                            d(amounts[index]),
                        )
                    })
                    .collect(),
                estimated: index == 3,
            })
            .collect()
    }

    const THRESHOLDS: Thresholds = Thresholds {
        percent: Decimal::from_parts(20, 0, 0, false, 0),
        min_change: Decimal::from_parts(10, 0, 0, false, 0),
    };

    #[test]
    fn changes_have_a_percentage_only_when_there_was_something_before() {
        assert_eq!(change(d("100"), d("125")).percent, Some(d("25")));
        assert_eq!(change(d("100"), d("125")).movement, Movement::Up);
        assert_eq!(change(d("0"), d("5")).percent, None);
        assert_eq!(change(d("0"), d("5")).movement, Movement::New);
        assert_eq!(change(d("5"), d("0")).percent, Some(d("-100")));
        assert_eq!(change(d("5"), d("0")).movement, Movement::Gone);
        assert_eq!(change(d("2"), d("2")).movement, Movement::Flat);
        // A credit: the percentage is of the size of what came before.
        assert_eq!(change(d("-10"), d("-5")).percent, Some(d("50")));
        assert_eq!(percent_text(d("200") / d("3")), "66.67");
        assert_eq!(percent_text(d("-0.005")), "-0.01");
    }

    #[test]
    fn movers_need_both_the_percentage_and_the_floor() {
        let mover =
            |previous: &str, latest: &str| is_mover(&change(d(previous), d(latest)), &THRESHOLDS);
        assert!(mover("100", "125")); // +25 %, +25
        assert!(mover("200", "150")); // -25 %, -50
        assert!(!mover("100", "120")); // exactly 20 %: not over it
        assert!(!mover("5", "8")); // +60 %, but only +3
        assert!(!mover("1000", "1100")); // +100, but only 10 %
        assert!(mover("0", "45")); // new, above the floor
        assert!(!mover("0", "9.99")); // new, under the floor
        assert!(mover("310", "0")); // gone
        assert!(!mover("10", "10"));
    }

    #[test]
    fn lines_cover_every_group_of_every_month_and_sum_exactly() {
        let report = Report::build(&months(&[
            ("1", "Lambda", ["100", "120.0000000005", "90", "40"]),
            ("1", "S3", ["0.1", "0.2", "", ""]),
            ("2", "S3", ["", "", "", "7"]),
        ]))
        .unwrap();
        let keys: Vec<&[String]> = report.lines.iter().map(|l| l.keys.as_slice()).collect();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0], ["1", "Lambda"]);
        assert_eq!(report.lines[2].amounts, [d("0"), d("0"), d("0"), d("7")]);
        assert_eq!(
            report.total.amounts,
            [d("100.1"), d("120.2000000005"), d("90"), d("47")]
        );
        assert_eq!(report.currency, "USD");
        assert_eq!(report.current(), month(0));
        assert_eq!(report.lines_to_forecast().len(), 2);
    }

    #[test]
    fn months_must_follow_each_other_in_one_currency() {
        let mut gap = months(&[("1", "S3", ["1", "1", "1", "1"])]);
        gap.remove(1);
        assert!(Report::build(&gap).unwrap_err().contains("does not follow"));
        let mut mixed = months(&[("1", "S3", ["1", "1", "1", "1"])]);
        mixed[0].currency = Some("EUR".into());
        assert!(Report::build(&mixed).unwrap_err().contains("EUR, USD"));
        assert!(Report::build(&mixed[..2]).is_err());
    }

    #[test]
    fn movers_are_judged_on_the_last_two_closed_months_largest_first() {
        let report = Report::build(&months(&[
            ("1", "Lambda", ["100", "120", "90", "1"]),  // -30, -25 %
            ("1", "Search", ["800", "820", "600", "1"]), // -220
            ("2", "EC2", ["200", "205", "260", "0"]),    // +55
            ("2", "KMS", ["5", "5", "8", "0"]),          // +3: under the floor
            ("2", "Lambda", ["", "", "45", "1"]),        // new
            ("3", "Search", ["300", "310", "", ""]),     // gone, -310
            ("3", "CloudWatch", ["", "", "", "500"]),    // new this month: not judged yet
        ]))
        .unwrap();
        let movers: Vec<(String, Movement)> = report
            .movers(&THRESHOLDS)
            .into_iter()
            .map(|(line, change)| (line.keys.join("/"), change.movement))
            .collect();
        assert_eq!(
            movers,
            [
                ("3/Search".to_string(), Movement::Gone),
                ("1/Search".to_string(), Movement::Down),
                ("2/EC2".to_string(), Movement::Up),
                ("2/Lambda".to_string(), Movement::New),
                ("1/Lambda".to_string(), Movement::Down),
            ]
        );
    }

    #[test]
    fn forecasts_add_the_rest_of_the_month_to_the_month_to_date() {
        let mut report = Report::build(&months(&[
            ("1", "Lambda", ["1", "1", "1", "40"]),
            ("1", "S3", ["1", "1", "1", "2"]),
        ]))
        .unwrap();
        let rest = HashMap::from([
            (
                vec!["1".to_string(), "Lambda".to_string()],
                d("280.0000000000"),
            ),
            (Vec::new(), d("300")),
        ]);
        report.set_forecasts(&rest);
        assert_eq!(report.lines[0].forecast, Some(d("320")));
        assert_eq!(report.lines[1].forecast, None);
        assert_eq!(report.total.forecast, Some(d("342")));
    }

    #[test]
    fn rows_show_every_month_but_the_baseline_then_the_total() {
        let grouping = parse_grouping("account,service").unwrap();
        let mut report =
            Report::build(&months(&[("1", "Lambda", ["0", "10.50", "21", "4"])])).unwrap();
        report.set_forecasts(&HashMap::from([(Vec::new(), d("26"))]));
        let names = HashMap::from([("1".to_string(), "prod".to_string())]);
        let rows = cost_rows(&report, &grouping, &names);
        assert_eq!(rows.len(), 6);
        assert_eq!(serialized_keys(&rows[0]), CostRow::COLUMNS);
        let shown: Vec<(&str, &str, &str, Option<&str>)> = rows
            .iter()
            .map(|r| {
                (
                    r.month.as_str(),
                    r.amount.as_str(),
                    r.change.as_str(),
                    r.change_pct.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            shown[..3],
            [
                ("2026-10", "10.5", "10.5", None),
                ("2026-11", "21", "10.5", Some("100")),
                ("2026-12", "4", "-17", Some("-80.95")),
            ]
        );
        assert_eq!(rows[0].account_name, "prod");
        assert!(rows[2].month_to_date && !rows[1].month_to_date);
        assert_eq!(rows[2].forecast, None);
        assert!(rows[5].total && rows[5].account_id.is_empty());
        assert_eq!(rows[5].forecast.as_deref(), Some("30"));
    }

    #[test]
    fn mover_rows_name_both_months() {
        let grouping = parse_grouping("account,service").unwrap();
        let report = Report::build(&months(&[("1", "Lambda", ["0", "0", "45", "4"])])).unwrap();
        let rows = mover_rows(&report, &grouping, &HashMap::new(), &THRESHOLDS);
        assert_eq!(serialized_keys(&rows[0]), MoverRow::COLUMNS);
        assert_eq!(
            (rows[0].previous_month.as_str(), rows[0].month.as_str()),
            ("2026-10", "2026-11")
        );
        assert_eq!(rows[0].movement, Movement::New);
        assert_eq!(rows[0].change_pct, None);
    }

    #[test]
    fn parts_follow_the_grouping() {
        let keys = ["S3".to_string(), "1".to_string()];
        assert_eq!(
            parts(&parse_grouping("service,account").unwrap(), &keys),
            ("1", "S3")
        );
        assert_eq!(
            parts(&parse_grouping("service").unwrap(), &keys[..1]),
            ("", "S3")
        );
    }
}
