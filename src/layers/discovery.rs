//! Finding every Lambda function and its layers, across the organization, concurrently.
//!
//! Two sources answer the same question. `config` asks an AWS Config aggregator (one service,
//! minutes behind reality); `lambda` lists functions in each member account and region
//! through the member role (current, and needs no aggregator). Either way the work is split
//! into partitions that run at once, all under the one request budget of [`Aws::budget`],
//! and the merged result is sorted, so the report is the same whatever order partitions end.
//!
//! Functions are kept compact: strings that repeat across thousands of functions (accounts,
//! regions, runtimes, layer ARNs) are shared, functions without layers are only counted, and
//! the function ARN is derived rather than stored. This keeps memory bounded as the
//! organization grows.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use futures::{StreamExt, stream};

use super::arn::LayerVersion;
use super::{listing, query};
use crate::aws::Aws;
use crate::error::{Error, Result};
use crate::ui::Ui;

/// Where functions are discovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// An AWS Config aggregator (SelectAggregateResourceConfig)
    Config,
    /// Lambda itself, in each member account and region (ListFunctions)
    Lambda,
}

/// What to discover.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Only functions using this layer version.
    pub layer: Option<LayerVersion>,
    /// Only these accounts (all when `None`).
    pub accounts: Option<Vec<String>>,
    /// Only these regions (for `config`, all the aggregator sees when `None`).
    pub regions: Option<Vec<String>>,
}

/// A Lambda function that uses at least one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub partition: Arc<str>,
    pub account_id: Arc<str>,
    pub region: Arc<str>,
    pub name: Box<str>,
    pub runtime: Arc<str>,
    /// Layer version ARNs in the function's order.
    pub layers: Box<[Arc<str>]>,
    /// The CloudFormation stack that manages the function, if known.
    pub stack_name: Option<Box<str>>,
}

impl Function {
    /// The unqualified function ARN, which is what both sources report.
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:lambda:{}:{}:function:{}",
            self.partition, self.region, self.account_id, self.name
        )
    }
}

/// Shares one allocation among equal strings.
#[derive(Debug, Default)]
pub struct Interner(HashSet<Arc<str>>);

impl Interner {
    pub fn get(&mut self, value: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(value) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(value);
        self.0.insert(shared.clone());
        shared
    }
}

/// What one partition found.
#[derive(Debug, Default)]
pub struct Found {
    /// Functions with at least one layer.
    pub functions: Vec<Function>,
    /// Every function seen, with or without layers.
    pub scanned: usize,
}

impl Found {
    /// Keeps `function` if it can matter to a layer report, counting it either way.
    pub fn add(&mut self, function: Function) {
        self.scanned += 1;
        if !function.layers.is_empty() {
            self.functions.push(function);
        }
    }
}

/// A unit of discovery work, named for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Partition {
    /// A slice of the aggregator's accounts (all of them when `None`).
    Config { accounts: Option<Vec<String>> },
    /// One account and region, listed directly.
    Lambda { account: String, region: String },
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partition::Config { accounts: None } => write!(f, "all accounts of the aggregator"),
            Partition::Config {
                accounts: Some(accounts),
            } => match accounts.as_slice() {
                [one] => write!(f, "account {one}"),
                [first, .., last] => {
                    write!(f, "accounts {first}..{last} ({} accounts)", accounts.len())
                }
                [] => write!(f, "no accounts"),
            },
            Partition::Lambda { account, region } => write!(f, "account {account}, {region}"),
        }
    }
}

/// A partition that failed, kept when `--allow-partial` asks to go on without it.
#[derive(Debug)]
pub struct Failure {
    pub partition: Partition,
    pub error: Error,
}

/// Everything discovered, sorted by account, region and function name.
#[derive(Debug, Default)]
pub struct Discovery {
    pub functions: Vec<Function>,
    pub scanned: usize,
    pub failed: Vec<Failure>,
}

/// Discovers functions from `source`, running partitions concurrently.
///
/// A failing partition fails the whole discovery unless `allow_partial` is set; then it is
/// recorded in [`Discovery::failed`] and the others go on.
pub async fn discover(
    aws: &Aws,
    source: Source,
    aggregator: Option<&str>,
    scope: &Scope,
    allow_partial: bool,
    ui: &Ui,
) -> Result<Discovery> {
    let partitions = match (source, aggregator) {
        (Source::Config, Some(aggregator)) => query::partitions(aws, aggregator, scope, ui).await?,
        (Source::Config, None) => {
            return Err(Error::InvalidInput {
                what: "--aggregator",
                value: String::new(),
                expected: "an aggregator name with --source config".into(),
            });
        }
        (Source::Lambda, _) => listing::partitions(aws, scope).await?,
    };
    tracing::debug!(count = partitions.len(), "discovery partitions");

    let bar = ui.bar(partitions.len() as u64, "discovering functions");
    let mut running = stream::iter(partitions)
        .map(|partition| async {
            let found = match &partition {
                Partition::Config { accounts } => {
                    let aggregator = aggregator.unwrap_or_default();
                    query::select(aws, aggregator, scope, accounts.as_deref()).await
                }
                Partition::Lambda { account, region } => {
                    listing::list(aws, account, region, scope).await
                }
            };
            (partition, found)
        })
        .buffer_unordered(aws.concurrency());

    let mut discovery = Discovery::default();
    while let Some((partition, found)) = running.next().await {
        bar.inc(1);
        match found {
            Ok(found) => {
                discovery.scanned += found.scanned;
                discovery.functions.extend(found.functions);
            }
            Err(error) if allow_partial => discovery.failed.push(Failure { partition, error }),
            Err(error) => return Err(error),
        }
    }
    bar.finish_and_clear();

    discovery.functions.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.name).cmp(&(&b.account_id, &b.region, &b.name))
    });
    discovery.functions.dedup_by(|a, b| {
        (&a.account_id, &a.region, &a.name) == (&b.account_id, &b.region, &b.name)
    });
    Ok(discovery)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interner_shares_equal_strings() {
        let mut interner = Interner::default();
        let a = interner.get("us-east-1");
        let b = interner.get("us-east-1");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &interner.get("eu-west-1")));
    }

    #[test]
    fn functions_without_layers_are_counted_not_kept() {
        let mut interner = Interner::default();
        let mut function = Function {
            partition: interner.get("aws"),
            account_id: interner.get("111122223333"),
            region: interner.get("us-east-1"),
            name: "f".into(),
            runtime: interner.get("python3.12"),
            layers: Box::new([]),
            stack_name: None,
        };
        let mut found = Found::default();
        found.add(function.clone());
        function.layers = Box::new([interner.get("arn:aws:lambda:us-east-1:1:layer:x:1")]);
        found.add(function);
        assert_eq!(found.scanned, 2);
        assert_eq!(found.functions.len(), 1);
        assert_eq!(
            found.functions[0].arn(),
            "arn:aws:lambda:us-east-1:111122223333:function:f"
        );
    }

    #[test]
    fn partitions_describe_themselves() {
        let p = Partition::Config {
            accounts: Some(vec!["1".into(), "2".into(), "3".into()]),
        };
        assert_eq!(p.to_string(), "accounts 1..3 (3 accounts)");
        let p = Partition::Lambda {
            account: "1".into(),
            region: "eu-west-1".into(),
        };
        assert_eq!(p.to_string(), "account 1, eu-west-1");
    }
}
