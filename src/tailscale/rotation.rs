//! Rotating an auth-key secret: Secrets Manager's four steps, keyed by one
//! `ClientRequestToken`, plus revoking the keys the new version replaces.
//!
//! The same code runs in `govctl tailscale rotate --apply` (all steps in a row, resuming
//! where a killed run stopped) and in the rotation function (one step per invocation, as
//! Secrets Manager calls it). Every step reads its state from Secrets Manager and
//! Tailscale, so running it again does nothing twice:
//!
//! - **createSecret** mints a key only when no version with the token holds a value. The
//!   key's description carries the token; before minting, keys with that description that
//!   are not in the secret (minted by an attempt whose answer was lost, or that was killed
//!   before storing the key) are revoked. The new value is stored as AWSPENDING under the
//!   token; if that fails, the token's version is read back before the new key is revoked,
//!   because a store whose answer was lost did store it.
//! - **setSecret** has nothing to configure: a Tailscale key is live once minted. It checks
//!   that the pending version is there and readable.
//! - **testSecret** asks Tailscale about the pending key: known, not revoked, not invalid,
//!   not about to expire, carrying the tags asked for, and the ID the key itself carries.
//! - **finishSecret** moves AWSCURRENT to the token's version (the old one becomes
//!   AWSPREVIOUS) and takes the AWSPENDING label off, so no stray AWSPENDING blocks the next
//!   rotation. The workload reads a working AWSCURRENT before, during and after.
//! - **revoke** deletes, once the new version is current, the keys it `replaces`: the
//!   previous key, the key of a stray AWSPENDING version, and keys an earlier rotation
//!   failed to revoke (carried forward while Tailscale says they are valid, so a failed
//!   revoke is retried by the next run).
//!
//! Known gap: a run killed after Tailscale answered the create and before Secrets Manager
//! stored the value loses the only copy of that key (Tailscale returns a key once). The
//! rerun revokes it, found by its description, and mints one replacement for the same
//! token; no untracked valid key stays behind, but two were minted.

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use super::api::{KeyInfo, KeyRequest, Session};
use super::oauth::OAuthSessions;
use super::secret::{AuthKeyValue, KeySettings, Replaced, key_id_of};
use super::store::{AWSCURRENT, AWSPENDING, Put, Secrets, Version};
use crate::error::{Error, Result};

/// A pending key must be good for at least this long to pass testSecret.
const MIN_REMAINING_SECONDS: i64 = 3600;

/// The four steps as Secrets Manager names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Create,
    Set,
    Test,
    Finish,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Create => "createSecret",
            Step::Set => "setSecret",
            Step::Test => "testSecret",
            Step::Finish => "finishSecret",
        }
    }

    pub fn parse(name: &str) -> Option<Step> {
        [Step::Create, Step::Set, Step::Test, Step::Finish]
            .into_iter()
            .find(|step| step.name() == name)
    }
}

/// How far the rotation under a token has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// No version with the token holds a value.
    NotStarted,
    /// The token's version holds the new key, not yet current.
    Created { key_id: String },
    /// The token's version is AWSCURRENT.
    Current { key_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub key_id: String,
    /// False when an earlier run had already stored the key.
    pub minted: bool,
    /// Keys minted for this token that never reached the secret, revoked first.
    pub orphans_revoked: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// False when the token's version was already AWSCURRENT.
    pub promoted: bool,
    pub previous_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Revoked {
    pub revoked: Vec<String>,
    /// Tailscale no longer knew these keys.
    pub already_gone: Vec<String>,
    /// Keys whose revocation failed, with the reason; retried by the next run.
    pub failed: Vec<(String, String)>,
}

/// The rotation of one secret under one token.
pub struct Rotation<'a> {
    pub secrets: &'a Secrets,
    pub oauth: &'a OAuthSessions<'a>,
    pub secret_id: &'a str,
    pub token: &'a str,
}

impl Rotation<'_> {
    fn failed(&self, step: Step, detail: impl Into<String>) -> Error {
        Error::Rotation {
            secret: self.secret_id.to_string(),
            step: step.name(),
            detail: detail.into(),
        }
    }

    fn parse(&self, text: &str) -> Result<AuthKeyValue> {
        AuthKeyValue::parse(text).map_err(|reason| Error::SecretFormat {
            secret: self.secret_id.to_string(),
            reason,
        })
    }

    fn settings_of(&self, value: &AuthKeyValue) -> Result<KeySettings> {
        value.settings.clone().ok_or_else(|| Error::SecretFormat {
            secret: self.secret_id.to_string(),
            reason: "the value names no oauth_secret and tags, so govctl cannot mint the next \
                     key; store it as JSON with key, oauth_secret and tags"
                .into(),
        })
    }

    async fn session(&self, settings: &KeySettings) -> Result<std::sync::Arc<Session>> {
        self.oauth
            .session(
                &settings.oauth_secret,
                self.secrets.account(),
                self.secrets.region(),
            )
            .await
    }

    /// The token's version, parsed, if it holds a value.
    async fn pending(&self) -> Result<Option<(Vec<String>, AuthKeyValue)>> {
        let stored = self
            .secrets
            .value(self.secret_id, Version::Id(self.token))
            .await?;
        match stored {
            None => Ok(None),
            Some(stored) => Ok(Some((stored.labels, self.parse(stored.value.expose())?))),
        }
    }

    pub async fn progress(&self) -> Result<Progress> {
        match self.pending().await? {
            None => Ok(Progress::NotStarted),
            Some((labels, value)) if labels.iter().any(|l| l == AWSCURRENT) => {
                Ok(Progress::Current { key_id: value.id })
            }
            Some((_, value)) => Ok(Progress::Created { key_id: value.id }),
        }
    }

    /// createSecret.
    pub async fn create(&self) -> Result<Created> {
        if let Some((_, value)) = self.pending().await? {
            return Ok(Created {
                key_id: value.id,
                minted: false,
                orphans_revoked: Vec::new(),
            });
        }
        let described = self.secrets.describe(self.secret_id).await?;
        let current = self
            .secrets
            .value(self.secret_id, Version::Stage(AWSCURRENT))
            .await?
            .ok_or_else(|| self.failed(Step::Create, "the secret has no AWSCURRENT value"))?;
        let current_value = self.parse(current.value.expose())?;
        let settings = self.settings_of(&current_value)?;
        let session = self.session(&settings).await?;

        let replaces = self
            .replaced_by_next(&session, &settings, &described, &current, &current_value)
            .await?;
        let orphans_revoked = self.revoke_orphans(&session, &settings).await?;

        let request = KeyRequest {
            tags: settings.tags.clone(),
            reusable: settings.reusable,
            ephemeral: settings.ephemeral,
            preauthorized: settings.preauthorized,
            expiry_seconds: settings.expiry_seconds,
            description: description_for(self.token),
        };
        let minted = session.create_key(&settings.tailnet, &request).await?;
        tracing::info!(secret = %self.secret_id, key_id = %minted.id, "minted a Tailscale key");
        let key_id = minted.id.clone();
        let value = AuthKeyValue {
            key: minted.key,
            id: minted.id,
            created: Some(minted.created),
            expires: Some(minted.expires),
            settings: Some(settings.clone()),
            replaces,
        };

        let stored = self
            .secrets
            .put_pending(self.secret_id, self.token, &value.encode())
            .await;
        match stored {
            Ok(Put::Stored) => Ok(Created {
                key_id,
                minted: true,
                orphans_revoked,
            }),
            Ok(Put::TokenInUse) => {
                // Someone stored another key under this token first: theirs stands.
                session.delete_key(&settings.tailnet, &key_id).await?;
                let (_, theirs) = self.pending().await?.ok_or_else(|| {
                    self.failed(Step::Create, "the token is in use but has no value")
                })?;
                Ok(Created {
                    key_id: theirs.id,
                    minted: false,
                    orphans_revoked,
                })
            }
            Err(error) => {
                // A store whose answer was lost did store the key: look before revoking.
                match self.pending().await {
                    Ok(Some((_, value))) if value.id == key_id => Ok(Created {
                        key_id,
                        minted: true,
                        orphans_revoked,
                    }),
                    Ok(None) => {
                        if let Err(revoke) = session.delete_key(&settings.tailnet, &key_id).await {
                            tracing::warn!(key_id = %key_id, error = %revoke,
                                "could not revoke the key that was not stored; the next run will");
                        }
                        Err(error)
                    }
                    _ => Err(error),
                }
            }
        }
    }

    /// What the next version replaces: the current key, a stray pending version's key,
    /// and keys the current version replaced that Tailscale still calls valid.
    async fn replaced_by_next(
        &self,
        session: &Session,
        settings: &KeySettings,
        described: &super::store::Described,
        current: &super::store::Stored,
        current_value: &AuthKeyValue,
    ) -> Result<Vec<Replaced>> {
        let mut replaces = vec![Replaced {
            key_id: current_value.id.clone(),
            version_id: Some(current.version_id.clone()),
        }];
        for (version, labels) in &described.stages {
            let stray = labels.iter().any(|l| l == AWSPENDING)
                && !labels.iter().any(|l| l == AWSCURRENT)
                && version != self.token;
            if !stray {
                continue;
            }
            let stored = self
                .secrets
                .value(self.secret_id, Version::Id(version))
                .await?;
            if let Some(stored) = stored {
                match AuthKeyValue::parse(stored.value.expose()) {
                    Ok(value) => replaces.push(Replaced {
                        key_id: value.id,
                        version_id: Some(version.clone()),
                    }),
                    Err(reason) => tracing::warn!(
                        secret = %self.secret_id, version = %version, reason = %reason,
                        "the stray AWSPENDING version holds no key govctl can read"
                    ),
                }
            }
        }
        for earlier in &current_value.replaces {
            if replaces.iter().any(|r| r.key_id == earlier.key_id) {
                continue;
            }
            let info = session.get_key(&settings.tailnet, &earlier.key_id).await?;
            if info.as_ref().is_some_and(KeyInfo::is_valid) {
                replaces.push(earlier.clone());
            }
        }
        Ok(replaces)
    }

    /// Revokes keys minted for this token that are not in the secret.
    async fn revoke_orphans(
        &self,
        session: &Session,
        settings: &KeySettings,
    ) -> Result<Vec<String>> {
        let marker = description_for(self.token);
        let mut revoked = Vec::new();
        for key in session.list_keys(&settings.tailnet).await? {
            let description = match key.description {
                Some(description) => Some(description),
                // Some answers list IDs only: ask about the key itself.
                None => session
                    .get_key(&settings.tailnet, &key.id)
                    .await?
                    .and_then(|info| info.description),
            };
            if description.as_deref() == Some(marker.as_str()) {
                session.delete_key(&settings.tailnet, &key.id).await?;
                tracing::warn!(secret = %self.secret_id, key_id = %key.id,
                    "revoked a key an interrupted run minted for this rotation but never stored");
                revoked.push(key.id);
            }
        }
        Ok(revoked)
    }

    /// setSecret: nothing to configure at Tailscale; the pending version must be readable.
    pub async fn set(&self) -> Result<String> {
        let (_, value) = self
            .pending()
            .await?
            .ok_or_else(|| self.failed(Step::Set, "no version holds a value for this token"))?;
        self.settings_of(&value)?;
        Ok(value.id)
    }

    /// testSecret: Tailscale must call the pending key valid.
    pub async fn test(&self, now: i64) -> Result<String> {
        let (_, value) = self
            .pending()
            .await?
            .ok_or_else(|| self.failed(Step::Test, "no version holds a value for this token"))?;
        if key_id_of(value.key.expose()) != Some(value.id.as_str()) {
            return Err(self.failed(Step::Test, "the stored key does not carry its stored id"));
        }
        let settings = self.settings_of(&value)?;
        let session = self.session(&settings).await?;
        let info = session
            .get_key(&settings.tailnet, &value.id)
            .await?
            .ok_or_else(|| {
                self.failed(
                    Step::Test,
                    format!("Tailscale does not know key {}", value.id),
                )
            })?;
        if let Some(revoked) = &info.revoked {
            let detail = format!("Tailscale says key {} was revoked at {revoked}", value.id);
            return Err(self.failed(Step::Test, detail));
        }
        if info.invalid {
            let detail = format!("Tailscale says key {} is invalid", value.id);
            return Err(self.failed(Step::Test, detail));
        }
        let expires = info.expires.as_deref().or(value.expires.as_deref());
        match expires.and_then(parse_time) {
            Some(at) if at - now >= MIN_REMAINING_SECONDS => {}
            _ => {
                let detail = format!(
                    "key {} expires at {}; a new key must be good for at least an hour",
                    value.id,
                    expires.unwrap_or("an unknown time")
                );
                return Err(self.failed(Step::Test, detail));
            }
        }
        let mut wanted = settings.tags.clone();
        let mut got = info.tags.clone();
        wanted.sort();
        got.sort();
        if !got.is_empty() && got != wanted {
            let detail = format!(
                "key {} carries tags {} instead of {}",
                value.id,
                got.join(","),
                wanted.join(",")
            );
            return Err(self.failed(Step::Test, detail));
        }
        Ok(value.id)
    }

    /// finishSecret: the token's version becomes AWSCURRENT, and no AWSPENDING stays.
    pub async fn finish(&self) -> Result<Finished> {
        let described = self.secrets.describe(self.secret_id).await?;
        let current = described.current().map(str::to_string);
        let labels = described.labels_of(self.token).to_vec();
        let promoted = current.as_deref() != Some(self.token);
        if promoted {
            if self.pending().await?.is_none() {
                return Err(self.failed(Step::Finish, "no version holds a value for this token"));
            }
            let from = current.clone().ok_or_else(|| {
                self.failed(
                    Step::Finish,
                    "the secret has no AWSCURRENT version to move from",
                )
            })?;
            self.secrets
                .promote(self.secret_id, self.token, &from)
                .await?;
            tracing::info!(secret = %self.secret_id, version = %self.token, "promoted");
        }
        if labels.iter().any(|l| l == AWSPENDING) {
            self.secrets
                .clear_pending(self.secret_id, self.token)
                .await?;
        }
        Ok(Finished {
            promoted,
            previous_version: if promoted { current } else { None },
        })
    }

    /// Revokes what the current version replaces; only once the token's version is current.
    pub async fn revoke_replaced(&self) -> Result<Revoked> {
        let (labels, value) = self
            .pending()
            .await?
            .ok_or_else(|| self.failed(Step::Finish, "no version holds a value for this token"))?;
        if !labels.iter().any(|l| l == AWSCURRENT) {
            return Err(self.failed(
                Step::Finish,
                "the new version is not AWSCURRENT yet; old keys are revoked only after that",
            ));
        }
        let settings = self.settings_of(&value)?;
        let session = self.session(&settings).await?;
        let mut outcome = Revoked::default();
        for replaced in value.replaces.iter().filter(|r| r.key_id != value.id) {
            match session
                .delete_key(&settings.tailnet, &replaced.key_id)
                .await
            {
                Ok(true) => outcome.revoked.push(replaced.key_id.clone()),
                Ok(false) => outcome.already_gone.push(replaced.key_id.clone()),
                Err(error) => outcome
                    .failed
                    .push((replaced.key_id.clone(), error.to_string())),
            }
        }
        Ok(outcome)
    }
}

/// The description of a key minted under `token`: how an interrupted run's key is found.
/// Tailscale allows 50 letters, digits, spaces, hyphens and underscores.
pub fn description_for(token: &str) -> String {
    let tail: String = token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(43)
        .collect();
    format!("govctl {tail}")
}

/// Seconds since the epoch of an RFC 3339 time as Tailscale writes them.
pub fn parse_time(text: &str) -> Option<i64> {
    DateTime::from_str(text, Format::DateTime)
        .ok()
        .map(|t| t.secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_fit_tailscale_and_carry_the_token() {
        let token = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
        let description = description_for(token);
        assert_eq!(description, format!("govctl {token}"));
        assert!(description.len() <= 50);
        let long = description_for(&"a".repeat(64));
        assert_eq!(long.len(), 50);
        assert!(description_for("x y/z").ends_with("xyz"));
    }

    #[test]
    fn steps_have_secrets_manager_names() {
        for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            assert_eq!(Step::parse(step.name()), Some(step));
        }
        assert_eq!(Step::parse("rotateSecret"), None);
    }

    #[test]
    fn times_parse_as_tailscale_writes_them() {
        assert_eq!(parse_time("1970-01-02T00:00:00Z"), Some(86_400));
        assert_eq!(parse_time("soon"), None);
    }
}
