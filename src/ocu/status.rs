//! `govctl ocu status`: OCU usage against the maximum, per account and region, worst first.

use std::process::ExitCode;

use serde::Serialize;

use super::StatusArgs;
use super::threshold::{self, FailOn, State};
use super::usage::{self, Reading};
use crate::aws::Aws;
use crate::error::{EXIT_FINDINGS, EXIT_OK, Result};
use crate::output::{self, Row};
use crate::targets::{self, Target};
use crate::ui::Ui;

/// One account and region where OpenSearch Serverless is in use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusRow {
    pub account_id: String,
    pub account_name: String,
    pub region: String,
    pub collections: usize,
    pub indexing_max: Option<i32>,
    pub indexing_current: Option<f64>,
    pub indexing_peak: Option<f64>,
    pub indexing_utilisation_pct: Option<f64>,
    pub indexing_state: State,
    pub search_max: Option<i32>,
    pub search_current: Option<f64>,
    pub search_peak: Option<f64>,
    pub search_utilisation_pct: Option<f64>,
    pub search_state: State,
    /// The worse of the two states.
    pub state: State,
}

impl Row for StatusRow {
    const COLUMNS: &'static [&'static str] = &[
        "account_id",
        "account_name",
        "region",
        "collections",
        "indexing_max",
        "indexing_current",
        "indexing_peak",
        "indexing_utilisation_pct",
        "indexing_state",
        "search_max",
        "search_current",
        "search_peak",
        "search_utilisation_pct",
        "search_state",
        "state",
    ];
}

impl StatusRow {
    pub fn new(target: &Target, account_name: String, reading: &Reading) -> StatusRow {
        let limits = reading.limits;
        let indexing_state = threshold::state(limits.indexing, reading.indexing.peak);
        let search_state = threshold::state(limits.search, reading.search.peak);
        StatusRow {
            account_id: target.account.clone(),
            account_name,
            region: target.region.clone(),
            collections: reading.collections,
            indexing_max: limits.indexing,
            indexing_current: reading.indexing.current,
            indexing_peak: reading.indexing.peak,
            indexing_utilisation_pct: threshold::utilisation_pct(
                limits.indexing,
                reading.indexing.peak,
            ),
            indexing_state,
            search_max: limits.search,
            search_current: reading.search.current,
            search_peak: reading.search.peak,
            search_utilisation_pct: threshold::utilisation_pct(limits.search, reading.search.peak),
            search_state,
            state: indexing_state.max(search_state),
        }
    }

    fn worst_utilisation(&self) -> f64 {
        self.indexing_utilisation_pct
            .unwrap_or(-1.0)
            .max(self.search_utilisation_pct.unwrap_or(-1.0))
    }
}

/// Worst first: by state, then by the higher utilisation, then by account and region.
pub fn sort(rows: &mut [StatusRow]) {
    rows.sort_by(|a, b| {
        b.state
            .cmp(&a.state)
            .then(b.worst_utilisation().total_cmp(&a.worst_utilisation()))
            .then_with(|| (&a.account_id, &a.region).cmp(&(&b.account_id, &b.region)))
    });
}

/// What `ocu status` found: the rows, worst first, and how many targets were visited.
pub struct Status {
    pub rows: Vec<StatusRow>,
    pub visited: usize,
}

impl Status {
    /// How many rows are at or past `level`.
    pub fn at_or_past(&self, level: FailOn) -> usize {
        self.rows.iter().filter(|r| level.matches(r.state)).count()
    }

    /// The closing line on stderr.
    pub fn summary(&self) -> String {
        let count = |state: State| self.rows.iter().filter(|r| r.state == state).count();
        format!(
            "{} account-regions with OpenSearch Serverless of {} visited: {} reached, {} \
             approaching, {} ok, {} without datapoints, {} without limits",
            self.rows.len(),
            self.visited,
            count(State::Reached),
            count(State::Approaching),
            count(State::Ok),
            count(State::NoData),
            count(State::NoLimit),
        )
    }
}

pub async fn run(args: StatusArgs, ui: &Ui) -> Result<ExitCode> {
    if let Some(out) = &args.output.out {
        output::check_destination(out)?;
    }
    let status = collect(&args, ui).await?;
    output::emit(
        &status.rows,
        args.output.output,
        KIND,
        args.output.out.as_deref(),
    )?;
    ui.status(status.summary());
    let failed = args
        .fail_on
        .is_some_and(|level| status.at_or_past(level) > 0);
    Ok(ExitCode::from(if failed { EXIT_FINDINGS } else { EXIT_OK }))
}

/// The document kind of the report in JSON.
pub const KIND: &str = "ocu_status";

/// Visits every target and reads its limits and usage; the rows are worst first.
pub async fn collect(args: &StatusArgs, ui: &Ui) -> Result<Status> {
    let aws = Aws::connect(&args.aws).await?;
    let (targets, names) = targets::resolve_named(&aws, &args.targets, ui).await?;

    let bar = ui.bar(targets.len() as u64, "reading OCU limits and usage");
    let since = args.since;
    let outcomes = targets::visit(&aws, &targets, |target| {
        let aws = &aws;
        let bar = &bar;
        async move {
            let reading = usage::read(aws, target, since).await;
            bar.inc(1);
            reading
        }
    })
    .await;
    bar.finish_and_clear();

    let mut rows = Vec::new();
    for (target, outcome) in outcomes {
        // Missing: an --allow-partial like the layer report's. One account or region that
        // cannot be read fails the whole status, so a large organization with one broken
        // member role gets no report at all until that role is fixed or excluded.
        let reading = outcome?;
        if reading.in_use() {
            let name = names.get(&target.account).cloned().unwrap_or_default();
            rows.push(StatusRow::new(target, name, &reading));
        }
    }
    sort(&mut rows);
    Ok(Status {
        rows,
        visited: targets.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocu::usage::{Limits, Usage};

    fn row(
        account: &str,
        indexing: (Option<i32>, Option<f64>),
        search: (Option<i32>, Option<f64>),
    ) -> StatusRow {
        let reading = Reading {
            collections: 1,
            limits: Limits {
                indexing: indexing.0,
                search: search.0,
            },
            indexing: Usage {
                current: indexing.1,
                peak: indexing.1,
            },
            search: Usage {
                current: search.1,
                peak: search.1,
            },
        };
        let target = Target {
            account: account.into(),
            region: "us-east-1".into(),
        };
        StatusRow::new(&target, String::new(), &reading)
    }

    #[test]
    fn columns_match_the_serialized_fields() {
        let row = row("111111111111", (Some(10), Some(5.0)), (None, None));
        assert_eq!(output::serialized_keys(&row), StatusRow::COLUMNS);
    }

    #[test]
    fn the_row_state_is_the_worse_dimension() {
        let r = row("111111111111", (Some(10), Some(10.0)), (Some(8), Some(6.0)));
        assert_eq!(r.indexing_state, State::Reached);
        assert_eq!(r.search_state, State::Approaching);
        assert_eq!(r.state, State::Reached);
        assert_eq!(r.search_utilisation_pct, Some(75.0));
    }

    #[test]
    fn rows_sort_worst_first() {
        let mut rows = vec![
            row("111111111111", (Some(10), Some(1.0)), (Some(10), Some(1.0))),
            row("222222222222", (None, Some(3.0)), (None, Some(2.0))),
            row("333333333333", (Some(10), Some(8.0)), (Some(10), Some(1.0))),
            row(
                "444444444444",
                (Some(10), Some(11.0)),
                (Some(10), Some(1.0)),
            ),
            row("555555555555", (Some(10), Some(9.0)), (Some(10), Some(1.0))),
            row("666666666666", (Some(6), None), (Some(6), None)),
        ];
        sort(&mut rows);
        let order: Vec<&str> = rows.iter().map(|r| &r.account_id[..1]).collect();
        assert_eq!(order, ["4", "5", "3", "1", "6", "2"]);
    }
}
