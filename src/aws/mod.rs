//! The connection to AWS that every command shares.
//!
//! [`Aws::connect`] turns the shared command-line options into one SDK configuration, checks
//! that credentials and a region are there, and asks STS who the caller is, so that a
//! misconfigured machine fails before any real work starts. Member accounts are reached by
//! assuming a role in them; those credentials are cached per account and refreshed before
//! they expire (see [`credentials`]).

pub mod credentials;
pub mod errors;
pub mod retry;

use std::collections::HashMap;

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::sync::Mutex;

pub use credentials::MemberCredentials;
pub use errors::Call;
pub use retry::Budget;

use crate::cli::AwsArgs;
use crate::error::{Error, Result};

/// Who made the call, as STS reports it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: String,
    pub arn: String,
}

/// The shared AWS session: base configuration, caller identity and member-account roles.
pub struct Aws {
    base: SdkConfig,
    caller: Caller,
    region: String,
    role_name: String,
    external_id: Option<String>,
    concurrency: usize,
    budget: Budget,
    members: Mutex<HashMap<String, SdkConfig>>,
}

impl Aws {
    /// Loads the SDK configuration from the options and the environment, and identifies the
    /// caller.
    pub async fn connect(args: &AwsArgs) -> Result<Self> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &args.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &args.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &args.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(attempts) = args.max_attempts {
            loader = loader.retry_config(RetryConfig::standard().with_max_attempts(attempts));
        }
        let base = loader.load().await;

        let region = base
            .region()
            .map(|r| r.to_string())
            .ok_or(Error::NoRegion)?;
        if base.credentials_provider().is_none() {
            return Err(Error::NoCredentials {
                detail: "no credential provider is configured".into(),
            });
        }

        let caller = identify(&base, &region).await?;
        tracing::debug!(account = %caller.account, arn = %caller.arn, "identified the caller");

        Ok(Aws {
            base,
            caller,
            region,
            role_name: args.role_name.clone(),
            external_id: args.external_id.clone(),
            concurrency: usize::from(args.concurrency),
            budget: Budget::new(
                usize::from(args.concurrency),
                args.max_attempts.unwrap_or(retry::DEFAULT_ATTEMPTS),
            ),
            members: Mutex::new(HashMap::new()),
        })
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The region the command runs in (where the aggregator and Organizations are called).
    pub fn region(&self) -> &str {
        &self.region
    }

    /// How many requests may be in flight at once, at most.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The budget of in-flight requests and retries that discovery calls share.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// The caller's own configuration.
    pub fn config(&self) -> &SdkConfig {
        &self.base
    }

    /// The role ARN govctl assumes in a member account.
    pub fn member_role_arn(&self, account: &str) -> String {
        let partition = partition_of(&self.caller.arn);
        format!("arn:{partition}:iam::{account}:role/{}", self.role_name)
    }

    /// A configuration that acts in `account` and `region`: the caller's own credentials for
    /// the caller's account, otherwise the member role, assumed on first use and refreshed
    /// before it expires.
    pub async fn config_for(&self, account: &str, region: &str) -> Result<SdkConfig> {
        let account_config = if account == self.caller.account {
            self.base.clone()
        } else {
            self.member_config(account).await?
        };
        Ok(account_config
            .into_builder()
            .region(Region::new(region.to_string()))
            .build())
    }

    /// Like [`Aws::config_for`], for clients whose calls go through [`Aws::budget`]: the SDK's
    /// own retries are off, since the budget retries and would otherwise multiply them.
    pub async fn budgeted_config_for(&self, account: &str, region: &str) -> Result<SdkConfig> {
        let config = self.config_for(account, region).await?;
        Ok(without_retries(config))
    }

    /// The caller's own configuration, for calls through [`Aws::budget`].
    pub fn budgeted_config(&self) -> SdkConfig {
        without_retries(self.base.clone())
    }

    async fn member_config(&self, account: &str) -> Result<SdkConfig> {
        let mut members = self.members.lock().await;
        if let Some(config) = members.get(account) {
            return Ok(config.clone());
        }

        let role_arn = self.member_role_arn(account);
        let provider = MemberCredentials::new(
            aws_sdk_sts::Client::new(&self.base),
            role_arn,
            self.external_id.clone(),
        );
        // Assume now rather than on the first call, so a missing or untrusted role is
        // reported as such instead of as a failure of whatever call came first.
        provider.refresh_if_needed().await?;

        let config = self
            .base
            .clone()
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
        members.insert(account.to_string(), config.clone());
        Ok(config)
    }
}

fn without_retries(config: SdkConfig) -> SdkConfig {
    config
        .into_builder()
        .retry_config(RetryConfig::disabled())
        .build()
}

async fn identify(config: &SdkConfig, region: &str) -> Result<Caller> {
    let sts = aws_sdk_sts::Client::new(config);
    let call = Call::new("sts:GetCallerIdentity", "(caller)", region).endpoint_of(config);
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| call.error(e))?;
    Ok(Caller {
        account: out.account().unwrap_or_default().to_string(),
        arn: out.arn().unwrap_or_default().to_string(),
    })
}

/// The partition (`aws`, `aws-cn`, `aws-us-gov`, ...) of an ARN, `aws` when it has none.
pub fn partition_of(arn: &str) -> &str {
    arn.split(':')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_comes_from_the_caller_arn() {
        assert_eq!(
            partition_of("arn:aws-cn:sts::123456789012:assumed-role/x/y"),
            "aws-cn"
        );
        assert_eq!(partition_of("arn:aws:iam::123456789012:user/me"), "aws");
        assert_eq!(partition_of(""), "aws");
    }
}
