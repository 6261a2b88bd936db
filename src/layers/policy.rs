//! The layer policy file: which version of a layer is approved, and which layers to ignore.
//!
//! "Newest published" is the right target for most layers, but a platform team often holds
//! functions on a tested version while a newer one is being rolled out, and some layers
//! (vendor agents, AWS-managed extensions) are not theirs to move. The file is TOML:
//!
//! ```toml
//! version = 1
//! unlisted = "latest"        # or "ignore": skip layers the file does not name
//!
//! [[approve]]
//! layer = "arn:aws:lambda:us-east-1:111122223333:layer:shared-utils"
//! version = 3
//!
//! [[ignore]]
//! layer = "arn:aws:lambda:us-east-1:999999999999:layer:vendor-agent"
//! reason = "upgraded by the vendor"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::arn::Layer;
use crate::error::{Error, Result};

/// The file format version this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// What a layer is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The newest version published.
    Newest,
    /// A version the policy approves.
    Approved(u64),
    /// Not reported at all.
    Ignored,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    approved: BTreeMap<Layer, u64>,
    ignored: BTreeSet<Layer>,
    ignore_unlisted: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    #[serde(default)]
    unlisted: Unlisted,
    #[serde(default)]
    approve: Vec<Approval>,
    #[serde(default)]
    ignore: Vec<Ignore>,
}

#[derive(Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Unlisted {
    #[default]
    Latest,
    Ignore,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Approval {
    layer: String,
    version: u64,
    /// Free text for the people who read the file; govctl does not use it.
    #[serde(default, rename = "note")]
    _note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ignore {
    layer: String,
    /// Why the layer is ignored, for the people who read the file.
    #[serde(default, rename = "reason")]
    _reason: Option<String>,
}

impl Policy {
    /// Reads and checks a policy file.
    pub fn load(path: &Path) -> Result<Policy> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Policy::parse(&text, path)
    }

    /// Parses policy text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Policy> {
        let invalid = |message: String| Error::Policy {
            path: path.to_path_buf(),
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| invalid(toml_message(&e, text)))?;
        if file.version != FORMAT_VERSION {
            return Err(invalid(format!(
                "version = {} is not supported; this govctl reads version = {FORMAT_VERSION}",
                file.version
            )));
        }

        let mut policy = Policy {
            ignore_unlisted: file.unlisted == Unlisted::Ignore,
            ..Policy::default()
        };
        for approval in &file.approve {
            let layer = Layer::parse_in(&approval.layer, path)?;
            if approval.version == 0 {
                return Err(invalid(format!("{layer}: version must be 1 or more")));
            }
            if policy
                .approved
                .insert(layer.clone(), approval.version)
                .is_some()
            {
                return Err(invalid(format!("{layer} is approved more than once")));
            }
        }
        for ignore in &file.ignore {
            let layer = Layer::parse_in(&ignore.layer, path)?;
            if policy.approved.contains_key(&layer) {
                return Err(invalid(format!("{layer} is both approved and ignored")));
            }
            if !policy.ignored.insert(layer.clone()) {
                return Err(invalid(format!("{layer} is ignored more than once")));
            }
        }
        Ok(policy)
    }

    /// What `layer` is measured against under this policy.
    pub fn target(&self, layer: &Layer) -> Target {
        if let Some(version) = self.approved.get(layer) {
            Target::Approved(*version)
        } else if self.ignored.contains(layer) || self.ignore_unlisted {
            Target::Ignored
        } else {
            Target::Newest
        }
    }
}

/// A TOML error on one line: the message and where it is.
fn toml_message(error: &toml::de::Error, text: &str) -> String {
    let message = error.message().trim().to_string();
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARED: &str = "arn:aws:lambda:us-east-1:111122223333:layer:shared-utils";
    const VENDOR: &str = "arn:aws:lambda:us-east-1:999999999999:layer:vendor-agent";
    const OTHER: &str = "arn:aws:lambda:us-east-1:111122223333:layer:other";

    fn parse(text: &str) -> Result<Policy> {
        Policy::parse(text, Path::new("policy.toml"))
    }

    fn layer(arn: &str) -> Layer {
        Layer::parse(arn).unwrap()
    }

    #[test]
    fn approves_ignores_and_falls_back_to_newest() {
        let policy = parse(&format!(
            "version = 1\n[[approve]]\nlayer = '{SHARED}'\nversion = 3\nnote = 'tested'\n\
             [[ignore]]\nlayer = '{VENDOR}'\nreason = 'vendor'\n"
        ))
        .unwrap();
        assert_eq!(policy.target(&layer(SHARED)), Target::Approved(3));
        assert_eq!(policy.target(&layer(VENDOR)), Target::Ignored);
        assert_eq!(policy.target(&layer(OTHER)), Target::Newest);
    }

    #[test]
    fn unlisted_layers_can_be_ignored() {
        let policy = parse("version = 1\nunlisted = 'ignore'\n").unwrap();
        assert_eq!(policy.target(&layer(OTHER)), Target::Ignored);
    }

    #[test]
    fn mistakes_are_reported_with_the_file_and_line() {
        let cases = [
            ("version = 2\n", "version = 2 is not supported"),
            ("version = 1\nunlisted = 'newest'\n", "line 2"),
            (
                "version = 1\n[[approve]]\nlayer = 'x'\nversion = 1\n",
                "1 ':'-separated",
            ),
            (
                &format!("version = 1\n[[approve]]\nlayer = '{SHARED}:3'\nversion = 1\n"),
                "has a version",
            ),
            (
                &format!("version = 1\n[[approve]]\nlayer = '{SHARED}'\nversion = 0\n"),
                "1 or more",
            ),
            (
                &format!(
                    "version = 1\n[[approve]]\nlayer = '{SHARED}'\nversion = 1\n\
                      [[ignore]]\nlayer = '{SHARED}'\n"
                ),
                "both approved and ignored",
            ),
            ("version = 1\n[[approve]]\nlayr = 'x'\n", "unknown field"),
            ("unlisted = 'latest'\n", "missing field `version`"),
        ];
        for (text, expected) in cases {
            let message = parse(text).unwrap_err().to_string();
            assert!(message.contains("policy.toml"), "{message}");
            assert!(message.contains(expected), "{text:?}: {message}");
        }
    }
}
