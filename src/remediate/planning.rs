//! `govctl remediate --plan`: from discovery to a sealed, recorded plan file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::PlanningArgs;
use super::rollout::{self, KIND, Preferences, Rollout, Swap, Targeting};
use super::show;
use crate::aws::Aws;
use crate::change::gate::{Gate, Settings};
use crate::change::plan::{Identity, Plan, now, timestamp};
use crate::cli::AwsArgs;
use crate::error::{EXIT_OK, Error, Result};
use crate::layers::report::{self, Finding};
use crate::org;
use crate::output;
use crate::ui::Ui;

/// The template every rollout deploys; built into the binary so a plan and its apply use
/// the same text, and its digest is recorded in the plan.
pub const TEMPLATE: &str = include_str!("../../stacksets/layer-remediation.yaml");

/// Exit status of `--plan --detailed-exitcode` when the plan has changes.
const EXIT_CHANGES: u8 = 2;

/// Rollbacks start this soon when no window is given: they are usually urgent.
const ROLLBACK_DEFAULT_DELAY: i64 = 0;
const ROLLBACK_DEFAULT_WINDOW: i64 = 3600;

pub async fn plan(
    args: &PlanningArgs,
    aws_args: &AwsArgs,
    settings: Settings,
    ui: &Ui,
) -> Result<ExitCode> {
    if let Some(out) = &args.out {
        output::check_destination(out)?;
    }
    if let Some(original) = &args.rollback {
        return rollback(original, args, aws_args, settings, ui).await;
    }
    let window = window(args, None)?;
    let preferences = preferences(args);

    let found = report::discover_functions(&args.discovery, aws_args, None, ui).await?;
    let discovered = found.discovered;
    if !discovered.missing.is_empty() {
        return Err(Error::InvalidInput {
            what: "--allow-partial",
            value: format!("{} partitions missing", discovered.missing.len()),
            expected: "a complete discovery: a plan must not miss functions it should change"
                .into(),
        });
    }
    let aws = discovered.aws;
    let layer_name = choose_layer(&discovered.rows, args.layer.as_deref())?;
    let rows = retarget(&discovered.rows, &layer_name, args.new_version)?;

    let mut targeting = Targeting {
        exclude: args.exclude_accounts.iter().cloned().collect(),
        protected: args.protected_accounts.iter().cloned().collect(),
        ou_paths: args.ous.clone(),
        canary: args.canary.clone(),
        wave_size: args.wave_size.max(1),
        ..Targeting::default()
    };
    if !args.ous.is_empty() {
        targeting.account_paths = org::accounts(&aws)
            .await?
            .into_iter()
            .map(|a| (a.account_id, a.ou_path))
            .collect();
    }

    let (swaps, functions, protected, unplannable) =
        rollout::plan_functions(&rows, &found.functions, &layer_name, &targeting);
    for row in &unplannable {
        ui.warn(format!(
            "{} is left out: the versions of {} cannot be read, so there is no target",
            row.function_arn, row.layer_arn
        ));
    }
    for account in &protected {
        ui.warn(format!(
            "account {account} is protected: its functions are left as they are"
        ));
    }
    if functions.is_empty() {
        ui.status(format!("nothing to change for layer {layer_name}"));
        return Ok(ExitCode::from(EXIT_OK));
    }

    let inputs = json!({
        "discovery": {
            "source": format!("{:?}", args.discovery.source).to_lowercase(),
            "aggregator": args.discovery.aggregator,
            "layer_arn": args.discovery.layer_arn,
            "policy": args.discovery.policy,
            "policy_sha256": args.discovery.policy.as_deref().map(file_digest).transpose()?,
            "accounts": args.discovery.accounts,
            "regions": args.discovery.regions,
        },
        "layer": layer_name,
        "new_version": args.new_version,
        "exclude_accounts": args.exclude_accounts,
        "ous": args.ous,
        "protected_accounts": args.protected_accounts,
        "canary": args.canary,
        "wave_size": args.wave_size,
    });
    let rollout = assemble(
        layer_name,
        swaps,
        functions,
        protected,
        &targeting,
        window,
        preferences,
    );
    write_plan(&aws, rollout, inputs, args, settings).await
}

/// Makes the inverse of an applied plan: new version back to old, same targets and waves.
async fn rollback(
    original_path: &Path,
    args: &PlanningArgs,
    aws_args: &AwsArgs,
    settings: Settings,
    ui: &Ui,
) -> Result<ExitCode> {
    let original = Plan::load(original_path)?;
    original.check_digest()?;
    let forward = rollout_of(&original, original_path)?;
    let window = window(args, Some(now()))?;
    let aws = Aws::connect(aws_args).await?;

    let mut swaps = BTreeMap::new();
    for (region, swap) in &forward.swaps {
        // Functions that were on several old versions all go back to the newest of them.
        let back_to = swap.old.iter().max_by_key(|arn| version_of(arn)).cloned();
        if let Some(back_to) = back_to {
            if swap.old.len() > 1 {
                ui.warn(format!(
                    "{region}: functions were on {} old versions; the rollback moves them all \
                     to {back_to}",
                    swap.old.len()
                ));
            }
            swaps.insert(
                region.clone(),
                Swap {
                    old: vec![swap.new.clone()],
                    new: back_to,
                },
            );
        }
    }
    let mut functions: Vec<rollout::PlannedFunction> = forward
        .functions
        .iter()
        .map(|f| {
            let swap = &swaps[&f.region];
            let mut back = f.clone();
            back.layers_before = f.layers_after.clone();
            back.layers_after = rollout::swap_layers(&f.layers_after, &swap.old, &swap.new);
            back
        })
        .collect();
    let others = bystanders(&aws, &forward, &swaps).await?;
    if !others.is_empty() {
        ui.warn(format!(
            "{} functions the rollout did not change already use its new version; the \
             rollback moves them back too (remediation works on every function of an account \
             and region): {}",
            others.len(),
            others
                .iter()
                .map(|f| f.function_arn.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    functions.extend(others);
    functions.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.function_name).cmp(&(
            &b.account_id,
            &b.region,
            &b.function_name,
        ))
    });
    let targeting = Targeting {
        canary: forward
            .waves
            .iter()
            .filter(|w| w.name == "canary")
            .flat_map(|w| w.accounts.clone())
            .collect(),
        wave_size: args.wave_size.max(1),
        ..Targeting::default()
    };
    let inputs = json!({
        "rollback_of": original.plan_id,
        "rollback_of_digest": original.digest,
        "rollback_of_stack_set": forward.stack_set_name,
        "layer": forward.layer_name,
    });
    let rollout = assemble(
        forward.layer_name.clone(),
        swaps,
        functions,
        forward.protected.clone(),
        &targeting,
        window,
        forward.preferences.clone(),
    );
    write_plan(&aws, rollout, inputs, args, settings).await
}

/// Functions in the rollout's accounts and regions that use the version a rollback removes
/// but that the rollout itself did not move there. The rollback's remediation changes them
/// as well, so the plan must list them.
async fn bystanders(
    aws: &Aws,
    forward: &Rollout,
    swaps: &BTreeMap<String, Swap>,
) -> Result<Vec<rollout::PlannedFunction>> {
    let places: BTreeSet<(String, String)> = forward
        .functions
        .iter()
        .map(|f| (f.account_id.clone(), f.region.clone()))
        .collect();
    let planned: BTreeSet<&str> = forward
        .functions
        .iter()
        .map(|f| f.function_arn.as_str())
        .collect();
    let account_names: BTreeMap<&str, &str> = forward
        .functions
        .iter()
        .map(|f| (f.account_id.as_str(), f.account_name.as_str()))
        .collect();
    let now_layers = super::apply::current_layers(aws, places).await?;
    let mut out = Vec::new();
    for (arn, layers) in now_layers {
        let Some((account, region, name)) = function_place(&arn) else {
            continue;
        };
        let Some(swap) = swaps.get(&region) else {
            continue;
        };
        if planned.contains(arn.as_str()) || !layers.iter().any(|l| swap.old.contains(l)) {
            continue;
        }
        out.push(rollout::PlannedFunction {
            account_name: account_names
                .get(account.as_str())
                .unwrap_or(&"")
                .to_string(),
            account_id: account,
            region,
            function_name: name,
            function_arn: arn.clone(),
            // ListFunctions carries no tags: whether a stack owns it is not known here.
            managed_by: String::new(),
            layers_after: rollout::swap_layers(&layers, &swap.old, &swap.new),
            layers_before: layers,
        });
    }
    Ok(out)
}

/// (account, region, name) of `arn:aws:lambda:<region>:<account>:function:<name>`.
fn function_place(arn: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        [_, _, "lambda", region, account, "function", name, ..] => {
            Some((account.to_string(), region.to_string(), name.to_string()))
        }
        _ => None,
    }
}

fn assemble(
    layer_name: String,
    swaps: BTreeMap<String, Swap>,
    functions: Vec<rollout::PlannedFunction>,
    protected: Vec<String>,
    targeting: &Targeting,
    (window_start, window_end): (String, String),
    preferences: Preferences,
) -> Rollout {
    let waves = rollout::waves(&functions, &targeting.canary, targeting.wave_size);
    let rollout_id = rollout::rollout_id(&swaps, &functions, &timestamp(now()));
    Rollout {
        stack_set_name: format!("govctl-layer-remediation-{rollout_id}"),
        rollout_id,
        layer_name,
        window_start,
        window_end,
        estimated_minutes: rollout::estimate_minutes(&waves, &preferences),
        preferences,
        swaps,
        waves,
        functions,
        protected,
        template_sha256: text_digest(TEMPLATE),
    }
}

async fn write_plan(
    aws: &Aws,
    rollout: Rollout,
    inputs: serde_json::Value,
    args: &PlanningArgs,
    settings: Settings,
) -> Result<ExitCode> {
    let caller = Identity {
        arn: aws.caller().arn.clone(),
        account: aws.caller().account.clone(),
    };
    let summary = show::summary(&rollout);
    let changes = serde_json::to_value(&rollout).map_err(|e| Error::Encode(e.to_string()))?;
    let plan = Plan::new(
        KIND,
        caller,
        inputs,
        changes,
        now(),
        // Already in seconds (`parse_duration`).
        args.expires_in.max(1),
    );
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.json", plan.plan_id)));

    plan.save(&path)?;
    let gate = Gate::new(aws, settings);
    gate.record_plan(&plan, summary).await?;

    let mut stdout = std::io::stdout().lock();
    show::render(&plan, &rollout, &mut stdout)?;
    plan.write_next_step(&path, &mut stdout)?;
    let code = if args.detailed_exitcode {
        EXIT_CHANGES
    } else {
        EXIT_OK
    };
    Ok(ExitCode::from(code))
}

/// The rollout a layer-remediation plan holds.
pub fn rollout_of(plan: &Plan, path: &Path) -> Result<Rollout> {
    plan.changes_as(KIND, path)
}

/// The layer the plan is for: the one named, or the only one outdated.
fn choose_layer(rows: &[Finding], wanted: Option<&str>) -> Result<String> {
    let names: BTreeSet<&str> = rows.iter().map(|r| &*r.layer_name).collect();
    match (wanted, names.len()) {
        (Some(name), _) => Ok(name.to_string()),
        (None, 1) => Ok(names.into_iter().next().unwrap_or_default().to_string()),
        (None, 0) => Ok(String::new()),
        (None, _) => Err(Error::InvalidInput {
            what: "--layer",
            value: String::new(),
            expected: format!(
                "one of the outdated layers: {}",
                names.into_iter().collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

/// The rows of `layer_name`, with `new_version` as their target when given. A layer
/// published by several accounts in one region is refused: the plan could not tell which.
fn retarget(rows: &[Finding], layer_name: &str, new_version: Option<u64>) -> Result<Vec<Finding>> {
    let mut owners: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for row in rows.iter().filter(|r| &*r.layer_name == layer_name) {
        let owner = row.layer_arn.split(':').nth(4).unwrap_or_default();
        owners.entry(&row.region).or_default().insert(owner);
    }
    if let Some((region, accounts)) = owners.iter().find(|(_, a)| a.len() > 1) {
        return Err(Error::InvalidInput {
            what: "--layer",
            value: layer_name.to_string(),
            expected: format!(
                "a layer published by one account; in {region} it is published by {}",
                accounts.iter().copied().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    Ok(rows
        .iter()
        .filter(|r| &*r.layer_name == layer_name)
        .filter_map(|r| {
            let mut r = r.clone();
            if let Some(version) = new_version {
                if r.layer_version >= version {
                    return None;
                }
                r.latest_version = Some(version);
            }
            Some(r)
        })
        .collect())
}

fn preferences(args: &PlanningArgs) -> Preferences {
    Preferences {
        max_concurrent_count: args.max_concurrent_count,
        max_concurrent_percentage: args.max_concurrent_percentage,
        failure_tolerance_count: args.failure_tolerance_count,
        failure_tolerance_percentage: args.failure_tolerance_percentage,
        region_order: args.region_order.clone(),
        region_concurrency: args.region_concurrency.clone(),
        concurrency_mode: args.concurrency_mode.clone(),
    }
}

/// The change window, checked: both ends, in order, at most a day apart (the longest
/// flexible window EventBridge Scheduler allows). `default_start` fills a missing window.
fn window(args: &PlanningArgs, default_start: Option<i64>) -> Result<(String, String)> {
    let parse = |what: &'static str, value: &str| {
        DateTime::from_str(value, Format::DateTime)
            .map(|t| t.secs())
            .map_err(|_| Error::InvalidInput {
                what,
                value: value.to_string(),
                expected: "a UTC time such as 2026-12-10T20:00:00Z".into(),
            })
    };
    let (start, end) = match (&args.window_start, &args.window_end, default_start) {
        (Some(start), Some(end), _) => {
            (parse("--window-start", start)?, parse("--window-end", end)?)
        }
        (None, None, Some(now)) => {
            let start = now + ROLLBACK_DEFAULT_DELAY;
            (start, start + ROLLBACK_DEFAULT_WINDOW)
        }
        _ => {
            return Err(Error::InvalidInput {
                what: "--window-start/--window-end",
                value: String::new(),
                expected: "both ends of the change window, in UTC".into(),
            });
        }
    };
    if end <= start.max(now()) || end - start > 24 * 3600 {
        return Err(Error::InvalidInput {
            what: "--window-end",
            value: timestamp(end),
            expected: format!(
                "a time after {} and at most 24 hours later",
                timestamp(start)
            ),
        });
    }
    Ok((timestamp(start), timestamp(end)))
}

fn version_of(arn: &str) -> u64 {
    arn.rsplit(':')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn file_digest(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(hex_digest(&bytes))
}

pub fn text_digest(text: &str) -> String {
    hex_digest(text.as_bytes())
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
