//! The scheduled rotation function's handler: one step of Secrets Manager's rotation per
//! invocation, with the same code as `govctl tailscale rotate --apply`.
//!
//! Secrets Manager invokes the function with `{"Step", "SecretId", "ClientRequestToken"}`
//! for createSecret, setSecret, testSecret and finishSecret in turn, after it has made the
//! AWSPENDING version (without a value) named by the token; it retries a failed step with
//! the same token. As in AWS's own rotation templates, the handler first checks that
//! rotation is enabled and that the token's version is AWSPENDING, and does nothing when
//! it is already AWSCURRENT. finishSecret also revokes the keys the new version replaces,
//! at once: the function runs only at rotation time, so it has no grace period (a key that
//! cannot be revoked is logged and carried into the next rotation, which tries again).
//!
//! The binary is `src/bin/govctl-tailscale-rotation.rs`; tests call [`Handler::handle`]
//! directly, since the emulator runs no rotation functions.

use aws_config::{Region, SdkConfig};
use serde::Deserialize;

use super::api::Api;
use super::oauth::{OAuthSessions, Source};
use super::rotation::{Rotation, Step};
use super::store::{AWSCURRENT, AWSPENDING, Secrets, arn_parts};
use crate::change::plan::now;
use crate::error::{Error, Result};

/// The event Secrets Manager sends a rotation function.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationEvent {
    pub step: String,
    pub secret_id: String,
    pub client_request_token: String,
}

/// What an invocation did, for the function's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// The token's version is already AWSCURRENT: nothing to do (finishSecret still
    /// retries revocations).
    AlreadyCurrent,
    Done {
        key_id: String,
    },
}

pub struct Handler {
    config: SdkConfig,
    api: Api,
}

impl Handler {
    /// `config` carries the function's own credentials; `api_url` is Tailscale's API.
    pub fn new(config: SdkConfig, api_url: &str) -> Result<Handler> {
        Ok(Handler {
            config,
            api: Api::new(api_url)?,
        })
    }

    pub async fn handle(&self, event: &RotationEvent) -> Result<Handled> {
        let step = Step::parse(&event.step).ok_or_else(|| Error::InvalidInput {
            what: "Step",
            value: event.step.clone(),
            expected: "createSecret, setSecret, testSecret or finishSecret".into(),
        })?;
        let own_region = self
            .config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default();
        let (account, region) = arn_parts(&event.secret_id)
            .map(|(a, r)| (a.to_string(), r.to_string()))
            .unwrap_or_else(|| ("(own account)".into(), own_region));
        let config = self
            .config
            .clone()
            .into_builder()
            .region(Region::new(region.clone()))
            .build();
        let secrets = Secrets::new(&config, &account, &region);
        let oauth = OAuthSessions::new(self.api.clone(), Source::Own(Box::new(config)));
        let rotation = Rotation {
            secrets: &secrets,
            oauth: &oauth,
            secret_id: &event.secret_id,
            token: &event.client_request_token,
        };
        let refused = |detail: String| Error::Rotation {
            secret: event.secret_id.clone(),
            step: step.name(),
            detail,
        };

        let described = secrets.describe(&event.secret_id).await?;
        if !described.rotation_enabled {
            return Err(refused("rotation is not enabled for the secret".into()));
        }
        let Some(labels) = described.stages.get(&event.client_request_token) else {
            return Err(refused(format!(
                "version {} has no staging label for rotation",
                event.client_request_token
            )));
        };
        if labels.iter().any(|l| l == AWSCURRENT) {
            tracing::info!(step = step.name(), "the version is already AWSCURRENT");
            if step == Step::Finish {
                // Clears a leftover AWSPENDING label, then retries revocations.
                rotation.finish().await?;
                self.revoke(&rotation).await?;
            }
            return Ok(Handled::AlreadyCurrent);
        }
        if !labels.iter().any(|l| l == AWSPENDING) {
            return Err(refused(format!(
                "version {} is not AWSPENDING",
                event.client_request_token
            )));
        }

        let key_id = match step {
            Step::Create => {
                let created = rotation.create().await?;
                tracing::info!(key_id = %created.key_id, minted = created.minted,
                    orphans_revoked = ?created.orphans_revoked, "createSecret done");
                created.key_id
            }
            Step::Set => rotation.set().await?,
            Step::Test => rotation.test(now()).await?,
            Step::Finish => {
                rotation.finish().await?;
                self.revoke(&rotation).await?;
                rotation.set().await?
            }
        };
        tracing::info!(step = step.name(), key_id = %key_id, "step done");
        Ok(Handled::Done { key_id })
    }

    async fn revoke(&self, rotation: &Rotation<'_>) -> Result<()> {
        let revoked = rotation.revoke_replaced().await?;
        tracing::info!(revoked = ?revoked.revoked, already_gone = ?revoked.already_gone,
            "revoked the keys the new version replaces");
        for (key_id, error) in &revoked.failed {
            tracing::warn!(key_id = %key_id, error = %error,
                "could not revoke a replaced key; the next rotation tries again");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_reads_as_secrets_manager_sends_it() {
        let event: RotationEvent = serde_json::from_str(
            r#"{"Step": "createSecret",
                "SecretId": "arn:aws:secretsmanager:us-east-1:111122223333:secret:ts-AbC",
                "ClientRequestToken": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"}"#,
        )
        .unwrap();
        assert_eq!(event.step, "createSecret");
        assert_eq!(event.client_request_token.len(), 36);
    }
}
