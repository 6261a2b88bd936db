//! OAuth client sessions, one per OAuth client secret, read once per run.
//!
//! An auth-key secret names its OAuth client secret by ARN, or by name in its own account
//! and region. The CLI reads it where it lives, through the member role of that account
//! ([`Source::Org`]); the rotation function reads it with its own role ([`Source::Own`]),
//! which the secret's resource policy must allow.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::{Region, SdkConfig};
use tokio::sync::Mutex;

use super::api::{Api, Session};
use super::secret::OAuthClientValue;
use super::store::{AWSCURRENT, Secrets, Version, arn_parts};
use crate::aws::Aws;
use crate::error::{Error, Result};

/// Where OAuth client secrets are read from.
pub enum Source<'a> {
    /// Through the shared session: the caller's account, or the member role elsewhere.
    Org(&'a Aws),
    /// With one configuration's own credentials (the rotation function's role).
    Own(Box<SdkConfig>),
}

pub struct OAuthSessions<'a> {
    api: Api,
    source: Source<'a>,
    cache: Mutex<HashMap<(String, String, String), Arc<Session>>>,
}

impl<'a> OAuthSessions<'a> {
    pub fn new(api: Api, source: Source<'a>) -> Self {
        OAuthSessions {
            api,
            source,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn api(&self) -> &Api {
        &self.api
    }

    /// The session of the OAuth client in `oauth_secret`, for an auth-key secret that lives
    /// in `account` and `region`.
    pub async fn session(
        &self,
        oauth_secret: &str,
        account: &str,
        region: &str,
    ) -> Result<Arc<Session>> {
        let (account, region) = arn_parts(oauth_secret).unwrap_or((account, region));
        let key = (
            account.to_string(),
            region.to_string(),
            oauth_secret.to_string(),
        );
        let mut cache = self.cache.lock().await;
        if let Some(session) = cache.get(&key) {
            return Ok(session.clone());
        }
        let config = match &self.source {
            Source::Org(aws) => aws.config_for(account, region).await?,
            Source::Own(config) => SdkConfig::clone(config)
                .into_builder()
                .region(Region::new(region.to_string()))
                .build(),
        };
        let secrets = Secrets::new(&config, account, region);
        let stored = secrets
            .value(oauth_secret, Version::Stage(AWSCURRENT))
            .await?
            .ok_or_else(|| Error::SecretFormat {
                secret: oauth_secret.to_string(),
                reason: "the OAuth client secret has no AWSCURRENT value".into(),
            })?;
        let client = OAuthClientValue::parse(stored.value.expose()).map_err(|reason| {
            Error::SecretFormat {
                secret: oauth_secret.to_string(),
                reason,
            }
        })?;
        let session = Arc::new(self.api.session(client));
        cache.insert(key, session.clone());
        Ok(session)
    }
}
