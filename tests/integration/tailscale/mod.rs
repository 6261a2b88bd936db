//! `govctl tailscale` end to end: the real binary against the AWS emulator and the local
//! Tailscale API server (tests/tailscale/server.py), each test on a world of its own.
//!
//! A world is the emulator seeded with the `tailscale` scenario (two workload accounts),
//! the fake Tailscale server, and a temporary directory for plans, outputs, the audit log
//! and the fake's stderr. Everything govctl prints is kept, so that every test can end
//! with [`World::assert_no_leaks`]: no key, client secret or token in any output, log,
//! plan, audit record or change record of the run.

mod lambda;
mod rotate;
mod status;

use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::types::Tag;
use serde_json::{Value, json};

use crate::common::{Emulator, Run, govctl_at, http, repo, run};

pub const US: &str = "us-east-1";
pub const EU: &str = "eu-west-1";
pub const TAG: &str = "tag:lambda";
pub const DAY: i64 = 86_400;
pub const BOTH_REGIONS: &[&str] = &["--regions", "us-east-1,eu-west-1"];

/// The fake Tailscale API; it exits when this process does (its stdin closes).
pub struct Fake {
    pub url: String,
    _child: Child,
    _stdin: ChildStdin,
}

impl Fake {
    pub fn start(stderr: &std::path::Path) -> Fake {
        let log = std::fs::File::create(stderr).expect("create the fake's stderr file");
        let mut child = Command::new(repo().join(".venv/bin/python"))
            .arg(repo().join("tests/tailscale/server.py"))
            .args(["--port", "0", "--exit-on-stdin-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start the fake Tailscale server (run scripts/setup-emulator)");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("TAILSCALE_FAKE_READY ")
            .unwrap_or_else(|| panic!("unexpected fake output: {line:?}"))
            .to_string();
        Fake {
            url,
            _child: child,
            _stdin: stdin,
        }
    }

    pub fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let answer = http(method, &format!("{}/_control/{path}", self.url), &body);
        serde_json::from_str(&answer).unwrap_or(Value::Null)
    }

    /// A new OAuth client: `{client_id, client_secret}`.
    pub fn client(&self, scopes: &[&str]) -> Value {
        self.control("POST", "clients", json!({"scopes": scopes, "tags": [TAG]}))
    }

    /// A key minted outside govctl, created `age` seconds ago, expiring in `left` seconds.
    pub fn key(&self, age: i64, left: i64) -> Value {
        let now = now();
        self.control(
            "POST",
            "keys",
            json!({"tags": [TAG], "created": rfc3339(now - age), "expires": rfc3339(now + left),
                   "reusable": true, "ephemeral": true, "preauthorized": true}),
        )
    }

    /// Every key the fake holds, with its secret part.
    pub fn keys(&self) -> Vec<Value> {
        self.control("GET", "keys", Value::Null)["keys"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn key_by_id(&self, id: &str) -> Value {
        self.keys()
            .into_iter()
            .find(|k| k["id"] == id)
            .unwrap_or_else(|| panic!("no key {id}"))
    }

    /// Keys minted for a rotation token (their description carries it).
    pub fn minted_for(&self, token: &str) -> Vec<Value> {
        let marker = format!("govctl {token}");
        self.keys()
            .into_iter()
            .filter(|k| k["description"] == marker.as_str())
            .collect()
    }

    pub fn faults(&self, rules: Value) {
        self.control("POST", "faults", json!({ "rules": rules }));
    }

    pub fn clear_faults(&self) {
        self.control("DELETE", "faults", Value::Null);
    }

    pub fn requests(&self) -> Vec<Value> {
        self.control("GET", "requests", Value::Null)["requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

pub struct World {
    pub emulator: Emulator,
    pub manifest: Value,
    pub fake: Fake,
    pub dir: tempfile::TempDir,
    /// Everything govctl printed in this world, for the leak scan.
    printed: RefCell<Vec<String>>,
    /// Every secret value the world created or saw, for the leak scan.
    secrets: RefCell<Vec<String>>,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let emulator = Emulator::start();
        let manifest = emulator.seed("tailscale");
        let fake = Fake::start(&dir.path().join("fake.stderr"));
        World {
            emulator,
            manifest,
            fake,
            dir,
            printed: RefCell::new(Vec::new()),
            secrets: RefCell::new(Vec::new()),
        }
    }

    pub fn account(&self, name: &str) -> String {
        self.manifest["accounts"][name]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn function(&self, account: &str) -> String {
        self.manifest["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["account_id"] == account)
            .map(|f| f["function_arn"].as_str().unwrap().to_string())
            .unwrap()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// govctl as the planner, pointed at the emulator and the fake.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = govctl_at(&self.emulator.endpoint);
        command
            .env("GOVCTL_AUDIT_LOG", self.path("audit.jsonl"))
            .env("GOVCTL_TAILSCALE_API_URL", &self.fake.url)
            .args(args);
        command
    }

    pub fn govctl(&self, args: &[&str]) -> Run {
        self.keep(run(&mut self.command(args)))
    }

    /// govctl signed as the seed's approver, another principal than the planner.
    pub fn as_approver(&self, args: &[&str]) -> Run {
        let keys = &self.manifest["users"]["approver"];
        let mut command = self.command(args);
        command
            .env("AWS_ACCESS_KEY_ID", keys["access_key_id"].as_str().unwrap())
            .env(
                "AWS_SECRET_ACCESS_KEY",
                keys["secret_access_key"].as_str().unwrap(),
            );
        self.keep(run(&mut command))
    }

    pub fn keep(&self, run: Run) -> Run {
        let mut printed = self.printed.borrow_mut();
        printed.push(run.stdout.clone());
        printed.push(run.stderr.clone());
        run
    }

    pub fn remember_secret(&self, value: &str) {
        self.secrets.borrow_mut().push(value.to_string());
    }

    /// Plans the rotation of the secrets `selection` names into `name`; returns its path.
    pub fn plan(&self, name: &str, selection: &[&str]) -> PathBuf {
        let path = self.path(name);
        let mut args = vec![
            "tailscale",
            "rotate",
            "--plan",
            "--out",
            path.to_str().unwrap(),
        ];
        args.extend_from_slice(selection);
        self.govctl(&args).ok();
        path
    }

    pub fn approve(&self, plan: &std::path::Path) {
        self.as_approver(&["change", "approve", plan.to_str().unwrap()])
            .ok();
    }

    pub fn apply(&self, plan: &std::path::Path, extra: &[&str]) -> Run {
        let mut args = vec!["tailscale", "rotate", "--apply", plan.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.govctl(&args)
    }

    /// The plan's rotations, as JSON.
    pub fn rotations(&self, plan: &std::path::Path) -> Vec<Value> {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(plan).unwrap()).unwrap();
        doc["changes"].as_array().unwrap().clone()
    }

    /// The SDK acting in `account` (through the member role) or in the management account.
    pub async fn sdk(&self, account: Option<&str>, region: &str) -> SdkConfig {
        crate::common::sdk(&self.emulator.endpoint, account, region).await
    }

    /// Credentials of the member role in `account`: access key ID, secret and session token.
    pub async fn member_credentials(&self, account: &str) -> (String, String, String) {
        crate::common::member_keys(&self.emulator.endpoint, account).await
    }

    pub async fn sm(&self, account: &str, region: &str) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk(Some(account), region).await)
    }

    /// An OAuth client secret named `name`; returns its ARN.
    pub async fn oauth_secret(
        &self,
        account: &str,
        region: &str,
        name: &str,
        client: &Value,
    ) -> String {
        self.remember_secret(client["client_secret"].as_str().unwrap());
        let value =
            json!({"client_id": client["client_id"], "client_secret": client["client_secret"]});
        self.sm(account, region)
            .await
            .create_secret()
            .name(name)
            .secret_string(value.to_string())
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_string()
    }

    /// The value of an auth-key secret holding `key` (a fake key record).
    pub fn value_of(&self, key: &Value, oauth: &str) -> Value {
        self.remember_secret(key["key"].as_str().unwrap());
        json!({"key": key["key"], "id": key["id"], "created": key["created"],
               "expires": key["expires"], "oauth_secret": oauth, "tags": [TAG],
               "reusable": true, "ephemeral": true, "preauthorized": true})
    }

    /// A tagged auth-key secret named `name` holding `value`; returns its ARN.
    pub async fn auth_key_secret(
        &self,
        account: &str,
        region: &str,
        name: &str,
        value: &impl ToString,
    ) -> String {
        self.sm(account, region)
            .await
            .create_secret()
            .name(name)
            .secret_string(value.to_string())
            .tags(
                Tag::builder()
                    .key("govctl:tailscale-auth-key")
                    .value("true")
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_string()
    }

    /// Version ID to staging labels.
    pub async fn stages(
        &self,
        account: &str,
        region: &str,
        arn: &str,
    ) -> Vec<(String, Vec<String>)> {
        let out = self
            .sm(account, region)
            .await
            .describe_secret()
            .secret_id(arn)
            .send()
            .await
            .unwrap();
        let mut stages: Vec<(String, Vec<String>)> = out
            .version_ids_to_stages()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        stages.sort();
        stages
    }

    /// The parsed value of the version labelled `stage`.
    pub async fn value(&self, account: &str, region: &str, arn: &str, stage: &str) -> Value {
        let out = self
            .sm(account, region)
            .await
            .get_secret_value()
            .secret_id(arn)
            .version_stage(stage)
            .send()
            .await
            .unwrap();
        let text = out.secret_string().unwrap();
        self.remember_secret(text);
        serde_json::from_str(text).unwrap()
    }

    /// No secret of this world in anything govctl printed or wrote, nor in the fake's log,
    /// the audit log, the plan files, the outputs or the change records.
    pub async fn assert_no_leaks(&self) {
        let mut haystacks: Vec<(String, String)> = self
            .printed
            .borrow()
            .iter()
            .enumerate()
            .map(|(i, text)| (format!("output #{i}"), text.clone()))
            .collect();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                haystacks.push((path.display().to_string(), text));
            }
        }
        haystacks.push((
            "fake request log".into(),
            json!(self.fake.requests()).to_string(),
        ));
        let ssm = aws_sdk_ssm::Client::new(&self.sdk(None, US).await);
        let records = ssm
            .get_parameters_by_path()
            .path("/govctl")
            .recursive(true)
            .send()
            .await
            .unwrap();
        for parameter in records.parameters() {
            haystacks.push((
                parameter.name().unwrap_or_default().to_string(),
                parameter.value().unwrap_or_default().to_string(),
            ));
        }

        let mut needles = self.secrets.borrow().clone();
        for key in self.fake.keys() {
            needles.push(key["key"].as_str().unwrap().to_string());
        }
        // The secret parts alone, too: a key cut in half must not show either.
        let parts: Vec<String> = needles
            .iter()
            .filter_map(|n| n.rsplit('-').next().map(str::to_string))
            .filter(|p| p.len() >= 16)
            .collect();
        needles.extend(parts);
        assert!(needles.len() > 2, "the scan needs something to look for");
        for (place, text) in &haystacks {
            for needle in &needles {
                assert!(
                    !text.contains(needle.as_str()),
                    "a secret value appears in {place}"
                );
            }
            for (at, _) in text.match_indices("tskey-") {
                assert!(
                    text[at..].starts_with("tskey-[redacted]"),
                    "something key-like appears in {place}: {}",
                    &text[at..(at + 24).min(text.len())]
                );
            }
        }
    }
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn rfc3339(seconds: i64) -> String {
    aws_smithy_types::DateTime::from_secs(seconds)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
}

/// Waits until `done` holds, for at most `seconds`.
pub fn wait_for(seconds: u64, mut done: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(std::time::Instant::now() < until, "timed out waiting");
        std::thread::sleep(Duration::from_millis(50));
    }
}
