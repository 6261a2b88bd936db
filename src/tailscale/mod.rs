//! `govctl tailscale`: Tailscale auth keys kept in Secrets Manager.
//!
//! `status` reports every auth-key secret of the selected accounts and regions ([`status`]);
//! `rotate --plan` writes a sealed plan with one `ClientRequestToken` per secret
//! ([`plan`]), `plan show` renders it ([`show`]), and `rotate --apply` runs the rotation
//! through the change gate ([`apply`]). The rotation itself ([`rotation`]) is shared with
//! the scheduled rotation function ([`lambda`], built as `govctl-tailscale-rotation`).
//! [`secret`] defines the two secret formats, [`store`] the Secrets Manager calls,
//! [`api`] Tailscale's API and [`oauth`] where OAuth clients come from.

pub mod api;
pub mod apply;
pub mod lambda;
pub mod oauth;
pub mod plan;
pub mod rotation;
pub mod secret;
pub mod show;
pub mod status;
pub mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use crate::cli::{AwsArgs, GateArgs, OutputArgs, TableDefault, env, parse_url};
use crate::error::Result;
use crate::targets::TargetArgs;
use crate::ui::Ui;
use store::{DEFAULT_TAG, TagFilter};

#[derive(Debug, Subcommand)]
pub enum TailscaleCommand {
    /// Every auth-key secret: rotation schedule, the key's Tailscale ID, expiry and
    /// validity, and a state (ok, rotate-soon, expired, revoked, rotation-stuck)
    #[command(long_about = STATUS_ABOUT, after_help = STATUS_EXAMPLES)]
    Status(Box<StatusArgs>),

    /// Rotate auth-key secrets through the change gate: --plan, approve, --apply
    #[command(long_about = ROTATE_ABOUT, after_help = ROTATE_EXAMPLES)]
    Rotate(Box<RotateArgs>),
}

const STATUS_ABOUT: &str = "\
List every Tailscale auth-key secret in the selected accounts and regions (secrets tagged
govctl:tailscale-auth-key, or those --secret-tag or --secret-id name), with what Secrets
Manager says (last rotation, next scheduled rotation, a stray AWSPENDING version) and what
Tailscale says about the key (through the OAuth client the secret names). The key itself is
never shown.

States: ok; rotate-soon (expires within --soon-days, or before its next scheduled rotation);
expired; revoked (Tailscale says revoked or invalid, or does not know the key);
rotation-stuck (an AWSPENDING version that is not AWSCURRENT blocks the next rotation);
unreadable (the value is not an auth-key secret).";

const STATUS_EXAMPLES: &str = "\
Examples:
  govctl tailscale status --regions us-east-1,eu-west-1
  govctl tailscale status --accounts 111122223333 --output csv --fail-on expired,revoked
  govctl tailscale status --secret-id arn:aws:secretsmanager:us-east-1:111122223333:secret:ts-AbC";

const ROTATE_ABOUT: &str = "\
Rotate Tailscale auth-key secrets with Secrets Manager's four steps. --plan finds the
secrets (as status does) and writes a sealed plan with one ClientRequestToken per secret and
the secret's current version. Someone else approves it with `govctl change approve`. --apply
then, per secret: mints a key through the secret's OAuth client (only if no version with the
token exists), stores it as AWSPENDING, checks it with Tailscale, makes it AWSCURRENT, and
revokes the keys it replaces after the plan's grace period. An apply that was killed or
failed is run again with the same plan (--break-lock after a killed run): it finishes the
same rotation. A key is minted again for the same token only when a run died between
Tailscale's answer and storing the key; the lost key is then revoked.";

const ROTATE_EXAMPLES: &str = "\
Examples:
  govctl tailscale rotate --plan --regions us-east-1 --grace 10m --out rotation.json
  govctl plan show rotation.json
  govctl change approve rotation.json --comment 'CAB-77'
  govctl tailscale rotate --apply rotation.json";

/// Days before expiry from which a key is rotate-soon, unless `--soon-days` says otherwise.
pub const DEFAULT_SOON_DAYS: u16 = 30;

/// Which auth-key secrets a command works on.
#[derive(Debug, Clone, Args)]
pub struct SelectionArgs {
    #[command(flatten)]
    pub targets: TargetArgs,

    /// Auth-key secrets carry this tag (KEY=VALUE, or KEY for any value)
    #[arg(long, value_name = "KEY[=VALUE]", default_value = DEFAULT_TAG,
          value_parser = parse_tag)]
    pub secret_tag: TagFilter,

    /// Only these secrets (comma-separated ARNs), instead of the tagged ones
    #[arg(long, value_name = "ARN,...", value_delimiter = ',', value_parser = parse_secret_arn,
          conflicts_with_all = ["secret_tag", "accounts", "org", "exclude_accounts", "regions"])]
    pub secret_id: Vec<String>,
}

/// Where Tailscale's API is.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Tailscale options")]
pub struct TailscaleArgs {
    /// Base URL of Tailscale's API
    #[arg(long = "tailscale-api-url", env = env::TAILSCALE_API_URL, value_name = "URL",
          default_value = api::DEFAULT_API_URL, value_parser = parse_url)]
    pub api_url: String,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,

    /// A key that expires within this many days is rotate-soon
    #[arg(long, value_name = "DAYS", default_value_t = DEFAULT_SOON_DAYS,
          value_parser = clap::value_parser!(u16).range(0..=365))]
    pub soon_days: u16,

    /// Exit with status 1 when a secret is in one of these states (comma-separated; `any`
    /// for every state but ok)
    #[arg(long, value_name = "STATE,...", value_delimiter = ',', value_enum)]
    pub fail_on: Vec<FailOn>,

    /// Report what could be read when some accounts or regions fail, list the failures on
    /// stderr and exit 1, instead of failing with no report
    #[arg(long)]
    pub allow_partial: bool,

    #[command(flatten)]
    pub tailscale: TailscaleArgs,

    #[command(flatten)]
    pub output: OutputArgs<TableDefault>,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Whether a secret in `state` makes a report with `--fail-on list` exit 1.
pub fn fails_on(list: &[FailOn], state: State) -> bool {
    list.iter().any(|f| match f {
        FailOn::Any => state != State::Ok,
        FailOn::State(s) => *s == state,
    })
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Make a plan (written to --out) instead of changing anything
    #[arg(long, conflicts_with = "apply", required_unless_present = "apply")]
    pub plan: bool,

    /// Apply an approved plan file
    #[arg(long, value_name = "FILE")]
    pub apply: Option<PathBuf>,

    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Only secrets that are not ok (rotate-soon within 30 days, expired, revoked,
    /// rotation-stuck)
    #[arg(long)]
    pub only_due: bool,

    /// How long the old key stays valid after the new one is AWSCURRENT: 0s (the default)
    /// revokes it at once; a number with s, m, h or d waits that long
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_grace)]
    pub grace: i64,

    /// How long the plan stays valid: a number with s, m, h or d
    #[arg(long, value_name = "DURATION", default_value = "7d",
          value_parser = crate::remediate::parse_duration)]
    pub expires_in: i64,

    /// Where to write the plan
    #[arg(long, value_name = "FILE", requires = "plan")]
    pub out: Option<PathBuf>,

    /// With --apply: take over the apply lock of a run that died
    #[arg(long, requires = "apply")]
    pub break_lock: bool,

    #[command(flatten)]
    pub tailscale: TailscaleArgs,

    #[command(flatten)]
    pub gate: GateArgs,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// The state of an auth-key secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Ok,
    RotateSoon,
    Expired,
    Revoked,
    RotationStuck,
    Unreadable,
}

impl State {
    pub fn word(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::RotateSoon => "rotate-soon",
            State::Expired => "expired",
            State::Revoked => "revoked",
            State::RotationStuck => "rotation-stuck",
            State::Unreadable => "unreadable",
        }
    }
}

/// A `--fail-on` value: a state, or any state but ok.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Any,
    State(State),
}

impl ValueEnum for FailOn {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            FailOn::Any,
            FailOn::State(State::RotateSoon),
            FailOn::State(State::Expired),
            FailOn::State(State::Revoked),
            FailOn::State(State::RotationStuck),
            FailOn::State(State::Unreadable),
        ]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let name = match self {
            FailOn::Any => "any",
            FailOn::State(state) => state.word(),
        };
        Some(clap::builder::PossibleValue::new(name))
    }
}

pub async fn run(command: TailscaleCommand, ui: &Ui) -> Result<ExitCode> {
    match command {
        TailscaleCommand::Status(args) => status::run(*args, ui).await,
        TailscaleCommand::Rotate(args) => match &args.apply {
            Some(file) => apply::run(file, &args, ui).await,
            None => plan::run(&args, ui).await,
        },
    }
}

fn parse_tag(value: &str) -> std::result::Result<TagFilter, String> {
    let (key, tag_value) = match value.split_once('=') {
        Some((key, v)) => (key, Some(v.to_string())),
        None => (value, None),
    };
    let ok = !key.is_empty() && key.len() <= 128 && !key.starts_with("aws:");
    if ok {
        Ok(TagFilter {
            key: key.to_string(),
            value: tag_value,
        })
    } else {
        Err("expected a tag KEY=VALUE, or KEY for any value (not an aws: tag)".into())
    }
}

fn parse_secret_arn(value: &str) -> std::result::Result<String, String> {
    match store::arn_parts(value) {
        Some(_) => Ok(value.to_string()),
        None => Err(format!("expected {}", status::SECRET_ARN_SHAPE)),
    }
}

/// A grace period: `0`, `0s`, or a duration as `--expires-in` takes it, up to 30 days.
fn parse_grace(value: &str) -> std::result::Result<i64, String> {
    if value == "0" || value.trim_start_matches('0') == "s" {
        return Ok(0);
    }
    let seconds = crate::remediate::parse_duration(value)?;
    if seconds > 30 * 86_400 {
        return Err(format!(
            "'{value}' is too long: a grace period is at most 30d"
        ));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_grace_periods_parse() {
        assert_eq!(
            parse_tag("team=net").unwrap(),
            TagFilter {
                key: "team".into(),
                value: Some("net".into())
            }
        );
        assert_eq!(parse_tag("govctl:x").unwrap().value, None);
        assert!(parse_tag("=x").is_err());
        assert!(parse_tag("aws:cloudformation:stack-name").is_err());
        assert_eq!(parse_grace("0s"), Ok(0));
        assert_eq!(parse_grace("0"), Ok(0));
        assert_eq!(parse_grace("10m"), Ok(600));
        assert!(parse_grace("31d").is_err());
        assert!(parse_grace("soon").is_err());
    }

    #[test]
    fn fail_on_any_skips_only_ok() {
        assert!(!fails_on(&[FailOn::Any], State::Ok));
        assert!(fails_on(&[FailOn::Any], State::RotateSoon));
        let expired = [FailOn::State(State::Expired)];
        assert!(fails_on(&expired, State::Expired) && !fails_on(&expired, State::Revoked));
        assert!(!fails_on(&[], State::Expired));
    }
}
