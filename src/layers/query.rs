//! Asking an AWS Config aggregator which functions use which layers.
//!
//! `SelectAggregateResourceConfig` takes a SQL-like expression with single-quoted string
//! literals and no documented escape, so every value put into one is checked against a
//! conservative character set instead of being escaped. Results come back as JSON strings,
//! one configuration item each, 100 to a page.
//!
//! A large organization is split into partitions of accounts (`accountId IN (...)`), taken
//! from the aggregator's own sources, so that pages are fetched concurrently instead of one
//! after another. Each partition's pages follow each other with their `NextToken`, and each
//! page is retried with its own token through the shared budget.

use aws_sdk_config::operation::select_aggregate_resource_config::{
    SelectAggregateResourceConfigError, SelectAggregateResourceConfigOutput,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use serde::Deserialize;
use serde_json::Value;

use super::arn::{ARN_PUNCTUATION, LayerVersion, unsafe_character};
use super::discovery::{Found, Function, Interner, Partition, Scope};
use crate::aws::{Aws, Call, errors::code_of};
use crate::error::{Error, Result};
use crate::org;
use crate::ui::Ui;

/// The longest expression AWS Config accepts.
pub const MAX_EXPRESSION: usize = 4096;

/// The largest page AWS Config returns.
pub const PAGE_SIZE: i32 = 100;

/// Most accounts in one partition's `IN` list; keeps the expression well under its limit.
pub const MAX_PARTITION_ACCOUNTS: usize = 150;

/// The configuration fields a report needs, and nothing more, to keep pages small.
const FIELDS: &[&str] = &[
    "accountId",
    "awsRegion",
    "resourceId",
    "resourceName",
    "arn",
    "configuration.functionName",
    "configuration.functionArn",
    "configuration.runtime",
    "configuration.layers",
    "tags",
];

/// The tag CloudFormation puts on every resource of a stack.
pub const STACK_NAME_TAG: &str = "aws:cloudformation:stack-name";

/// Builds the expression: Lambda functions, narrowed to a layer version, accounts, regions.
pub fn expression(
    layer: Option<&LayerVersion>,
    accounts: Option<&[String]>,
    regions: Option<&[String]>,
) -> Result<String> {
    let mut text = format!(
        "SELECT {} WHERE resourceType = 'AWS::Lambda::Function'",
        FIELDS.join(", ")
    );
    if let Some(layer) = layer {
        text.push_str(" AND configuration.layers.arn = ");
        text.push_str(&literal(&layer.to_string())?);
    }
    if let Some(accounts) = accounts {
        text.push_str(&format!(" AND accountId IN ({})", literals(accounts)?));
    }
    if let Some(regions) = regions {
        text.push_str(&format!(" AND awsRegion IN ({})", literals(regions)?));
    }

    if text.len() > MAX_EXPRESSION {
        return Err(Error::ExpressionTooLong {
            length: text.len(),
            max: MAX_EXPRESSION,
        });
    }
    Ok(text)
}

/// Quotes `value` as a string literal, refusing anything that could end or bend the literal.
pub fn literal(value: &str) -> Result<String> {
    match unsafe_character(value) {
        Some(found) => Err(Error::UnsafeQueryValue {
            value: value.to_string(),
            found,
            allowed: ARN_PUNCTUATION,
        }),
        None => Ok(format!("'{value}'")),
    }
}

fn literals(values: &[String]) -> Result<String> {
    let quoted: Vec<String> = values.iter().map(|v| literal(v)).collect::<Result<_>>()?;
    Ok(quoted.join(", "))
}

/// Splits the aggregator's accounts into partitions, about two per request slot.
///
/// The accounts come from the aggregator's own sources (its account list, or the
/// organization's accounts for an organization source). When they cannot be read the
/// aggregator is queried as one partition: slower, but complete.
pub async fn partitions(
    aws: &Aws,
    aggregator: &str,
    scope: &Scope,
    ui: &Ui,
) -> Result<Vec<Partition>> {
    let accounts = match &scope.accounts {
        Some(accounts) => accounts.clone(),
        None => match aggregator_accounts(aws, aggregator).await {
            Ok(accounts) => accounts,
            Err(error @ Error::UnknownAggregator { .. }) => return Err(error),
            Err(error) => {
                ui.warn(format!(
                    "cannot list the accounts of aggregator {aggregator} ({error}); querying \
                     it as one partition"
                ));
                return Ok(vec![Partition::Config { accounts: None }]);
            }
        },
    };
    Ok(chunk(accounts, aws.concurrency() * 2))
}

/// Splits `accounts` into about `target` sorted, disjoint partitions.
pub fn chunk(mut accounts: Vec<String>, target: usize) -> Vec<Partition> {
    accounts.sort();
    accounts.dedup();
    if accounts.is_empty() {
        return vec![Partition::Config { accounts: None }];
    }
    let size = accounts
        .len()
        .div_ceil(target.max(1))
        .clamp(1, MAX_PARTITION_ACCOUNTS);
    accounts
        .chunks(size)
        .map(|slice| Partition::Config {
            accounts: Some(slice.to_vec()),
        })
        .collect()
}

async fn aggregator_accounts(aws: &Aws, aggregator: &str) -> Result<Vec<String>> {
    let client = aws_sdk_config::Client::new(&aws.budgeted_config());
    let call = Call::new(
        "config:DescribeConfigurationAggregators",
        &aws.caller().account,
        aws.region(),
    )
    .endpoint_of(aws.config());
    let unknown = |err: &SdkError<_, HttpResponse>| {
        (code_of(err) == Some("NoSuchConfigurationAggregatorException"))
            .then(|| unknown_aggregator(aws, aggregator))
    };
    let out = aws
        .budget()
        .send_with(
            &call,
            || {
                client
                    .describe_configuration_aggregators()
                    .configuration_aggregator_names(aggregator)
                    .send()
            },
            unknown,
        )
        .await?;

    let Some(found) = out.configuration_aggregators().first() else {
        return Err(unknown_aggregator(aws, aggregator));
    };
    if found.organization_aggregation_source().is_some() {
        let members = org::members(aws).await?;
        return Ok(members.into_iter().map(|member| member.id).collect());
    }
    Ok(found
        .account_aggregation_sources()
        .iter()
        .flat_map(|source| source.account_ids().iter().cloned())
        .collect())
}

fn unknown_aggregator(aws: &Aws, aggregator: &str) -> Error {
    Error::UnknownAggregator {
        name: aggregator.to_string(),
        account: aws.caller().account.clone(),
        region: aws.region().to_string(),
    }
}

/// Runs one partition's query, following every page.
pub async fn select(
    aws: &Aws,
    aggregator: &str,
    scope: &Scope,
    accounts: Option<&[String]>,
) -> Result<Found> {
    let expression = expression(scope.layer.as_ref(), accounts, scope.regions.as_deref())?;
    let client = aws_sdk_config::Client::new(&aws.budgeted_config());
    let call = Call::new(
        "config:SelectAggregateResourceConfig",
        &aws.caller().account,
        aws.region(),
    )
    .endpoint_of(aws.config());
    tracing::debug!(aggregator, expression, "querying the aggregator");

    let unknown = |err: &SdkError<SelectAggregateResourceConfigError, HttpResponse>| {
        (code_of(err) == Some("NoSuchConfigurationAggregatorException"))
            .then(|| unknown_aggregator(aws, aggregator))
    };
    let mut found = Found::default();
    let mut interner = Interner::default();
    let request = |token| {
        client
            .select_aggregate_resource_config()
            .configuration_aggregator_name(aggregator)
            .expression(&expression)
            .limit(PAGE_SIZE)
            .set_next_token(token)
            .send()
    };
    let visit = |page: &SelectAggregateResourceConfigOutput| {
        for item in page.results() {
            let function = parse_item(item, &mut interner)
                .map_err(|reason| call.failure(format!("unexpected result {item}: {reason}")))?;
            found.add(function);
        }
        Ok(())
    };
    aws.budget()
        .pages_with(&call, request, |page| page.next_token(), visit, unknown)
        .await?;
    Ok(found)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    account_id: Option<String>,
    aws_region: Option<String>,
    resource_id: Option<String>,
    resource_name: Option<String>,
    arn: Option<String>,
    #[serde(default)]
    configuration: Configuration,
    #[serde(default)]
    tags: Value,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Configuration {
    function_name: Option<String>,
    function_arn: Option<String>,
    runtime: Option<String>,
    #[serde(default)]
    layers: Option<Vec<LayerRef>>,
}

#[derive(Deserialize)]
struct LayerRef {
    arn: String,
}

/// Reads one result of the query.
pub fn parse_item(json: &str, interner: &mut Interner) -> Result<Function, String> {
    let item: Item = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let account_id = item.account_id.ok_or("it has no accountId")?;
    let region = item.aws_region.ok_or("it has no awsRegion")?;
    let name = item
        .configuration
        .function_name
        .or(item.resource_name)
        .or(item.resource_id)
        .ok_or("it has no function name")?;
    let arn = item.configuration.function_arn.or(item.arn);
    let partition = arn
        .as_deref()
        .map(crate::aws::partition_of)
        .unwrap_or("aws");
    let layers = item
        .configuration
        .layers
        .unwrap_or_default()
        .iter()
        .map(|l| interner.get(&l.arn))
        .collect();

    Ok(Function {
        partition: interner.get(partition),
        stack_name: tag_value(&item.tags, STACK_NAME_TAG).map(String::into_boxed_str),
        account_id: interner.get(&account_id),
        region: interner.get(&region),
        name: name.into_boxed_str(),
        runtime: interner.get(item.configuration.runtime.as_deref().unwrap_or_default()),
        layers,
    })
}

/// Finds a tag in either shape Config uses: a list of `{key, value}` objects (advanced
/// query) or a plain object of key to value (configuration items).
fn tag_value(tags: &Value, key: &str) -> Option<String> {
    let found = match tags {
        Value::Array(list) => list
            .iter()
            .find(|t| t.get("key").and_then(Value::as_str) == Some(key))
            .and_then(|t| t.get("value")),
        Value::Object(map) => map.get(key),
        _ => None,
    };
    found.and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expression_selects_lambda_functions() {
        let text = expression(None, None, None).unwrap();
        assert!(text.starts_with("SELECT accountId, awsRegion,"));
        assert!(text.ends_with("WHERE resourceType = 'AWS::Lambda::Function'"));
        assert!(!text.contains("FROM"));
    }

    #[test]
    fn the_expression_filters_on_one_layer_version() {
        let layer =
            LayerVersion::parse("arn:aws:lambda:us-east-1:111122223333:layer:shared:3").unwrap();
        let text = expression(Some(&layer), None, None).unwrap();
        assert!(text.ends_with(
            "AND configuration.layers.arn = \
             'arn:aws:lambda:us-east-1:111122223333:layer:shared:3'"
        ));
    }

    #[test]
    fn literals_refuse_what_could_escape_the_quotes() {
        assert_eq!(literal("us-east-1").unwrap(), "'us-east-1'");
        for bad in [
            "it's",
            "a\\b",
            "new\nline",
            "tab\t",
            "semi;colon",
            "ünïcode",
        ] {
            let err = literal(bad).unwrap_err();
            assert!(matches!(err, Error::UnsafeQueryValue { .. }), "{bad}");
        }
    }

    #[test]
    fn parses_an_advanced_query_result() {
        let json = r#"{"accountId":"111122223333","awsRegion":"eu-west-1",
            "resourceId":"orders","configuration":{"functionName":"orders",
            "functionArn":"arn:aws:lambda:eu-west-1:111122223333:function:orders",
            "runtime":"python3.12","layers":[{"arn":"arn:a:1","codeSize":10},{"arn":"arn:b:2"}]},
            "tags":[{"key":"team","value":"x","tag":"team=x"},
                    {"key":"aws:cloudformation:stack-name","value":"orders-stack"}]}"#;
        let f = parse_item(json, &mut Interner::default()).unwrap();
        assert_eq!(&*f.account_id, "111122223333");
        assert_eq!(&*f.region, "eu-west-1");
        assert_eq!(&*f.name, "orders");
        assert_eq!(&*f.runtime, "python3.12");
        let layers: Vec<&str> = f.layers.iter().map(|l| &**l).collect();
        assert_eq!(layers, vec!["arn:a:1", "arn:b:2"]);
        assert_eq!(f.stack_name.as_deref(), Some("orders-stack"));
    }

    #[test]
    fn missing_optional_fields_are_tolerated() {
        let json = r#"{"accountId":"111122223333","awsRegion":"us-east-1","resourceName":"img"}"#;
        let f = parse_item(json, &mut Interner::default()).unwrap();
        assert_eq!(&*f.name, "img");
        assert_eq!(
            f.arn(),
            "arn:aws:lambda:us-east-1:111122223333:function:img"
        );
        assert!(f.layers.is_empty());
        assert_eq!(&*f.runtime, "");
        assert_eq!(f.stack_name, None);
    }

    #[test]
    fn tags_as_an_object_are_read_too() {
        let json = r#"{"accountId":"1","awsRegion":"r","resourceId":"f",
            "tags":{"aws:cloudformation:stack-name":"s"}}"#;
        assert_eq!(
            parse_item(json, &mut Interner::default())
                .unwrap()
                .stack_name
                .as_deref(),
            Some("s")
        );
    }

    #[test]
    fn accounts_and_regions_narrow_the_expression() {
        let accounts = vec!["111122223333".to_string(), "444455556666".to_string()];
        let regions = vec!["eu-west-1".to_string()];
        let text = expression(None, Some(&accounts), Some(&regions)).unwrap();
        assert!(text.ends_with(
            "AND accountId IN ('111122223333', '444455556666') AND awsRegion IN ('eu-west-1')"
        ));
        let bad = vec!["1' OR '1".to_string()];
        assert!(expression(None, Some(&bad), None).is_err());
    }

    #[test]
    fn the_largest_partition_fits_the_expression_limit() {
        let accounts: Vec<String> = (0..MAX_PARTITION_ACCOUNTS)
            .map(|i| format!("{:012}", 100_000_000_000u64 + i as u64))
            .collect();
        let regions: Vec<String> = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1"]
            .map(String::from)
            .to_vec();
        let layer =
            LayerVersion::parse("arn:aws:lambda:us-east-1:111122223333:layer:shared:3").unwrap();
        let text = expression(Some(&layer), Some(&accounts), Some(&regions)).unwrap();
        assert!(text.len() <= MAX_EXPRESSION, "{}", text.len());
    }

    #[test]
    fn accounts_are_chunked_into_disjoint_sorted_partitions() {
        let accounts: Vec<String> = (0..10).rev().map(|i| format!("{i:012}")).collect();
        let parts = chunk(accounts, 4);
        assert_eq!(parts.len(), 4);
        let mut seen = Vec::new();
        for part in &parts {
            let Partition::Config {
                accounts: Some(list),
            } = part
            else {
                panic!("{part:?}")
            };
            assert!(list.len() <= 3);
            seen.extend(list.clone());
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        assert_eq!(seen.len(), 10);
        assert_eq!(
            chunk(Vec::new(), 4),
            vec![Partition::Config { accounts: None }]
        );
        let huge: Vec<String> = (0..1000).map(|i| format!("{i:012}")).collect();
        assert!(chunk(huge, 2).len() >= 1000 / MAX_PARTITION_ACCOUNTS);
    }

    #[test]
    fn an_item_without_account_is_refused() {
        assert!(
            parse_item(r#"{"awsRegion":"r"}"#, &mut Interner::default())
                .unwrap_err()
                .contains("accountId")
        );
    }
}
