//! Discovery under throttling, server errors and dropped connections.
//!
//! The emulator is made slow and unreliable on demand (tests/emulator README, "Control
//! endpoints"), on an emulator of these tests' own so the faults reach no other test.

use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::common::{Emulator, Run, govctl_at, run};

struct Faulty {
    emulator: Emulator,
    manifest: Value,
}

/// One emulator for the fault tests, seeded once; each test sets its own faults, so they
/// take turns.
fn faulty() -> std::sync::MutexGuard<'static, Faulty> {
    static FAULTY: OnceLock<std::sync::Mutex<Faulty>> = OnceLock::new();
    FAULTY
        .get_or_init(|| {
            let emulator = Emulator::start();
            let manifest = emulator.seed("test");
            std::sync::Mutex::new(Faulty { emulator, manifest })
        })
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Faulty {
    fn faults(&self, rules: Value) {
        let body = json!({"seed": 7, "rules": rules}).to_string();
        control(&self.emulator.endpoint, "POST", "/_govctl/faults", &body);
    }

    fn clear(&self) {
        control(&self.emulator.endpoint, "DELETE", "/_govctl/faults", "");
    }

    fn stats(&self) -> Value {
        let body = control(&self.emulator.endpoint, "GET", "/_govctl/stats", "");
        serde_json::from_str(&body).unwrap()
    }

    fn report(&self, args: &[&str]) -> Run {
        let mut command = govctl_at(&self.emulator.endpoint);
        command.args(["layers", "report"]).args(args);
        run(&mut command)
    }
}

fn control(endpoint: &str, method: &str, path: &str, body: &str) -> String {
    crate::common::http(method, &format!("{endpoint}{path}"), body)
}

const CONFIG: &[&str] = &["--aggregator", "org-aggregator", "--concurrency", "4"];
const LAMBDA: &[&str] = &["--source", "lambda", "--regions", "us-east-1,eu-west-1"];

fn flaky_everywhere() -> Value {
    json!([{"match": {"action": "*"}, "throttle": 0.3, "server_error": 0.05, "drop": 0.05}])
}

#[test]
fn the_report_is_byte_identical_under_throttling_errors_and_dropped_connections() {
    let faulty = faulty();
    for source in [CONFIG, LAMBDA] {
        faulty.clear();
        let clean = faulty.report(source).ok();

        faulty.faults(flaky_everywhere());
        let flaky = faulty.report(&[source, &["--max-attempts", "20"]].concat());
        let stats = faulty.stats();
        faulty.clear();
        let flaky = flaky.ok();
        assert_eq!(flaky.stdout, clean.stdout, "{source:?}");
        let faults = &stats["faults"];
        let injected = faults["throttle"].as_u64().unwrap()
            + faults["server_error"].as_u64().unwrap()
            + faults["drop"].as_u64().unwrap();
        assert!(injected > 0, "no fault was injected: {stats}");
    }
}

#[test]
fn a_persistent_error_fails_within_the_retry_budget_naming_api_account_and_region() {
    let faulty = faulty();
    faulty.faults(json!([{
        "match": {"action": "config:SelectAggregateResourceConfig"},
        "server_error": 1.0
    }]));
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("report.csv");
    let out = faulty.report(
        &[
            CONFIG,
            &["--max-attempts", "3", "--out", out_file.to_str().unwrap()],
        ]
        .concat(),
    );
    faulty.clear();
    let line = out.error_line();
    assert!(
        line.starts_with(
            "error: config:SelectAggregateResourceConfig failed in account 123456789012, \
             region us-east-1:"
        ),
        "{line}"
    );
    assert!(line.ends_with("(gave up after 3 attempts)"), "{line}");
    assert!(
        !out_file.exists(),
        "no report is written as if it were whole"
    );
}

#[test]
fn persistent_throttling_in_one_account_fails_or_is_reported_as_partial() {
    let faulty = faulty();
    let dev = faulty.manifest["accounts"]["workload-dev"]
        .as_str()
        .unwrap()
        .to_string();
    faulty.faults(json!([{
        "match": {"action": "lambda:ListFunctions", "account": dev, "region": "eu-west-1"},
        "throttle": 1.0
    }]));
    let strict = faulty.report(&[LAMBDA, &["--max-attempts", "2"]].concat());
    let partial = faulty.report(&[LAMBDA, &["--max-attempts", "2", "--allow-partial"]].concat());
    faulty.clear();

    let line = strict.error_line();
    assert!(
        line.contains(&format!(
            "lambda:ListFunctions failed in account {dev}, region eu-west-1"
        )),
        "{line}"
    );
    assert!(line.contains("Rate exceeded"), "{line}");

    assert_eq!(partial.code, 1, "{}", partial.stderr);
    assert!(partial.stdout.lines().count() > 1, "the rest is reported");
    assert!(
        partial
            .stderr
            .contains(&format!("not in the report: account {dev}, eu-west-1")),
        "{}",
        partial.stderr
    );
}

#[test]
fn stacks_come_from_the_tagging_api_and_from_list_tags_where_it_fails() {
    let faulty = faulty();
    faulty.clear();
    control(&faulty.emulator.endpoint, "DELETE", "/_govctl/stats", "");
    let tagged = faulty.report(LAMBDA).ok();
    let stats = faulty.stats();
    assert!(
        stats["by_action"]["tagging:GetResources"].as_u64() > Some(0),
        "{stats}"
    );
    assert_eq!(
        stats["by_action"]["lambda:ListTags"],
        Value::Null,
        "{stats}"
    );
    assert!(tagged.stdout.contains(",orders-stack"), "{}", tagged.stdout);

    faulty.faults(json!([{"match": {"action": "tagging:GetResources"}, "server_error": 1.0}]));
    control(&faulty.emulator.endpoint, "DELETE", "/_govctl/stats", "");
    let fallback = faulty.report(&[LAMBDA, &["--max-attempts", "1"]].concat());
    let stats = faulty.stats();
    faulty.clear();
    assert_eq!(fallback.ok().stdout, tagged.stdout);
    assert!(
        stats["by_action"]["lambda:ListTags"].as_u64() > Some(0),
        "{stats}"
    );
}
