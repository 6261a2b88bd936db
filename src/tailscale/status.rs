//! `govctl tailscale status`: every auth-key secret across the selected accounts and
//! regions, what Secrets Manager and Tailscale say about it, and one state per secret.
//!
//! [`collect`] reads the secrets (also for `rotate --plan`); [`classify`] is the pure rule
//! that turns what was read into a state. The key itself is read, because the secret's
//! value is where its Tailscale ID is, but it never leaves [`super::secret::Secret`].

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use serde::Serialize;

use super::api::{Api, KeyInfo};
use super::oauth::{OAuthSessions, Source};
use super::rotation::parse_time;
use super::secret::AuthKeyValue;
use super::store::{AWSCURRENT, Described, Secrets, Version, arn_parts};
use super::{SelectionArgs, State, StatusArgs};
use crate::aws::Aws;
use crate::change::plan::{now, timestamp};
use crate::error::{EXIT_FINDINGS, EXIT_OK, Error, Result};
use crate::output::{self, Row};
use crate::targets::{self, Target};
use crate::ui::Ui;

const DAY: i64 = 86_400;

/// One auth-key secret, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusRow {
    pub account_id: String,
    pub region: String,
    pub secret_name: String,
    pub last_rotated: Option<String>,
    pub age_days: Option<i64>,
    pub next_rotation: Option<String>,
    pub rotation_enabled: bool,
    pub key_id: Option<String>,
    pub key_created: Option<String>,
    pub key_expires: Option<String>,
    pub days_left: Option<i64>,
    pub tailscale: String,
    pub state: State,
    pub detail: String,
    pub secret_arn: String,
}

impl Row for StatusRow {
    const COLUMNS: &'static [&'static str] = &[
        "account_id",
        "region",
        "secret_name",
        "last_rotated",
        "age_days",
        "next_rotation",
        "rotation_enabled",
        "key_id",
        "key_created",
        "key_expires",
        "days_left",
        "tailscale",
        "state",
        "detail",
        "secret_arn",
    ];
}

/// What Tailscale said about the current key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Revoked(String),
    /// Invalid without a revocation time: expired, as far as Tailscale says.
    Invalid,
    NotFound,
    /// Tailscale was not asked or did not answer; the reason.
    Unknown(String),
}

impl Verdict {
    fn word(&self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Revoked(_) => "revoked",
            Verdict::Invalid => "invalid",
            Verdict::NotFound => "not-found",
            Verdict::Unknown(_) => "unknown",
        }
    }

    fn of(info: Option<KeyInfo>) -> Verdict {
        match info {
            None => Verdict::NotFound,
            Some(info) => match info.revoked {
                Some(at) => Verdict::Revoked(at),
                None if info.invalid => Verdict::Invalid,
                None => Verdict::Valid,
            },
        }
    }
}

/// An auth-key secret as read.
#[derive(Debug, Clone)]
pub struct Observed {
    pub account_id: String,
    pub region: String,
    pub described: Described,
    /// When the AWSCURRENT version was made.
    pub current_created: Option<i64>,
    pub value: std::result::Result<AuthKeyValue, String>,
    pub tailscale: Verdict,
    /// Tailscale's own dates, when it answered.
    pub key_created: Option<String>,
    pub key_expires: Option<String>,
}

impl Observed {
    pub fn key_id(&self) -> Option<&str> {
        self.value.as_ref().ok().map(|v| v.id.as_str())
    }

    pub fn expires(&self) -> Option<&str> {
        self.key_expires
            .as_deref()
            .or_else(|| self.value.as_ref().ok()?.expires.as_deref())
    }

    pub fn created(&self) -> Option<&str> {
        self.key_created
            .as_deref()
            .or_else(|| self.value.as_ref().ok()?.created.as_deref())
    }

    /// When the secret last changed key: the later of Secrets Manager's last rotation and
    /// the current version's creation (a rotation by govctl moves labels itself, which
    /// Secrets Manager does not count as a rotation).
    pub fn last_rotated(&self) -> Option<i64> {
        match (self.described.last_rotated, self.current_created) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The state of a secret, and a sentence saying why.
pub fn classify(observed: &Observed, now: i64, soon_days: i64) -> (State, String) {
    let value = match &observed.value {
        Ok(value) => value,
        Err(reason) => return (State::Unreadable, reason.clone()),
    };
    let expires = observed.expires().and_then(parse_time);
    match &observed.tailscale {
        Verdict::Revoked(at) => {
            return (
                State::Revoked,
                format!("Tailscale says key {} was revoked at {at}", value.id),
            );
        }
        Verdict::NotFound => {
            return (
                State::Revoked,
                format!("Tailscale does not know key {}", value.id),
            );
        }
        Verdict::Invalid if expires.is_none_or(|at| at > now) => {
            return (
                State::Revoked,
                format!("Tailscale says key {} is invalid", value.id),
            );
        }
        _ => {}
    }
    if let Some(at) = expires.filter(|at| *at <= now) {
        return (
            State::Expired,
            format!("key {} expired at {}", value.id, timestamp(at)),
        );
    }
    if let Some(version) = observed.described.stray_pending() {
        return (
            State::RotationStuck,
            format!(
                "version {version} is AWSPENDING but not AWSCURRENT: an unfinished rotation, \
                 which blocks the next one; `govctl tailscale rotate` finishes it"
            ),
        );
    }
    let mut notes = Vec::new();
    if let Verdict::Unknown(reason) = &observed.tailscale {
        notes.push(format!("Tailscale not asked: {reason}"));
    }
    let Some(expires) = expires else {
        notes.insert(0, "the key's expiry is unknown".into());
        return (State::Ok, notes.join("; "));
    };
    let left = (expires - now).div_euclid(DAY);
    let next = observed.described.next_rotation;
    let state = if left <= soon_days {
        notes.insert(0, format!("expires in {left} days"));
        State::RotateSoon
    } else if observed.described.rotation_enabled && next.is_some_and(|n| n >= expires) {
        notes.insert(
            0,
            "the next scheduled rotation comes after the key expires".into(),
        );
        State::RotateSoon
    } else {
        State::Ok
    };
    if !observed.described.rotation_enabled {
        notes.push("no scheduled rotation".into());
    }
    (state, notes.join("; "))
}

pub fn row(observed: &Observed, now: i64, soon_days: i64) -> StatusRow {
    let (state, detail) = classify(observed, now, soon_days);
    let expires = observed.expires().and_then(parse_time);
    let created = observed.created().and_then(parse_time);
    let age_from = created.or(observed.last_rotated());
    StatusRow {
        account_id: observed.account_id.clone(),
        region: observed.region.clone(),
        secret_name: observed.described.name.clone(),
        last_rotated: observed.last_rotated().map(timestamp),
        age_days: age_from.map(|at| (now - at).div_euclid(DAY)),
        next_rotation: observed.described.next_rotation.map(timestamp),
        rotation_enabled: observed.described.rotation_enabled,
        key_id: observed.key_id().map(str::to_string),
        key_created: observed.created().map(str::to_string),
        key_expires: observed.expires().map(str::to_string),
        days_left: expires.map(|at| (at - now).div_euclid(DAY)),
        tailscale: observed.tailscale.word().to_string(),
        state,
        detail,
        secret_arn: observed.described.arn.clone(),
    }
}

/// What [`collect`] read, and the targets it could not read.
pub struct Collected {
    pub observed: Vec<Observed>,
    pub missing: Vec<String>,
}

/// Reads every auth-key secret that `selection` names; concurrently per account and region.
///
/// A target that cannot be read fails the whole collection unless `allow_partial`; then
/// it is listed in [`Collected::missing`]. A secret Tailscale cannot be asked about is
/// still reported, with [`Verdict::Unknown`] and a warning.
pub async fn collect(
    aws: &Aws,
    selection: &SelectionArgs,
    oauth: &OAuthSessions<'_>,
    allow_partial: bool,
    ui: &Ui,
) -> Result<Collected> {
    let (targets, named) = resolve(aws, selection).await?;
    let bar = ui.bar(targets.len() as u64, "reading auth-key secrets");
    let outcomes = targets::visit(aws, &targets, |target| {
        let bar = bar.clone();
        let named = named.get(target).cloned();
        async move {
            let found = observe_target(aws, target, named, selection, oauth, ui).await;
            bar.inc(1);
            found
        }
    })
    .await;
    bar.finish_and_clear();

    let mut collected = Collected {
        observed: Vec::new(),
        missing: Vec::new(),
    };
    for (target, outcome) in outcomes {
        match outcome {
            Ok(found) => collected.observed.extend(found),
            Err(error) if allow_partial => {
                ui.warn(format!("{target}: {error}"));
                collected.missing.push(format!("{target}: {error}"));
            }
            Err(error) => return Err(error),
        }
    }
    collected.observed.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.described.name).cmp(&(
            &b.account_id,
            &b.region,
            &b.described.name,
        ))
    });
    Ok(collected)
}

/// The targets, and for `--secret-id` the ARNs in each.
async fn resolve(
    aws: &Aws,
    selection: &SelectionArgs,
) -> Result<(Vec<Target>, BTreeMap<Target, Vec<String>>)> {
    if selection.secret_id.is_empty() {
        return Ok((
            targets::resolve(aws, &selection.targets).await?,
            BTreeMap::new(),
        ));
    }
    let mut named: BTreeMap<Target, Vec<String>> = BTreeMap::new();
    for arn in &selection.secret_id {
        let (account, region) = arn_parts(arn).ok_or_else(|| Error::InvalidInput {
            what: "--secret-id",
            value: arn.clone(),
            expected: SECRET_ARN_SHAPE.into(),
        })?;
        let target = Target {
            account: account.to_string(),
            region: region.to_string(),
        };
        named.entry(target).or_default().push(arn.clone());
    }
    let targets = named.keys().cloned().collect();
    Ok((targets, named))
}

pub const SECRET_ARN_SHAPE: &str =
    "a secret ARN, arn:aws:secretsmanager:<region>:<12-digit account>:secret:<name>";

async fn observe_target(
    aws: &Aws,
    target: &Target,
    named: Option<Vec<String>>,
    selection: &SelectionArgs,
    oauth: &OAuthSessions<'_>,
    ui: &Ui,
) -> Result<Vec<Observed>> {
    let config = aws.config_for(&target.account, &target.region).await?;
    let secrets = Secrets::new(&config, &target.account, &target.region);
    let ids: Vec<String> = match named {
        Some(arns) => arns,
        None => secrets
            .find(&selection.secret_tag)
            .await?
            .into_iter()
            .map(|(_, arn)| arn)
            .collect(),
    };
    let mut observed = Vec::with_capacity(ids.len());
    for id in ids {
        observed.push(observe(&secrets, &id, oauth, ui).await?);
    }
    Ok(observed)
}

/// Reads one secret: its labels and schedule, its current value, and Tailscale's verdict.
pub async fn observe(
    secrets: &Secrets,
    secret_id: &str,
    oauth: &OAuthSessions<'_>,
    ui: &Ui,
) -> Result<Observed> {
    let described = secrets.describe(secret_id).await?;
    let current = secrets.value(secret_id, Version::Stage(AWSCURRENT)).await?;
    let current_created = current.as_ref().and_then(|c| c.created);
    let value = match &current {
        None => Err("the secret has no AWSCURRENT value".to_string()),
        Some(stored) => AuthKeyValue::parse(stored.value.expose()),
    };
    let mut observed = Observed {
        account_id: secrets.account().to_string(),
        region: secrets.region().to_string(),
        described,
        current_created,
        value,
        tailscale: Verdict::Unknown("the value could not be read".into()),
        key_created: None,
        key_expires: None,
    };
    let Ok(value) = &observed.value else {
        return Ok(observed);
    };
    let Some(settings) = &value.settings else {
        observed.tailscale = Verdict::Unknown("the value names no oauth_secret".into());
        return Ok(observed);
    };
    let asked = async {
        let session = oauth
            .session(&settings.oauth_secret, secrets.account(), secrets.region())
            .await?;
        session.get_key(&settings.tailnet, &value.id).await
    };
    match asked.await {
        Ok(info) => {
            if let Some(info) = &info {
                observed.key_created = info.created.clone();
                observed.key_expires = info.expires.clone();
            }
            observed.tailscale = Verdict::of(info);
        }
        Err(error) => {
            ui.warn(format!(
                "cannot ask Tailscale about the keys of OAuth client secret {}: {error}",
                settings.oauth_secret
            ));
            observed.tailscale = Verdict::Unknown(error.to_string());
        }
    }
    Ok(observed)
}

/// The document kind of the report in JSON.
pub const KIND: &str = "tailscale_status";

pub async fn run(args: StatusArgs, ui: &Ui) -> Result<ExitCode> {
    if let Some(path) = &args.output.out {
        output::check_destination(path)?;
    }
    let (rows, missing) = rows(&args, ui).await?;
    output::emit_partial(
        &rows,
        args.output.output,
        KIND,
        args.output.out.as_deref(),
        &missing,
    )?;
    ui.status(summary(&rows));

    if !missing.is_empty() {
        ui.warn(format!(
            "the report is partial: {} of the accounts and regions could not be read",
            missing.len()
        ));
        return Ok(ExitCode::from(EXIT_FINDINGS));
    }
    let failing = rows.iter().any(|r| super::fails_on(&args.fail_on, r.state));
    Ok(ExitCode::from(if failing {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }))
}

/// The report's rows, sorted by account, region and secret, and the targets that could not
/// be read (only with `--allow-partial`).
pub async fn rows(args: &StatusArgs, ui: &Ui) -> Result<(Vec<StatusRow>, Vec<String>)> {
    let api = Api::new(&args.tailscale.api_url)?;
    let aws = Aws::connect(&args.aws).await?;
    let oauth = OAuthSessions::new(api, Source::Org(&aws));
    let collected = collect(&aws, &args.selection, &oauth, args.allow_partial, ui).await?;

    let now = now();
    let rows = collected
        .observed
        .iter()
        .map(|o| row(o, now, i64::from(args.soon_days)))
        .collect();
    Ok((rows, collected.missing))
}

/// `5 auth-key secrets in 2 accounts and 2 regions: 3 ok, 1 rotate-soon, 1 expired`.
pub fn summary(rows: &[StatusRow]) -> String {
    let accounts: BTreeSet<&str> = rows.iter().map(|r| r.account_id.as_str()).collect();
    let regions: BTreeSet<&str> = rows.iter().map(|r| r.region.as_str()).collect();
    let mut counts: BTreeMap<State, usize> = BTreeMap::new();
    for row in rows {
        *counts.entry(row.state).or_default() += 1;
    }
    let states: Vec<String> = counts
        .iter()
        .map(|(state, n)| format!("{n} {}", state.word()))
        .collect();
    let tail = if states.is_empty() {
        String::new()
    } else {
        format!(": {}", states.join(", "))
    };
    format!(
        "{} auth-key secrets in {} accounts and {} regions{tail}",
        rows.len(),
        accounts.len(),
        regions.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tailscale::secret::{KeySettings, Secret};
    use crate::tailscale::store::AWSPENDING;

    const NOW: i64 = 1_800_000_000;

    fn observed(expires_in_days: i64) -> Observed {
        let mut described = Described {
            arn: "arn:aws:secretsmanager:us-east-1:111122223333:secret:ts-AbCdEf".into(),
            name: "ts".into(),
            rotation_enabled: true,
            next_rotation: Some(NOW + 10 * DAY),
            ..Described::default()
        };
        described
            .stages
            .insert("v1".into(), vec![AWSCURRENT.into()]);
        Observed {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            described,
            current_created: Some(NOW - 50 * DAY),
            value: Ok(AuthKeyValue {
                key: Secret::new("tskey-auth-k1-x"),
                id: "k1".into(),
                created: Some(timestamp(NOW - 50 * DAY)),
                expires: Some(timestamp(NOW + expires_in_days * DAY)),
                settings: Some(KeySettings {
                    oauth_secret: "o".into(),
                    tailnet: "-".into(),
                    tags: vec!["tag:a".into()],
                    reusable: false,
                    ephemeral: false,
                    preauthorized: false,
                    expiry_seconds: 90 * DAY as u64,
                }),
                replaces: Vec::new(),
            }),
            tailscale: Verdict::Valid,
            key_created: None,
            key_expires: None,
        }
    }

    #[test]
    fn columns_match_the_serialized_fields() {
        let row = row(&observed(40), NOW, 30);
        assert_eq!(output::serialized_keys(&row), StatusRow::COLUMNS);
        assert_eq!(row.age_days, Some(50));
        assert_eq!(row.days_left, Some(40));
        assert_eq!(row.tailscale, "valid");
    }

    #[test]
    fn each_state_has_its_rule() {
        let state = |o: &Observed| classify(o, NOW, 30).0;
        assert_eq!(state(&observed(40)), State::Ok);
        assert_eq!(state(&observed(20)), State::RotateSoon);
        assert_eq!(state(&observed(-1)), State::Expired);

        let mut late = observed(40);
        late.described.next_rotation = Some(NOW + 41 * DAY);
        assert_eq!(
            state(&late),
            State::RotateSoon,
            "the schedule comes too late"
        );

        let mut revoked = observed(40);
        revoked.tailscale = Verdict::Revoked(timestamp(NOW - DAY));
        assert_eq!(state(&revoked), State::Revoked);
        revoked.tailscale = Verdict::NotFound;
        assert_eq!(state(&revoked), State::Revoked);
        revoked.tailscale = Verdict::Invalid;
        assert_eq!(state(&revoked), State::Revoked, "invalid before its expiry");

        let mut expired = observed(-3);
        expired.tailscale = Verdict::Invalid;
        assert_eq!(state(&expired), State::Expired);

        let mut stuck = observed(40);
        stuck
            .described
            .stages
            .insert("v2".into(), vec![AWSPENDING.into()]);
        let (s, detail) = classify(&stuck, NOW, 30);
        assert_eq!(s, State::RotationStuck);
        assert!(detail.contains("v2"), "{detail}");

        let mut unreadable = observed(40);
        unreadable.value = Err("the JSON has no \"key\" string".into());
        assert_eq!(state(&unreadable), State::Unreadable);
    }

    #[test]
    fn an_unanswered_tailscale_is_said_in_the_detail() {
        let mut o = observed(40);
        o.tailscale = Verdict::Unknown("HTTP 401: API token invalid".into());
        let (state, detail) = classify(&o, NOW, 30);
        assert_eq!(state, State::Ok);
        assert!(detail.contains("API token invalid"), "{detail}");
    }

    #[test]
    fn the_summary_counts_states() {
        let rows = vec![row(&observed(40), NOW, 30), row(&observed(-1), NOW, 30)];
        assert_eq!(
            summary(&rows),
            "2 auth-key secrets in 1 accounts and 1 regions: 1 ok, 1 expired"
        );
    }
}
