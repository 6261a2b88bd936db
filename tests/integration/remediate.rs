//! The change gate and `govctl remediate`, end to end, on an emulator of their own.
//!
//! Applies change the functions, so these tests do not use the shared read-only world.
//! Each test seeds a fresh emulator with the `test` scenario and goes through the flow an
//! operator would: plan, show, approve (as another principal), apply, the scheduled
//! remediation running in the window, status, rollback and cleanup, and each refusal.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use serde_json::Value;

use crate::common::{Emulator, Run, govctl_at, http, run};

/// A freshly seeded emulator, a temporary directory for plans and the audit log.
struct Flow {
    emulator: Emulator,
    manifest: Value,
    dir: tempfile::TempDir,
}

impl Flow {
    fn new() -> Flow {
        let emulator = Emulator::start();
        let manifest = emulator.seed("test");
        Flow {
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

    fn audit_log(&self) -> PathBuf {
        self.path("audit.jsonl")
    }

    /// govctl as the planner (moto's default principal).
    fn govctl(&self, args: &[&str]) -> Run {
        let mut command = govctl_at(&self.emulator.endpoint);
        command.env("GOVCTL_AUDIT_LOG", self.audit_log()).args(args);
        run(&mut command)
    }

    /// govctl signed as the seed's approver, another principal than the planner.
    fn as_approver(&self, args: &[&str]) -> Run {
        let keys = &self.manifest["users"]["approver"];
        let mut command = govctl_at(&self.emulator.endpoint);
        command
            .env("AWS_ACCESS_KEY_ID", keys["access_key_id"].as_str().unwrap())
            .env(
                "AWS_SECRET_ACCESS_KEY",
                keys["secret_access_key"].as_str().unwrap(),
            )
            .env("GOVCTL_AUDIT_LOG", self.audit_log())
            .args(args);
        run(&mut command)
    }

    /// `remediate --plan` for shared-utils with the canary first; returns the plan path.
    fn plan(&self, name: &str, extra: &[&str]) -> (PathBuf, Run) {
        self.plan_layer(name, "shared-utils", extra)
    }

    /// `remediate --plan` for one layer with the canary first; returns the plan path.
    fn plan_layer(&self, name: &str, layer: &str, extra: &[&str]) -> (PathBuf, Run) {
        let path = self.path(name);
        let (start, end) = window();
        let prod = self.account("workload-prod");
        let mut args = vec![
            "remediate",
            "--plan",
            "--aggregator",
            "org-aggregator",
            "--layer",
            layer,
            "--canary",
            &prod,
            "--wave-size",
            "1",
            "--window-start",
            &start,
            "--window-end",
            &end,
            "--out",
            path.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = self.govctl(&args);
        (path, out)
    }

    fn apply(&self, plan: &Path, extra: &[&str]) -> Run {
        let mut args = vec![
            "remediate",
            "--apply",
            plan.to_str().unwrap(),
            "--poll-seconds",
            "1",
        ];
        args.extend_from_slice(extra);
        self.govctl(&args)
    }

    fn approve(&self, plan: &Path) {
        self.as_approver(&[
            "change",
            "approve",
            plan.to_str().unwrap(),
            "--comment",
            "CAB-1",
        ])
        .ok();
    }

    fn control(&self, method: &str, path: &str, body: &str) {
        http(method, &format!("{}{path}", self.emulator.endpoint), body);
    }

    async fn sdk(&self, account: Option<&str>, region: &str) -> SdkConfig {
        crate::common::sdk(&self.emulator.endpoint, account, region).await
    }

    async fn layers_of(&self, account: &str, region: &str, function: &str) -> Vec<String> {
        let config = self.sdk(Some(account), region).await;
        let out = aws_sdk_lambda::Client::new(&config)
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .unwrap();
        out.layers()
            .iter()
            .filter_map(|l| l.arn().map(String::from))
            .collect()
    }

    fn layer(&self, name: &str, region: &str, version: u64) -> String {
        let arn = self.manifest["layers"][format!("{name}@{region}")]
            .as_str()
            .unwrap();
        format!("{arn}:{version}")
    }
}

fn window() -> (String, String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let fmt = |t: i64| {
        aws_smithy_types::DateTime::from_secs(t)
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap()
    };
    (fmt(now - 60), fmt(now + 2 * 3600))
}

fn plan_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn plan_approve_apply_status_rollback_and_cleanup() {
    let flow = Flow::new();
    let prod = flow.account("workload-prod");
    let dev = flow.account("workload-dev");
    let (us, eu) = ("us-east-1", "eu-west-1");

    // Plan: the shared-utils functions, canary first, nothing changed yet.
    let (plan, out) = flow.plan("plan.json", &[]);
    let out = out.ok();
    assert!(out.stdout.contains("Waves:"), "{}", out.stdout);
    let doc = plan_json(&plan);
    let functions = doc["changes"]["functions"].as_array().unwrap();
    let names: Vec<&str> = functions
        .iter()
        .map(|f| f["function_name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    for name in ["orders-api", "reporting", "eu-orders", "dev-worker"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let reporting = functions
        .iter()
        .find(|f| f["function_name"] == "reporting")
        .unwrap();
    assert_eq!(
        reporting["layers_after"],
        serde_json::json!([
            flow.layer("otel-extension", us, 1),
            flow.layer("shared-utils", us, 3)
        ]),
        "the old version is replaced in place, the other layer kept in front"
    );
    let waves = doc["changes"]["waves"].as_array().unwrap();
    assert_eq!(waves[0]["name"], "canary");
    assert_eq!(waves[0]["accounts"], serde_json::json!([prod]));
    assert_eq!(waves[1]["accounts"], serde_json::json!([dev]));

    // Show, and the notice for function owners.
    let shown = flow.govctl(&["plan", "show", plan.to_str().unwrap()]).ok();
    assert!(
        shown
            .stdout
            .contains(&format!("- 1. {}", flow.layer("shared-utils", us, 1)))
    );
    assert!(
        shown
            .stdout
            .contains(&format!("+ 1. {}", flow.layer("shared-utils", us, 3)))
    );
    assert!(
        shown.stdout.contains("orders-stack: will drift"),
        "{}",
        shown.stdout
    );
    let notice = flow
        .govctl(&["plan", "show", plan.to_str().unwrap(), "--notice"])
        .ok();
    assert!(
        notice.stdout.contains("| account | region | function |"),
        "{}",
        notice.stdout
    );

    // Not approved yet, and the planner may not approve their own plan.
    let refused = flow.apply(&plan, &[]);
    assert!(
        refused.error_line().contains("is not approved"),
        "{}",
        refused.stderr
    );
    let own = flow.govctl(&["change", "approve", plan.to_str().unwrap()]);
    assert!(
        own.error_line().contains("made by the same principal"),
        "{}",
        own.stderr
    );

    flow.approve(&plan);
    let listed = flow.govctl(&["change", "list", "--output", "csv"]).ok();
    assert!(listed.stdout.contains(",approved,"), "{}", listed.stdout);

    // Apply: both waves deploy, and the remediation in each account and region moves the
    // functions (AWS Config evaluates the new rule at once).
    let applied = flow.apply(&plan, &[]).ok();
    assert!(applied.stdout.contains("SUCCEEDED"), "{}", applied.stdout);
    assert_eq!(
        flow.layers_of(&prod, us, "orders-api").await,
        vec![flow.layer("shared-utils", us, 3)]
    );
    assert_eq!(
        flow.layers_of(&prod, us, "reporting").await,
        vec![
            flow.layer("otel-extension", us, 1),
            flow.layer("shared-utils", us, 3)
        ]
    );
    assert_eq!(
        flow.layers_of(&prod, eu, "eu-orders").await,
        vec![flow.layer("shared-utils", eu, 2)]
    );
    let status = flow
        .govctl(&["remediate", "status", plan.to_str().unwrap()])
        .ok();
    assert!(
        status.stderr.contains("4 of 4 planned functions"),
        "{}",
        status.stderr
    );

    // Applied once is applied: a second apply is refused.
    let again = flow.apply(&plan, &[]);
    assert!(
        again
            .error_line()
            .contains("is applied; it cannot be applied again"),
        "{}",
        again.stderr
    );

    // Rollback: the inverse plan, through the same gate.
    let rollback = flow.path("rollback.json");
    flow.govctl(&[
        "remediate",
        "--plan",
        "--rollback",
        plan.to_str().unwrap(),
        "--out",
        rollback.to_str().unwrap(),
    ])
    .ok();
    flow.approve(&rollback);
    flow.apply(&rollback, &[]).ok();
    assert_eq!(
        flow.layers_of(&prod, us, "reporting").await,
        vec![
            flow.layer("otel-extension", us, 1),
            flow.layer("shared-utils", us, 2)
        ],
        "both old versions of a region go back to the newest of them"
    );
    let original_id = plan_json(&plan)["plan_id"].as_str().unwrap().to_string();
    let shown = flow
        .govctl(&["change", "show", &original_id, "--output", "json"])
        .ok();
    let record: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(record["status"], "rolled-back");

    // Cleanup removes the rollouts.
    for file in [&plan, &rollback] {
        let out = flow
            .govctl(&["remediate", "--cleanup", file.to_str().unwrap()])
            .ok();
        assert!(out.stderr.contains("removed"), "{}", out.stderr);
    }

    // Every step is in the local audit log, with no credentials.
    let audit = std::fs::read_to_string(flow.audit_log()).unwrap();
    for event in [
        "planned",
        "approved",
        "apply-started",
        "wave-succeeded",
        "applied",
        "cleaned-up",
    ] {
        assert!(
            audit.contains(&format!("\"event\":\"{event}\"")),
            "{event} not in:\n{audit}"
        );
    }
    assert!(
        !audit.contains("SecretAccessKey") && !audit.contains("testing"),
        "{audit}"
    );
}

#[test]
fn tampered_expired_stale_and_foreign_plans_are_refused() {
    let flow = Flow::new();

    // Tampered: one character of the changes edited after planning.
    let (plan, out) = flow.plan("plan.json", &[]);
    out.ok();
    flow.approve(&plan);
    let text = std::fs::read_to_string(&plan).unwrap();
    let tampered = flow.path("tampered.json");
    std::fs::write(&tampered, text.replacen("dev-worker", "dev-workes", 1)).unwrap();
    let out = flow.apply(&tampered, &[]);
    assert!(
        out.error_line().contains("was changed after it was made"),
        "{}",
        out.stderr
    );

    // Expired.
    let (short, out) = flow.plan("short.json", &["--expires-in", "1s"]);
    out.ok();
    std::thread::sleep(Duration::from_secs(2));
    let out = flow.apply(&short, &[]);
    assert!(out.error_line().contains("expired at"), "{}", out.stderr);

    // Before the window: the stack instances would change functions at once.
    let later = flow.path("later.json");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let fmt = |t: i64| {
        aws_smithy_types::DateTime::from_secs(t)
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap()
    };
    flow.govctl(&[
        "remediate",
        "--plan",
        "--aggregator",
        "org-aggregator",
        "--layer",
        "shared-utils",
        "--window-start",
        &fmt(now + 3600),
        "--window-end",
        &fmt(now + 7200),
        "--out",
        later.to_str().unwrap(),
    ])
    .ok();
    flow.approve(&later);
    let out = flow.apply(&later, &[]);
    assert!(
        out.error_line().contains("the change window opens at"),
        "{}",
        out.stderr
    );

    // Stale: a planned function changed directly after planning.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dev = flow.account("workload-dev");
        let config = flow.sdk(Some(&dev), "us-east-1").await;
        aws_sdk_lambda::Client::new(&config)
            .update_function_configuration()
            .function_name("dev-worker")
            .layers(flow.layer("shared-utils", "us-east-1", 3))
            .send()
            .await
            .unwrap();
    });
    let out = flow.apply(&plan, &[]);
    let line = out.error_line();
    assert!(
        line.contains("is stale") && line.contains("dev-worker"),
        "{line}"
    );
}

#[test]
fn protected_accounts_are_left_out_and_a_held_lock_refuses_a_second_apply() {
    let flow = Flow::new();
    let dev = flow.account("workload-dev");
    let (plan, out) = flow.plan("plan.json", &["--protected-accounts", &dev]);
    let out = out.ok();
    assert!(
        out.stderr.contains(&format!("account {dev} is protected")),
        "{}",
        out.stderr
    );
    let doc = plan_json(&plan);
    assert_eq!(doc["changes"]["protected"], serde_json::json!([dev]));
    let functions = doc["changes"]["functions"].as_array().unwrap();
    assert!(functions.iter().all(|f| f["account_id"] != dev.as_str()));

    flow.approve(&plan);
    let id = doc["plan_id"].as_str().unwrap();
    // Another apply holds the lock.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = flow.sdk(None, "us-east-1").await;
        aws_sdk_ssm::Client::new(&config)
            .put_parameter()
            .name(format!("/govctl/locks/{id}"))
            .value("{\"holder\":\"another operator\"}")
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .unwrap();
    });
    let out = flow.apply(&plan, &[]);
    assert!(
        out.error_line()
            .contains("is being applied by someone else"),
        "{}",
        out.stderr
    );
    let out = flow.apply(&plan, &["--break-lock"]).ok();
    assert!(out.stdout.contains("SUCCEEDED"), "{}", out.stdout);
}

#[test]
fn an_interrupted_apply_resumes_without_repeating_an_operation() {
    let flow = Flow::new();
    let (plan, out) = flow.plan("plan.json", &[]);
    out.ok();
    flow.approve(&plan);

    // The second wave (workload-dev) cannot be started: the apply fails after the canary.
    let dev = flow.account("workload-dev");
    flow.control(
        "POST",
        "/_govctl/faults",
        &serde_json::json!({"seed": 1, "rules": [{
            "match": {"action": "cloudformation:CreateStackInstances"},
            "server_error": 1.0,
            "after": 2
        }]})
        .to_string(),
    );
    let out = flow.apply(&plan, &["--max-attempts", "1"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stdout.contains("canary"),
        "the canary's results are shown: {}",
        out.stdout
    );
    flow.control("DELETE", "/_govctl/faults", "");

    let out = flow.apply(&plan, &[]).ok();
    assert!(out.stdout.contains(&dev), "{}", out.stdout);
    let name = plan_json(&plan)["changes"]["stack_set_name"]
        .as_str()
        .unwrap()
        .to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ids: Vec<String> = rt.block_on(async {
        let config = flow.sdk(None, "us-east-1").await;
        let out = aws_sdk_cloudformation::Client::new(&config)
            .list_stack_set_operations()
            .stack_set_name(name)
            .send()
            .await
            .unwrap();
        out.summaries()
            .iter()
            .filter_map(|o| o.operation_id().map(String::from))
            .collect()
    });
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        ids.len(),
        unique.len(),
        "an operation was repeated: {ids:?}"
    );
    assert_eq!(
        ids.len(),
        3,
        "canary in two regions, then the dev wave: {ids:?}"
    );
}

#[test]
fn a_closed_change_calendar_refuses_the_apply() {
    let flow = Flow::new();
    let (plan, out) = flow.plan("plan.json", &[]);
    out.ok();
    flow.approve(&plan);
    // A calendar that is closed unless an event opens it, and no event now.
    let calendar = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//govctl tests//EN\r\n\
                    X-CALENDAR-TYPE:DEFAULT_CLOSED\r\nEND:VCALENDAR\r\n";
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = flow.sdk(None, "us-east-1").await;
        aws_sdk_ssm::Client::new(&config)
            .create_document()
            .name("freeze")
            .content(calendar)
            .document_type(aws_sdk_ssm::types::DocumentType::ChangeCalendar)
            .document_format(aws_sdk_ssm::types::DocumentFormat::Text)
            .send()
            .await
            .unwrap();
    });
    let out = flow.apply(&plan, &["--change-calendar", "freeze"]);
    assert!(
        out.error_line()
            .contains("change calendar freeze is CLOSED"),
        "{}",
        out.stderr
    );
}

#[test]
fn detailed_exitcode_says_whether_there_are_changes() {
    let flow = Flow::new();
    let (_, out) = flow.plan("plan.json", &["--detailed-exitcode"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let (_, out) = flow.plan_layer("none.json", "no-such-layer", &["--detailed-exitcode"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}
