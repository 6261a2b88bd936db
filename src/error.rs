//! The errors govctl reports to its user.
//!
//! Every variant names what went wrong in words an operator can act on: the account, region
//! and resource involved, the value that was refused and what was expected. `main` renders
//! them once, as `error: ...` with an optional `hint: ...`, and exits with [`EXIT_ERROR`].

use std::path::PathBuf;

/// The command did what was asked and found nothing that needs attention.
pub const EXIT_OK: u8 = 0;
/// The command succeeded and found something a flag asked it to fail on.
pub const EXIT_FINDINGS: u8 = 1;
/// Bad usage or a runtime error; nothing was written as if it were complete.
pub const EXIT_ERROR: u8 = 2;
/// Interrupted by the user (Ctrl-C); partial output files were removed.
pub const EXIT_INTERRUPTED: u8 = 130;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "configuration aggregator '{name}' was not found in account {account}, region {region}"
    )]
    UnknownAggregator {
        name: String,
        account: String,
        region: String,
    },

    #[error("invalid layer version ARN '{value}': {reason}; expected {LAYER_VERSION_ARN_SHAPE}")]
    InvalidLayerArn { value: String, reason: String },

    #[error("invalid layer ARN '{value}' in {path}: {reason}; expected {LAYER_ARN_SHAPE}")]
    InvalidPolicyLayerArn {
        path: PathBuf,
        value: String,
        reason: String,
    },

    #[error(
        "'{value}' cannot be put safely into a Config query expression: it contains {found}; \
         only letters, digits and {allowed} are accepted"
    )]
    UnsafeQueryValue {
        value: String,
        found: String,
        allowed: &'static str,
    },

    #[error("the Config query expression is {length} characters long; AWS accepts at most {max}")]
    ExpressionTooLong { length: usize, max: usize },

    #[error("no AWS credentials were found ({detail})")]
    NoCredentials { detail: String },

    #[error("the AWS credentials were rejected by {action}: {message}")]
    BadCredentials { action: String, message: String },

    #[error("no AWS region is configured")]
    NoRegion,

    #[error("cannot reach {endpoint} for {action}: {detail}")]
    Unreachable {
        endpoint: String,
        action: String,
        detail: String,
    },

    #[error("access denied to {action} in account {account}, region {region}: {message}")]
    AccessDenied {
        action: String,
        account: String,
        region: String,
        message: String,
    },

    #[error("cannot assume role {role_arn}: {message}")]
    AssumeRole { role_arn: String, message: String },

    #[error("{action} failed in account {account}, region {region}: {message}")]
    Aws {
        action: String,
        account: String,
        region: String,
        message: String,
    },

    #[error("invalid setting in [sweep.{area}]: {message}")]
    SweepSetting { area: &'static str, message: String },

    #[error("invalid config file {path}: {message}")]
    Config { path: PathBuf, message: String },

    #[error("invalid policy file {path}: {message}")]
    Policy { path: PathBuf, message: String },

    #[error("invalid value '{value}' for {what}: expected {expected}")]
    InvalidInput {
        what: &'static str,
        value: String,
        expected: String,
    },

    #[error("{path} is not a govctl plan: {reason}")]
    PlanInvalid { path: PathBuf, reason: String },

    #[error("plan {plan_id} was changed after it was made: its digest no longer matches")]
    PlanTampered { plan_id: String },

    #[error("plan {plan_id} expired at {expired_at}")]
    PlanExpired { plan_id: String, expired_at: String },

    #[error(
        "plan {plan_id} was made in account {plan_account}, not in the caller's account \
         {caller_account}"
    )]
    PlanForeign {
        plan_id: String,
        plan_account: String,
        caller_account: String,
    },

    #[error("plan {plan_id} is being applied by someone else ({holder}); lock {lock}")]
    ChangeLocked {
        plan_id: String,
        holder: String,
        lock: String,
    },

    #[error("change record {name} is not readable: {reason}")]
    RecordInvalid { name: String, reason: String },

    #[error("plan {plan_id} has no change record in this account; was it made here with --plan?")]
    NoRecord { plan_id: String },

    #[error("plan {plan_id} is not approved: {reason}")]
    NotApproved { plan_id: String, reason: String },

    #[error("plan {plan_id} cannot be approved by {approver}: it was made by the same principal")]
    SelfApproval { plan_id: String, approver: String },

    #[error("plan {plan_id} is {status}; it cannot be {action}")]
    WrongStatus {
        plan_id: String,
        status: String,
        action: &'static str,
    },

    #[error("plan {plan_id} is stale: {detail}")]
    PlanStale { plan_id: String, detail: String },

    #[error("plan {plan_id} cannot be applied now: {detail}")]
    OutsideWindow { plan_id: String, detail: String },

    #[error("change calendar {calendar} is CLOSED; changes are not allowed now")]
    CalendarClosed { calendar: String },

    #[error("{action} needs a typed 'yes' on a terminal, or a saved and approved plan file")]
    NotConfirmed { action: &'static str },

    #[error(
        "the cost report needs {needed} Cost Explorer requests, more than --max-requests {max}: \
         {detail}"
    )]
    RequestLimit {
        needed: String,
        max: u32,
        detail: String,
    },

    #[error("Tailscale API {action} failed: {detail}")]
    Tailscale {
        action: &'static str,
        /// The HTTP status, when Tailscale answered at all.
        status: Option<u16>,
        detail: String,
    },

    #[error("secret {secret} is not a Tailscale auth-key secret govctl can use: {reason}")]
    SecretFormat { secret: String, reason: String },

    #[error("rotation of {secret} stopped at {step}: {detail}")]
    Rotation {
        secret: String,
        step: &'static str,
        detail: String,
    },

    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),

    #[error("cannot encode the output: {0}")]
    Encode(String),
}

/// What a well-formed layer version ARN looks like, shown when one is refused.
pub const LAYER_VERSION_ARN_SHAPE: &str =
    "arn:aws:lambda:<region>:<12-digit account id>:layer:<name>:<version>";

/// What a layer ARN without a version looks like, as policy files name layers.
pub const LAYER_ARN_SHAPE: &str = "arn:aws:lambda:<region>:<12-digit account id>:layer:<name>";

impl Error {
    /// A next step for the operator, where govctl knows one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NoCredentials { .. } => Some(
                "sign in with `aws sso login`, set AWS_PROFILE or --profile, or export \
                 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                    .into(),
            ),
            Error::BadCredentials { .. } => {
                Some("the session may have expired: sign in again or refresh the profile".into())
            }
            Error::NoRegion => {
                Some("pass --region, set AWS_REGION, or set a region in the profile".into())
            }
            Error::Unreachable { .. } => Some(
                "check --endpoint-url / AWS_ENDPOINT_URL, the network and any proxy settings"
                    .into(),
            ),
            Error::AccessDenied { action, .. } => Some(format!(
                "grant {action} to the caller; see policies/ for what each command needs"
            )),
            Error::AssumeRole { .. } => Some(
                "check --role-name / GOVCTL_ROLE_NAME, --external-id, and the role's trust policy"
                    .into(),
            ),
            Error::SelfApproval { .. } => Some(
                "another principal must approve; single-operator setups may set \
                 --allow-self-approval (GOVCTL_ALLOW_SELF_APPROVAL=true)"
                    .into(),
            ),
            Error::NotApproved { .. } => {
                Some("approve it with `govctl change approve FILE`".into())
            }
            Error::OutsideWindow { .. } => Some(
                "the stack instances start changing functions as soon as they exist, so apply \
                 runs only inside the planned window; make a new plan for another window"
                    .into(),
            ),
            Error::PlanStale { .. } => {
                Some("the organization changed since planning: make a new plan".into())
            }
            Error::ChangeLocked { lock, .. } => Some(format!(
                "wait for the other apply to finish; if it died, delete the SSM parameter {lock}"
            )),
            Error::PlanTampered { .. } | Error::PlanExpired { .. } => {
                Some("make a new plan with --plan and have it approved again".into())
            }
            Error::RequestLimit { .. } => Some(
                "raise --max-requests (USD 0.01 per request), or ask for fewer forecasts with \
                 --forecast total (one request) or --forecast none"
                    .into(),
            ),
            Error::Tailscale {
                status: Some(401), ..
            } => Some(
                "the OAuth client was rejected: check client_id and client_secret in the OAuth \
                 client secret, and that the client still exists in the Tailscale admin console"
                    .into(),
            ),
            Error::Tailscale {
                status: Some(403), ..
            } => Some(
                "give the OAuth client the auth_keys scope (auth_keys:read is enough for status) \
                 and the tags the auth-key secret asks for"
                    .into(),
            ),
            Error::Tailscale {
                status: None,
                detail,
                ..
            } if !detail.starts_with("the answer makes no sense") => Some(format!(
                "check --tailscale-api-url / {} and the network",
                crate::cli::env::TAILSCALE_API_URL
            )),
            Error::SecretFormat { .. } => {
                Some("see README.md, `govctl tailscale`, for the secret formats".into())
            }
            Error::Rotation { .. } => Some(
                "fix the cause and run the same apply again: it continues this rotation, with \
                 the same ClientRequestToken, and mints no second key"
                    .into(),
            ),
            Error::UnknownAggregator { .. } => Some(
                "list the aggregators with `aws configservice describe-configuration-aggregators`"
                    .into(),
            ),
            _ => None,
        }
    }

    /// True when the error only says that the reader of our output went away.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
