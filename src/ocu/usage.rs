//! Reading one account and region: its OCU limits, its collections, and its OCU usage.
//!
//! Shared by `ocu status` (which reports them) and `ocu set-limits` (which plans against
//! them and checks, at apply, that they did not change). Every call goes through the run's
//! [`crate::aws::Budget`], in the member account through the member role.

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};

use super::threshold::period_for;
use crate::aws::{Aws, Call};
use crate::error::Result;
use crate::targets::Target;

/// CloudWatch namespace of OpenSearch Serverless.
pub const NAMESPACE: &str = "AWS/AOSS";
/// The dimension OpenSearch Serverless publishes account-wide OCU usage under.
pub const CLIENT_ID: &str = "ClientId";

/// The maximum OCUs of an account and region; `None` where none is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Limits {
    pub indexing: Option<i32>,
    pub search: Option<i32>,
}

/// Usage of one dimension over the window: the latest datapoint and the highest.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub current: Option<f64>,
    pub peak: Option<f64>,
}

/// Everything `status` shows about one account and region.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub collections: usize,
    pub limits: Limits,
    pub indexing: Usage,
    pub search: Usage,
}

impl Reading {
    /// OpenSearch Serverless is in use: collections, limits or datapoints exist.
    pub fn in_use(&self) -> bool {
        self.collections > 0
            || self.limits != Limits::default()
            || self.indexing.peak.is_some()
            || self.search.peak.is_some()
    }
}

/// Limits, collections and usage over the last `since_seconds`.
pub async fn read(aws: &Aws, target: &Target, since_seconds: i64) -> Result<Reading> {
    let limits = limits(aws, target).await?;
    let collections = collections(aws, target).await?;
    let (indexing, search) = usage(aws, target, since_seconds).await?;
    Ok(Reading {
        collections,
        limits,
        indexing,
        search,
    })
}

/// `aoss:GetAccountSettings`.
pub async fn limits(aws: &Aws, target: &Target) -> Result<Limits> {
    let config = aws
        .budgeted_config_for(&target.account, &target.region)
        .await?;
    let client = aws_sdk_opensearchserverless::Client::new(&config);
    let call =
        Call::new("aoss:GetAccountSettings", &target.account, &target.region).endpoint_of(&config);
    let out = aws
        .budget()
        .send(&call, || client.get_account_settings().send())
        .await?;
    let capacity = out
        .account_settings_detail()
        .and_then(|d| d.capacity_limits());
    Ok(Limits {
        indexing: capacity.and_then(|c| c.max_indexing_capacity_in_ocu()),
        search: capacity.and_then(|c| c.max_search_capacity_in_ocu()),
    })
}

/// How many collections `aoss:ListCollections` lists, over every page.
pub async fn collections(aws: &Aws, target: &Target) -> Result<usize> {
    let config = aws
        .budgeted_config_for(&target.account, &target.region)
        .await?;
    let client = aws_sdk_opensearchserverless::Client::new(&config);
    let call =
        Call::new("aoss:ListCollections", &target.account, &target.region).endpoint_of(&config);
    let mut count = 0;
    aws.budget()
        .pages(
            &call,
            |token| client.list_collections().set_next_token(token).send(),
            |page| page.next_token(),
            |page| {
                count += page.collection_summaries().len();
                Ok(())
            },
        )
        .await?;
    Ok(count)
}

/// `cloudwatch:GetMetricData` for `IndexingOCU` and `SearchOCU` (statistic `Maximum`,
/// dimension `ClientId` = the account), newest first, over every page.
pub async fn usage(aws: &Aws, target: &Target, since_seconds: i64) -> Result<(Usage, Usage)> {
    let config = aws
        .budgeted_config_for(&target.account, &target.region)
        .await?;
    let client = aws_sdk_cloudwatch::Client::new(&config);
    let call =
        Call::new("cloudwatch:GetMetricData", &target.account, &target.region).endpoint_of(&config);
    let end = crate::change::plan::now();
    let start = end - since_seconds;
    let queries: Vec<MetricDataQuery> = [("indexing", "IndexingOCU"), ("search", "SearchOCU")]
        .into_iter()
        .map(|(id, metric)| query(id, metric, &target.account, period_for(since_seconds)))
        .collect();

    let mut indexing = Vec::new();
    let mut search = Vec::new();
    let request = |token| {
        client
            .get_metric_data()
            .set_metric_data_queries(Some(queries.clone()))
            .start_time(DateTime::from_secs(start))
            .end_time(DateTime::from_secs(end))
            .scan_by(ScanBy::TimestampDescending)
            .set_next_token(token)
            .send()
    };
    aws.budget()
        .pages(
            &call,
            request,
            |page| page.next_token(),
            |page| {
                for result in page.metric_data_results() {
                    let points = result
                        .timestamps()
                        .iter()
                        .zip(result.values())
                        .map(|(t, v)| (t.secs(), *v));
                    match result.id() {
                        Some("indexing") => indexing.extend(points),
                        Some("search") => search.extend(points),
                        _ => {}
                    }
                }
                Ok(())
            },
        )
        .await?;
    Ok((summarise(&indexing), summarise(&search)))
}

fn query(id: &str, metric: &str, account: &str, period: i32) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(NAMESPACE)
        .metric_name(metric)
        .dimensions(Dimension::builder().name(CLIENT_ID).value(account).build())
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(period)
                .stat("Maximum")
                .build(),
        )
        .return_data(true)
        .build()
}

/// The latest value (by timestamp, whatever order the pages came in) and the highest.
pub fn summarise(points: &[(i64, f64)]) -> Usage {
    let current = points
        .iter()
        .filter(|(_, v)| v.is_finite())
        .max_by_key(|(t, _)| *t)
        .map(|(_, v)| *v);
    let peak = points
        .iter()
        .map(|(_, v)| *v)
        .filter(|v| v.is_finite())
        .fold(None, |best: Option<f64>, v| {
            Some(best.map_or(v, |b| b.max(v)))
        });
    Usage { current, peak }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_is_the_newest_point_and_peak_the_highest() {
        let usage = summarise(&[(100, 4.0), (300, 2.5), (200, 10.0)]);
        assert_eq!(usage.current, Some(2.5));
        assert_eq!(usage.peak, Some(10.0));
        assert_eq!(summarise(&[]), Usage::default());
    }

    #[test]
    fn in_use_needs_collections_limits_or_datapoints() {
        let mut reading = Reading {
            collections: 0,
            limits: Limits::default(),
            indexing: Usage::default(),
            search: Usage::default(),
        };
        assert!(!reading.in_use());
        reading.search.peak = Some(1.0);
        assert!(reading.in_use());
    }
}
