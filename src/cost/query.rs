//! What a cost report asks Cost Explorer, and the count of requests it may make.
//!
//! Cost Explorer charges USD 0.01 for every request and every page of an answer, so the
//! report plans its requests before the first one: one `GetCostAndUsage` covering every
//! month the cache lacks (the current month is never cached, so there is always one), plus
//! `GetCostForecast` requests by the `--forecast` mode. What cannot be known in advance is
//! how many pages Cost Explorer splits an answer into, and (with `--forecast rows`) how many
//! rows have spend this month. The [`Meter`] therefore checks `--max-requests` before every
//! single request, with the requests still planned reserved, and the report stops with an
//! error rather than make one request more than allowed.

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_sdk_costexplorer::types::{
    self, DimensionValues, Expression, GroupDefinition, GroupDefinitionType, MatchOption,
};
use clap::ValueEnum;
use serde_json::{Value, json};

/// What Cost Explorer charges per request (and per page), in US cents.
pub const CENTS_PER_REQUEST: u32 = 1;

/// The cost metric the report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Metric {
    /// Cost as billed, when it was incurred
    #[value(name = "UnblendedCost")]
    UnblendedCost,
    /// Upfront and recurring reservation and Savings Plans fees spread over the period
    #[value(name = "AmortizedCost")]
    AmortizedCost,
    /// Unblended cost after discounts
    #[value(name = "NetUnblendedCost")]
    NetUnblendedCost,
}

impl Metric {
    /// The name `GetCostAndUsage` takes and answers with.
    pub fn usage_name(self) -> &'static str {
        match self {
            Metric::UnblendedCost => "UnblendedCost",
            Metric::AmortizedCost => "AmortizedCost",
            Metric::NetUnblendedCost => "NetUnblendedCost",
        }
    }

    /// The same metric as `GetCostForecast` names it.
    pub fn forecast_metric(self) -> types::Metric {
        match self {
            Metric::UnblendedCost => types::Metric::UnblendedCost,
            Metric::AmortizedCost => types::Metric::AmortizedCost,
            Metric::NetUnblendedCost => types::Metric::NetUnblendedCost,
        }
    }

    /// For people: "unblended cost".
    pub fn describe(self) -> &'static str {
        match self {
            Metric::UnblendedCost => "unblended cost",
            Metric::AmortizedCost => "amortized cost",
            Metric::NetUnblendedCost => "net unblended cost",
        }
    }
}

/// Which forecasts the report asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForecastMode {
    /// One GetCostForecast per row with spend this month, and one for the total
    Rows,
    /// One GetCostForecast, for the total only
    Total,
    /// No forecast
    None,
}

/// A dimension the report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    Account,
    Service,
}

impl Dimension {
    /// The Cost Explorer dimension key.
    pub fn key(self) -> &'static str {
        match self {
            Dimension::Account => "LINKED_ACCOUNT",
            Dimension::Service => "SERVICE",
        }
    }

    fn sdk(self) -> types::Dimension {
        match self {
            Dimension::Account => types::Dimension::LinkedAccount,
            Dimension::Service => types::Dimension::Service,
        }
    }
}

/// One or two distinct dimensions, in the order Cost Explorer groups by them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping(Vec<Dimension>);

impl Grouping {
    pub fn dimensions(&self) -> &[Dimension] {
        &self.0
    }

    pub fn has(&self, dimension: Dimension) -> bool {
        self.0.contains(&dimension)
    }

    /// Where `dimension`'s value sits in a group's keys.
    pub fn position(&self, dimension: Dimension) -> Option<usize> {
        self.0.iter().position(|d| *d == dimension)
    }

    /// For people: "account and service".
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self
            .0
            .iter()
            .map(|d| match d {
                Dimension::Account => "account",
                Dimension::Service => "service",
            })
            .collect();
        names.join(" and ")
    }
}

/// `--group-by`: `account`, `service`, `account,service` or `service,account`.
pub fn parse_grouping(value: &str) -> Result<Grouping, String> {
    let expected = || "expected account, service or account,service".to_string();
    let mut dimensions = Vec::new();
    for part in value.split(',') {
        let dimension = match part.trim() {
            "account" => Dimension::Account,
            "service" => Dimension::Service,
            _ => return Err(expected()),
        };
        if dimensions.contains(&dimension) {
            return Err(expected());
        }
        dimensions.push(dimension);
    }
    Ok(Grouping(dimensions))
}

/// `--services`: a service as Cost Explorer names it, such as `AWS Lambda`.
pub fn parse_service(value: &str) -> Result<String, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.len() > 256 || trimmed.chars().any(char::is_control) {
        return Err(
            "expected a service name as Cost Explorer shows it, such as 'AWS Lambda'".into(),
        );
    }
    Ok(trimmed.to_string())
}

/// The question a report asks, independent of the months: what the cache is keyed by.
#[derive(Debug, Clone)]
pub struct Query {
    pub metric: Metric,
    pub grouping: Grouping,
    /// Sorted, without duplicates; empty: every account.
    pub accounts: Vec<String>,
    /// Sorted, without duplicates; empty: every service.
    pub services: Vec<String>,
}

impl Query {
    pub fn new(
        metric: Metric,
        grouping: Grouping,
        accounts: &[String],
        services: &[String],
    ) -> Query {
        let sorted = |values: &[String]| {
            let mut values = values.to_vec();
            values.sort();
            values.dedup();
            values
        };
        Query {
            metric,
            grouping,
            accounts: sorted(accounts),
            services: sorted(services),
        }
    }

    pub fn group_definitions(&self) -> Vec<GroupDefinition> {
        self.grouping
            .dimensions()
            .iter()
            .map(|d| {
                GroupDefinition::builder()
                    .r#type(GroupDefinitionType::Dimension)
                    .key(d.key())
                    .build()
            })
            .collect()
    }

    /// The filter of `--accounts` and `--services`, if any.
    pub fn filter(&self) -> Option<Expression> {
        all_of(self.conditions(&[]))
    }

    /// The filter that selects one row (its group keys) within the report's filter: what
    /// that row's forecast is asked for.
    pub fn filter_for(&self, keys: &[String]) -> Option<Expression> {
        let mut conditions: Vec<(Dimension, Vec<String>)> = self
            .grouping
            .dimensions()
            .iter()
            .zip(keys)
            .map(|(dimension, value)| (*dimension, vec![value.clone()]))
            .collect();
        conditions.extend(self.conditions(self.grouping.dimensions()));
        all_of(conditions)
    }

    /// The user's filters on dimensions other than `except` (a row's own keys already
    /// narrow those).
    fn conditions(&self, except: &[Dimension]) -> Vec<(Dimension, Vec<String>)> {
        [
            (Dimension::Account, &self.accounts),
            (Dimension::Service, &self.services),
        ]
        .into_iter()
        .filter(|(dimension, values)| !values.is_empty() && !except.contains(dimension))
        .map(|(dimension, values)| (dimension, values.clone()))
        .collect()
    }

    /// Everything that decides the answer for a month, as the cache compares it.
    pub fn identity(&self, endpoint: Option<&str>) -> Value {
        let group_by: Vec<&str> = self.grouping.dimensions().iter().map(|d| d.key()).collect();
        json!({
            "metric": self.metric.usage_name(),
            "group_by": group_by,
            "accounts": self.accounts,
            "services": self.services,
            "endpoint": endpoint,
        })
    }
}

fn all_of(conditions: Vec<(Dimension, Vec<String>)>) -> Option<Expression> {
    let mut expressions: Vec<Expression> = conditions
        .into_iter()
        .map(|(dimension, values)| {
            let values = DimensionValues::builder()
                .key(dimension.sdk())
                .set_values(Some(values))
                .match_options(MatchOption::Equals)
                .build();
            Expression::builder().dimensions(values).build()
        })
        .collect();
    // Cost Explorer wants at least two operands in an `And`, so one condition stands alone.
    match expressions.len() {
        0 => None,
        1 => expressions.pop(),
        _ => Some(Expression::builder().set_and(Some(expressions)).build()),
    }
}

/// The requests a report needs before it knows any answer: one `GetCostAndUsage`, and
/// one `GetCostForecast` for the total unless forecasts are off.
pub fn requests_known_in_advance(mode: ForecastMode) -> u32 {
    1 + forecasts_known_in_advance(mode)
}

/// The forecast requests known in advance: the total's.
pub fn forecasts_known_in_advance(mode: ForecastMode) -> u32 {
    match mode {
        ForecastMode::Rows | ForecastMode::Total => 1,
        ForecastMode::None => 0,
    }
}

/// USD for `requests` requests, as `0.12`.
pub fn dollars(requests: u32) -> String {
    let cents = requests * CENTS_PER_REQUEST;
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Counts the Cost Explorer requests of a run, by action, and keeps them within a maximum.
#[derive(Debug)]
pub struct Meter {
    max: u32,
    made: Mutex<BTreeMap<&'static str, u32>>,
}

impl Meter {
    pub fn new(max: u32) -> Meter {
        Meter {
            max,
            made: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn max(&self) -> u32 {
        self.max
    }

    /// Requests made so far.
    pub fn made(&self) -> u32 {
        self.lock().values().sum()
    }

    /// Whether `more` requests fit within the maximum after those made.
    pub fn allows(&self, more: u32) -> bool {
        self.made() + more <= self.max
    }

    /// Counts one request of `action` (the operation name), made whatever its outcome.
    pub fn record(&self, action: &'static str) {
        *self.lock().entry(action).or_insert(0) += 1;
    }

    /// `2 GetCostAndUsage, 9 GetCostForecast`, or `none`.
    pub fn breakdown(&self) -> String {
        let made = self.lock();
        if made.is_empty() {
            return "none".into();
        }
        made.iter()
            .map(|(action, count)| format!("{count} {action}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, u32>> {
        // A panic while holding the lock cannot leave a count half-written.
        self.made
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(grouping: &str, accounts: &[&str], services: &[&str]) -> Query {
        let owned = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        Query::new(
            Metric::UnblendedCost,
            parse_grouping(grouping).unwrap(),
            &owned(accounts),
            &owned(services),
        )
    }

    /// (dimension key, values) of each condition, in order.
    fn conditions(expression: Option<Expression>) -> Vec<(String, Vec<String>)> {
        let Some(expression) = expression else {
            return Vec::new();
        };
        let leaves = if expression.and().is_empty() {
            vec![expression]
        } else {
            expression.and().to_vec()
        };
        leaves
            .iter()
            .map(|leaf| {
                let dimension = leaf.dimensions().unwrap();
                (
                    dimension.key().unwrap().as_str().to_string(),
                    dimension.values().to_vec(),
                )
            })
            .collect()
    }

    #[test]
    fn groupings_take_one_or_two_distinct_dimensions() {
        assert_eq!(
            parse_grouping("account,service").unwrap().dimensions(),
            [Dimension::Account, Dimension::Service]
        );
        assert_eq!(
            parse_grouping("service").unwrap().dimensions(),
            [Dimension::Service]
        );
        for bad in [
            "",
            "region",
            "account,account",
            "account,service,account",
            "Account",
        ] {
            assert!(parse_grouping(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn service_names_are_trimmed_and_checked() {
        assert_eq!(parse_service(" AWS Lambda ").unwrap(), "AWS Lambda");
        assert!(parse_service("  ").is_err());
        assert!(parse_service("AWS\nLambda").is_err());
    }

    #[test]
    fn filters_stand_alone_or_join_with_and() {
        assert!(query("account", &[], &[]).filter().is_none());
        assert_eq!(
            conditions(query("account", &["2", "1", "2"], &[]).filter()),
            [("LINKED_ACCOUNT".to_string(), vec!["1".into(), "2".into()])]
        );
        assert_eq!(
            conditions(query("account", &["1"], &["S3"]).filter()).len(),
            2
        );
    }

    #[test]
    fn a_row_forecast_narrows_to_its_keys_and_keeps_the_other_filters() {
        let q = query("account", &["1", "2"], &["AWS Lambda"]);
        assert_eq!(
            conditions(q.filter_for(&["2".into()])),
            [
                ("LINKED_ACCOUNT".to_string(), vec!["2".to_string()]),
                ("SERVICE".to_string(), vec!["AWS Lambda".to_string()]),
            ]
        );
        let q = query("service,account", &[], &[]);
        assert_eq!(
            conditions(q.filter_for(&["S3".into(), "1".into()])),
            [
                ("SERVICE".to_string(), vec!["S3".to_string()]),
                ("LINKED_ACCOUNT".to_string(), vec!["1".to_string()]),
            ]
        );
    }

    #[test]
    fn the_identity_names_everything_that_shapes_an_answer() {
        let a = query("account,service", &["1"], &[]).identity(None);
        assert_eq!(a["group_by"], json!(["LINKED_ACCOUNT", "SERVICE"]));
        assert_ne!(a, query("service,account", &["1"], &[]).identity(None));
        assert_ne!(a, query("account,service", &[], &[]).identity(None));
        assert_ne!(
            a,
            query("account,service", &["1"], &[]).identity(Some("http://127.0.0.1:1"))
        );
    }

    #[test]
    fn the_meter_counts_by_action_and_prices_requests() {
        let meter = Meter::new(3);
        assert!(meter.allows(3) && !meter.allows(4));
        meter.record("GetCostAndUsage");
        meter.record("GetCostForecast");
        meter.record("GetCostAndUsage");
        assert_eq!(meter.made(), 3);
        assert!(!meter.allows(1));
        assert_eq!(meter.breakdown(), "2 GetCostAndUsage, 1 GetCostForecast");
        assert_eq!(dollars(3), "0.03");
        assert_eq!(dollars(250), "2.50");
        assert_eq!(requests_known_in_advance(ForecastMode::Rows), 2);
        assert_eq!(requests_known_in_advance(ForecastMode::None), 1);
    }
}
