//! `govctl ocu` end to end, on emulators seeded with the `ocu` scenario.
//!
//! Read-only tests share one emulator; each apply flow seeds its own, since applies change
//! limits and deploy stacks. The scenario (tests/emulator/seed.py, `seed_ocu`) has, with
//! the default 24 h window: search-prod us-east-1 indexing reached, search-prod eu-west-1
//! search at exactly 75 %, logs-prod ok (but reached three days ago), analytics without
//! datapoints, sandbox without limits, idle and the management account unused.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{Emulator, Run, govctl_at, run};

const REGIONS: &str = "us-east-1,eu-west-1";

struct Ocu {
    emulator: Emulator,
    manifest: Value,
    dir: tempfile::TempDir,
}

impl Ocu {
    fn new() -> Ocu {
        let emulator = Emulator::start();
        let manifest = emulator.seed("ocu");
        Ocu {
            emulator,
            manifest,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn account(&self, name: &str) -> String {
        self.manifest["accounts"][name]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn govctl(&self, args: &[&str]) -> Run {
        let mut command = govctl_at(&self.emulator.endpoint);
        command
            .env("GOVCTL_AUDIT_LOG", self.path("audit.jsonl"))
            .args(args);
        run(&mut command)
    }

    /// Signed as the seed's `approver`, a principal other than the planner.
    fn as_approver(&self, args: &[&str]) -> Run {
        let keys = &self.manifest["users"]["approver"];
        let mut command = govctl_at(&self.emulator.endpoint);
        command
            .env("GOVCTL_AUDIT_LOG", self.path("audit.jsonl"))
            .env("AWS_ACCESS_KEY_ID", keys["access_key_id"].as_str().unwrap())
            .env(
                "AWS_SECRET_ACCESS_KEY",
                keys["secret_access_key"].as_str().unwrap(),
            )
            .args(args);
        run(&mut command)
    }
}

fn shared() -> &'static Ocu {
    static SHARED: OnceLock<Ocu> = OnceLock::new();
    SHARED.get_or_init(Ocu::new)
}

/// CSV rows as maps from header to value.
fn csv(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn status_shows_every_state_worst_first() {
    let ocu = shared();
    let out = ocu
        .govctl(&["ocu", "status", "--regions", REGIONS, "--output", "csv"])
        .ok();
    assert!(out.stdout.starts_with(
        "account_id,account_name,region,collections,indexing_max,indexing_current,\
         indexing_peak,indexing_utilisation_pct,indexing_state,search_max,search_current,\
         search_peak,search_utilisation_pct,search_state,state\r\n"
    ));
    let rows = csv(&out.stdout);
    let seen: Vec<(String, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["account_name"].clone(),
                r["region"].as_str(),
                r["state"].as_str(),
            )
        })
        .collect();
    let expected = [
        ("search-prod", "us-east-1", "reached"),
        ("search-prod", "eu-west-1", "approaching"),
        ("logs-prod", "us-east-1", "ok"),
        ("analytics", "us-east-1", "no-data"),
        ("sandbox", "us-east-1", "no-limit"),
    ];
    let expected: Vec<(String, &str, &str)> = expected
        .iter()
        .map(|(a, r, s)| (a.to_string(), *r, *s))
        .collect();
    assert_eq!(seen, expected, "{}", out.stdout);

    let reached = &rows[0];
    assert_eq!(reached["account_id"], ocu.account("search-prod"));
    assert_eq!(reached["collections"], "2");
    assert_eq!(reached["indexing_max"], "10");
    assert_eq!(reached["indexing_current"], "9.0");
    assert_eq!(reached["indexing_peak"], "10.0");
    assert_eq!(reached["indexing_utilisation_pct"], "100.0");
    assert_eq!(reached["search_state"], "ok");
    // Exactly 75 % is approaching.
    let approaching = &rows[1];
    assert_eq!(approaching["search_max"], "8");
    assert_eq!(approaching["search_peak"], "6.0");
    assert_eq!(approaching["search_utilisation_pct"], "75.0");
    assert_eq!(approaching["search_state"], "approaching");
    assert_eq!(approaching["indexing_state"], "ok");
    // No datapoints and no limits are shown as such, with empty numbers.
    assert_eq!(rows[3]["indexing_peak"], "");
    assert_eq!(rows[3]["indexing_utilisation_pct"], "");
    assert_eq!(rows[4]["indexing_max"], "");
    assert_eq!(rows[4]["indexing_peak"], "3.0");
    // Every row names its account and region; unused accounts have no row.
    assert!(
        rows.iter()
            .all(|r| !r["account_id"].is_empty() && !r["region"].is_empty())
    );
    assert!(!out.stdout.contains(&ocu.account("idle")));
    assert!(
        out.stderr
            .contains("5 account-regions with OpenSearch Serverless of 12 visited"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_window_decides_what_counts_as_peak() {
    let ocu = shared();
    let logs = ocu.account("logs-prod");
    let day = ocu
        .govctl(&["ocu", "status", "--accounts", &logs, "--output", "csv"])
        .ok();
    assert_eq!(csv(&day.stdout)[0]["indexing_peak"], "2.5");
    let week = ocu
        .govctl(&[
            "ocu",
            "status",
            "--accounts",
            &logs,
            "--since",
            "7d",
            "--output",
            "csv",
        ])
        .ok();
    let row = &csv(&week.stdout)[0];
    assert_eq!(row["indexing_peak"], "4.0");
    assert_eq!(row["indexing_state"], "reached");
    assert_eq!(row["indexing_current"], "2.0");
}

#[test]
fn fail_on_sets_the_exit_code() {
    let ocu = shared();
    let all = ocu.govctl(&[
        "ocu",
        "status",
        "--regions",
        REGIONS,
        "--fail-on",
        "approaching",
    ]);
    assert_eq!(all.code, 1, "{}", all.stderr);
    assert!(!all.stdout.is_empty(), "the report is still written");

    let eu = ocu.govctl(&[
        "ocu",
        "status",
        "--regions",
        "eu-west-1",
        "--fail-on",
        "reached",
    ]);
    assert_eq!(eu.code, 0, "eu-west-1 is only approaching: {}", eu.stderr);
    let eu = ocu.govctl(&[
        "ocu",
        "status",
        "--regions",
        "eu-west-1",
        "--fail-on",
        "approaching",
    ]);
    assert_eq!(eu.code, 1);

    let logs = ocu.account("logs-prod");
    let quiet = ocu.govctl(&[
        "ocu",
        "status",
        "--accounts",
        &logs,
        "--fail-on",
        "approaching",
    ]);
    assert_eq!(quiet.code, 0);
}

#[test]
fn status_as_json_carries_the_schema() {
    let ocu = shared();
    let out = ocu
        .govctl(&["ocu", "status", "--regions", REGIONS, "--output", "json"])
        .ok();
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["kind"], "ocu_status");
    assert_eq!(doc["rows"][0]["state"], "reached");
    assert_eq!(doc["rows"][3]["indexing_peak"], Value::Null);
}

#[test]
fn events_are_newest_first_with_their_dimension() {
    let ocu = shared();
    let out = ocu.govctl(&["ocu", "events", "--output", "csv"]).ok();
    assert!(
        out.stdout
            .starts_with("account_id,account_name,region,time,level,dimension,description\r\n")
    );
    let rows = csv(&out.stdout);
    let seen: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["account_name"].as_str(),
                r["region"].as_str(),
                r["level"].as_str(),
                r["dimension"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("search-prod", "us-east-1", "reached", "indexing"),
            ("search-prod", "us-east-1", "approaching", "indexing"),
            ("search-prod", "eu-west-1", "approaching", "search"),
            ("logs-prod", "us-east-1", "reached", "indexing"),
        ],
        "the 10-day-old event is outside the default 7 days: {}",
        out.stdout
    );
    let times: Vec<&str> = rows.iter().map(|r| r["time"].as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
    assert!(
        out.stderr.contains("2 approaching, 1 reached"),
        "{}",
        out.stderr
    );

    let month = ocu
        .govctl(&["ocu", "events", "--since", "30d", "--output", "csv"])
        .ok();
    let rows = csv(&month.stdout);
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[4]["dimension"], "search");

    let eu = ocu
        .govctl(&["ocu", "events", "--regions", "eu-west-1", "--output", "csv"])
        .ok();
    assert_eq!(csv(&eu.stdout).len(), 1);
}

#[test]
fn set_limits_refuses_values_below_two_and_below_peak_usage() {
    let ocu = shared();
    let prod = ocu.account("search-prod");
    let plan = ocu.path("refused.json");
    let plan = plan.to_str().unwrap();

    let low = ocu.govctl(&[
        "ocu",
        "set-limits",
        "--plan",
        "--search",
        "1",
        "--out",
        plan,
    ]);
    assert_eq!(
        low.error_line(),
        "error: invalid value '1' for --search: expected at least 2 OCUs, the minimum \
         OpenSearch Serverless accepts"
    );

    let under = ocu.govctl(&[
        "ocu",
        "set-limits",
        "--plan",
        "--indexing",
        "8",
        "--accounts",
        &prod,
        "--regions",
        REGIONS,
        "--out",
        plan,
    ]);
    let line = under.error_line();
    assert!(line.contains("'8' for --indexing"), "{line}");
    assert!(
        line.contains(&format!("account {prod} in us-east-1")),
        "{line}"
    );
    assert!(line.contains("peak usage of 10 OCUs"), "{line}");
    assert!(
        !std::path::Path::new(plan).exists(),
        "no plan for a refused change"
    );

    let bad = ocu.govctl(&["ocu", "status", "--since", "24"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("'24' is not a duration"),
        "{}",
        bad.stderr
    );
}

#[test]
fn set_limits_goes_through_the_gate_and_refuses_a_stale_plan() {
    let ocu = Ocu::new();
    let prod = ocu.account("search-prod");
    let first = ocu.path("first.json");
    let second = ocu.path("second.json");
    let (first, second) = (first.to_str().unwrap(), second.to_str().unwrap());

    let planned = ocu
        .govctl(&[
            "ocu",
            "set-limits",
            "--plan",
            "--indexing",
            "24",
            "--accounts",
            &prod,
            "--regions",
            REGIONS,
            "--out",
            first,
        ])
        .ok();
    assert!(
        planned
            .stdout
            .contains(&format!("account {prod}, us-east-1"))
    );
    assert!(
        planned.stdout.contains("~ indexing  10 -> 24"),
        "{}",
        planned.stdout
    );
    assert!(
        planned.stdout.contains("~ indexing  20 -> 24"),
        "{}",
        planned.stdout
    );
    assert!(
        planned.stdout.contains("  search    10 -> 10"),
        "{}",
        planned.stdout
    );
    assert!(planned.stdout.contains("2 account-regions in 1 accounts"));

    let shown = ocu.govctl(&["plan", "show", first]).ok();
    assert!(shown.stdout.contains("(ocu-limits)"));
    assert!(
        shown.stdout.contains("~ indexing  10 -> 24"),
        "{}",
        shown.stdout
    );

    // A second plan made from the same state goes stale once the first is applied.
    ocu.govctl(&[
        "ocu",
        "set-limits",
        "--plan",
        "--indexing",
        "30",
        "--accounts",
        &prod,
        "--regions",
        "us-east-1",
        "--out",
        second,
    ])
    .ok();

    let early = ocu.govctl(&["ocu", "set-limits", "--apply", first]);
    assert!(
        early.error_line().contains("is not approved"),
        "{}",
        early.stderr
    );

    ocu.as_approver(&["change", "approve", first]).ok();
    ocu.as_approver(&["change", "approve", second]).ok();
    let applied = ocu.govctl(&["ocu", "set-limits", "--apply", first]).ok();
    assert!(
        applied.stderr.contains("2 account-regions changed"),
        "{}",
        applied.stderr
    );

    let now = ocu
        .govctl(&[
            "ocu",
            "status",
            "--accounts",
            &prod,
            "--regions",
            REGIONS,
            "--output",
            "csv",
        ])
        .ok();
    for row in csv(&now.stdout) {
        assert_eq!(row["indexing_max"], "24");
    }
    let again = ocu.govctl(&["ocu", "set-limits", "--apply", first]);
    assert!(
        again.error_line().contains("is applied"),
        "{}",
        again.stderr
    );

    let stale = ocu.govctl(&["ocu", "set-limits", "--apply", second]);
    let line = stale.error_line();
    assert!(line.contains("is stale"), "{line}");
    assert!(
        line.contains(&format!("account {prod} in us-east-1 are now indexing 24")),
        "{line}"
    );
    assert_eq!(
        stale.hint(),
        Some("the organization changed since planning: make a new plan")
    );
}

#[test]
fn notify_sets_up_what_is_missing_and_then_has_nothing_to_do() {
    let ocu = Ocu::new();
    let email = ocu.manifest["ocu"]["email"].as_str().unwrap().to_string();
    let plan = ocu.path("notify.json");
    let plan = plan.to_str().unwrap();
    let notify = |out: &str| {
        vec![
            "ocu".to_string(),
            "notify".into(),
            "--plan".into(),
            "--email".into(),
            email.clone(),
            "--regions".into(),
            REGIONS.into(),
            "--out".into(),
            out.to_string(),
        ]
    };
    let args = notify(plan);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let planned = ocu.govctl(&args).ok();
    let prod = ocu.account("search-prod");
    let logs = ocu.account("logs-prod");
    assert!(
        planned.stdout.contains(&format!(
            "  account {prod}: no change (configuration search-prod-ocu)"
        )),
        "set up by hand counts: {}",
        planned.stdout
    );
    assert!(
        planned.stdout.contains(&format!(
            "+ account {logs}: new stack instance (configuration logs-prod-ocu)"
        )),
        "{}",
        planned.stdout
    );
    assert!(planned.stdout.contains(
        "    eu-west-1: missing rule \"OCU Utilization Reached Max Limit\", email channel"
    ));
    assert!(
        planned
            .stdout
            .contains("5 accounts to create, 0 to update, 1 set up")
    );
    assert!(planned.stderr.contains(&format!("{prod}: already set up")));
    let shown = ocu.govctl(&["plan", "show", plan]).ok();
    assert!(shown.stdout.contains("(ocu-notifications)"));
    assert!(
        shown
            .stdout
            .contains("StackSet govctl-ocu-notifications in us-east-1")
    );

    ocu.as_approver(&["change", "approve", plan]).ok();
    let applied = ocu
        .govctl(&["ocu", "notify", "--apply", plan, "--poll-seconds", "1"])
        .ok();
    assert_eq!(
        applied.stdout.matches("SUCCEEDED").count(),
        5,
        "{}",
        applied.stdout
    );
    assert!(!applied.stdout.contains(&prod));

    let again_path = ocu.path("again.json");
    let again = notify(again_path.to_str().unwrap());
    let again: Vec<&str> = again.iter().map(String::as_str).collect();
    let after = ocu.govctl(&again).ok();
    assert!(after.stdout.is_empty(), "{}", after.stdout);
    assert!(
        after
            .stderr
            .contains("nothing to change: all 6 accounts are set up"),
        "{}",
        after.stderr
    );
    assert!(after.stderr.contains(&format!(
        "{logs}: already set up (configuration govctl-ocu-limits)"
    )));
    assert!(!again_path.exists());

    let twice = ocu.govctl(&["ocu", "notify", "--apply", plan]);
    assert!(
        twice.error_line().contains("is applied"),
        "{}",
        twice.stderr
    );

    let bad = ocu.govctl(&["ocu", "notify", "--plan", "--email", "not-an-address"]);
    assert_eq!(
        bad.error_line(),
        "error: invalid value 'not-an-address' for --email: expected an email address such as \
         ocu-alerts@example.com"
    );
}
