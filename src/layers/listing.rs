//! Discovering functions from Lambda itself, account by account and region by region.
//!
//! This source needs no Config aggregator and sees changes at once, so it also serves to
//! cross-check Config, which lags by minutes. Each (account, region) is a partition listed
//! with `ListFunctions` through the member role. `ListFunctions` does not return tags, so
//! the CloudFormation stack of a function is read afterwards with `ListTags`, and only for
//! the functions that end up in the report.

use std::collections::{BTreeSet, HashMap};

use futures::{StreamExt, stream};

use super::discovery::{Found, Function, Interner, Partition, Scope};
use super::query::STACK_NAME_TAG;
use super::report::Finding;
use crate::aws::{Aws, Call};
use crate::error::Result;
use crate::org;
use crate::ui::Ui;

/// Functions per `ListFunctions` page; 50 is the most Lambda returns.
const PAGE_SIZE: i32 = 50;

/// One partition per active account and region.
pub async fn partitions(aws: &Aws, scope: &Scope) -> Result<Vec<Partition>> {
    let accounts = match &scope.accounts {
        Some(accounts) => accounts.clone(),
        None => org::members(aws)
            .await?
            .into_iter()
            .filter(|member| member.is_active())
            .map(|member| member.id)
            .collect(),
    };
    let regions = match &scope.regions {
        Some(regions) => regions.clone(),
        None => vec![aws.region().to_string()],
    };

    let mut partitions = Vec::with_capacity(accounts.len() * regions.len());
    for account in &accounts {
        for region in &regions {
            partitions.push(Partition::Lambda {
                account: account.clone(),
                region: region.clone(),
            });
        }
    }
    Ok(partitions)
}

/// Lists the functions of one account and region.
pub async fn list(aws: &Aws, account: &str, region: &str, scope: &Scope) -> Result<Found> {
    let config = aws.budgeted_config_for(account, region).await?;
    let client = aws_sdk_lambda::Client::new(&config);
    let call = Call::new("lambda:ListFunctions", account, region).endpoint_of(&config);
    let wanted = scope.layer.as_ref().map(ToString::to_string);

    let mut found = Found::default();
    let mut interner = Interner::default();
    let mut marker: Option<String> = None;
    loop {
        let page = aws
            .budget()
            .send(&call, || {
                client
                    .list_functions()
                    .max_items(PAGE_SIZE)
                    .set_marker(marker.clone())
                    .send()
            })
            .await?;

        for f in page.functions() {
            let layers: Box<[_]> = f
                .layers()
                .iter()
                .filter_map(|layer| layer.arn())
                .map(|arn| interner.get(arn))
                .collect();
            let uses_wanted = match &wanted {
                Some(arn) => layers.iter().any(|layer| **layer == **arn),
                None => true,
            };
            let partition = f
                .function_arn()
                .map(crate::aws::partition_of)
                .unwrap_or("aws");
            let function = Function {
                partition: interner.get(partition),
                account_id: interner.get(account),
                region: interner.get(region),
                name: f.function_name().unwrap_or_default().into(),
                runtime: interner.get(f.runtime().map(|r| r.as_str()).unwrap_or_default()),
                layers: if uses_wanted { layers } else { Box::new([]) },
                stack_name: None,
            };
            found.add(function);
        }

        marker = call.next_token(marker.as_deref(), page.next_marker())?;
        if marker.is_none() {
            return Ok(found);
        }
    }
}

/// Fills `managed_by` of `rows` from each function's tags, one `ListTags` per function.
///
/// A function whose tags cannot be read keeps an empty `managed_by`; how many, and why, is
/// reported once.
pub async fn fill_managed_by(aws: &Aws, rows: &mut [Finding], ui: &Ui) {
    let functions: BTreeSet<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.account_id.clone(),
                r.region.clone(),
                r.function_arn.clone(),
            )
        })
        .collect();

    let results: Vec<(String, Result<Option<String>>)> = stream::iter(functions)
        .map(|(account, region, arn)| async move {
            let stack = stack_name(aws, &account, &region, &arn).await;
            (arn, stack)
        })
        .buffer_unordered(aws.concurrency())
        .collect()
        .await;

    let mut stacks = HashMap::new();
    let mut failures = Vec::new();
    for (arn, result) in results {
        match result {
            Ok(Some(stack)) => {
                stacks.insert(arn, stack);
            }
            Ok(None) => {}
            Err(error) => failures.push(error),
        }
    }
    if let Some(first) = failures.first() {
        ui.warn(format!(
            "managed_by is empty for {} functions whose tags could not be read (first: {first})",
            failures.len()
        ));
    }
    for row in rows {
        if let Some(stack) = stacks.get(&row.function_arn) {
            row.managed_by = stack.clone();
        }
    }
}

async fn stack_name(aws: &Aws, account: &str, region: &str, arn: &str) -> Result<Option<String>> {
    let config = aws.budgeted_config_for(account, region).await?;
    let client = aws_sdk_lambda::Client::new(&config);
    let call = Call::new("lambda:ListTags", account, region).endpoint_of(&config);
    let out = aws
        .budget()
        .send(&call, || client.list_tags().resource(arn).send())
        .await?;
    Ok(out
        .tags()
        .and_then(|tags| tags.get(STACK_NAME_TAG))
        .cloned())
}
