//! Secrets Manager, as the Tailscale commands and the rotation function use it: finding
//! auth-key secrets, their versions and staging labels, reading a version's value, and the
//! writes of the rotation protocol (a pending version under a `ClientRequestToken`, moving
//! the `AWSCURRENT` and `AWSPENDING` labels).
//!
//! Values come back as [`Secret`]s. Errors name the action, account, region and secret,
//! never a value: the SDK redacts `SecretString` in its own `Debug` output, and nothing
//! here formats one.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};

use super::secret::Secret;
use crate::aws::Call;
use crate::aws::errors::code_of;
use crate::error::{Error, Result};

pub const AWSCURRENT: &str = "AWSCURRENT";
pub const AWSPENDING: &str = "AWSPENDING";
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// The tag that marks auth-key secrets unless `--secret-tag` says otherwise.
pub const DEFAULT_TAG: &str = "govctl:tailscale-auth-key";

/// Which secrets are auth-key secrets: those with tag `key` (and `value`, when given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter {
    pub key: String,
    pub value: Option<String>,
}

impl std::fmt::Display for TagFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}={value}", self.key),
            None => f.write_str(&self.key),
        }
    }
}

/// A secret's state: its labels and rotation schedule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Described {
    pub arn: String,
    pub name: String,
    /// Version ID to staging labels, for the versions that have labels.
    pub stages: BTreeMap<String, Vec<String>>,
    pub rotation_enabled: bool,
    pub rotation_function: Option<String>,
    pub last_rotated: Option<i64>,
    pub next_rotation: Option<i64>,
}

impl Described {
    /// The version labelled `stage`, if any.
    pub fn version_with(&self, stage: &str) -> Option<&str> {
        self.stages
            .iter()
            .find(|(_, labels)| labels.iter().any(|l| l == stage))
            .map(|(id, _)| id.as_str())
    }

    pub fn current(&self) -> Option<&str> {
        self.version_with(AWSCURRENT)
    }

    /// An AWSPENDING label on a version that is not AWSCURRENT: a rotation that has not
    /// finished. Secrets Manager refuses to start the next rotation while it is there.
    pub fn stray_pending(&self) -> Option<&str> {
        self.stages
            .iter()
            .find(|(_, labels)| {
                labels.iter().any(|l| l == AWSPENDING) && !labels.iter().any(|l| l == AWSCURRENT)
            })
            .map(|(id, _)| id.as_str())
    }

    pub fn labels_of(&self, version: &str) -> &[String] {
        self.stages.get(version).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// One version's value.
#[derive(Debug, Clone)]
pub struct Stored {
    pub version_id: String,
    pub labels: Vec<String>,
    pub created: Option<i64>,
    pub value: Secret,
}

/// Which version to read.
#[derive(Debug, Clone, Copy)]
pub enum Version<'a> {
    Id(&'a str),
    Stage(&'a str),
}

/// What storing a pending version did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Stored,
    /// A version with this token already holds another value.
    TokenInUse,
}

/// Secrets Manager in one account and region.
#[derive(Debug, Clone)]
pub struct Secrets {
    client: Client,
    config: SdkConfig,
    account: String,
    region: String,
}

impl Secrets {
    pub fn new(config: &SdkConfig, account: &str, region: &str) -> Secrets {
        Secrets {
            client: Client::new(config),
            config: config.clone(),
            account: account.to_string(),
            region: region.to_string(),
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    fn call(&self, action: &'static str) -> Call {
        Call::new(action, &self.account, &self.region).endpoint_of(&self.config)
    }

    /// The ARNs of the secrets `filter` selects, every page, sorted by name.
    pub async fn find(&self, filter: &TagFilter) -> Result<Vec<(String, String)>> {
        let call = self.call("secretsmanager:ListSecrets");
        let mut request = self.client.list_secrets().filters(
            Filter::builder()
                .key(FilterNameStringType::TagKey)
                .values(&filter.key)
                .build(),
        );
        if let Some(value) = &filter.value {
            request = request.filters(
                Filter::builder()
                    .key(FilterNameStringType::TagValue)
                    .values(value)
                    .build(),
            );
        }
        let pages = request
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| call.error(e))?;
        // The two filters match any tag each: keep the secrets with this exact tag.
        let mut found: Vec<(String, String)> = pages
            .iter()
            .flat_map(|page| page.secret_list())
            .filter(|entry| {
                entry.tags().iter().any(|tag| {
                    tag.key() == Some(filter.key.as_str())
                        && filter
                            .value
                            .as_deref()
                            .is_none_or(|v| tag.value() == Some(v))
                })
            })
            .filter_map(|entry| Some((entry.name()?.to_string(), entry.arn()?.to_string())))
            .collect();
        found.sort();
        Ok(found)
    }

    pub async fn describe(&self, secret_id: &str) -> Result<Described> {
        let call = self.call("secretsmanager:DescribeSecret");
        let out = self
            .client
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| self.not_found_or(e, secret_id, &call))?;
        let stages = out
            .version_ids_to_stages()
            .map(|map| {
                map.iter()
                    .filter(|(_, labels)| !labels.is_empty())
                    .map(|(id, labels)| (id.clone(), labels.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Described {
            arn: out.arn().unwrap_or(secret_id).to_string(),
            name: out.name().unwrap_or(secret_id).to_string(),
            stages,
            rotation_enabled: out.rotation_enabled().unwrap_or(false),
            rotation_function: out.rotation_lambda_arn().map(str::to_string),
            last_rotated: out.last_rotated_date().map(|d| d.secs()),
            next_rotation: out.next_rotation_date().map(|d| d.secs()),
        })
    }

    /// A version's value; `None` when that version does not exist or holds no value yet
    /// (the placeholder Secrets Manager makes when it starts a rotation).
    pub async fn value(&self, secret_id: &str, version: Version<'_>) -> Result<Option<Stored>> {
        let call = self.call("secretsmanager:GetSecretValue");
        let request = self.client.get_secret_value().secret_id(secret_id);
        let request = match version {
            Version::Id(id) => request.version_id(id),
            Version::Stage(stage) => request.version_stage(stage),
        };
        let out = match request.send().await {
            Ok(out) => out,
            Err(e) if code_of(&e) == Some("ResourceNotFoundException") => {
                // Either the secret or the version is missing: tell them apart.
                self.describe(secret_id).await?;
                return Ok(None);
            }
            Err(e) => return Err(call.error(e)),
        };
        let Some(text) = out.secret_string() else {
            return Err(Error::SecretFormat {
                secret: secret_id.to_string(),
                reason: "the version holds SecretBinary, not a SecretString".into(),
            });
        };
        Ok(Some(Stored {
            version_id: out.version_id().unwrap_or_default().to_string(),
            labels: out.version_stages().to_vec(),
            created: out.created_date().map(|d| d.secs()),
            value: Secret::new(text),
        }))
    }

    /// Stores `value` as a new AWSPENDING version named `token`. A retried call with the
    /// same value succeeds; a version with this token and another value is reported.
    pub async fn put_pending(&self, secret_id: &str, token: &str, value: &Secret) -> Result<Put> {
        let call = self.call("secretsmanager:PutSecretValue");
        let result = self
            .client
            .put_secret_value()
            .secret_id(secret_id)
            .client_request_token(token)
            .secret_string(value.expose())
            .version_stages(AWSPENDING)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Put::Stored),
            Err(e) if code_of(&e) == Some("ResourceExistsException") => Ok(Put::TokenInUse),
            Err(e) => Err(call.error(e)),
        }
    }

    /// Moves AWSCURRENT from version `from` to version `to`; `from` becomes AWSPREVIOUS.
    pub async fn promote(&self, secret_id: &str, to: &str, from: &str) -> Result<()> {
        let call = self.call("secretsmanager:UpdateSecretVersionStage");
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(AWSCURRENT)
            .move_to_version_id(to)
            .remove_from_version_id(from)
            .send()
            .await
            .map_err(|e| call.error(e))?;
        Ok(())
    }

    /// Takes the AWSPENDING label off `version`.
    pub async fn clear_pending(&self, secret_id: &str, version: &str) -> Result<()> {
        let call = self.call("secretsmanager:UpdateSecretVersionStage");
        self.client
            .update_secret_version_stage()
            .secret_id(secret_id)
            .version_stage(AWSPENDING)
            .remove_from_version_id(version)
            .send()
            .await
            .map_err(|e| call.error(e))?;
        Ok(())
    }

    fn not_found_or<E, R>(
        &self,
        error: aws_smithy_runtime_api::client::result::SdkError<E, R>,
        secret_id: &str,
        call: &Call,
    ) -> Error
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
        R: std::fmt::Debug + 'static,
    {
        if code_of(&error) == Some("ResourceNotFoundException") {
            return call.failure(format!(
                "secret {secret_id} was not found (ResourceNotFoundException)"
            ));
        }
        call.error(error)
    }
}

/// Account and region of a secret ARN (`arn:<partition>:secretsmanager:<region>:<account>:
/// secret:<name>`), when it is one.
pub fn arn_parts(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(7, ':');
    let (arn_word, _partition, service, region, account, kind) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = parts.next()?;
    let ok = arn_word == "arn"
        && service == "secretsmanager"
        && !region.is_empty()
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && kind == "secret"
        && !name.is_empty();
    ok.then_some((account, region))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_give_account_and_region() {
        assert_eq!(
            arn_parts("arn:aws:secretsmanager:eu-west-1:111122223333:secret:ts/key-AbCdEf"),
            Some(("111122223333", "eu-west-1"))
        );
        assert_eq!(
            arn_parts("arn:aws:secretsmanager:eu-west-1:1111:secret:x"),
            None
        );
        assert_eq!(arn_parts("tailscale/oauth"), None);
        assert_eq!(
            arn_parts("arn:aws:ssm:eu-west-1:111122223333:parameter/x"),
            None
        );
    }

    #[test]
    fn a_stray_pending_label_is_one_off_the_current_version() {
        let mut d = Described::default();
        d.stages.insert("v1".into(), vec![AWSCURRENT.into()]);
        assert_eq!(d.stray_pending(), None);
        d.stages
            .insert("v1".into(), vec![AWSCURRENT.into(), AWSPENDING.into()]);
        assert_eq!(
            d.stray_pending(),
            None,
            "pending on the current version is done"
        );
        d.stages.insert("v2".into(), vec![AWSPENDING.into()]);
        assert_eq!(d.stray_pending(), Some("v2"));
        assert_eq!(d.current(), Some("v1"));
    }
}
