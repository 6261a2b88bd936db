//! Credentials for a member account, from `sts:AssumeRole`, cached and refreshed.
//!
//! A report over a large organization can outlive assumed-role credentials (one hour at most
//! when the caller's own session is itself a role, as in CloudShell). The provider keeps the
//! last credentials and assumes the role again once they come within [`REFRESH_MARGIN`] of
//! expiring, so a long run never sends a request with credentials about to lapse.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, error::CredentialsError};
use tokio::sync::Mutex;

use crate::error::{Error, Result};

/// How long before expiry credentials are replaced.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// One hour: the longest session a chained role may have, and long enough for one report.
const SESSION_SECONDS: i32 = 3600;

const SESSION_NAME: &str = "govctl";

/// Tells the time; tests give a clock they can move forward.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

pub struct MemberCredentials {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    external_id: Option<String>,
    cached: Mutex<Option<Credentials>>,
    clock: Clock,
}

impl std::fmt::Debug for MemberCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberCredentials")
            .field("role_arn", &self.role_arn)
            .finish_non_exhaustive()
    }
}

impl MemberCredentials {
    pub fn new(sts: aws_sdk_sts::Client, role_arn: String, external_id: Option<String>) -> Self {
        Self::with_clock(sts, role_arn, external_id, Arc::new(SystemTime::now))
    }

    pub fn with_clock(
        sts: aws_sdk_sts::Client,
        role_arn: String,
        external_id: Option<String>,
        clock: Clock,
    ) -> Self {
        MemberCredentials {
            sts,
            role_arn,
            external_id,
            cached: Mutex::new(None),
            clock,
        }
    }

    /// Returns the cached credentials, assuming the role again first when they are missing
    /// or close to expiry.
    pub async fn refresh_if_needed(&self) -> Result<Credentials> {
        let mut cached = self.cached.lock().await;
        if let Some(creds) = cached.as_ref()
            && !needs_refresh(creds.expiry(), (self.clock)(), REFRESH_MARGIN)
        {
            return Ok(creds.clone());
        }

        let fresh = self.assume().await?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    async fn assume(&self) -> Result<Credentials> {
        tracing::debug!(role = %self.role_arn, "assuming the member role");
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(SESSION_NAME)
            .set_external_id(self.external_id.clone())
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await
            .map_err(|e| Error::AssumeRole {
                role_arn: self.role_arn.clone(),
                message: super::errors::describe(&e),
            })?;

        let creds = out.credentials().ok_or_else(|| Error::AssumeRole {
            role_arn: self.role_arn.clone(),
            message: "STS returned no credentials".into(),
        })?;
        let expiry = SystemTime::try_from(*creds.expiration()).ok();
        Ok(Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_string()),
            expiry,
            "govctl-member-role",
        ))
    }
}

impl ProvideCredentials for MemberCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            self.refresh_if_needed()
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}

/// Whether credentials that expire at `expiry` must be replaced at `now`.
pub fn needs_refresh(expiry: Option<SystemTime>, now: SystemTime, margin: Duration) -> bool {
    match expiry {
        None => false,
        Some(at) => at
            .duration_since(now)
            .map(|left| left <= margin)
            .unwrap_or(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn fresh_credentials_are_kept() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(!needs_refresh(Some(now + 50 * MIN), now, REFRESH_MARGIN));
        assert!(!needs_refresh(None, now, REFRESH_MARGIN));
    }

    #[test]
    fn credentials_close_to_expiry_or_expired_are_replaced() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(needs_refresh(Some(now + 4 * MIN), now, REFRESH_MARGIN));
        assert!(needs_refresh(
            Some(now + REFRESH_MARGIN),
            now,
            REFRESH_MARGIN
        ));
        assert!(needs_refresh(Some(now - MIN), now, REFRESH_MARGIN));
    }
}
