//! Lambda layer ARNs: `arn:<partition>:lambda:<region>:<account>:layer:<name>[:<version>]`.
//!
//! A layer is identified by its ARN without the version; a function pins one version of it.
//! Parsing is strict because these values end up inside query expressions and API calls,
//! and a typo found here is far cheaper than an empty report.

use std::fmt;

use crate::error::Error;

/// Characters allowed in an ARN that goes into a Config query, besides ASCII alphanumerics.
pub const ARN_PUNCTUATION: &str = "'-', '_', ':', '.', '/'";

/// A layer, without a version: the unit "newest version" is measured in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Layer {
    pub partition: String,
    pub region: String,
    pub account: String,
    pub name: String,
}

/// One version of a layer, as a function pins it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LayerVersion {
    pub layer: Layer,
    pub version: u64,
}

/// Why a string is not a layer ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnError(pub String);

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:lambda:{}:{}:layer:{}",
            self.partition, self.region, self.account, self.name
        )
    }
}

impl fmt::Display for LayerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.layer, self.version)
    }
}

impl Layer {
    /// Parses a layer ARN without a version.
    pub fn parse(value: &str) -> Result<Layer, ArnError> {
        let parts: Vec<&str> = value.split(':').collect();
        match parts.len() {
            7 => parse_layer(&parts),
            8 => Err(ArnError(
                "it has a version; name the layer without one".into(),
            )),
            n => Err(ArnError(format!(
                "it has {n} ':'-separated parts instead of 7"
            ))),
        }
    }

    /// Parses a policy file's layer ARN, with the file named in the error.
    pub fn parse_in(value: &str, path: &std::path::Path) -> crate::error::Result<Layer> {
        Layer::parse(value).map_err(|ArnError(reason)| Error::InvalidPolicyLayerArn {
            path: path.to_path_buf(),
            value: value.to_string(),
            reason,
        })
    }
}

impl LayerVersion {
    /// Parses a layer version ARN.
    pub fn parse(value: &str) -> Result<LayerVersion, ArnError> {
        let parts: Vec<&str> = value.split(':').collect();
        if parts.len() == 7 {
            return Err(ArnError("the version is missing".into()));
        }
        if parts.len() != 8 {
            let n = parts.len();
            return Err(ArnError(format!(
                "it has {n} ':'-separated parts instead of 8"
            )));
        }
        let layer = parse_layer(&parts[..7])?;
        let version = parse_version(parts[7])?;
        Ok(LayerVersion { layer, version })
    }

    /// Parses a user-supplied layer version ARN that will be put into a query expression.
    ///
    /// Characters that cannot be quoted safely are refused first, with their own error, so
    /// that a pasted value with a stray quote or space is not reported as a shape problem.
    pub fn parse_for_query(value: &str) -> crate::error::Result<LayerVersion> {
        if let Some(found) = unsafe_character(value) {
            return Err(Error::UnsafeQueryValue {
                value: value.to_string(),
                found,
                allowed: ARN_PUNCTUATION,
            });
        }
        LayerVersion::parse(value).map_err(|ArnError(reason)| Error::InvalidLayerArn {
            value: value.to_string(),
            reason,
        })
    }
}

/// Describes the first character of `value` that is not allowed in a layer ARN query value.
pub fn unsafe_character(value: &str) -> Option<String> {
    value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_:./".contains(*c)))
        .map(|c| match c {
            '\'' => "a single quote".to_string(),
            '"' => "a double quote".to_string(),
            '\\' => "a backslash".to_string(),
            c if c.is_whitespace() => "white space".to_string(),
            c if c.is_control() => format!("the control character U+{:04X}", c as u32),
            c => format!("'{c}'"),
        })
}

fn parse_layer(parts: &[&str]) -> Result<Layer, ArnError> {
    let [arn, partition, service, region, account, kind, name] = parts else {
        return Err(ArnError("it does not have the parts of a layer ARN".into()));
    };
    if *arn != "arn" {
        return Err(ArnError("it does not start with 'arn:'".into()));
    }
    if !partition.starts_with("aws")
        || !partition
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-')
    {
        return Err(ArnError(format!("'{partition}' is not an AWS partition")));
    }
    if *service != "lambda" {
        return Err(ArnError(format!(
            "the service is '{service}', not 'lambda'"
        )));
    }
    if !is_region(region) {
        return Err(ArnError(format!("'{region}' is not a region name")));
    }
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        return Err(ArnError(format!(
            "'{account}' is not a 12-digit account ID"
        )));
    }
    if *kind != "layer" {
        return Err(ArnError(format!(
            "the resource type is '{kind}', not 'layer'"
        )));
    }
    if !is_layer_name(name) {
        return Err(ArnError(format!(
            "'{name}' is not a layer name (1-140 letters, digits, '-' or '_')"
        )));
    }
    Ok(Layer {
        partition: partition.to_string(),
        region: region.to_string(),
        account: account.to_string(),
        name: name.to_string(),
    })
}

fn parse_version(text: &str) -> Result<u64, ArnError> {
    let valid = !text.is_empty() && text.len() <= 12 && text.chars().all(|c| c.is_ascii_digit());
    match text.parse::<u64>() {
        Ok(v) if valid && v >= 1 => Ok(v),
        _ => Err(ArnError(format!(
            "'{text}' is not a version number (1 or more)"
        ))),
    }
}

fn is_region(region: &str) -> bool {
    !region.is_empty()
        && region.contains('-')
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_layer_name(name: &str) -> bool {
    (1..=140).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LAYER_VERSION_ARN_SHAPE;

    const GOOD: &str = "arn:aws:lambda:us-east-1:111122223333:layer:shared-utils:12";

    #[test]
    fn parses_a_layer_version_arn() {
        let v = LayerVersion::parse(GOOD).unwrap();
        assert_eq!(v.version, 12);
        assert_eq!(v.layer.name, "shared-utils");
        assert_eq!(v.layer.account, "111122223333");
        assert_eq!(v.layer.region, "us-east-1");
        assert_eq!(v.to_string(), GOOD);
        assert_eq!(
            v.layer.to_string(),
            "arn:aws:lambda:us-east-1:111122223333:layer:shared-utils"
        );
    }

    #[test]
    fn other_partitions_are_accepted() {
        let v = LayerVersion::parse("arn:aws-cn:lambda:cn-north-1:111122223333:layer:x:1");
        assert_eq!(v.unwrap().layer.partition, "aws-cn");
    }

    #[test]
    fn refuses_malformed_arns_with_a_reason() {
        let cases = [
            (
                "arn:aws:lambda:us-east-1:111122223333:layer:shared-utils",
                "version is missing",
            ),
            ("arn:aws:lambda:us-east-1:1111:layer:x:1", "12-digit"),
            (
                "arn:aws:s3:us-east-1:111122223333:layer:x:1",
                "not 'lambda'",
            ),
            (
                "arn:aws:lambda:us-east-1:111122223333:function:x:1",
                "not 'layer'",
            ),
            (
                "arn:aws:lambda:us-east-1:111122223333:layer:x:0",
                "version number",
            ),
            (
                "arn:aws:lambda:us-east-1:111122223333:layer:x:v2",
                "version number",
            ),
            ("arn:aws:lambda:US:111122223333:layer:x:1", "region"),
            ("nope", "parts instead of 8"),
            (
                "xrn:aws:lambda:us-east-1:111122223333:layer:x:1",
                "start with 'arn:'",
            ),
        ];
        for (value, expected) in cases {
            let err = LayerVersion::parse(value).unwrap_err();
            assert!(err.0.contains(expected), "{value}: {}", err.0);
        }
    }

    #[test]
    fn a_layer_without_version_is_parsed_and_a_versioned_one_refused() {
        let l = Layer::parse("arn:aws:lambda:eu-west-1:111122223333:layer:otel").unwrap();
        assert_eq!(l.name, "otel");
        assert!(Layer::parse(GOOD).unwrap_err().0.contains("has a version"));
    }

    #[test]
    fn query_values_with_unsafe_characters_are_refused_before_the_shape_check() {
        let err = LayerVersion::parse_for_query("arn:aws:lambda:us-east-1:1:layer:x' OR '1:1");
        let message = err.unwrap_err().to_string();
        assert!(message.contains("single quote"), "{message}");
        assert!(message.contains("cannot be put safely"), "{message}");

        let err = LayerVersion::parse_for_query("arn:aws:lambda:us-east-1:1:layer:x:1");
        let message = err.unwrap_err().to_string();
        assert!(message.contains("12-digit"), "{message}");
        assert!(message.contains(LAYER_VERSION_ARN_SHAPE), "{message}");
    }

    #[test]
    fn versions_order_numerically() {
        let a = LayerVersion::parse("arn:aws:lambda:us-east-1:111122223333:layer:x:9").unwrap();
        let b = LayerVersion::parse("arn:aws:lambda:us-east-1:111122223333:layer:x:10").unwrap();
        assert!(a < b);
    }
}
