//! The command-line interface: every command, flag and environment variable govctl reads.
//!
//! Parsing stops at validated values: a flag that clap accepts here is one the commands can
//! use without checking it again. Commands live in their own modules and receive their
//! argument struct from here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::layers::discovery::Source;

/// Environment variables govctl reads, each named once.
pub mod env {
    pub const ROLE_NAME: &str = "GOVCTL_ROLE_NAME";
    pub const EXTERNAL_ID: &str = "GOVCTL_EXTERNAL_ID";
    pub const CONCURRENCY: &str = "GOVCTL_CONCURRENCY";
    pub const CONFIG: &str = "GOVCTL_CONFIG";
    pub const REGIONS: &str = "GOVCTL_REGIONS";
    pub const AGGREGATOR: &str = "GOVCTL_AGGREGATOR";
    pub const LAYER_POLICY: &str = "GOVCTL_LAYER_POLICY";
    pub const ALLOW_SELF_APPROVAL: &str = "GOVCTL_ALLOW_SELF_APPROVAL";
    pub const CHANGE_CALENDAR: &str = "GOVCTL_CHANGE_CALENDAR";
    pub const AUDIT_LOG: &str = "GOVCTL_AUDIT_LOG";
    pub const PROTECTED_ACCOUNTS: &str = "GOVCTL_PROTECTED_ACCOUNTS";
    pub const SWEEP_OUT: &str = "GOVCTL_SWEEP_OUT";
    pub const TAILSCALE_API_URL: &str = "GOVCTL_TAILSCALE_API_URL";
    pub const AWS_PROFILE: &str = "AWS_PROFILE";
    pub const AWS_REGION: &str = "AWS_REGION";
    pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
    pub const AWS_MAX_ATTEMPTS: &str = "AWS_MAX_ATTEMPTS";
}

/// The role Organizations creates in every account it creates.
pub const DEFAULT_ROLE_NAME: &str = "OrganizationAccountAccessRole";

const ABOUT: &str = "Multi-account AWS governance and remediation";

const LONG_ABOUT: &str = "\
govctl answers governance questions across an AWS Organization (Lambda functions on
outdated layers, OpenSearch Serverless OCU limits, Tailscale auth keys, cost) and writes the
answers as CSV, tables or JSON. Every change it makes (layer remediation, OCU limits and
notifications, key rotation) goes through the change gate: a sealed plan, an approval by
someone else, and an apply that refuses a stale or tampered plan.

Data goes to stdout; progress, warnings and the summary go to stderr. Settings come from
flags, then environment variables, then the config file (govctl config show).

Exit status: 0 success, 1 findings when a --fail-on-* flag (or a sweep's threshold) asks for
it, 2 usage or runtime error, 130 interrupted.";

const EXAMPLES: &str = "\
Examples:
  govctl layers report --aggregator org-aggregator > outdated-layers.csv
  govctl ocu status --regions us-east-1,eu-west-1 --fail-on approaching
  govctl tailscale status --output table
  govctl cost report --months 6
  govctl sweep --out ~/govctl-sweeps
  govctl remediate --plan --aggregator org-aggregator --layer shared-utils --out plan.json
  govctl config show
  govctl completions bash > ~/.local/share/bash-completion/completions/govctl";

#[derive(Debug, Parser)]
#[command(name = "govctl", version, about = ABOUT, long_about = LONG_ABOUT)]
#[command(after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// More detail on stderr: -v for debug, -vv for trace (RUST_LOG overrides)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Only errors and warnings on stderr: no progress and no summary
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Config file [default: $XDG_CONFIG_HOME/govctl/govctl.toml]; flags and environment
    /// variables override what it says
    #[arg(long, global = true, env = env::CONFIG, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lambda layers: find functions on outdated layer versions
    #[command(subcommand)]
    Layers(LayersCommand),

    /// AWS Organizations: the accounts govctl works across
    #[command(subcommand)]
    Org(OrgCommand),

    /// Move functions off outdated layer versions through CloudFormation StackSets, via the
    /// change gate (plan, approve, apply)
    #[command(long_about = REMEDIATE_ABOUT, after_help = REMEDIATE_EXAMPLES)]
    Remediate(Box<crate::remediate::RemediateArgs>),

    /// OpenSearch Serverless OCUs: usage against the limits, threshold notifications, limit
    /// changes through the change gate
    #[command(subcommand)]
    Ocu(crate::ocu::OcuCommand),

    /// The change gate: approve plans, list and show change records
    #[command(subcommand)]
    Change(ChangeCommand),

    /// Saved plans
    #[command(subcommand)]
    Plan(PlanCommand),

    /// Tailscale auth keys in Secrets Manager: status across the organization, and rotation
    /// through the change gate
    #[command(subcommand)]
    Tailscale(crate::tailscale::TailscaleCommand),

    /// Cost Explorer: spend per account and service, month over month
    #[command(subcommand)]
    Cost(crate::cost::CostCommand),

    /// Run every read-only check at once into a dated directory: CSV, JSON, summary.json
    /// and summary.html
    #[command(long_about = crate::sweep::ABOUT, after_help = crate::sweep::EXAMPLES)]
    Sweep(Box<crate::sweep::SweepArgs>),

    /// The config file: the settings in effect, from the environment and govctl.toml
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Print a shell completion script to stdout
    #[command(after_help = "Example:\n  govctl completions zsh > ~/.zfunc/_govctl")]
    Completions {
        /// The shell to generate completions for
        shell: clap_complete::Shell,
    },

    /// Print the man page (roff) to stdout, or write one page per command into a directory
    #[command(after_help = "Examples:\n  govctl man | man -l -\n  \
                            govctl man --out-dir ~/.local/share/man/man1")]
    Man(ManArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every setting the config file can hold, its value now, and where it came from
    #[command(after_help = "Examples:\n  govctl config show\n  \
                            govctl --config ./govctl.toml config show --output json")]
    Show(ConfigShowArgs),
}

#[derive(Debug, Args)]
pub struct ConfigShowArgs {
    #[command(flatten)]
    pub output: OutputArgs<TableDefault>,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write govctl.1, govctl-layers-report.1, ... into this directory instead
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

const REMEDIATE_ABOUT: &str = "\
Move Lambda functions off outdated layer versions. --plan runs the same discovery as
`layers report`, and writes a plan file: which functions change, from which layer list to
which, in which waves and window. Someone other than the planner approves it with
`govctl change approve`. --apply deploys stacksets/layer-remediation.yaml through one
StackSet, wave by wave. It refuses a plan that is tampered with, expired, unapproved,
already applied, or stale.";

const REMEDIATE_EXAMPLES: &str = "\
Examples:
  govctl remediate --plan --aggregator org-aggregator --layer shared-utils \\
      --canary 111122223333 --wave-size 10 \\
      --window-start 2026-12-10T20:00:00Z --window-end 2026-12-10T22:00:00Z --out plan.json
  govctl plan show plan.json
  govctl change approve plan.json --comment 'CAB-42'
  govctl remediate --apply plan.json
  govctl remediate status plan.json
  govctl remediate --plan --rollback plan.json --out rollback.json
  govctl remediate --cleanup plan.json";

#[derive(Debug, Subcommand)]
pub enum LayersCommand {
    /// List functions that use an outdated (or a given) layer version, from an AWS Config
    /// aggregator
    #[command(long_about = LAYERS_REPORT_ABOUT, after_help = LAYERS_REPORT_EXAMPLES)]
    Report(LayersReportArgs),
}

const LAYERS_REPORT_ABOUT: &str = "\
List the Lambda functions, in every account and region an AWS Config aggregator sees, that
use an outdated layer version: a version older than the newest one published (read with
lambda:ListLayerVersions in the layer owner's account and region), or older than the version a
--policy file approves.

With --layer-arn, list every function that uses exactly that layer version instead.

One row per function and layer; rows sorted by account, region, function and layer.";

const LAYERS_REPORT_EXAMPLES: &str = "\
Examples:
  govctl layers report --aggregator org-aggregator > outdated.csv
  govctl layers report --aggregator org-aggregator --policy policies/layers.example.toml
  govctl layers report --source lambda --regions us-east-1,eu-west-1 --allow-partial
  govctl layers report --aggregator org-aggregator \\
      --layer-arn arn:aws:lambda:us-east-1:111122223333:layer:shared-utils:3 --output table";

#[derive(Debug, Args)]
pub struct LayersReportArgs {
    #[command(flatten)]
    pub discovery: DiscoveryArgs,

    /// Exit with status 1 when the report has any row
    #[arg(long)]
    pub fail_on_findings: bool,

    #[command(flatten)]
    pub output: OutputArgs<CsvDefault>,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// How functions and their outdated layers are found; shared by reports and plans.
#[derive(Debug, Clone, Args)]
pub struct DiscoveryArgs {
    /// Name of the AWS Config aggregator to query (in the caller's account and region)
    #[arg(long, env = env::AGGREGATOR, value_name = "NAME",
          required_if_eq("source", "config"))]
    pub aggregator: Option<String>,

    /// Where to discover functions: an AWS Config aggregator, or Lambda in each member
    /// account and region (through the member role)
    #[arg(long, value_enum, default_value = "config")]
    pub source: Source,

    /// Report every function that uses exactly this layer version
    #[arg(long, value_name = "ARN")]
    pub layer_arn: Option<String>,

    /// Policy file (TOML) that approves layer versions and names layers to ignore
    #[arg(long, env = env::LAYER_POLICY, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Only these accounts (comma-separated IDs); default: every account
    #[arg(long, value_name = "ID,...", value_delimiter = ',', value_parser = parse_account)]
    pub accounts: Option<Vec<String>>,

    /// Only these regions (comma-separated); default: all the aggregator sees with
    /// --source config, the --region with --source lambda
    #[arg(long, env = env::REGIONS, value_name = "REGION,...", value_delimiter = ',',
          value_parser = parse_region)]
    pub regions: Option<Vec<String>>,

    /// Write what could be read when some accounts or regions fail, list the failures on
    /// stderr and exit 1, instead of failing with no report
    #[arg(long)]
    pub allow_partial: bool,
}

/// The change gate's settings, shared by every command that plans, approves or applies.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Change gate options")]
pub struct GateArgs {
    /// Let the principal that made a plan approve it too (single-operator setups)
    #[arg(long, env = env::ALLOW_SELF_APPROVAL)]
    pub allow_self_approval: bool,

    /// SSM Change Calendar that must be OPEN for applies
    #[arg(long, env = env::CHANGE_CALENDAR, value_name = "NAME")]
    pub change_calendar: Option<String>,

    /// Local audit log (JSON Lines) [default: $XDG_STATE_HOME/govctl/audit.jsonl]
    #[arg(long, env = env::AUDIT_LOG, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ChangeCommand {
    /// Approve a saved plan: records your approval of its digest in its change record
    #[command(
        after_help = "Example:\n  govctl change approve plan.json --comment 'CAB 2026-12-03'"
    )]
    Approve(ChangeApproveArgs),

    /// List change records and their status
    #[command(after_help = "Example:\n  govctl change list --status approved")]
    List(ChangeListArgs),

    /// Show one change record: status, approvals and events
    #[command(after_help = "Example:\n  govctl change show chg-20261203t120000z-1a2b3c4d")]
    Show(ChangeShowArgs),
}

#[derive(Debug, Args)]
pub struct ChangeApproveArgs {
    /// The plan file to approve
    pub file: PathBuf,

    /// Why it is approved (kept in the change record and the audit log)
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,

    #[command(flatten)]
    pub gate: GateArgs,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct ChangeListArgs {
    /// Only records with this status
    #[arg(long, value_enum)]
    pub status: Option<crate::change::record::Status>,

    #[command(flatten)]
    pub output: OutputArgs<TableDefault>,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct ChangeShowArgs {
    /// The plan ID
    pub id: String,

    #[command(flatten)]
    pub output: OutputArgs<TableDefault>,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Show a saved plan for people: what changes where, the waves, the estimated duration
    #[command(after_help = "Examples:\n  govctl plan show plan.json\n  \
                            govctl plan show plan.json --notice > notice.md")]
    Show(PlanShowArgs),
}

#[derive(Debug, Args)]
pub struct PlanShowArgs {
    /// The plan file
    pub file: PathBuf,

    /// Print the notice for the owners of the affected functions (Markdown) instead
    #[arg(long)]
    pub notice: bool,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// List the organization's accounts with their organizational unit path
    #[command(after_help = "Examples:\n  govctl org accounts\n  govctl org accounts --output csv")]
    Accounts(OrgAccountsArgs),
}

#[derive(Debug, Args)]
pub struct OrgAccountsArgs {
    #[command(flatten)]
    pub output: OutputArgs<TableDefault>,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// How a result is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// RFC 4180 CSV with a header row
    Csv,
    /// An aligned table for people
    Table,
    /// One JSON document with a schema version
    Json,
}

/// Chooses the default `--output` of a command.
pub trait DefaultFormat: Clone + Send + Sync + 'static {
    const DEFAULT: &'static str;
}

#[derive(Debug, Clone)]
pub struct CsvDefault;
impl DefaultFormat for CsvDefault {
    const DEFAULT: &'static str = "csv";
}

#[derive(Debug, Clone)]
pub struct TableDefault;
impl DefaultFormat for TableDefault {
    const DEFAULT: &'static str = "table";
}

#[derive(Debug, Args)]
pub struct OutputArgs<D: DefaultFormat> {
    /// Output format
    #[arg(long, value_enum, default_value = D::DEFAULT)]
    pub output: Format,

    /// Write to FILE instead of stdout (replaced only when the command succeeds)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    #[arg(skip)]
    _default: std::marker::PhantomData<D>,
}

/// The AWS options every command that calls AWS shares.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "AWS options")]
pub struct AwsArgs {
    /// Named profile from the AWS config files
    #[arg(long, env = env::AWS_PROFILE, value_name = "NAME")]
    pub profile: Option<String>,

    /// Region to run in (where the aggregator and the caller's calls go)
    #[arg(long, env = env::AWS_REGION, value_name = "REGION", value_parser = parse_region)]
    pub region: Option<String>,

    /// Send every AWS call to this endpoint (for example a local emulator)
    #[arg(long, env = env::AWS_ENDPOINT_URL, value_name = "URL", value_parser = parse_url)]
    pub endpoint_url: Option<String>,

    /// Role assumed in member accounts
    #[arg(long, env = env::ROLE_NAME, value_name = "NAME", default_value = DEFAULT_ROLE_NAME)]
    pub role_name: String,

    /// External ID required by the member role's trust policy
    #[arg(long, env = env::EXTERNAL_ID, value_name = "ID", hide_env_values = true)]
    pub external_id: Option<String>,

    /// Most AWS requests in flight at once
    #[arg(long, env = env::CONCURRENCY, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// Attempts per AWS request, including the first (SDK standard retry mode)
    #[arg(long, env = env::AWS_MAX_ATTEMPTS, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: Option<u32>,
}

pub fn parse_account(value: &str) -> Result<String, String> {
    if value.len() == 12 && value.chars().all(|c| c.is_ascii_digit()) {
        Ok(value.to_string())
    } else {
        Err("expected a 12-digit AWS account ID".into())
    }
}

pub fn parse_region(value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && value.len() <= 32
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && value.contains('-');
    if ok {
        Ok(value.to_string())
    } else {
        Err("expected an AWS region name such as us-east-1".into())
    }
}

pub fn parse_url(value: &str) -> Result<String, String> {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(value.to_string())
        }
        _ => Err("expected an http:// or https:// URL such as http://127.0.0.1:5000".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn regions_and_urls_are_checked() {
        assert!(parse_region("eu-west-1").is_ok());
        assert!(parse_region("EU").is_err());
        assert!(parse_url("http://127.0.0.1:5000").is_ok());
        assert!(parse_url("127.0.0.1:5000").is_err());
    }
}
