//! Asking an AWS Config aggregator which functions use which layers.
//!
//! `SelectAggregateResourceConfig` takes a SQL-like expression with single-quoted string
//! literals and no documented escape, so every value put into one is checked against a
//! conservative character set instead of being escaped. Results come back as JSON strings,
//! one configuration item each, 100 to a page.

use aws_sdk_config::operation::select_aggregate_resource_config::SelectAggregateResourceConfigError;
use aws_smithy_runtime_api::client::result::SdkError;
use serde::Deserialize;
use serde_json::Value;

use super::arn::{ARN_PUNCTUATION, LayerVersion, unsafe_character};
use crate::aws::{Aws, Call, errors::code_of};
use crate::error::{Error, Result};
use crate::ui::Ui;

/// The longest expression AWS Config accepts.
pub const MAX_EXPRESSION: usize = 4096;

/// The largest page AWS Config returns.
pub const PAGE_SIZE: i32 = 100;

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

/// A Lambda function as the aggregator recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub account_id: String,
    pub region: String,
    pub name: String,
    pub arn: String,
    pub runtime: String,
    /// Layer version ARNs in the function's order, as recorded.
    pub layers: Vec<String>,
    /// The CloudFormation stack that manages the function, if any.
    pub stack_name: Option<String>,
}

/// Builds the expression: every Lambda function, or only those using `layer`.
pub fn expression(layer: Option<&LayerVersion>) -> Result<String> {
    let mut text = format!(
        "SELECT {} WHERE resourceType = 'AWS::Lambda::Function'",
        FIELDS.join(", ")
    );
    if let Some(layer) = layer {
        text.push_str(" AND configuration.layers.arn = ");
        text.push_str(&literal(&layer.to_string())?);
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

/// Runs `expression` against `aggregator`, following every page.
pub async fn select(
    aws: &Aws,
    aggregator: &str,
    expression: &str,
    ui: &Ui,
) -> Result<Vec<Function>> {
    let client = aws_sdk_config::Client::new(aws.config());
    let call = Call::new(
        "config:SelectAggregateResourceConfig",
        &aws.caller().account,
        aws.region(),
    )
    .endpoint_of(aws.config());
    tracing::debug!(aggregator, expression, "querying the aggregator");

    let spinner = ui.spinner(format!("querying aggregator {aggregator}"));
    let mut pages = client
        .select_aggregate_resource_config()
        .configuration_aggregator_name(aggregator)
        .expression(expression)
        .into_paginator()
        .page_size(PAGE_SIZE)
        .send();

    let mut functions = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| select_error(e, &call, aggregator))?;
        for item in page.results() {
            let function = parse_item(item).map_err(|reason| Error::Aws {
                action: call.action.to_string(),
                account: call.account.clone(),
                region: call.region.clone(),
                message: format!("unexpected result {item}: {reason}"),
            })?;
            functions.push(function);
        }
        spinner.set_message(format!(
            "querying aggregator {aggregator}: {} functions",
            functions.len()
        ));
    }
    spinner.finish_and_clear();
    Ok(functions)
}

fn select_error(
    err: SdkError<SelectAggregateResourceConfigError, aws_smithy_runtime_api::http::Response>,
    call: &Call,
    aggregator: &str,
) -> Error {
    if code_of(&err) == Some("NoSuchConfigurationAggregatorException") {
        return Error::UnknownAggregator {
            name: aggregator.to_string(),
            account: call.account.clone(),
            region: call.region.clone(),
        };
    }
    call.error(err)
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
pub fn parse_item(json: &str) -> Result<Function, String> {
    let item: Item = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let account_id = item.account_id.ok_or("it has no accountId")?;
    let region = item.aws_region.ok_or("it has no awsRegion")?;
    let name = item
        .configuration
        .function_name
        .or(item.resource_name)
        .or(item.resource_id)
        .ok_or("it has no function name")?;
    let arn = item
        .configuration
        .function_arn
        .or(item.arn)
        .unwrap_or_else(|| format!("arn:aws:lambda:{region}:{account_id}:function:{name}"));
    let layers = item
        .configuration
        .layers
        .unwrap_or_default()
        .into_iter()
        .map(|l| l.arn)
        .collect();

    Ok(Function {
        stack_name: tag_value(&item.tags, STACK_NAME_TAG),
        account_id,
        region,
        name,
        arn,
        runtime: item.configuration.runtime.unwrap_or_default(),
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
        let text = expression(None).unwrap();
        assert!(text.starts_with("SELECT accountId, awsRegion,"));
        assert!(text.ends_with("WHERE resourceType = 'AWS::Lambda::Function'"));
        assert!(!text.contains("FROM"));
    }

    #[test]
    fn the_expression_filters_on_one_layer_version() {
        let layer =
            LayerVersion::parse("arn:aws:lambda:us-east-1:111122223333:layer:shared:3").unwrap();
        let text = expression(Some(&layer)).unwrap();
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
        let f = parse_item(json).unwrap();
        assert_eq!(f.account_id, "111122223333");
        assert_eq!(f.region, "eu-west-1");
        assert_eq!(f.name, "orders");
        assert_eq!(f.runtime, "python3.12");
        assert_eq!(f.layers, vec!["arn:a:1", "arn:b:2"]);
        assert_eq!(f.stack_name.as_deref(), Some("orders-stack"));
    }

    #[test]
    fn missing_optional_fields_are_tolerated() {
        let json = r#"{"accountId":"111122223333","awsRegion":"us-east-1","resourceName":"img"}"#;
        let f = parse_item(json).unwrap();
        assert_eq!(f.name, "img");
        assert_eq!(f.arn, "arn:aws:lambda:us-east-1:111122223333:function:img");
        assert!(f.layers.is_empty());
        assert_eq!(f.runtime, "");
        assert_eq!(f.stack_name, None);
    }

    #[test]
    fn tags_as_an_object_are_read_too() {
        let json = r#"{"accountId":"1","awsRegion":"r","resourceId":"f",
            "tags":{"aws:cloudformation:stack-name":"s"}}"#;
        assert_eq!(parse_item(json).unwrap().stack_name.as_deref(), Some("s"));
    }

    #[test]
    fn an_item_without_account_is_refused() {
        assert!(
            parse_item(r#"{"awsRegion":"r"}"#)
                .unwrap_err()
                .contains("accountId")
        );
    }
}
