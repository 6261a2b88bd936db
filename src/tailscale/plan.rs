//! `govctl tailscale rotate --plan`: one `ClientRequestToken` per auth-key secret, sealed
//! in a plan with the version each secret is on now.
//!
//! The plan holds secret ARNs, version IDs, tokens and Tailscale key IDs, never a key: an
//! approver sees which keys are replaced, and the apply refuses a secret whose AWSCURRENT
//! version changed since (other than by this plan's own token).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::api::Api;
use super::oauth::{OAuthSessions, Source};
use super::status::{self, Observed};
use super::{RotateArgs, State, show};
use crate::aws::Aws;
use crate::change::commands::settings;
use crate::change::gate::Gate;
use crate::change::plan::{Identity, Plan, now};
use crate::error::{EXIT_OK, Error, Result};
use crate::output;
use crate::ui::Ui;

/// The plan kind of Tailscale key rotations.
pub const KIND: &str = "tailscale-rotation";

/// What a plan says about one secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedRotation {
    pub account_id: String,
    pub region: String,
    pub secret_name: String,
    pub secret_arn: String,
    /// The version ID the new version gets; Secrets Manager's idempotency key.
    pub client_request_token: String,
    /// AWSCURRENT when planned; the apply refuses the secret if it changed.
    pub current_version_id: String,
    pub current_key_id: String,
    pub current_key_expires: Option<String>,
    pub state: String,
    /// An unfinished rotation's AWSPENDING version; its key is revoked too.
    pub stray_pending_version_id: Option<String>,
    pub oauth_secret: String,
    pub tags: Vec<String>,
}

/// What the plan was made from, and how the apply behaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    pub grace_seconds: i64,
    pub tailscale_api_url: String,
    pub only_due: bool,
    pub secret_tag: Option<String>,
    pub secret_ids: Vec<String>,
    pub accounts: Option<Vec<String>>,
    pub exclude_accounts: Vec<String>,
    pub regions: Option<Vec<String>>,
}

/// The rotations and inputs of a Tailscale rotation plan.
pub fn rotations_of(plan: &Plan, path: &Path) -> Result<(Inputs, Vec<PlannedRotation>)> {
    Ok((plan.inputs_as(KIND, path)?, plan.changes_as(KIND, path)?))
}

pub async fn run(args: &RotateArgs, ui: &Ui) -> Result<ExitCode> {
    if let Some(out) = &args.out {
        output::check_destination(out)?;
    }
    let api = Api::new(&args.tailscale.api_url)?;
    let aws = Aws::connect(&args.aws).await?;
    let oauth = OAuthSessions::new(api, Source::Org(&aws));
    // A plan must not miss a secret it should rotate: no partial collection.
    let collected = status::collect(&aws, &args.selection, &oauth, false, ui).await?;

    let now = now();
    let mut rotations = Vec::new();
    for observed in &collected.observed {
        if let Some(rotation) = planned(observed, now, args.only_due, ui) {
            rotations.push(rotation);
        }
    }
    if rotations.is_empty() {
        ui.status(format!(
            "nothing to rotate: {} auth-key secrets found",
            collected.observed.len()
        ));
        return Ok(ExitCode::from(EXIT_OK));
    }

    let selection = &args.selection;
    let inputs = Inputs {
        grace_seconds: args.grace,
        tailscale_api_url: args.tailscale.api_url.clone(),
        only_due: args.only_due,
        secret_tag: selection
            .secret_id
            .is_empty()
            .then(|| selection.secret_tag.to_string()),
        secret_ids: selection.secret_id.clone(),
        accounts: selection.targets.accounts.clone(),
        exclude_accounts: selection.targets.exclude_accounts.clone(),
        regions: selection.targets.regions.clone(),
    };
    let caller = Identity {
        arn: aws.caller().arn.clone(),
        account: aws.caller().account.clone(),
    };
    let encode = |e: serde_json::Error| Error::Encode(e.to_string());
    let plan = Plan::new(
        KIND,
        caller,
        serde_json::to_value(&inputs).map_err(encode)?,
        serde_json::to_value(&rotations).map_err(encode)?,
        now,
        args.expires_in.max(1),
    );
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.json", plan.plan_id)));
    plan.save(&path)?;
    let gate = Gate::new(&aws, settings(&args.gate));
    gate.record_plan(&plan, summary(&rotations, args.grace))
        .await?;

    let mut stdout = std::io::stdout().lock();
    show::render(&plan, &inputs, &rotations, &mut stdout)?;
    plan.write_next_step(&path, &mut stdout)?;
    Ok(ExitCode::from(EXIT_OK))
}

/// The rotation of one observed secret, or `None` (with a warning) when it cannot or
/// need not be rotated.
fn planned(observed: &Observed, now: i64, only_due: bool, ui: &Ui) -> Option<PlannedRotation> {
    let (state, _) = status::classify(observed, now, i64::from(super::DEFAULT_SOON_DAYS));
    let name = &observed.described.arn;
    let value = match &observed.value {
        Ok(value) => value,
        Err(reason) => {
            ui.warn(format!("{name} is left out: {reason}"));
            return None;
        }
    };
    let Some(settings) = &value.settings else {
        ui.warn(format!(
            "{name} is left out: its value names no oauth_secret and tags, so govctl cannot \
             mint the next key"
        ));
        return None;
    };
    let Some(current) = observed.described.current() else {
        ui.warn(format!("{name} is left out: it has no AWSCURRENT version"));
        return None;
    };
    if only_due && state == State::Ok {
        return None;
    }
    Some(PlannedRotation {
        account_id: observed.account_id.clone(),
        region: observed.region.clone(),
        secret_name: observed.described.name.clone(),
        secret_arn: observed.described.arn.clone(),
        client_request_token: new_token(&observed.described.arn),
        current_version_id: current.to_string(),
        current_key_id: value.id.clone(),
        current_key_expires: observed.expires().map(str::to_string),
        state: state.word().to_string(),
        stray_pending_version_id: observed.described.stray_pending().map(str::to_string),
        oauth_secret: settings.oauth_secret.clone(),
        tags: settings.tags.clone(),
    })
}

/// A fresh `ClientRequestToken` (36 characters, shaped like a UUID), unique per secret and
/// plan: a hash of the secret, the time to the nanosecond, the process and a counter.
pub fn new_token(secret_arn: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut hash = Sha256::new();
    hash.update(secret_arn.as_bytes());
    hash.update(nanos.to_le_bytes());
    hash.update(std::process::id().to_le_bytes());
    hash.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let hex: String = hash
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// One line for change records and lists.
pub fn summary(rotations: &[PlannedRotation], grace: i64) -> String {
    let accounts: BTreeSet<&str> = rotations.iter().map(|r| r.account_id.as_str()).collect();
    let regions: BTreeSet<&str> = rotations.iter().map(|r| r.region.as_str()).collect();
    format!(
        "rotate {} Tailscale auth-key secrets in {} accounts and {} regions; old keys revoked {}",
        rotations.len(),
        accounts.len(),
        regions.len(),
        show::grace_words(grace)
    )
}

/// The plan's changes as the audit log and change record show them (no keys, ever).
pub fn describe(rotation: &PlannedRotation) -> serde_json::Value {
    json!({
        "secret": rotation.secret_arn,
        "token": rotation.client_request_token,
        "previous_key_id": rotation.current_key_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_and_fit_secrets_manager() {
        let a = new_token("arn:a");
        let b = new_token("arn:a");
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert!((32..=64).contains(&a.len()));
        assert_eq!(a.matches('-').count(), 4);
    }
}
