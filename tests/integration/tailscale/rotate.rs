//! `govctl tailscale rotate`: a clean rotation through the gate, each step failing and the
//! rerun finishing it, killed runs, an expired or under-scoped OAuth client, stray
//! AWSPENDING versions, a stale plan and the grace period.
//!
//! After every failure the workload's AWSCURRENT must still hold a key Tailscale calls
//! valid; after every finished rotation the token's version is AWSCURRENT, no AWSPENDING is
//! left, exactly one key minted for the token is valid, and the old key is revoked.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{DAY, TAG, US, World, wait_for};
use crate::common::http;

/// A world with one auth-key secret in workload-prod, us-east-1.
struct Setup {
    world: World,
    prod: String,
    client: Value,
}

impl Setup {
    async fn new() -> Setup {
        let world = World::new();
        let prod = world.account("workload-prod");
        let client = world.fake.client(&["auth_keys"]);
        world
            .oauth_secret(&prod, US, "tailscale/oauth", &client)
            .await;
        Setup {
            world,
            prod,
            client,
        }
    }

    /// A new auth-key secret with a key 70 days old; returns its ARN and key ID.
    async fn secret(&self, name: &str) -> (String, String) {
        let key = self.world.fake.key(70 * DAY, 20 * DAY);
        let value = self.world.value_of(&key, "tailscale/oauth");
        let arn = self
            .world
            .auth_key_secret(&self.prod, US, name, &value)
            .await;
        (arn, key["id"].as_str().unwrap().to_string())
    }

    /// Plans and approves the rotation of one secret; returns the plan and its token.
    fn planned(&self, name: &str, arn: &str, extra: &[&str]) -> (PathBuf, String) {
        let mut selection = vec!["--secret-id", arn];
        selection.extend_from_slice(extra);
        let plan = self.world.plan(name, &selection);
        self.world.approve(&plan);
        let token = self.world.rotations(&plan)[0]["client_request_token"]
            .as_str()
            .unwrap()
            .to_string();
        (plan, token)
    }

    fn key_state(&self, id: &str) -> Value {
        self.world.fake.key_by_id(id)
    }

    fn is_valid(&self, id: &str) -> bool {
        let key = self.key_state(id);
        key.get("invalid").is_none() && key.get("revoked").is_none()
    }

    /// The workload can join: AWSCURRENT holds a key Tailscale calls valid.
    async fn workload_has_a_valid_key(&self, arn: &str) -> String {
        let current = self.world.value(&self.prod, US, arn, "AWSCURRENT").await;
        let id = current["id"].as_str().unwrap().to_string();
        assert!(
            self.is_valid(&id),
            "AWSCURRENT holds key {id}, which is not valid"
        );
        id
    }

    /// Everything a finished rotation leaves behind.
    async fn assert_rotated(&self, arn: &str, token: &str, old_key: &str) -> String {
        let stages = self.world.stages(&self.prod, US, arn).await;
        let current: Vec<&str> = stages
            .iter()
            .filter(|(_, labels)| labels.iter().any(|l| l == "AWSCURRENT"))
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(current, [token], "{stages:?}");
        assert!(
            !stages
                .iter()
                .any(|(_, l)| l.iter().any(|l| l == "AWSPENDING")),
            "an AWSPENDING label is left: {stages:?}"
        );
        assert!(
            stages
                .iter()
                .any(|(_, l)| l.iter().any(|l| l == "AWSPREVIOUS")),
            "{stages:?}"
        );
        let new_key = self.workload_has_a_valid_key(arn).await;
        let valid: Vec<Value> = self
            .world
            .fake
            .minted_for(token)
            .into_iter()
            .filter(|k| k.get("invalid").is_none())
            .collect();
        assert_eq!(valid.len(), 1, "one valid key for the token: {valid:?}");
        assert_eq!(valid[0]["id"], new_key.as_str());
        assert!(
            !self.is_valid(old_key),
            "the old key {old_key} is still valid"
        );
        new_key
    }

    fn emulator_faults(&self, rules: Value) {
        let body = json!({"seed": 1, "rules": rules}).to_string();
        http(
            "POST",
            &format!("{}/_govctl/faults", self.world.emulator.endpoint),
            &body,
        );
    }

    fn clear_emulator_faults(&self) {
        http(
            "DELETE",
            &format!("{}/_govctl/faults", self.world.emulator.endpoint),
            "",
        );
    }
}

#[tokio::test]
async fn a_clean_rotation_goes_through_the_gate_and_revokes_the_old_key() {
    let setup = Setup::new().await;
    let world = &setup.world;
    let (arn, old_key) = setup.secret("ts/app").await;
    let old_version = world.stages(&setup.prod, US, &arn).await[0].0.clone();

    let plan = world.plan("plan.json", &["--accounts", &setup.prod]);
    let rotations = world.rotations(&plan);
    assert_eq!(rotations.len(), 1);
    let planned = &rotations[0];
    let token = planned["client_request_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(token.len(), 36);
    assert_eq!(planned["current_key_id"], old_key.as_str());
    assert_eq!(planned["current_version_id"], old_version.as_str());
    assert_eq!(planned["state"], "rotate-soon");

    let shown = world.govctl(&["plan", "show", plan.to_str().unwrap()]).ok();
    for part in [
        "tailscale-rotation",
        "ts/app",
        token.as_str(),
        old_key.as_str(),
        "as soon as",
    ] {
        assert!(
            shown.stdout.contains(part),
            "{part} not in:\n{}",
            shown.stdout
        );
    }

    let out = world.apply(&plan, &[]);
    assert!(
        out.error_line().contains("is not approved"),
        "{}",
        out.stderr
    );
    world.approve(&plan);
    // With trace logs of everything (SDK, HTTP): the leak scan reads them too.
    let out = world.apply(&plan, &["-vv"]).ok();
    assert!(out.stdout.contains("rotated"), "{}", out.stdout);
    assert!(
        out.stderr.contains("1 auth-key secrets rotated"),
        "{}",
        out.stderr
    );

    let new_key = setup.assert_rotated(&arn, &token, &old_key).await;
    assert_eq!(
        world.fake.minted_for(&token).len(),
        1,
        "exactly one key minted"
    );
    let current = world.value(&setup.prod, US, &arn, "AWSCURRENT").await;
    assert_eq!(current["oauth_secret"], "tailscale/oauth");
    assert_eq!(current["tags"], json!([TAG]));
    assert_eq!(current["replaces"][0]["key_id"], old_key.as_str());
    let minted = setup.key_state(&new_key);
    assert_eq!(
        minted["capabilities"]["devices"]["create"]["tags"],
        json!([TAG])
    );
    assert_eq!(
        minted["capabilities"]["devices"]["create"]["ephemeral"],
        true
    );
    let previous = world.value(&setup.prod, US, &arn, "AWSPREVIOUS").await;
    assert_eq!(
        previous["id"],
        old_key.as_str(),
        "the old value stays as AWSPREVIOUS"
    );

    let audit = std::fs::read_to_string(world.path("audit.jsonl")).unwrap();
    for event in [
        "planned",
        "approved",
        "apply-started",
        "key-created",
        "key-tested",
        "key-promoted",
        "keys-revoked",
        "applied",
    ] {
        assert!(
            audit.contains(&format!("\"event\":\"{event}\"")),
            "{event}:\n{audit}"
        );
    }
    let out = world.apply(&plan, &[]);
    assert!(out.error_line().contains("applied"), "{}", out.stderr);

    let out = world
        .govctl(&["tailscale", "status", "--output", "csv", "--fail-on", "any"])
        .ok();
    assert!(out.stdout.contains(&new_key), "{}", out.stdout);
    world.assert_no_leaks().await;
}

/// One way for a step to fail: set up before the first apply, cleared before the rerun.
struct Failure {
    name: &'static str,
    fake: Option<Value>,
    emulator: Option<Value>,
    /// Part of the error the failed apply prints; `None` when the apply recovers by itself.
    error: Option<&'static str>,
    /// Keys minted for the token in the end (a lost key is replaced, and revoked).
    minted: usize,
}

#[tokio::test]
async fn each_step_failing_leaves_a_working_key_and_the_rerun_finishes_it() {
    let setup = Setup::new().await;
    let world = &setup.world;
    let failures = [
        Failure {
            name: "oauth-token",
            fake: Some(json!([{"endpoint": "token", "status": 503, "times": 0}])),
            emulator: None,
            error: Some("Tailscale API oauth token failed: HTTP 503"),
            minted: 1,
        },
        Failure {
            name: "create-refused",
            fake: Some(json!([{"endpoint": "create_key", "status": 500, "times": 0}])),
            emulator: None,
            error: Some("Tailscale API create key failed: HTTP 500"),
            minted: 1,
        },
        Failure {
            name: "create-answer-lost",
            fake: Some(json!([{"endpoint": "create_key", "status": 502, "apply": true}])),
            emulator: None,
            error: Some("HTTP 502"),
            minted: 2,
        },
        Failure {
            name: "store-refused",
            fake: None,
            emulator: Some(
                json!([{"match": {"action": "secretsmanager:PutSecretValue"},
                                   "server_error": 1}]),
            ),
            error: Some("secretsmanager:PutSecretValue"),
            minted: 2,
        },
        Failure {
            name: "store-answer-lost",
            fake: None,
            emulator: Some(
                json!([{"match": {"action": "secretsmanager:PutSecretValue"},
                                   "drop": 1}]),
            ),
            error: None,
            minted: 1,
        },
        Failure {
            name: "test",
            fake: Some(json!([{"endpoint": "get_key", "status": 500, "times": 0}])),
            emulator: None,
            error: Some("Tailscale API get key failed: HTTP 500"),
            minted: 1,
        },
        Failure {
            name: "finish",
            fake: None,
            emulator: Some(
                json!([{"match": {"action": "secretsmanager:UpdateSecretVersionStage"},
                                   "server_error": 1}]),
            ),
            error: Some("secretsmanager:UpdateSecretVersionStage"),
            minted: 1,
        },
        Failure {
            name: "revoke",
            fake: Some(json!([{"endpoint": "delete_key", "status": 500, "times": 0}])),
            emulator: None,
            error: Some("some old keys could not be revoked"),
            minted: 1,
        },
    ];

    for failure in &failures {
        let (arn, old_key) = setup.secret(&format!("ts/{}", failure.name)).await;
        let (plan, token) = setup.planned(&format!("{}.json", failure.name), &arn, &[]);
        if let Some(rules) = &failure.fake {
            world.fake.faults(rules.clone());
        }
        if let Some(rules) = &failure.emulator {
            setup.emulator_faults(rules.clone());
        }
        let first = world.apply(&plan, &[]);
        world.fake.clear_faults();
        setup.clear_emulator_faults();

        match failure.error {
            Some(expected) => {
                assert_eq!(first.code, 2, "{}: {}", failure.name, first.stderr);
                assert!(
                    first.stderr.contains(expected),
                    "{}: {expected} not in:\n{}",
                    failure.name,
                    first.stderr
                );
                setup.workload_has_a_valid_key(&arn).await;
                let second = world.apply(&plan, &[]);
                assert_eq!(second.code, 0, "{}: {}", failure.name, second.stderr);
            }
            None => assert_eq!(first.code, 0, "{}: {}", failure.name, first.stderr),
        }
        setup.assert_rotated(&arn, &token, &old_key).await;
        assert_eq!(
            world.fake.minted_for(&token).len(),
            failure.minted,
            "{}: keys minted for the token",
            failure.name
        );
    }
    world.assert_no_leaks().await;
}

/// Starts an apply, kills it once `started` holds, and lets the interrupted call finish.
fn kill_apply_when(world: &World, plan: &Path, started: impl FnMut() -> bool) {
    let mut command = world.command(&["tailscale", "rotate", "--apply", plan.to_str().unwrap()]);
    // What the killed run printed goes into the world's directory, which the leak scan reads.
    let name = plan.file_stem().unwrap().to_string_lossy();
    let out = std::fs::File::create(world.path(&format!("{name}.killed.out"))).unwrap();
    let err = std::fs::File::create(world.path(&format!("{name}.killed.err"))).unwrap();
    let mut child = command
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap();
    wait_for(30, started);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn a_killed_apply_runs_again_and_finishes_the_same_rotation() {
    let setup = Setup::new().await;
    let world = &setup.world;

    // Killed while Tailscale mints the key: the key exists, the secret never got it.
    let (arn, old_key) = setup.secret("ts/killed-minting").await;
    let (plan, token) = setup.planned("minting.json", &arn, &[]);
    world
        .fake
        .faults(json!([{"endpoint": "create_key", "status": 0, "delay_ms": 1500}]));
    kill_apply_when(world, &plan, || {
        world.fake.control("GET", "faults", Value::Null)["rules"][0]["fired"] == 1
    });
    wait_for(10, || world.fake.minted_for(&token).len() == 1);
    world.fake.clear_faults();
    setup.workload_has_a_valid_key(&arn).await;
    let out = world.apply(&plan, &[]);
    assert!(
        out.error_line().contains("is being applied"),
        "{}",
        out.stderr
    );
    let out = world.apply(&plan, &["--break-lock"]).ok();
    assert!(
        out.stderr.contains("resuming") || out.stdout.contains("rotated"),
        "{}",
        out.stderr
    );
    setup.assert_rotated(&arn, &token, &old_key).await;
    let minted = world.fake.minted_for(&token);
    assert_eq!(minted.len(), 2, "the lost key is replaced: {minted:?}");

    // Killed while Secrets Manager moves AWSCURRENT: the move lands after the kill.
    let (arn, old_key) = setup.secret("ts/killed-promoting").await;
    let (plan, token) = setup.planned("promoting.json", &arn, &[]);
    setup.emulator_faults(
        json!([{"match": {"action": "secretsmanager:UpdateSecretVersionStage"},
                                  "latency_ms": 1500}]),
    );
    let stats = format!("{}/_govctl/stats", world.emulator.endpoint);
    let promotions = || {
        let stats: Value = serde_json::from_str(&http("GET", &stats, "")).unwrap();
        stats["by_action"]["secretsmanager:UpdateSecretVersionStage"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = promotions();
    kill_apply_when(world, &plan, || promotions() > before);
    std::thread::sleep(Duration::from_millis(2000));
    setup.clear_emulator_faults();
    setup.workload_has_a_valid_key(&arn).await;
    let out = world.apply(&plan, &["--break-lock"]).ok();
    assert!(out.stderr.contains("resuming"), "{}", out.stderr);
    setup.assert_rotated(&arn, &token, &old_key).await;
    assert_eq!(
        world.fake.minted_for(&token).len(),
        1,
        "nothing minted twice"
    );
    world.assert_no_leaks().await;
}

#[tokio::test]
async fn an_expired_oauth_secret_changes_nothing_until_it_is_replaced() {
    let setup = Setup::new().await;
    let world = &setup.world;
    let (arn, old_key) = setup.secret("ts/app").await;
    let (plan, token) = setup.planned("plan.json", &arn, &[]);
    let client_id = setup.client["client_id"].as_str().unwrap();
    world
        .fake
        .control("DELETE", &format!("clients/{client_id}"), Value::Null);

    let out = world.apply(&plan, &[]);
    assert!(
        out.stderr
            .contains("Tailscale API oauth token failed: HTTP 401: API token invalid"),
        "{}",
        out.stderr
    );
    assert!(
        out.hint().unwrap_or_default().contains("OAuth client"),
        "{}",
        out.stderr
    );
    assert!(world.fake.minted_for(&token).is_empty());
    let stages = world.stages(&setup.prod, US, &arn).await;
    assert_eq!(stages.len(), 1, "nothing stored: {stages:?}");
    setup.workload_has_a_valid_key(&arn).await;

    // A new OAuth client in the same secret: the same plan goes through.
    let client = world.fake.client(&["auth_keys"]);
    world.remember_secret(client["client_secret"].as_str().unwrap());
    world
        .sm(&setup.prod, US)
        .await
        .put_secret_value()
        .secret_id("tailscale/oauth")
        .secret_string(
            json!({"client_id": client["client_id"], "client_secret": client["client_secret"]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    world.apply(&plan, &[]).ok();
    setup.assert_rotated(&arn, &token, &old_key).await;
    world.assert_no_leaks().await;
}

#[tokio::test]
async fn an_access_token_that_expires_mid_run_is_fetched_again() {
    let setup = Setup::new().await;
    let world = &setup.world;
    let (arn, old_key) = setup.secret("ts/app").await;
    let (plan, token) = setup.planned("plan.json", &arn, &[]);
    world
        .fake
        .faults(json!([{"endpoint": "create_key", "status": 401,
                              "message": "API token invalid"}]));
    world.apply(&plan, &[]).ok();
    setup.assert_rotated(&arn, &token, &old_key).await;
    assert_eq!(world.fake.minted_for(&token).len(), 1);
    let tokens = world
        .fake
        .requests()
        .iter()
        .filter(|r| r["endpoint"] == "token")
        .count();
    assert!(tokens >= 2, "a new access token after the 401");
    world.assert_no_leaks().await;
}

#[tokio::test]
async fn an_oauth_client_without_the_auth_keys_scope_is_refused_with_403() {
    let setup = Setup::new().await;
    let world = &setup.world;
    let reader = world.fake.client(&["auth_keys:read"]);
    world
        .oauth_secret(&setup.prod, US, "tailscale/reader", &reader)
        .await;
    let key = world.fake.key(70 * DAY, 20 * DAY);
    let value = world.value_of(&key, "tailscale/reader");
    let arn_reader = world
        .auth_key_secret(&setup.prod, US, "ts/reader", &value)
        .await;
    let (plan, token) = setup.planned("plan.json", &arn_reader, &[]);
    let out = world.apply(&plan, &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("HTTP 403: calling actor does not have enough permissions"),
        "{}",
        out.stderr
    );
    assert!(
        out.hint().unwrap_or_default().contains("auth_keys scope"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("failed"),
        "the table says which secret: {}",
        out.stdout
    );
    assert!(world.fake.minted_for(&token).is_empty());
    setup.workload_has_a_valid_key(&arn_reader).await;
    world.assert_no_leaks().await;
}

#[tokio::test]
async fn stray_pending_versions_are_replaced_and_their_keys_revoked() {
    let setup = Setup::new().await;
    let world = &setup.world;
    let sm = world.sm(&setup.prod, US).await;

    // The reference rotation stored a key as AWSPENDING, then stopped.
    let (minted_arn, old_key) = setup.secret("ts/stray-key").await;
    let stray_key = world.fake.key(DAY, 89 * DAY);
    sm.put_secret_value()
        .secret_id(&minted_arn)
        .secret_string(world.value_of(&stray_key, "tailscale/oauth").to_string())
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    // Secrets Manager started a rotation whose function never ran.
    let (placeholder_arn, placeholder_old) = setup.secret("ts/stray-placeholder").await;
    let function = world.function(&setup.prod);
    sm.rotate_secret()
        .secret_id(&placeholder_arn)
        .rotation_lambda_arn(&function)
        .send()
        .await
        .unwrap();
    let blocked = sm
        .rotate_secret()
        .secret_id(&placeholder_arn)
        .rotate_immediately(false)
        .send()
        .await;
    assert!(
        blocked.is_err(),
        "the stray AWSPENDING blocks the next rotation"
    );

    let out = world
        .govctl(&["tailscale", "status", "--output", "csv"])
        .ok();
    assert_eq!(
        out.stdout.matches("rotation-stuck").count(),
        2,
        "{}",
        out.stdout
    );
    let plan = world.plan("plan.json", &["--accounts", &setup.prod, "--only-due"]);
    let shown = world.govctl(&["plan", "show", plan.to_str().unwrap()]).ok();
    assert_eq!(
        shown.stdout.matches("stray   AWSPENDING").count(),
        2,
        "{}",
        shown.stdout
    );
    world.approve(&plan);
    world.apply(&plan, &[]).ok();

    let tokens: Vec<(String, String)> = world
        .rotations(&plan)
        .iter()
        .map(|r| {
            let field = |name: &str| r[name].as_str().unwrap().to_string();
            (field("secret_name"), field("client_request_token"))
        })
        .collect();
    let token_of = |name: &str| tokens.iter().find(|(n, _)| n == name).unwrap().1.clone();
    setup
        .assert_rotated(&minted_arn, &token_of("ts/stray-key"), &old_key)
        .await;
    assert!(
        !setup.is_valid(stray_key["id"].as_str().unwrap()),
        "the stray version's key is revoked"
    );
    setup
        .assert_rotated(
            &placeholder_arn,
            &token_of("ts/stray-placeholder"),
            &placeholder_old,
        )
        .await;
    sm.rotate_secret()
        .secret_id(&placeholder_arn)
        .rotate_immediately(false)
        .send()
        .await
        .expect("the next rotation is no longer blocked");
    world.assert_no_leaks().await;
}

#[tokio::test]
async fn a_plan_whose_secret_moved_on_is_refused_as_stale() {
    let setup = Setup::new().await;
    let world = &setup.world;
    let (arn, _) = setup.secret("ts/app").await;
    let (plan, token) = setup.planned("plan.json", &arn, &[]);
    let other = world.value_of(&world.fake.key(0, 90 * DAY), "tailscale/oauth");
    world
        .sm(&setup.prod, US)
        .await
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(other.to_string())
        .send()
        .await
        .unwrap();
    let out = world.apply(&plan, &[]);
    let line = out.error_line();
    assert!(
        line.contains("is stale") && line.contains("is now on version"),
        "{line}"
    );
    assert!(world.fake.minted_for(&token).is_empty());
    world.assert_no_leaks().await;
}

#[tokio::test]
async fn the_old_key_lives_through_the_grace_period() {
    let setup = Setup::new().await;
    let world = &setup.world;
    let (arn, old_key) = setup.secret("ts/app").await;
    let (plan, token) = setup.planned("plan.json", &arn, &["--grace", "2s"]);
    let shown = world.govctl(&["plan", "show", plan.to_str().unwrap()]).ok();
    assert!(
        shown.stdout.contains("2s after the new key is AWSCURRENT"),
        "{}",
        shown.stdout
    );
    let started = Instant::now();
    let out = world.apply(&plan, &[]).ok();
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(out.stderr.contains("grace period"), "{}", out.stderr);
    setup.assert_rotated(&arn, &token, &old_key).await;
    world.assert_no_leaks().await;
}
