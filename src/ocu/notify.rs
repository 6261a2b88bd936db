//! `govctl ocu notify --plan / --apply`: OCU threshold notifications in every account.
//!
//! An account is set up when one of its notification configurations has an event rule for
//! each of the two OCU event types (source `aws.aoss`) covering every targeted region, and
//! an email contact with the chosen address as a channel, whoever made it. The plan reads
//! each account (User Notifications' control plane is in us-east-1) and lists, per account
//! and region, what is there and what is missing. Accounts not set up get
//! `stacksets/ocu-notifications.yaml` through one StackSet, `govctl-ocu-notifications`: a
//! new stack instance in us-east-1 where the account has none, an update of its instance
//! where it has one (a configuration someone changed since). The apply reads each account
//! again and refuses the plan when what it finds is neither what was planned nor already
//! set up.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_cloudformation::types::StackSetOperationPreferences;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::NotifyArgs;
use super::limits::seal;
use crate::aws::{Aws, Call};
use crate::change::commands::settings;
use crate::change::gate::Gate;
use crate::change::plan::Plan;
use crate::change::record::Status;
use crate::error::{EXIT_OK, Error, Result};
use crate::output;
use crate::stacksets::{Action, Definition, InstanceResult, StackSet};
use crate::targets::{self, Target};
use crate::ui::Ui;

/// The kind of change in plan files and change records.
pub const KIND: &str = "ocu-notifications";
/// Where the User Notifications control plane, and so the stack instances, live.
pub const HOME_REGION: &str = "us-east-1";
/// The EventBridge source of OpenSearch Serverless events.
pub const SOURCE: &str = "aws.aoss";
pub const EVENT_APPROACHING: &str = "OCU Utilization Approaching Max Limit";
pub const EVENT_REACHED: &str = "OCU Utilization Reached Max Limit";
pub const EVENT_TYPES: [&str; 2] = [EVENT_APPROACHING, EVENT_REACHED];
pub const DEFAULT_CONFIGURATION: &str = "govctl-ocu-limits";
pub const STACK_SET_NAME: &str = "govctl-ocu-notifications";

/// The template every apply deploys, built into the binary so plan and apply agree on it.
pub const TEMPLATE: &str = include_str!("../../stacksets/ocu-notifications.yaml");

/// What one account has, as far as the OCU notifications go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// The configuration closest to what is wanted (name); empty when there is none.
    pub configuration: String,
    /// Per event type, the targeted regions its rules do not cover.
    pub missing_regions: BTreeMap<String, Vec<String>>,
    /// Whether an email contact with the address is a channel of that configuration.
    pub email_channel: bool,
    /// `active` or `inactive` (AWS delivers nothing before activation); empty when absent.
    pub contact_status: String,
}

impl Observed {
    /// The same setup as `other`, whether or not someone activated the contact since.
    pub fn same_setup(&self, other: &Observed) -> bool {
        self.configuration == other.configuration
            && self.missing_regions == other.missing_regions
            && self.email_channel == other.email_channel
    }

    pub fn complete(&self) -> bool {
        self.email_channel && self.missing_regions.values().all(Vec::is_empty)
    }

    /// What is missing in `region`, for people.
    pub fn missing_in(&self, region: &str) -> Vec<String> {
        let mut missing: Vec<String> = EVENT_TYPES
            .iter()
            .filter(|t| {
                self.missing_regions
                    .get(**t)
                    .is_some_and(|r| r.iter().any(|x| x == region))
            })
            .map(|t| format!("rule \"{t}\""))
            .collect();
        if !self.email_channel {
            missing.push("email channel".into());
        }
        missing
    }
}

/// What the plan does in one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Already set up.
    None,
    /// A new stack instance.
    Create,
    /// The account's stack instance again, with the plan's parameters.
    Update,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyAccount {
    pub account_id: String,
    pub change: Change,
    pub observed: Observed,
}

/// What a notifications plan holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyPlan {
    pub stack_set_name: String,
    pub email: String,
    pub configuration_name: String,
    pub aggregation: String,
    pub regions: Vec<String>,
    pub template_sha256: String,
    pub accounts: Vec<NotifyAccount>,
}

impl NotifyPlan {
    fn to_change(&self, change: Change) -> Vec<String> {
        self.accounts
            .iter()
            .filter(|a| a.change == change)
            .map(|a| a.account_id.clone())
            .collect()
    }

    /// The template parameters of this plan.
    fn parameters(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ConfigurationName", self.configuration_name.clone()),
            ("EmailAddress", self.email.clone()),
            ("Regions", self.regions.join(",")),
            ("AggregationDuration", self.aggregation.clone()),
        ]
    }
}

pub async fn run(args: NotifyArgs, ui: &Ui) -> Result<ExitCode> {
    match &args.apply {
        Some(file) => apply(file, &args, ui).await,
        None => plan(&args, ui).await,
    }
}

/// Refuses an address that is not one, before any AWS call.
fn check_email(value: &str) -> Result<()> {
    let ok = value.len() >= 6
        && value.len() <= 254
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            what: "--email",
            value: value.to_string(),
            expected: "an email address such as ocu-alerts@example.com".into(),
        })
    }
}

fn check_name(value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 54
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            what: "--configuration-name",
            value: value.to_string(),
            expected: "1 to 54 letters, digits, '-' or '_'".into(),
        })
    }
}

async fn plan(args: &NotifyArgs, ui: &Ui) -> Result<ExitCode> {
    let email = args.email.clone().unwrap_or_default();
    check_email(&email)?;
    check_name(&args.configuration_name)?;
    if let Some(out) = &args.plan_options.out {
        output::check_destination(out)?;
    }
    let aws = Aws::connect(&args.aws).await?;
    let resolved = targets::resolve(&aws, &args.targets).await?;
    let regions: Vec<String> = resolved
        .iter()
        .map(|t| t.region.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let accounts = per_account(&resolved);

    let spinner = ui.spinner("reading User Notifications in each account");
    let observed = targets::visit(&aws, &accounts, |target| {
        observe(&aws, &target.account, &regions, &email)
    })
    .await;
    let stackset = StackSet::new(&aws, STACK_SET_NAME, Duration::from_secs(1));
    let instances = stackset.instances().await;
    spinner.finish_and_clear();
    let with_instance: BTreeSet<String> = instances?
        .into_iter()
        .filter(|i| i.region == HOME_REGION)
        .map(|i| i.account_id)
        .collect();

    let mut planned = Vec::new();
    for (target, outcome) in observed {
        let observed = outcome?;
        let change = if observed.complete() {
            Change::None
        } else if with_instance.contains(&target.account) {
            Change::Update
        } else {
            Change::Create
        };
        if observed.complete() {
            ui.status(format!(
                "{}: already set up (configuration {}); no change",
                target.account, observed.configuration
            ));
        }
        if observed.email_channel && observed.contact_status != "active" {
            ui.warn(format!(
                "{}: the email contact for {email} is {}; AWS delivers nothing to it until \
                 someone follows the activation mail",
                target.account, observed.contact_status
            ));
        }
        planned.push(NotifyAccount {
            account_id: target.account.clone(),
            change,
            observed,
        });
    }
    let content = NotifyPlan {
        stack_set_name: STACK_SET_NAME.into(),
        email,
        configuration_name: args.configuration_name.clone(),
        aggregation: args.aggregation.clone(),
        regions,
        template_sha256: crate::remediate::planning::text_digest(TEMPLATE),
        accounts: planned,
    };
    if content.accounts.iter().all(|a| a.change == Change::None) {
        ui.status(format!(
            "nothing to change: all {} accounts are set up",
            content.accounts.len()
        ));
        return Ok(ExitCode::from(EXIT_OK));
    }

    let inputs = json!({
        "email": content.email,
        "configuration_name": content.configuration_name,
        "aggregation": content.aggregation,
        "accounts": args.targets.accounts,
        "exclude_accounts": args.targets.exclude_accounts,
        "regions": content.regions,
    });
    let gate = Gate::new(&aws, settings(&args.gate));
    let (plan, path) = seal(&aws, KIND, inputs, &content, &args.plan_options)?;
    plan.save(&path)?;
    gate.record_plan(&plan, summary(&content)).await?;

    let mut stdout = std::io::stdout().lock();
    render(&plan, &content, &mut stdout)?;
    plan.write_next_step(&path, &mut stdout)?;
    Ok(ExitCode::from(EXIT_OK))
}

/// One visit per account, in the control plane's region.
fn per_account(targets: &[Target]) -> Vec<Target> {
    targets
        .iter()
        .map(|t| t.account.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|account| Target {
            account,
            region: HOME_REGION.to_string(),
        })
        .collect()
}

/// One line for change records and lists.
pub fn summary(content: &NotifyPlan) -> String {
    format!(
        "OCU notifications to {} in {}: {} accounts to create, {} to update, {} set up",
        content.email,
        content.regions.join(","),
        content.to_change(Change::Create).len(),
        content.to_change(Change::Update).len(),
        content.to_change(Change::None).len()
    )
}

/// The notifications plan a plan file holds.
pub fn content_of(plan: &Plan, path: &Path) -> Result<NotifyPlan> {
    plan.changes_as(KIND, path)
}

/// The plan as a reviewer reads it: per account and region, what is there now and what
/// the change makes of it, then totals.
pub fn render(plan: &Plan, content: &NotifyPlan, out: &mut dyn Write) -> Result<()> {
    plan.write_header(out)?;
    writeln!(
        out,
        "  deploys   stacksets/ocu-notifications.yaml through StackSet {} in {HOME_REGION}",
        content.stack_set_name
    )?;
    writeln!(
        out,
        "  with      configuration {}, email {}, aggregation {}, regions {}",
        content.configuration_name,
        content.email,
        content.aggregation,
        content.regions.join(",")
    )?;
    writeln!(out)?;
    for account in &content.accounts {
        let (mark, what) = match account.change {
            Change::None => (" ", "no change"),
            Change::Create => ("+", "new stack instance"),
            Change::Update => ("~", "update of its stack instance"),
        };
        let now = if account.observed.configuration.is_empty() {
            "no configuration for aws.aoss".to_string()
        } else {
            format!("configuration {}", account.observed.configuration)
        };
        writeln!(out, "{mark} account {}: {what} ({now})", account.account_id)?;
        for region in &content.regions {
            let missing = account.observed.missing_in(region);
            let line = if missing.is_empty() {
                "both OCU rules and the email channel -> unchanged".to_string()
            } else {
                format!(
                    "missing {} -> both OCU rules and the email channel",
                    missing.join(", ")
                )
            };
            writeln!(out, "    {region}: {line}")?;
        }
    }
    writeln!(out)?;
    writeln!(out, "Totals: {}", summary(content))?;
    Ok(())
}

async fn apply(file: &Path, args: &NotifyArgs, ui: &Ui) -> Result<ExitCode> {
    let plan = Plan::load(file)?;
    let content = content_of(&plan, file)?;
    let aws = Aws::connect(&args.aws).await?;
    let gate = Gate::new(&aws, settings(&args.gate));
    let mut record = gate.check_apply(&plan).await?;
    if crate::remediate::planning::text_digest(TEMPLATE) != content.template_sha256 {
        return Err(Error::PlanStale {
            plan_id: plan.plan_id.clone(),
            detail: "this govctl carries another version of stacksets/ocu-notifications.yaml \
                     than the one planned with"
                .into(),
        });
    }

    // Stale check: each account to change must look as planned, or be set up already
    // (by an interrupted earlier apply, or by someone else).
    let changing: Vec<&NotifyAccount> = content
        .accounts
        .iter()
        .filter(|a| a.change != Change::None)
        .collect();
    let places: Vec<Target> = changing
        .iter()
        .map(|a| Target {
            account: a.account_id.clone(),
            region: HOME_REGION.to_string(),
        })
        .collect();
    let spinner = ui.spinner("checking that the plan still holds");
    let now = targets::visit(&aws, &places, |target| {
        observe(&aws, &target.account, &content.regions, &content.email)
    })
    .await;
    spinner.finish_and_clear();
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    for ((_, observed), account) in now.into_iter().zip(&changing) {
        let observed = observed?;
        if observed.complete() {
            continue;
        }
        if !observed.same_setup(&account.observed) {
            return Err(Error::PlanStale {
                plan_id: plan.plan_id.clone(),
                detail: format!(
                    "the User Notifications of account {} changed since planning",
                    account.account_id
                ),
            });
        }
        match account.change {
            Change::Create => creates.push(account.account_id.clone()),
            Change::Update => updates.push(account.account_id.clone()),
            Change::None => {}
        }
    }

    gate.start_apply(&plan, &mut record, args.plan_options.break_lock)
        .await?;
    let outcome = deploy(
        &aws,
        &gate,
        &plan,
        &content,
        &mut record,
        args,
        creates,
        updates,
        ui,
    )
    .await;
    let results = match outcome {
        Ok(results) => results,
        Err((error, results)) => {
            let detail = json!({"error": error.to_string()});
            gate.finish(&plan, &mut record, Status::Failed, detail)
                .await
                .ok();
            output::emit(
                &results,
                crate::cli::Format::Table,
                "ocu_notifications",
                None,
            )?;
            return Err(error);
        }
    };
    let detail = json!({"instances": results.len()});
    gate.finish(&plan, &mut record, Status::Applied, detail)
        .await?;
    output::emit(
        &results,
        crate::cli::Format::Table,
        "ocu_notifications",
        None,
    )?;
    ui.status(format!(
        "applied {}: {} stack instances in {HOME_REGION}; each email contact must be \
         activated from the mail AWS sends to {}",
        plan.plan_id,
        results.len(),
        content.email
    ));
    Ok(ExitCode::from(EXIT_OK))
}

/// Creates the StackSet if needed, then the new instances, then the updates.
#[allow(clippy::too_many_arguments)]
async fn deploy(
    aws: &Aws,
    gate: &Gate<'_>,
    plan: &Plan,
    content: &NotifyPlan,
    record: &mut crate::change::record::Record,
    args: &NotifyArgs,
    creates: Vec<String>,
    updates: Vec<String>,
    ui: &Ui,
) -> std::result::Result<Vec<InstanceResult>, (Error, Vec<InstanceResult>)> {
    let stackset = StackSet::new(
        aws,
        &content.stack_set_name,
        Duration::from_secs(args.poll_seconds.max(1)),
    );
    let parameters = content.parameters();
    let definition = Definition {
        description: "govctl: OpenSearch Serverless OCU notifications".into(),
        template: TEMPLATE,
        parameters: parameters.clone(),
        admin_role_arn: args.admin_role_arn.clone(),
        execution_role_name: args.execution_role_name.clone(),
    };
    let mut results = Vec::new();
    if let Err(error) = stackset.ensure(&definition).await {
        return Err((error, results));
    }
    let regions = vec![HOME_REGION.to_string()];
    for (action, accounts, suffix) in [
        (Action::Create, creates, "create"),
        (Action::Update, updates, "update"),
    ] {
        if accounts.is_empty() {
            continue;
        }
        let op = format!("{}-{suffix}", plan.plan_id);
        let bar = ui.spinner(format!("{suffix}: {} accounts", accounts.len()));
        let preferences = StackSetOperationPreferences::builder()
            .max_concurrent_percentage(50)
            .failure_tolerance_count(0)
            .build();
        let outcome = stackset
            .deploy(action, &op, &accounts, &regions, &parameters, preferences)
            .await;
        bar.finish_and_clear();
        let (status, instances) = match outcome {
            Ok(done) => done,
            Err(error) => return Err((error, results)),
        };
        let failed = instances.iter().filter(|i| i.status != "SUCCEEDED").count();
        results.extend(instances);
        let detail = json!({"operation": op, "status": status, "accounts": accounts.len(),
                            "failed_instances": failed});
        if status != "SUCCEEDED" {
            gate.step(plan, record, "operation-failed", detail)
                .await
                .ok();
            let call = Call::new(
                "cloudformation:CreateStackInstances",
                &aws.caller().account,
                aws.region(),
            );
            let error = call.failure(format!(
                "operation {op} of StackSet {} ended {status} ({failed} instances failed)",
                content.stack_set_name
            ));
            return Err((error, results));
        }
        if let Err(error) = gate.step(plan, record, "operation-succeeded", detail).await {
            return Err((error, results));
        }
    }
    Ok(results)
}

/// How far `account` is from the wanted setup, read from User Notifications (us-east-1).
pub async fn observe(
    aws: &Aws,
    account: &str,
    regions: &[String],
    email: &str,
) -> Result<Observed> {
    let config = aws.budgeted_config_for(account, HOME_REGION).await?;
    let client = aws_sdk_notifications::Client::new(&config);
    let contacts = email_contacts(aws, account, &config).await?;

    let call = Call::new(
        "notifications:ListNotificationConfigurations",
        account,
        HOME_REGION,
    )
    .endpoint_of(&config);
    let mut configurations = Vec::new();
    let request = |token| {
        client
            .list_notification_configurations()
            .event_rule_source(SOURCE)
            .set_next_token(token)
            .send()
    };
    aws.budget()
        .pages(
            &call,
            request,
            |page| page.next_token(),
            |page| {
                for c in page.notification_configurations() {
                    configurations.push((c.arn().to_string(), c.name().to_string()));
                }
                Ok(())
            },
        )
        .await?;

    let mut candidates = Vec::new();
    for (arn, name) in configurations {
        let rules = event_rules(aws, account, &config, &arn).await?;
        let channels = channels(aws, account, &config, &arn).await?;
        candidates.push(assess(&name, &rules, &channels, &contacts, regions, email));
    }
    Ok(best(candidates, regions))
}

/// (event type, regions) of each `aws.aoss` rule of one configuration.
async fn event_rules(
    aws: &Aws,
    account: &str,
    config: &aws_config::SdkConfig,
    arn: &str,
) -> Result<Vec<(String, Vec<String>)>> {
    let client = aws_sdk_notifications::Client::new(config);
    let call = Call::new("notifications:ListEventRules", account, HOME_REGION).endpoint_of(config);
    let mut rules = Vec::new();
    let request = |token| {
        client
            .list_event_rules()
            .notification_configuration_arn(arn)
            .set_next_token(token)
            .send()
    };
    aws.budget()
        .pages(
            &call,
            request,
            |page| page.next_token(),
            |page| {
                for rule in page.event_rules() {
                    if rule.source() == SOURCE {
                        rules.push((rule.event_type().to_string(), rule.regions().to_vec()));
                    }
                }
                Ok(())
            },
        )
        .await?;
    Ok(rules)
}

async fn channels(
    aws: &Aws,
    account: &str,
    config: &aws_config::SdkConfig,
    arn: &str,
) -> Result<Vec<String>> {
    let client = aws_sdk_notifications::Client::new(config);
    let call = Call::new("notifications:ListChannels", account, HOME_REGION).endpoint_of(config);
    let mut channels = Vec::new();
    let request = |token| {
        client
            .list_channels()
            .notification_configuration_arn(arn)
            .set_next_token(token)
            .send()
    };
    aws.budget()
        .pages(
            &call,
            request,
            |page| page.next_token(),
            |page| {
                channels.extend(page.channels().iter().cloned());
                Ok(())
            },
        )
        .await?;
    Ok(channels)
}

/// Email contact ARN to (address, status).
async fn email_contacts(
    aws: &Aws,
    account: &str,
    config: &aws_config::SdkConfig,
) -> Result<BTreeMap<String, (String, String)>> {
    let client = aws_sdk_notificationscontacts::Client::new(config);
    let call = Call::new(
        "notifications-contacts:ListEmailContacts",
        account,
        HOME_REGION,
    )
    .endpoint_of(config);
    let mut contacts = BTreeMap::new();
    aws.budget()
        .pages(
            &call,
            |token| client.list_email_contacts().set_next_token(token).send(),
            |page| page.next_token(),
            |page| {
                for contact in page.email_contacts() {
                    let status = contact.status().as_str().to_string();
                    contacts.insert(
                        contact.arn().to_string(),
                        (contact.address().to_string(), status),
                    );
                }
                Ok(())
            },
        )
        .await?;
    Ok(contacts)
}

/// How one configuration compares with the wanted setup.
pub fn assess(
    name: &str,
    rules: &[(String, Vec<String>)],
    channels: &[String],
    contacts: &BTreeMap<String, (String, String)>,
    regions: &[String],
    email: &str,
) -> Observed {
    let missing_regions = EVENT_TYPES
        .iter()
        .map(|event_type| {
            let covered: BTreeSet<&str> = rules
                .iter()
                .filter(|(t, _)| t == event_type)
                .flat_map(|(_, r)| r.iter().map(String::as_str))
                .collect();
            let missing = regions
                .iter()
                .filter(|r| !covered.contains(r.as_str()))
                .cloned()
                .collect();
            (event_type.to_string(), missing)
        })
        .collect();
    let contact = channels.iter().find_map(|arn| {
        contacts
            .get(arn)
            .filter(|(address, _)| address.eq_ignore_ascii_case(email))
    });
    Observed {
        configuration: name.to_string(),
        missing_regions,
        email_channel: contact.is_some(),
        contact_status: contact.map(|(_, s)| s.clone()).unwrap_or_default(),
    }
}

/// The candidate with the least missing (by name on a tie); nothing when there is none.
pub fn best(mut candidates: Vec<Observed>, regions: &[String]) -> Observed {
    candidates.sort_by_key(|c| {
        let gaps: usize = c.missing_regions.values().map(Vec::len).sum();
        (
            gaps + usize::from(!c.email_channel),
            c.configuration.clone(),
        )
    });
    candidates.into_iter().next().unwrap_or_else(|| Observed {
        configuration: String::new(),
        missing_regions: EVENT_TYPES
            .iter()
            .map(|t| (t.to_string(), regions.to_vec()))
            .collect(),
        email_channel: false,
        contact_status: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Vec<String> {
        vec!["eu-west-1".into(), "us-east-1".into()]
    }

    fn contacts() -> BTreeMap<String, (String, String)> {
        BTreeMap::from([(
            "arn:contact".to_string(),
            ("Ops@Example.com".to_string(), "active".to_string()),
        )])
    }

    #[test]
    fn a_configuration_with_both_rules_everywhere_and_the_contact_is_complete() {
        let rules = vec![
            (EVENT_APPROACHING.to_string(), regions()),
            (EVENT_REACHED.to_string(), vec!["us-east-1".into()]),
            (EVENT_REACHED.to_string(), vec!["eu-west-1".into()]),
        ];
        let seen = assess(
            "c",
            &rules,
            &["arn:contact".into()],
            &contacts(),
            &regions(),
            "ops@example.com",
        );
        assert!(seen.complete(), "{seen:?}");
        assert_eq!(seen.contact_status, "active");
        assert!(seen.missing_in("us-east-1").is_empty());
    }

    #[test]
    fn missing_rules_regions_and_channels_are_named() {
        let rules = vec![(EVENT_APPROACHING.to_string(), vec!["us-east-1".into()])];
        let seen = assess("c", &rules, &[], &contacts(), &regions(), "ops@example.com");
        assert!(!seen.complete());
        assert_eq!(
            seen.missing_in("eu-west-1"),
            [
                format!("rule \"{EVENT_APPROACHING}\""),
                format!("rule \"{EVENT_REACHED}\""),
                "email channel".to_string()
            ]
        );
        assert_eq!(
            seen.missing_in("us-east-1"),
            [
                format!("rule \"{EVENT_REACHED}\""),
                "email channel".to_string()
            ]
        );
    }

    #[test]
    fn another_address_is_not_the_channel() {
        let rules = vec![
            (EVENT_APPROACHING.to_string(), regions()),
            (EVENT_REACHED.to_string(), regions()),
        ];
        let seen = assess(
            "c",
            &rules,
            &["arn:contact".into()],
            &contacts(),
            &regions(),
            "other@example.com",
        );
        assert!(!seen.email_channel);
    }

    #[test]
    fn the_closest_configuration_wins_and_none_means_everything_missing() {
        let nothing = best(Vec::new(), &regions());
        assert!(nothing.configuration.is_empty());
        assert_eq!(nothing.missing_regions[EVENT_REACHED], regions());
        let partial = assess("a", &[], &[], &contacts(), &regions(), "x@example.com");
        let rules = vec![(EVENT_REACHED.to_string(), regions())];
        let closer = assess("b", &rules, &[], &contacts(), &regions(), "x@example.com");
        assert_eq!(best(vec![partial, closer], &regions()).configuration, "b");
    }

    #[test]
    fn emails_and_names_are_checked() {
        assert!(check_email("ocu-alerts@example.com").is_ok());
        assert!(check_email("no-at-sign.example.com").is_err());
        assert!(check_email("a@b").is_err());
        assert!(check_email("a b@example.com").is_err());
        assert!(check_name("govctl-ocu-limits").is_ok());
        assert!(check_name("bad name").is_err());
    }

    #[test]
    fn activating_the_contact_does_not_make_a_plan_stale() {
        let rules = vec![(EVENT_REACHED.to_string(), regions())];
        let mut before = assess(
            "c",
            &rules,
            &["arn:contact".into()],
            &contacts(),
            &regions(),
            "ops@example.com",
        );
        let after = before.clone();
        before.contact_status = "inactive".into();
        assert!(before.same_setup(&after));
        let mut other = after.clone();
        other.email_channel = false;
        assert!(!other.same_setup(&after));
    }
}
