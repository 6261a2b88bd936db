//! `govctl ocu`: OpenSearch Serverless OCU limits across the organization.
//!
//! Each account and region caps OpenSearch Serverless with a maximum of indexing and of
//! search OCUs; at 75 % and 100 % of it AWS sends events, which reach people only where
//! User Notifications is set up. [`status`] shows usage against the limits everywhere,
//! [`events`] the notifications that fired, [`notify`] sets the notifications up through a
//! StackSet and [`limits`] changes the maxima; both of the latter go through the change
//! gate. [`threshold`] holds the arithmetic, [`usage`] the reads they share.

pub mod events;
pub mod limits;
pub mod notify;
pub mod status;
pub mod threshold;
pub mod usage;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::change::plan::Plan;
use crate::cli::{AwsArgs, GateArgs, OutputArgs, PlanShowArgs, TableDefault};
use crate::error::{EXIT_OK, Error, Result};
use crate::remediate::parse_duration;
use crate::targets::TargetArgs;
use crate::ui::Ui;
use threshold::FailOn;

#[derive(Debug, Subcommand)]
pub enum OcuCommand {
    /// Per account and region: collections, maximum OCUs, current and peak usage, state
    #[command(long_about = STATUS_ABOUT, after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),

    /// The OCU threshold notifications that fired, newest first
    #[command(long_about = EVENTS_ABOUT, after_help = EVENTS_EXAMPLES)]
    Events(EventsArgs),

    /// Set up User Notifications for both OCU events in every targeted account, through a
    /// StackSet and the change gate
    #[command(long_about = NOTIFY_ABOUT, after_help = NOTIFY_EXAMPLES)]
    Notify(Box<NotifyArgs>),

    /// Change the maximum indexing and search OCUs through the change gate
    #[command(long_about = SET_LIMITS_ABOUT, after_help = SET_LIMITS_EXAMPLES)]
    SetLimits(Box<SetLimitsArgs>),
}

const STATUS_ABOUT: &str = "\
For each account and region where OpenSearch Serverless is in use (collections, limits or
OCU datapoints): the number of collections, the maximum indexing and search OCUs
(aoss:GetAccountSettings), the current (latest) and peak usage over --since (CloudWatch
AWS/AOSS IndexingOCU and SearchOCU, dimension ClientId), the peak in percent of the maximum,
and a state per dimension: ok, approaching (at or above 75 %), reached (at or above 100 %),
no-data (no datapoint in the window) or no-limit (no maximum set). Worst first.";

const STATUS_EXAMPLES: &str = "\
Examples:
  govctl ocu status --regions us-east-1,eu-west-1
  govctl ocu status --accounts 111122223333 --since 7d --output csv > ocu.csv
  govctl ocu status --fail-on approaching";

const EVENTS_ABOUT: &str = "\
The \"OCU Utilization Approaching Max Limit\" and \"OCU Utilization Reached Max Limit\"
notifications that AWS User Notifications recorded since --since, per account and the region
they came from, newest first, with the dimension (indexing or search) the text names.
Without --regions, events from every region are shown.";

const EVENTS_EXAMPLES: &str = "\
Examples:
  govctl ocu events
  govctl ocu events --since 30d --output csv > ocu-events.csv";

const NOTIFY_ABOUT: &str = "\
Makes sure every targeted account has a User Notifications configuration with event rules
for both OCU events in every targeted region, delivered to an email contact. --plan reads
each account and writes a plan: accounts already set up (by govctl or by hand) are no
change. --apply deploys stacksets/ocu-notifications.yaml to us-east-1 of the others through
one StackSet, after the plan is approved.";

const NOTIFY_EXAMPLES: &str = "\
Examples:
  govctl ocu notify --plan --email ocu-alerts@example.com --regions us-east-1,eu-west-1 \\
      --out notify.json
  govctl change approve notify.json
  govctl ocu notify --apply notify.json";

const SET_LIMITS_ABOUT: &str = "\
Changes the maximum indexing and/or search OCUs of the targeted accounts and regions. --plan
shows the old and new values of each and refuses a value below 2 or below the peak usage
over --since. --apply changes them after the plan is approved, and refuses when the
current values are no longer those the plan recorded.";

const SET_LIMITS_EXAMPLES: &str = "\
Examples:
  govctl ocu set-limits --plan --indexing 20 --search 16 --accounts 111122223333 \\
      --regions us-east-1 --out limits.json
  govctl change approve limits.json
  govctl ocu set-limits --apply limits.json";

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub targets: TargetArgs,

    /// Window for current and peak usage: a number with s, m, h or d
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub since: i64,

    /// Exit 1 when any row is at or past this level
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,

    #[command(flatten)]
    pub output: OutputArgs<TableDefault>,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub targets: TargetArgs,

    /// How far back: a number with s, m, h or d
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub since: i64,

    #[command(flatten)]
    pub output: OutputArgs<TableDefault>,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// What `--plan` and `--apply` share in `notify` and `set-limits`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Plan options")]
pub struct PlanArgs {
    /// Where to write the plan [default: <plan id>.json]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// How long the plan stays valid: a number with s, m, h or d
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub expires_in: i64,

    /// With --apply: take over the apply lock of a run that died
    #[arg(long)]
    pub break_lock: bool,
}

#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// Make a plan instead of changing anything
    #[arg(long, conflicts_with = "apply", required_unless_present = "apply")]
    pub plan: bool,

    /// Apply an approved plan file
    #[arg(long, value_name = "FILE")]
    pub apply: Option<PathBuf>,

    /// Email address the notifications go to (an email contact in each account)
    #[arg(long, value_name = "ADDRESS", required_unless_present = "apply")]
    pub email: Option<String>,

    /// Name of the notification configuration govctl creates
    #[arg(long, value_name = "NAME", default_value = notify::DEFAULT_CONFIGURATION)]
    pub configuration_name: String,

    /// How long User Notifications collects events before notifying
    #[arg(long, value_name = "DURATION", default_value = "NONE",
          value_parser = ["NONE", "SHORT", "LONG"])]
    pub aggregation: String,

    /// StackSet administration role (self-managed permissions)
    #[arg(long, value_name = "ARN")]
    pub admin_role_arn: Option<String>,

    /// Role the StackSet assumes in each target account (self-managed permissions)
    #[arg(
        long,
        value_name = "NAME",
        default_value = "AWSCloudFormationStackSetExecutionRole"
    )]
    pub execution_role_name: String,

    /// How often to poll a running StackSet operation, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 10, hide = true)]
    pub poll_seconds: u64,

    #[command(flatten)]
    pub targets: TargetArgs,

    #[command(flatten)]
    pub plan_options: PlanArgs,

    #[command(flatten)]
    pub gate: GateArgs,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct SetLimitsArgs {
    /// Make a plan instead of changing anything
    #[arg(long, conflicts_with = "apply", required_unless_present = "apply")]
    pub plan: bool,

    /// Apply an approved plan file
    #[arg(long, value_name = "FILE")]
    pub apply: Option<PathBuf>,

    /// New maximum indexing OCUs
    #[arg(long, value_name = "N", required_unless_present_any = ["apply", "search"],
          allow_negative_numbers = true)]
    pub indexing: Option<i32>,

    /// New maximum search OCUs
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub search: Option<i32>,

    /// Window whose peak usage the new maximum must not be below
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub since: i64,

    #[command(flatten)]
    pub targets: TargetArgs,

    #[command(flatten)]
    pub plan_options: PlanArgs,

    #[command(flatten)]
    pub gate: GateArgs,

    #[command(flatten)]
    pub aws: AwsArgs,
}

pub async fn run(command: OcuCommand, ui: &Ui) -> Result<ExitCode> {
    match command {
        OcuCommand::Status(args) => status::run(args, ui).await,
        OcuCommand::Events(args) => events::run(args, ui).await,
        OcuCommand::Notify(args) => notify::run(*args, ui).await,
        OcuCommand::SetLimits(args) => limits::run(*args, ui).await,
    }
}

/// Whether `govctl plan show` should render a plan of this kind here.
pub fn shows(kind: &str) -> bool {
    kind == limits::KIND || kind == notify::KIND
}

/// `govctl plan show FILE` for the plan kinds of this module.
pub fn show_plan(args: &PlanShowArgs, ui: &Ui) -> Result<ExitCode> {
    let plan = Plan::load(&args.file)?;
    if args.notice {
        return Err(Error::InvalidInput {
            what: "--notice",
            value: plan.kind.clone(),
            expected: "a layer-remediation plan: there is no owners' notice for this kind".into(),
        });
    }
    if let Err(error) = plan.check_digest() {
        ui.warn(format!(
            "{error}; showing it anyway, but it will not be applied"
        ));
    }
    let mut stdout = std::io::stdout().lock();
    if plan.kind == limits::KIND {
        limits::render(&plan, &limits::content_of(&plan, &args.file)?, &mut stdout)?;
    } else {
        notify::render(&plan, &notify::content_of(&plan, &args.file)?, &mut stdout)?;
    }
    use std::io::Write;
    stdout.flush()?;
    Ok(ExitCode::from(EXIT_OK))
}
