//! `--apply`, `status` and `--cleanup`: the rollout through CloudFormation StackSets.
//!
//! Apply deploys one StackSet per rollout and creates its stack instances wave by wave and
//! region by region. Every operation carries an ID derived from the rollout, wave and
//! region, so running apply again after a crash finds the operations it already started
//! (and waits for them) instead of starting them twice. A wave whose operation fails stops
//! the rollout; the change record says how far it got.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_cloudformation::types::{
    Capability, ConcurrencyMode, Parameter, PermissionModels, RegionConcurrencyType,
    StackSetOperationPreferences, StackSetOperationStatus,
};
use futures::{StreamExt, stream};
use serde::Serialize;
use serde_json::json;

use super::planning::{TEMPLATE, rollout_of};
use super::rollout::{Rollout, operation_id};
use super::{RemediateArgs, StatusArgs};
use crate::aws::errors::code_of;
use crate::aws::{Aws, Call};
use crate::change::gate::{Gate, Settings};
use crate::change::plan::{Plan, now, timestamp};
use crate::change::record::{Record, Status};
use crate::error::{EXIT_OK, Error, Result};
use crate::output::{self, Row};
use crate::ui::Ui;

/// One stack instance's outcome, as the final table shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceResult {
    pub wave: String,
    pub account_id: String,
    pub region: String,
    pub status: String,
    pub reason: String,
}

impl Row for InstanceResult {
    const COLUMNS: &'static [&'static str] = &["wave", "account_id", "region", "status", "reason"];
}

/// Per account and region: the stack instance and how many planned functions are done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusRow {
    pub account_id: String,
    pub region: String,
    pub stack_instance: String,
    pub detail: String,
    pub planned_functions: usize,
    pub on_new_version: usize,
}

impl Row for StatusRow {
    const COLUMNS: &'static [&'static str] = &[
        "account_id",
        "region",
        "stack_instance",
        "detail",
        "planned_functions",
        "on_new_version",
    ];
}

pub async fn apply(
    file: &Path,
    args: &RemediateArgs,
    settings: Settings,
    ui: &Ui,
) -> Result<ExitCode> {
    let plan = Plan::load(file)?;
    let rollout = rollout_of(&plan, file)?;
    let aws = Aws::connect(&args.aws).await?;
    let gate = Gate::new(&aws, settings);

    let mut record = gate.check_apply(&plan).await?;
    check_template(&plan, &rollout)?;
    check_window(&plan, &rollout)?;
    check_fresh(&aws, &plan, &rollout, ui).await?;

    gate.start_apply(&plan, &mut record, args.break_lock)
        .await?;
    let outcome = deploy(&aws, &gate, &plan, &rollout, &mut record, args, ui).await;
    let results = match outcome {
        Ok(results) => results,
        Err((error, results)) => {
            let detail = json!({"error": error.to_string()});
            gate.finish(&plan, &mut record, Status::Failed, detail)
                .await
                .ok();
            output::emit(&results, crate::cli::Format::Table, "remediation", None)?;
            return Err(error);
        }
    };

    let detail = json!({"instances": results.len()});
    gate.finish(&plan, &mut record, Status::Applied, detail)
        .await?;
    mark_rolled_back(&gate, &plan).await?;
    output::emit(&results, crate::cli::Format::Table, "remediation", None)?;
    ui.status(format!(
        "applied {}: {} stack instances in {} waves; the remediation runs from {} (UTC)",
        plan.plan_id,
        results.len(),
        rollout.waves.len(),
        rollout.window_start
    ));
    Ok(ExitCode::from(EXIT_OK))
}

/// Runs every wave; on failure returns the error with the results so far.
async fn deploy(
    aws: &Aws,
    gate: &Gate<'_>,
    plan: &Plan,
    rollout: &Rollout,
    record: &mut Record,
    args: &RemediateArgs,
    ui: &Ui,
) -> std::result::Result<Vec<InstanceResult>, (Error, Vec<InstanceResult>)> {
    let poll = Duration::from_secs(args.poll_seconds.max(1));
    let stacksets = StackSets::new(aws, rollout, poll);
    let mut results = Vec::new();
    if let Some(forward) = plan
        .inputs
        .get("rollback_of_stack_set")
        .and_then(|v| v.as_str())
    {
        // Two remediations in opposite directions would undo each other forever.
        let removed = StackSets::named(aws, rollout, forward, poll).remove().await;
        match removed {
            Ok(count) => {
                let detail = json!({"removed_stack_set": forward, "stack_instances": count});
                gate.step(plan, record, "forward-removed", detail)
                    .await
                    .ok();
            }
            Err(error) => return Err((error, results)),
        }
    }
    if let Err(error) = stacksets.ensure_stack_set(args).await {
        return Err((error, results));
    }

    for wave in &rollout.waves {
        for region in ordered(&wave.regions, &rollout.preferences.region_order) {
            let op = operation_id(&rollout.rollout_id, &wave.name, region);
            let bar = ui.spinner(format!(
                "{}: {} accounts in {region}",
                wave.name,
                wave.accounts.len()
            ));
            let outcome = stacksets.run_wave(&op, &wave.accounts, region).await;
            bar.finish_and_clear();
            let (status, instances) = match outcome {
                Ok(done) => done,
                Err(error) => return Err((error, results)),
            };
            let failed = instances.iter().filter(|i| i.status != "SUCCEEDED").count();
            results.extend(instances.into_iter().map(|mut i| {
                i.wave = wave.name.clone();
                i
            }));

            let detail = json!({"wave": wave.name, "region": region, "operation": op,
                                "status": status, "failed_instances": failed});
            if status != "SUCCEEDED" {
                gate.step(plan, record, "wave-failed", detail).await.ok();
                let error = Error::Aws {
                    action: "cloudformation:CreateStackInstances".into(),
                    account: aws.caller().account.clone(),
                    region: region.to_string(),
                    message: format!(
                        "{} of plan {} ended {status} ({failed} instances failed); the \
                         rollout stopped before the next wave",
                        wave.name, plan.plan_id
                    ),
                };
                return Err((error, results));
            }
            if let Err(error) = gate.step(plan, record, "wave-succeeded", detail).await {
                return Err((error, results));
            }
        }
    }
    Ok(results)
}

/// The regions of a wave, in the plan's region order where it names them.
fn ordered<'a>(regions: &'a [String], order: &'a [String]) -> Vec<&'a str> {
    let mut out: Vec<&str> = order
        .iter()
        .filter(|r| regions.contains(r))
        .map(String::as_str)
        .collect();
    out.extend(
        regions
            .iter()
            .map(String::as_str)
            .filter(|r| !order.iter().any(|o| o == r)),
    );
    out
}

fn check_template(plan: &Plan, rollout: &Rollout) -> Result<()> {
    let now_digest = super::planning::text_digest(TEMPLATE);
    if now_digest == rollout.template_sha256 {
        return Ok(());
    }
    Err(Error::PlanStale {
        plan_id: plan.plan_id.clone(),
        detail: "this govctl carries another version of stacksets/layer-remediation.yaml than \
                 the one planned with"
            .into(),
    })
}

/// Stack instances start remediating as soon as they exist (AWS Config evaluates a new rule
/// at once), so they may only be created inside the change window.
fn check_window(plan: &Plan, rollout: &Rollout) -> Result<()> {
    let (start, end) = (seconds(&rollout.window_start), seconds(&rollout.window_end));
    let now = now();
    if now < start {
        return Err(Error::OutsideWindow {
            plan_id: plan.plan_id.clone(),
            detail: format!("the change window opens at {}", rollout.window_start),
        });
    }
    if now + SCHEDULE_LEAD >= end {
        return Err(Error::OutsideWindow {
            plan_id: plan.plan_id.clone(),
            detail: format!("the change window closes at {}", rollout.window_end),
        });
    }
    Ok(())
}

/// How far ahead of now the in-window evaluation is scheduled: Scheduler needs a time in
/// the future.
const SCHEDULE_LEAD: i64 = 300;

fn seconds(time: &str) -> i64 {
    aws_smithy_types::DateTime::from_str(time, aws_smithy_types::date_time::Format::DateTime)
        .map(|t| t.secs())
        .unwrap_or(0)
}

/// Refuses a plan the world has moved away from: a planned function that is gone or whose
/// layers are neither as planned before nor as planned after (the latter is a resumed
/// apply), or a function in the plan's accounts and regions that now uses an old version
/// and is not in the plan.
async fn check_fresh(aws: &Aws, plan: &Plan, rollout: &Rollout, ui: &Ui) -> Result<()> {
    let mut places: BTreeSet<(String, String)> = BTreeSet::new();
    for f in &rollout.functions {
        places.insert((f.account_id.clone(), f.region.clone()));
    }
    let spinner = ui.spinner("checking that the plan still holds");
    let now_layers = current_layers(aws, places).await;
    spinner.finish_and_clear();
    let now_layers = now_layers?;

    let stale = |detail: String| Error::PlanStale {
        plan_id: plan.plan_id.clone(),
        detail,
    };
    let planned: BTreeSet<&str> = rollout
        .functions
        .iter()
        .map(|f| f.function_arn.as_str())
        .collect();
    for f in &rollout.functions {
        match now_layers.get(&f.function_arn) {
            None => return Err(stale(format!("{} no longer exists", f.function_arn))),
            Some(layers) if *layers != f.layers_before && *layers != f.layers_after => {
                return Err(stale(format!(
                    "the layers of {} changed since planning",
                    f.function_arn
                )));
            }
            Some(_) => {}
        }
    }
    let old: BTreeSet<&str> = rollout
        .swaps
        .values()
        .flat_map(|s| s.old.iter().map(String::as_str))
        .collect();
    for (arn, layers) in &now_layers {
        if !planned.contains(arn.as_str()) && layers.iter().any(|l| old.contains(l.as_str())) {
            return Err(stale(format!(
                "{arn} now uses an old version and is not in the plan"
            )));
        }
    }
    Ok(())
}

/// Function ARN to layer list, for every function in the given accounts and regions.
pub(super) async fn current_layers(
    aws: &Aws,
    places: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<String, Vec<String>>> {
    let listings: Vec<_> = stream::iter(places)
        .map(|(account, region)| async move { list_layers(aws, &account, &region).await })
        .buffer_unordered(aws.concurrency())
        .collect()
        .await;
    let mut layers = BTreeMap::new();
    for listing in listings {
        layers.extend(listing?);
    }
    Ok(layers)
}

/// Function ARN to layer list, in one account and region.
async fn list_layers(aws: &Aws, account: &str, region: &str) -> Result<Vec<(String, Vec<String>)>> {
    let config = aws.budgeted_config_for(account, region).await?;
    let client = aws_sdk_lambda::Client::new(&config);
    let call = Call::new("lambda:ListFunctions", account, region).endpoint_of(&config);
    let mut out = Vec::new();
    aws.budget()
        .pages(
            &call,
            |marker| client.list_functions().set_marker(marker).send(),
            |page| page.next_marker(),
            |page| {
                for f in page.functions() {
                    let layers = f
                        .layers()
                        .iter()
                        .filter_map(|l| l.arn().map(String::from))
                        .collect();
                    out.push((f.function_arn().unwrap_or_default().to_string(), layers));
                }
                Ok(())
            },
        )
        .await?;
    Ok(out)
}

/// After a rollback plan is applied, its original plan is rolled back.
async fn mark_rolled_back(gate: &Gate<'_>, plan: &Plan) -> Result<()> {
    let Some(original) = plan.inputs.get("rollback_of").and_then(|v| v.as_str()) else {
        return Ok(());
    };
    if let Some(mut record) = gate.records().get(original).await? {
        record.status = Status::RolledBack;
        record.push_event(
            gate.caller(),
            "rolled-back",
            format!("by plan {}", plan.plan_id),
        );
        gate.records().put(&record).await?;
    }
    Ok(())
}

/// `govctl remediate status FILE`.
pub async fn status(args: StatusArgs, ui: &Ui) -> Result<ExitCode> {
    let plan = Plan::load(&args.file)?;
    if let Err(error) = plan.check_digest() {
        ui.warn(error.to_string());
    }
    let rollout = rollout_of(&plan, &args.file)?;
    let aws = Aws::connect(&args.aws).await?;
    let stacksets = StackSets::new(&aws, &rollout, Duration::from_secs(1));
    let instances = stacksets.instances().await?;

    let mut places: BTreeMap<(String, String), StatusRow> = BTreeMap::new();
    for f in &rollout.functions {
        places
            .entry((f.account_id.clone(), f.region.clone()))
            .or_insert_with(|| StatusRow {
                account_id: f.account_id.clone(),
                region: f.region.clone(),
                stack_instance: "NONE".into(),
                detail: String::new(),
                planned_functions: 0,
                on_new_version: 0,
            })
            .planned_functions += 1;
    }
    for (account, region, status, detail) in instances {
        if let Some(row) = places.get_mut(&(account, region)) {
            row.stack_instance = status;
            row.detail = detail;
        }
    }

    let now_layers = current_layers(&aws, places.keys().cloned().collect::<Vec<_>>()).await?;
    for f in &rollout.functions {
        if now_layers.get(&f.function_arn) == Some(&f.layers_after)
            && let Some(row) = places.get_mut(&(f.account_id.clone(), f.region.clone()))
        {
            row.on_new_version += 1;
        }
    }

    let rows: Vec<StatusRow> = places.into_values().collect();
    output::emit(
        &rows,
        args.output.output,
        "remediation_status",
        args.output.out.as_deref(),
    )?;
    let done: usize = rows.iter().map(|r| r.on_new_version).sum();
    ui.status(format!(
        "{done} of {} planned functions are on the new version",
        rollout.functions.len()
    ));
    Ok(ExitCode::from(EXIT_OK))
}

/// `govctl remediate --cleanup FILE`.
pub async fn cleanup(
    file: &Path,
    args: &RemediateArgs,
    settings: Settings,
    ui: &Ui,
) -> Result<ExitCode> {
    let plan = Plan::load(file)?;
    plan.check_digest()?;
    let rollout = rollout_of(&plan, file)?;
    let aws = Aws::connect(&args.aws).await?;
    let gate = Gate::new(&aws, settings);
    let mut record = gate.record_of(&plan).await?;
    if !matches!(
        record.status,
        Status::Applied | Status::Failed | Status::RolledBack
    ) {
        return Err(Error::WrongStatus {
            plan_id: plan.plan_id.clone(),
            status: record.status.to_string(),
            action: "cleaned up",
        });
    }

    let stacksets = StackSets::new(
        &aws,
        &rollout,
        Duration::from_secs(args.poll_seconds.max(1)),
    );
    let spinner = ui.spinner(format!("removing StackSet {}", rollout.stack_set_name));
    let removed = stacksets.remove().await;
    spinner.finish_and_clear();
    let removed = removed?;
    gate.step(
        &plan,
        &mut record,
        "cleaned-up",
        json!({"stack_instances": removed}),
    )
    .await?;
    ui.status(format!(
        "removed {removed} stack instances and StackSet {}",
        rollout.stack_set_name
    ));
    Ok(ExitCode::from(EXIT_OK))
}

/// The StackSet of one rollout; reading operations and instances goes through the shared
/// [`crate::stacksets::StackSet`].
struct StackSets<'a> {
    aws: &'a Aws,
    rollout: &'a Rollout,
    name: String,
    client: aws_sdk_cloudformation::Client,
    shared: crate::stacksets::StackSet<'a>,
}

impl<'a> StackSets<'a> {
    fn new(aws: &'a Aws, rollout: &'a Rollout, poll: Duration) -> Self {
        Self::named(aws, rollout, &rollout.stack_set_name, poll)
    }

    /// Another rollout's StackSet, by name (a rollback removes its forward rollout's).
    fn named(aws: &'a Aws, rollout: &'a Rollout, name: &str, poll: Duration) -> Self {
        StackSets {
            aws,
            rollout,
            name: name.to_string(),
            client: aws_sdk_cloudformation::Client::new(aws.config()),
            shared: crate::stacksets::StackSet::new(aws, name, poll),
        }
    }

    fn call(&self, action: &'static str) -> Call {
        Call::new(action, &self.aws.caller().account, self.aws.region())
            .endpoint_of(self.aws.config())
    }

    fn name(&self) -> &str {
        &self.name
    }

    /// Creates the StackSet unless a previous run did.
    async fn ensure_stack_set(&self, args: &RemediateArgs) -> Result<()> {
        let described = self
            .client
            .describe_stack_set()
            .stack_set_name(self.name())
            .send()
            .await;
        match described {
            Ok(_) => return Ok(()),
            Err(e) if code_of(&e) == Some("StackSetNotFoundException") => {}
            Err(e) => return Err(self.call("cloudformation:DescribeStackSet").error(e)),
        }
        let admin_role = args.admin_role_arn.clone().unwrap_or_else(|| {
            format!(
                "arn:{}:iam::{}:role/AWSCloudFormationStackSetAdministrationRole",
                crate::aws::partition_of(&self.aws.caller().arn),
                self.aws.caller().account
            )
        });
        self.client
            .create_stack_set()
            .stack_set_name(self.name())
            .description(format!(
                "govctl layer remediation {} ({})",
                self.rollout.rollout_id, self.rollout.layer_name
            ))
            .template_body(TEMPLATE)
            .capabilities(Capability::CapabilityNamedIam)
            .permission_model(PermissionModels::SelfManaged)
            .administration_role_arn(admin_role)
            .execution_role_name(&args.execution_role_name)
            .set_parameters(Some(self.parameters(None)))
            .send()
            .await
            .map_err(|e| self.call("cloudformation:CreateStackSet").error(e))?;
        Ok(())
    }

    /// The template's parameters; per region, the layer ARNs of that region.
    ///
    /// The schedule's extra evaluation pass runs within what is left of the window.
    fn parameters(&self, region: Option<&str>) -> Vec<Parameter> {
        let at = seconds(&self.rollout.window_start).max(now() + SCHEDULE_LEAD);
        let window_minutes = ((seconds(&self.rollout.window_end) - at) / 60).clamp(1, 1440);
        let swap = region.and_then(|r| self.rollout.swaps.get(r));
        let mut values = vec![
            ("RolloutId", self.rollout.rollout_id.clone()),
            (
                "WindowStart",
                timestamp(at).trim_end_matches('Z').to_string(),
            ),
            ("WindowMinutes", window_minutes.to_string()),
        ];
        if let Some(swap) = swap {
            values.push(("OldLayerArns", swap.old.join(",")));
            values.push(("NewLayerArn", swap.new.clone()));
        } else {
            // Placeholders: every instance overrides them with its region's ARNs.
            let any = self.rollout.swaps.values().next();
            values.push((
                "OldLayerArns",
                any.map(|s| s.old.join(",")).unwrap_or_default(),
            ));
            values.push((
                "NewLayerArn",
                any.map(|s| s.new.clone()).unwrap_or_default(),
            ));
        }
        values
            .into_iter()
            .map(|(key, value)| {
                Parameter::builder()
                    .parameter_key(key)
                    .parameter_value(value)
                    .build()
            })
            .collect()
    }

    fn preferences(&self) -> StackSetOperationPreferences {
        let p = &self.rollout.preferences;
        StackSetOperationPreferences::builder()
            .set_max_concurrent_count(p.max_concurrent_count)
            .set_max_concurrent_percentage(p.max_concurrent_percentage)
            .set_failure_tolerance_count(p.failure_tolerance_count)
            .set_failure_tolerance_percentage(p.failure_tolerance_percentage)
            .region_concurrency_type(RegionConcurrencyType::from(p.region_concurrency.as_str()))
            .concurrency_mode(ConcurrencyMode::from(p.concurrency_mode.as_str()))
            .build()
    }

    /// Starts (or finds) the wave's operation in `region` and waits for it to end.
    async fn run_wave(
        &self,
        op: &str,
        accounts: &[String],
        region: &str,
    ) -> Result<(String, Vec<InstanceResult>)> {
        if self.operation_status(op).await?.is_none() {
            let created = self
                .client
                .create_stack_instances()
                .stack_set_name(self.name())
                .set_accounts(Some(accounts.to_vec()))
                .regions(region)
                .set_parameter_overrides(Some(self.parameters(Some(region))))
                .operation_preferences(self.preferences())
                .operation_id(op)
                .send()
                .await;
            match created {
                Ok(_) => {}
                // Another run started it between our look and our call: wait for that one.
                Err(e) if code_of(&e) == Some("OperationIdAlreadyExistsException") => {}
                Err(e) => return Err(self.call("cloudformation:CreateStackInstances").error(e)),
            }
        }
        let status = self.wait(op).await?;
        let results = self.results(op).await?;
        Ok((status, results))
    }

    async fn operation_status(&self, op: &str) -> Result<Option<StackSetOperationStatus>> {
        self.shared.operation_status(op).await
    }

    async fn wait(&self, op: &str) -> Result<String> {
        self.shared.wait(op).await
    }

    async fn results(&self, op: &str) -> Result<Vec<InstanceResult>> {
        Ok(self
            .shared
            .results(op)
            .await?
            .into_iter()
            .map(|r| InstanceResult {
                wave: String::new(),
                account_id: r.account_id,
                region: r.region,
                status: r.status,
                reason: r.reason,
            })
            .collect())
    }

    /// (account, region, status, detail) of every stack instance of the StackSet.
    async fn instances(&self) -> Result<Vec<(String, String, String, String)>> {
        Ok(self
            .shared
            .instances()
            .await?
            .into_iter()
            .map(|i| (i.account_id, i.region, i.status, i.detail))
            .collect())
    }

    /// Deletes every stack instance, then the StackSet; returns how many instances went.
    async fn remove(&self) -> Result<usize> {
        let instances = self.instances().await?;
        if !instances.is_empty() {
            let accounts: BTreeSet<String> = instances.iter().map(|i| i.0.clone()).collect();
            let regions: BTreeSet<String> = instances.iter().map(|i| i.1.clone()).collect();
            let op = format!(
                "{}-cleanup",
                self.name.trim_start_matches("govctl-layer-remediation-")
            );
            if self.operation_status(&op).await?.is_none() {
                self.client
                    .delete_stack_instances()
                    .stack_set_name(self.name())
                    .set_accounts(Some(accounts.into_iter().collect()))
                    .set_regions(Some(regions.into_iter().collect()))
                    .retain_stacks(false)
                    .operation_preferences(self.preferences())
                    .operation_id(&op)
                    .send()
                    .await
                    .map_err(|e| self.call("cloudformation:DeleteStackInstances").error(e))?;
            }
            let status = self.wait(&op).await?;
            if status != "SUCCEEDED" {
                let call = self.call("cloudformation:DeleteStackInstances");
                return Err(call.failure(format!("operation {op} ended {status}")));
            }
        }
        let deleted = self
            .client
            .delete_stack_set()
            .stack_set_name(self.name())
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(instances.len()),
            Err(e) if code_of(&e) == Some("StackSetNotFoundException") => Ok(instances.len()),
            Err(e) => Err(self.call("cloudformation:DeleteStackSet").error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_follow_the_planned_order_then_the_rest() {
        let regions = vec![
            "eu-west-1".to_string(),
            "us-east-1".into(),
            "ap-south-1".into(),
        ];
        let order = vec!["us-east-1".to_string(), "us-west-2".into()];
        assert_eq!(
            ordered(&regions, &order),
            vec!["us-east-1", "eu-west-1", "ap-south-1"]
        );
    }

    #[test]
    fn window_times_are_read_as_utc_seconds() {
        assert_eq!(
            seconds("2026-12-10T22:00:00Z") - seconds("2026-12-10T20:00:00Z"),
            7200
        );
    }

    #[test]
    fn columns_match_the_serialized_fields() {
        let row = InstanceResult {
            wave: "w".into(),
            account_id: "1".into(),
            region: "r".into(),
            status: "SUCCEEDED".into(),
            reason: String::new(),
        };
        assert_eq!(output::serialized_keys(&row), InstanceResult::COLUMNS);
        let row = StatusRow {
            account_id: "1".into(),
            region: "r".into(),
            stack_instance: "CURRENT".into(),
            detail: String::new(),
            planned_functions: 1,
            on_new_version: 0,
        };
        assert_eq!(output::serialized_keys(&row), StatusRow::COLUMNS);
    }
}
