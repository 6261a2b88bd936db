//! Turning SDK failures into errors that say which call failed, where, and why.
//!
//! The SDK reports a missing credential, a refused connection and a denied action as very
//! different shapes of [`SdkError`]; the operator wants one line naming the action, the
//! account and the region. [`Call`] carries that context to the point of failure.

use std::error::Error as StdError;
use std::fmt::Debug;

use aws_config::SdkConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::Error;

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
];

const BAD_CREDENTIALS: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
];

/// One AWS API call: what it was, and in which account and region it ran.
#[derive(Debug, Clone)]
pub struct Call {
    pub action: &'static str,
    pub account: String,
    pub region: String,
    endpoint: Option<String>,
}

impl Call {
    /// `action` is the IAM action name (`service:Operation`), as a policy would grant it.
    pub fn new(
        action: &'static str,
        account: impl Into<String>,
        region: impl Into<String>,
    ) -> Self {
        Call {
            action,
            account: account.into(),
            region: region.into(),
            endpoint: None,
        }
    }

    /// Remembers the endpoint override of `config`, so an unreachable endpoint is named.
    pub fn endpoint_of(mut self, config: &SdkConfig) -> Self {
        self.endpoint = config.endpoint_url().map(str::to_string);
        self
    }

    /// Classifies a failed call.
    pub fn error<E, R>(&self, err: SdkError<E, R>) -> Error
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: Debug + 'static,
    {
        if let Some(error) = credential_failure(&err) {
            return error;
        }

        if let SdkError::ServiceError(service) = &err {
            let code = service.err().code().unwrap_or_default();
            let message = describe(&err);
            if ACCESS_DENIED.contains(&code) {
                return Error::AccessDenied {
                    action: self.action.to_string(),
                    account: self.account.clone(),
                    region: self.region.clone(),
                    message,
                };
            }
            if BAD_CREDENTIALS.contains(&code) {
                return Error::BadCredentials {
                    action: self.action.to_string(),
                    message,
                };
            }
        }

        let unreachable = match &err {
            SdkError::DispatchFailure(failure) => failure.is_io() || failure.is_timeout(),
            SdkError::TimeoutError(_) => true,
            _ => false,
        };
        if unreachable {
            return Error::Unreachable {
                endpoint: self.endpoint_text(),
                action: self.action.to_string(),
                detail: innermost(&err),
            };
        }

        Error::Aws {
            action: self.action.to_string(),
            account: self.account.clone(),
            region: self.region.clone(),
            message: describe(&err),
        }
    }

    /// A failure of this call that is not an SDK error (an answer that makes no sense).
    pub fn failure(&self, message: impl Into<String>) -> Error {
        Error::Aws {
            action: self.action.to_string(),
            account: self.account.clone(),
            region: self.region.clone(),
            message: message.into(),
        }
    }

    /// The token for the next page, `None` after the last page. A service that hands back
    /// the token it was given would loop forever, so that is an error.
    pub fn next_token(
        &self,
        sent: Option<&str>,
        next: Option<&str>,
    ) -> Result<Option<String>, Error> {
        match next {
            Some(next) if sent == Some(next) => {
                Err(self.failure("the service returned the same pagination token twice"))
            }
            Some(next) if !next.is_empty() => Ok(Some(next.to_string())),
            _ => Ok(None),
        }
    }

    /// Classifies a failure that persisted through `attempts` attempts.
    ///
    /// After retries the account, region and API matter more than the endpoint, so a
    /// connection failure is reported like any other failed call.
    pub fn error_after<E, R>(&self, err: SdkError<E, R>, attempts: u32) -> Error
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: Debug + 'static,
    {
        let error = self.error(err);
        if attempts <= 1 {
            return error;
        }
        let gave_up = |detail: String| Error::Aws {
            action: self.action.to_string(),
            account: self.account.clone(),
            region: self.region.clone(),
            message: format!("{detail} (gave up after {attempts} attempts)"),
        };
        match error {
            Error::Aws { message, .. } => gave_up(message),
            Error::Unreachable { detail, .. } => gave_up(detail),
            other => other,
        }
    }

    fn endpoint_text(&self) -> String {
        match &self.endpoint {
            Some(url) => url.clone(),
            None => {
                let service = self.action.split(':').next().unwrap_or("AWS");
                format!("the {service} endpoint in {}", self.region)
            }
        }
    }
}

/// The service's error code, when the service answered with one.
pub fn code_of<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// A one-line description: `Code: message` for service errors, the cause chain otherwise.
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: Debug,
{
    if let SdkError::ServiceError(service) = err {
        let meta = service.err();
        return match (meta.code(), meta.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            _ => one_line(&DisplayErrorContext(err).to_string()),
        };
    }
    one_line(&DisplayErrorContext(err).to_string())
}

fn credential_failure<E, R>(err: &SdkError<E, R>) -> Option<Error>
where
    E: StdError + 'static,
    R: Debug + 'static,
{
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(Error::AssumeRole { role_arn, message }) = current.downcast_ref::<Error>() {
            return Some(Error::AssumeRole {
                role_arn: role_arn.clone(),
                message: message.clone(),
            });
        }
        if let Some(creds) = current.downcast_ref::<CredentialsError>() {
            return Some(Error::NoCredentials {
                detail: one_line(&DisplayErrorContext(creds).to_string()),
            });
        }
        source = current.source();
    }
    None
}

/// The deepest cause's message, which for connection failures is the useful part
/// ("Connection refused", "dns error").
fn innermost(err: &(dyn StdError + 'static)) -> String {
    let mut last = err.to_string();
    let mut source = err.source();
    while let Some(current) = source {
        last = current.to_string();
        source = current.source();
    }
    one_line(&last)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_ends_on_no_token_and_refuses_a_repeated_one() {
        let call = Call::new("lambda:ListFunctions", "111122223333", "eu-west-1");
        assert_eq!(call.next_token(None, Some("a")).unwrap(), Some("a".into()));
        assert_eq!(
            call.next_token(Some("a"), Some("b")).unwrap(),
            Some("b".into())
        );
        assert_eq!(call.next_token(Some("b"), None).unwrap(), None);
        assert_eq!(call.next_token(Some("b"), Some("")).unwrap(), None);
        let error = call
            .next_token(Some("b"), Some("b"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("lambda:ListFunctions failed in account 111122223333"),
            "{error}"
        );
    }
}
