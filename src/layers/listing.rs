//! Discovering functions from Lambda itself, account by account and region by region.
//!
//! This source needs no Config aggregator and sees changes at once, so it also serves to
//! cross-check Config, which lags by minutes. Each (account, region) is a partition listed
//! with `ListFunctions` through the member role. `ListFunctions` does not return tags, so
//! the CloudFormation stack of a function is read afterwards from the tagging API, and only
//! for the accounts and regions with functions in the report.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_lambda::operation::list_functions::ListFunctionsOutput;
use aws_sdk_resourcegroupstagging::types::TagFilter;
use futures::{StreamExt, stream};

use super::discovery::{Found, Function, Interner, Partition, Scope};
use super::query::STACK_NAME_TAG;
use super::report::Finding;
use crate::aws::{Aws, Call};
use crate::error::{Error, Result};
use crate::targets;
use crate::ui::Ui;

/// Functions per `ListFunctions` page; 50 is the most Lambda returns.
const PAGE_SIZE: i32 = 50;

/// Resources per `tag:GetResources` page; 100 is the most the API returns.
const TAGGED_PAGE_SIZE: i32 = 100;

/// One partition per active account and region.
pub async fn partitions(aws: &Aws, scope: &Scope) -> Result<Vec<Partition>> {
    let accounts = targets::accounts_or_org(aws, scope.accounts.as_deref()).await?;
    let regions = targets::regions_or_home(aws, scope.regions.as_deref());

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
    let request = |marker| {
        client
            .list_functions()
            .max_items(PAGE_SIZE)
            .set_marker(marker)
            .send()
    };
    let visit = |page: &ListFunctionsOutput| {
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
        Ok(())
    };
    aws.budget()
        .pages(&call, request, |page| page.next_marker(), visit)
        .await?;
    Ok(found)
}

/// Fills `managed_by` of `rows` from the functions' tags.
///
/// Per account and region, one paginated `tag:GetResources` asks for the functions that
/// carry the stack tag: a few requests instead of one `ListTags` per function, which at
/// 10,000 functions is most of a run's requests. Where the tagging API cannot be read (the
/// member role may not grant it), the functions there are asked one by one with
/// `ListTags`. A function whose tags cannot be read keeps an empty `managed_by`; how many,
/// and why, is reported once.
pub async fn fill_managed_by(aws: &Aws, rows: &mut [Finding], ui: &Ui) {
    let mut wanted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for row in rows.iter() {
        wanted
            .entry((row.account_id.to_string(), row.region.to_string()))
            .or_default()
            .insert(row.function_arn.clone());
    }

    let results: Vec<StackTags> =
        stream::iter(wanted)
            .map(|((account, region), arns)| async move {
                stack_tags(aws, &account, &region, arns).await
            })
            .buffer_unordered(aws.concurrency())
            .collect()
            .await;

    let mut stacks = HashMap::new();
    let mut failures = Vec::new();
    for result in results {
        stacks.extend(result.stacks);
        failures.extend(result.failures);
    }
    if let Some(first) = failures.first() {
        ui.warn(format!(
            "managed_by is empty for {} functions whose tags could not be read (first: {first})",
            failures.len()
        ));
    }
    for row in rows {
        if let Some(stack) = stacks.get(&row.function_arn) {
            row.managed_by = stack.as_str().into();
        }
    }
}

/// The stacks of the functions of one account and region, and the tags that failed.
#[derive(Default)]
struct StackTags {
    stacks: HashMap<String, String>,
    failures: Vec<Error>,
}

async fn stack_tags(aws: &Aws, account: &str, region: &str, arns: BTreeSet<String>) -> StackTags {
    match tagged_stacks(aws, account, region).await {
        Ok(mut stacks) => {
            stacks.retain(|arn, _| arns.contains(arn));
            StackTags {
                stacks,
                failures: Vec::new(),
            }
        }
        Err(error) => {
            tracing::debug!(%account, %region, %error, "tag:GetResources failed; using ListTags");
            let found: Vec<(String, Result<Option<String>>)> = stream::iter(arns)
                .map(|arn| async move {
                    let stack = stack_name(aws, account, region, &arn).await;
                    (arn, stack)
                })
                .buffer_unordered(aws.concurrency())
                .collect()
                .await;
            let mut result = StackTags::default();
            for (arn, stack) in found {
                match stack {
                    Ok(Some(stack)) => {
                        result.stacks.insert(arn, stack);
                    }
                    Ok(None) => {}
                    Err(error) => result.failures.push(error),
                }
            }
            result
        }
    }
}

/// Function ARN to stack name, for every function of `account` and `region` that carries
/// the stack tag.
async fn tagged_stacks(aws: &Aws, account: &str, region: &str) -> Result<HashMap<String, String>> {
    let config = aws.budgeted_config_for(account, region).await?;
    let client = aws_sdk_resourcegroupstagging::Client::new(&config);
    let call = Call::new("tag:GetResources", account, region).endpoint_of(&config);
    let filter = TagFilter::builder().key(STACK_NAME_TAG).build();

    let mut stacks = HashMap::new();
    let request = |token| {
        client
            .get_resources()
            .resource_type_filters("lambda:function")
            .tag_filters(filter.clone())
            .resources_per_page(TAGGED_PAGE_SIZE)
            .set_pagination_token(token)
            .send()
    };
    aws.budget()
        .pages(
            &call,
            request,
            |page| page.pagination_token(),
            |page| {
                for mapping in page.resource_tag_mapping_list() {
                    let stack = mapping
                        .tags()
                        .iter()
                        .find(|tag| tag.key() == STACK_NAME_TAG)
                        .map(|tag| tag.value().to_string());
                    if let (Some(arn), Some(stack)) = (mapping.resource_arn(), stack) {
                        stacks.insert(arn.to_string(), stack);
                    }
                }
                Ok(())
            },
        )
        .await?;
    Ok(stacks)
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
