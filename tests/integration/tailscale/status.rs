//! `govctl tailscale status`: every state, every output format, the exit codes, the
//! selections, and what it says when Tailscale cannot be asked.

use serde_json::{Value, json};

use super::{BOTH_REGIONS, DAY, EU, US, World};
use crate::common::run;

/// Secrets in every state, in two accounts and two regions; returns the ARN of `ts/ok`.
async fn seed_every_state(world: &World) -> String {
    let prod = world.account("workload-prod");
    let dev = world.account("workload-dev");
    let fake = &world.fake;

    let prod_oauth = world
        .oauth_secret(&prod, US, "tailscale/oauth", &fake.client(&["auth_keys"]))
        .await;
    let ok = world
        .auth_key_secret(
            &prod,
            US,
            "ts/ok",
            &world.value_of(&fake.key(10 * DAY, 80 * DAY), "tailscale/oauth"),
        )
        .await;
    world
        .auth_key_secret(
            &prod,
            US,
            "ts/soon",
            &world.value_of(&fake.key(80 * DAY, 10 * DAY), "tailscale/oauth"),
        )
        .await;
    // In another region, naming the OAuth client secret by its ARN.
    world
        .auth_key_secret(
            &prod,
            EU,
            "ts/expired",
            &world.value_of(&fake.key(100 * DAY, -10 * DAY), &prod_oauth),
        )
        .await;

    world
        .oauth_secret(
            &dev,
            US,
            "tailscale/oauth",
            &fake.client(&["auth_keys:read"]),
        )
        .await;
    let revoked = fake.key(5 * DAY, 85 * DAY);
    fake.control(
        "POST",
        &format!("keys/{}/revoke", revoked["id"].as_str().unwrap()),
        Value::Null,
    );
    world
        .auth_key_secret(
            &dev,
            US,
            "ts/revoked",
            &world.value_of(&revoked, "tailscale/oauth"),
        )
        .await;

    // A rotation that stopped after storing its key: AWSPENDING beside AWSCURRENT.
    let stuck = world
        .auth_key_secret(
            &dev,
            US,
            "ts/stuck",
            &world.value_of(&fake.key(DAY, 89 * DAY), "tailscale/oauth"),
        )
        .await;
    world
        .sm(&dev, US)
        .await
        .put_secret_value()
        .secret_id(&stuck)
        .secret_string(
            world
                .value_of(&fake.key(0, 90 * DAY), "tailscale/oauth")
                .to_string(),
        )
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();

    // On a 60-day schedule through the rotation function.
    let scheduled = world
        .auth_key_secret(
            &dev,
            US,
            "ts/scheduled",
            &world.value_of(&fake.key(DAY, 89 * DAY), "tailscale/oauth"),
        )
        .await;
    world
        .sm(&dev, US)
        .await
        .rotate_secret()
        .secret_id(&scheduled)
        .rotation_lambda_arn(world.function(&dev))
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(60)
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await
        .unwrap();

    let bare = fake.key(DAY, 89 * DAY);
    world.remember_secret(bare["key"].as_str().unwrap());
    world
        .auth_key_secret(&dev, US, "ts/bare", &bare["key"].as_str().unwrap())
        .await;
    world
        .auth_key_secret(
            &dev,
            US,
            "ts/unreadable",
            &json!({"password": "hunter2-not-a-key"}),
        )
        .await;
    // Not tagged: not an auth-key secret.
    world
        .sm(&dev, US)
        .await
        .create_secret()
        .name("database")
        .secret_string("{}")
        .send()
        .await
        .unwrap();
    ok
}

fn rows_of(out: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(out).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["kind"], "tailscale_status");
    doc["rows"].as_array().unwrap().clone()
}

fn by_name<'a>(rows: &'a [Value], name: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["secret_name"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {rows:?}"))
}

#[tokio::test]
async fn status_shows_every_state_across_accounts_and_regions() {
    let world = World::new();
    let ok_arn = seed_every_state(&world).await;
    let mut args = vec!["tailscale", "status", "--output", "json"];
    args.extend_from_slice(BOTH_REGIONS);

    let out = world.govctl(&args).ok();
    let rows = rows_of(&out.stdout);
    let keys: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            let field = |name: &str| r[name].as_str().unwrap().to_string();
            (field("account_id"), field("region"), field("secret_name"))
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "sorted by account, region and name");
    assert_eq!(rows.len(), 8, "{keys:?}");

    let ok = by_name(&rows, "ts/ok");
    assert_eq!(ok["state"], "ok");
    assert_eq!(ok["tailscale"], "valid");
    // 80 days from when the key was made, a moment ago.
    assert!(matches!(ok["days_left"].as_i64(), Some(79 | 80)), "{ok}");
    assert_eq!(ok["age_days"], 10);
    assert_eq!(ok["rotation_enabled"], false);
    assert!(ok["key_id"].as_str().unwrap().ends_with("CNTRL"));
    assert_eq!(ok["secret_arn"], ok_arn.as_str());

    assert_eq!(by_name(&rows, "ts/soon")["state"], "rotate-soon");
    let expired = by_name(&rows, "ts/expired");
    assert_eq!(
        (expired["state"].as_str(), expired["tailscale"].as_str()),
        (Some("expired"), Some("invalid"))
    );
    assert_eq!(expired["region"], EU);
    let revoked = by_name(&rows, "ts/revoked");
    assert_eq!(
        (revoked["state"].as_str(), revoked["tailscale"].as_str()),
        (Some("revoked"), Some("revoked"))
    );
    let stuck = by_name(&rows, "ts/stuck");
    assert_eq!(stuck["state"], "rotation-stuck");
    assert!(
        stuck["detail"].as_str().unwrap().contains("AWSPENDING"),
        "{stuck}"
    );
    let scheduled = by_name(&rows, "ts/scheduled");
    assert_eq!(scheduled["state"], "ok");
    assert_eq!(scheduled["rotation_enabled"], true);
    assert!(scheduled["next_rotation"].is_string(), "{scheduled}");
    let bare = by_name(&rows, "ts/bare");
    assert_eq!(
        (bare["state"].as_str(), bare["tailscale"].as_str()),
        (Some("ok"), Some("unknown"))
    );
    assert!(
        bare["detail"].as_str().unwrap().contains("oauth_secret"),
        "{bare}"
    );
    let unreadable = by_name(&rows, "ts/unreadable");
    assert_eq!(unreadable["state"], "unreadable");
    assert!(unreadable["key_id"].is_null());
    assert!(
        !unreadable["detail"].as_str().unwrap().contains("hunter2"),
        "no value quoted"
    );

    assert!(
        out.stderr.contains(
            "8 auth-key secrets in 2 accounts and 2 regions: 3 ok, 1 rotate-soon, 1 expired, \
             1 revoked, 1 rotation-stuck, 1 unreadable"
        ),
        "{}",
        out.stderr
    );

    // CSV with the documented header; the table for people.
    let mut csv = args.clone();
    csv[3] = "csv";
    let out = world.govctl(&csv).ok();
    assert!(out.stdout.starts_with(
        "account_id,region,secret_name,last_rotated,age_days,next_rotation,rotation_enabled,\
         key_id,key_created,key_expires,days_left,tailscale,state,detail,secret_arn\r\n"
    ));
    assert_eq!(out.stdout.lines().count(), 9);
    let mut table = args.clone();
    table[3] = "table";
    let out = world.govctl(&table).ok();
    assert!(out.stdout.contains("rotation-stuck"), "{}", out.stdout);

    // --fail-on: exit 1 only for the states named.
    let mut failing = args.clone();
    failing.extend(["--fail-on", "expired"]);
    assert_eq!(world.govctl(&failing).code, 1);
    let mut any = args.clone();
    any.extend(["--fail-on", "any"]);
    assert_eq!(world.govctl(&any).code, 1);

    // --secret-id names secrets directly; --secret-tag another tag.
    let out = world
        .govctl(&[
            "tailscale",
            "status",
            "--output",
            "json",
            "--secret-id",
            &ok_arn,
            "--fail-on",
            "any",
        ])
        .ok();
    assert_eq!(rows_of(&out.stdout).len(), 1);
    let out = world
        .govctl(&[
            "tailscale",
            "status",
            "--output",
            "json",
            "--secret-tag",
            "team=net",
        ])
        .ok();
    assert!(rows_of(&out.stdout).is_empty());

    // Trace logs of everything (SDK, HTTP) carry no secret either.
    let mut traced = args.clone();
    traced.push("-vv");
    world.govctl(&traced).ok();
    world.assert_no_leaks().await;
}

#[tokio::test]
async fn status_without_tailscale_still_reports_what_secrets_manager_says() {
    let world = World::new();
    let prod = world.account("workload-prod");
    let client = world.fake.client(&["auth_keys"]);
    world
        .oauth_secret(&prod, US, "tailscale/oauth", &client)
        .await;
    let value = world.value_of(&world.fake.key(80 * DAY, 10 * DAY), "tailscale/oauth");
    world.auth_key_secret(&prod, US, "ts/soon", &value).await;

    // The OAuth client is gone: Tailscale answers 401.
    world.fake.control(
        "DELETE",
        &format!("clients/{}", client["client_id"].as_str().unwrap()),
        Value::Null,
    );
    let out = world
        .govctl(&["tailscale", "status", "--output", "json"])
        .ok();
    let row = &rows_of(&out.stdout)[0];
    assert_eq!(
        (row["state"].as_str(), row["tailscale"].as_str()),
        (Some("rotate-soon"), Some("unknown"))
    );
    assert!(
        row["detail"]
            .as_str()
            .unwrap()
            .contains("API token invalid"),
        "{row}"
    );
    assert!(
        out.stderr.contains(
            "warning: cannot ask Tailscale about the keys of OAuth client secret tailscale/oauth"
        ),
        "{}",
        out.stderr
    );

    // Tailscale unreachable: the same, naming the connection failure.
    let mut command = world.command(&["tailscale", "status", "--output", "json"]);
    command.env("GOVCTL_TAILSCALE_API_URL", "http://127.0.0.1:9");
    let out = world.keep(run(&mut command)).ok();
    assert_eq!(rows_of(&out.stdout)[0]["tailscale"], "unknown");
    world.assert_no_leaks().await;
}

#[tokio::test]
async fn bad_selections_are_refused_with_one_line() {
    let world = World::new();
    let out = world.govctl(&["tailscale", "status", "--secret-id", "tailscale/oauth"]);
    let line = out.error_line();
    assert!(
        line.contains("'tailscale/oauth'") && line.contains("secret ARN"),
        "{line}"
    );
    let out = world.govctl(&["tailscale", "status", "--fail-on", "soonish"]);
    assert!(out.error_line().contains("soonish"), "{}", out.stderr);
    let out = world.govctl(&["tailscale", "status", "--secret-tag", "aws:x"]);
    assert!(out.error_line().contains("aws:x"), "{}", out.stderr);
    let out = world.govctl(&[
        "tailscale",
        "status",
        "--tailscale-api-url",
        "api.tailscale.com",
    ]);
    assert!(out.error_line().contains("http://"), "{}", out.stderr);
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf";
    let out = world.govctl(&["tailscale", "status", "--secret-id", arn]);
    assert!(out.error_line().contains("was not found"), "{}", out.stderr);
}
