//! `govctl tailscale rotate --apply`: the plan's rotations, secret by secret, through the
//! change gate.
//!
//! Before anything changes, every secret must still be on the version the plan was made
//! on, or on the plan's own token (a rotation an earlier run of this plan finished). Then
//! each secret goes through [`Rotation`]'s steps from wherever it stands, so a rerun after
//! a crash or a failure continues the same rotation. Each step is an event in the change
//! record and the audit log, with key IDs and never keys. A secret that fails does not stop
//! the others; the plan then ends `failed` and can be applied again. A revoke that fails is
//! recorded and retried by the next run (of this plan, or the next rotation).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::RotateArgs;
use super::api::Api;
use super::oauth::{OAuthSessions, Source};
use super::plan::{PlannedRotation, rotations_of};
use super::rotation::{Progress, Rotation, parse_time};
use super::store::Secrets;
use crate::aws::Aws;
use crate::change::commands::settings;
use crate::change::gate::Gate;
use crate::change::plan::{Plan, now};
use crate::change::record::{Record, Status};
use crate::cli::Format;
use crate::error::{EXIT_OK, Error, Result};
use crate::output::{self, Row};
use crate::ui::Ui;

/// What happened to one secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RotationResult {
    pub account_id: String,
    pub region: String,
    pub secret_name: String,
    pub previous_key_id: String,
    pub new_key_id: String,
    /// rotated, resumed, failed, or revoke-failed.
    pub outcome: String,
    pub revoked: String,
    pub detail: String,
}

impl Row for RotationResult {
    const COLUMNS: &'static [&'static str] = &[
        "account_id",
        "region",
        "secret_name",
        "previous_key_id",
        "new_key_id",
        "outcome",
        "revoked",
        "detail",
    ];
}

pub async fn run(file: &Path, args: &RotateArgs, ui: &Ui) -> Result<ExitCode> {
    let plan = Plan::load(file)?;
    let (inputs, rotations) = rotations_of(&plan, file)?;
    if inputs.tailscale_api_url != args.tailscale.api_url {
        ui.warn(format!(
            "the plan was made against {}; applying against {}",
            inputs.tailscale_api_url, args.tailscale.api_url
        ));
    }
    let api = Api::new(&args.tailscale.api_url)?;
    let aws = Aws::connect(&args.aws).await?;
    let gate = Gate::new(&aws, settings(&args.gate));

    let mut record = gate.check_apply(&plan).await?;
    check_fresh(&aws, &plan, &rotations).await?;
    gate.start_apply(&plan, &mut record, args.break_lock)
        .await?;

    let oauth = OAuthSessions::new(api, Source::Org(&aws));
    let mut results = Vec::with_capacity(rotations.len());
    let mut first_error = None;
    for planned in &rotations {
        let mut result = RotationResult {
            account_id: planned.account_id.clone(),
            region: planned.region.clone(),
            secret_name: planned.secret_name.clone(),
            previous_key_id: planned.current_key_id.clone(),
            new_key_id: String::new(),
            outcome: "failed".into(),
            revoked: String::new(),
            detail: String::new(),
        };
        let mut step = Steps {
            aws: &aws,
            gate: &gate,
            plan: &plan,
            record: &mut record,
            oauth: &oauth,
            grace: inputs.grace_seconds,
            ui,
        };
        if let Err(error) = step.rotate(planned, &mut result).await {
            result.outcome = "failed".into();
            result.detail = error.to_string();
            let detail = json!({"secret": planned.secret_arn, "error": error.to_string()});
            gate.step(&plan, &mut record, "rotation-failed", detail)
                .await
                .ok();
            ui.warn(format!("{}: {error}", planned.secret_arn));
            first_error.get_or_insert(error);
        }
        results.push(result);
    }

    let revoke_failed = results.iter().any(|r| r.outcome == "revoke-failed");
    let outcome = match (&first_error, revoke_failed) {
        (None, false) => Status::Applied,
        _ => Status::Failed,
    };
    let detail = json!({"secrets": results.len(),
                        "failed": results.iter().filter(|r| r.outcome != "rotated"
                                                         && r.outcome != "resumed").count()});
    gate.finish(&plan, &mut record, outcome, detail).await?;
    output::emit(&results, Format::Table, "tailscale_rotation", None)?;

    if let Some(error) = first_error {
        return Err(error);
    }
    if revoke_failed {
        return Err(Error::Rotation {
            secret: results
                .iter()
                .filter(|r| r.outcome == "revoke-failed")
                .map(|r| r.secret_name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            step: "revoke",
            detail: "the new keys are AWSCURRENT, but some old keys could not be revoked".into(),
        });
    }
    ui.status(format!(
        "applied {}: {} auth-key secrets rotated",
        plan.plan_id,
        results.len()
    ));
    Ok(ExitCode::from(EXIT_OK))
}

/// Refuses the plan if a secret moved on since planning (other than to this plan's token).
async fn check_fresh(aws: &Aws, plan: &Plan, rotations: &[PlannedRotation]) -> Result<()> {
    for r in rotations {
        let config = aws.config_for(&r.account_id, &r.region).await?;
        let secrets = Secrets::new(&config, &r.account_id, &r.region);
        let described = secrets.describe(&r.secret_arn).await?;
        let current = described.current().unwrap_or("none");
        if current != r.current_version_id && current != r.client_request_token {
            return Err(Error::PlanStale {
                plan_id: plan.plan_id.clone(),
                detail: format!(
                    "secret {} is now on version {current}, not on {} as planned",
                    r.secret_arn, r.current_version_id
                ),
            });
        }
    }
    Ok(())
}

struct Steps<'a, 'b> {
    aws: &'a Aws,
    gate: &'a Gate<'a>,
    plan: &'a Plan,
    record: &'b mut Record,
    oauth: &'a OAuthSessions<'a>,
    grace: i64,
    ui: &'a Ui,
}

impl Steps<'_, '_> {
    async fn event(&mut self, name: &str, detail: serde_json::Value) -> Result<()> {
        self.gate.step(self.plan, self.record, name, detail).await
    }

    async fn rotate(
        &mut self,
        planned: &PlannedRotation,
        result: &mut RotationResult,
    ) -> Result<()> {
        let config = self
            .aws
            .config_for(&planned.account_id, &planned.region)
            .await?;
        let secrets = Secrets::new(&config, &planned.account_id, &planned.region);
        let rotation = Rotation {
            secrets: &secrets,
            oauth: self.oauth,
            secret_id: &planned.secret_arn,
            token: &planned.client_request_token,
        };
        let secret = &planned.secret_arn;
        let token = &planned.client_request_token;

        let progress = rotation.progress().await?;
        result.outcome = if progress == Progress::NotStarted {
            "rotated".into()
        } else {
            "resumed".into()
        };
        if progress != Progress::NotStarted {
            self.ui
                .status(format!("{secret}: resuming rotation {token}"));
        }
        if progress == Progress::NotStarted {
            let created = rotation.create().await?;
            let detail = json!({"secret": secret, "token": token, "key_id": created.key_id,
                                "minted": created.minted,
                                "orphans_revoked": created.orphans_revoked});
            self.event("key-created", detail).await?;
        }
        let promoted_at = match progress {
            Progress::Current { .. } => {
                // A leftover AWSPENDING label on the current version goes too.
                rotation.finish().await?;
                self.promoted_at(token).unwrap_or_else(now)
            }
            _ => {
                rotation.set().await?;
                let key_id = rotation.test(now()).await?;
                self.event(
                    "key-tested",
                    json!({"secret": secret, "token": token, "key_id": key_id}),
                )
                .await?;
                let finished = rotation.finish().await?;
                let detail = json!({"secret": secret, "token": token, "key_id": key_id,
                                    "previous_version": finished.previous_version});
                self.event("key-promoted", detail).await?;
                self.ui
                    .status(format!("{secret}: key {key_id} is AWSCURRENT"));
                now()
            }
        };
        if let Progress::Created { key_id } | Progress::Current { key_id } =
            rotation.progress().await?
        {
            result.new_key_id = key_id;
        }

        let wait = promoted_at + self.grace - now();
        if wait > 0 {
            self.ui.status(format!(
                "{secret}: waiting {wait}s (the plan's grace period) before revoking the old key"
            ));
            tokio::time::sleep(Duration::from_secs(wait as u64)).await;
        }
        let revoked = rotation.revoke_replaced().await?;
        let mut gone: Vec<String> = revoked.revoked.clone();
        gone.extend(revoked.already_gone.iter().cloned());
        result.revoked = gone.join(",");
        self.event(
            "keys-revoked",
            json!({"secret": secret, "token": token, "revoked": revoked.revoked,
                   "already_gone": revoked.already_gone}),
        )
        .await?;
        for (key_id, error) in &revoked.failed {
            self.event(
                "revoke-failed",
                json!({"secret": secret, "token": token, "key_id": key_id, "error": error}),
            )
            .await?;
            self.ui.warn(format!(
                "{secret}: key {key_id} could not be revoked ({error}); it is retried by the \
                 next apply of this plan and by the next rotation"
            ));
        }
        if !revoked.failed.is_empty() {
            result.outcome = "revoke-failed".into();
            result.detail = format!(
                "not revoked: {}",
                revoked
                    .failed
                    .iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
        Ok(())
    }

    /// When an earlier run of this plan promoted `token`, from the change record.
    fn promoted_at(&self, token: &str) -> Option<i64> {
        self.record
            .events
            .iter()
            .filter(|e| e.event == "key-promoted")
            .find(|e| {
                serde_json::from_str::<serde_json::Value>(&e.detail)
                    .ok()
                    .and_then(|d| d.get("token").and_then(|t| t.as_str()).map(|t| t == token))
                    .unwrap_or(false)
            })
            .and_then(|e| parse_time(&e.at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_match_the_serialized_fields() {
        let row = RotationResult {
            account_id: "1".into(),
            region: "r".into(),
            secret_name: "s".into(),
            previous_key_id: "k1".into(),
            new_key_id: "k2".into(),
            outcome: "rotated".into(),
            revoked: "k1".into(),
            detail: String::new(),
        };
        assert_eq!(output::serialized_keys(&row), RotationResult::COLUMNS);
    }
}
