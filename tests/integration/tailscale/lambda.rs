//! The rotation function's handler, called as Secrets Manager would call the function:
//! after RotateSecret made the AWSPENDING placeholder, one invocation per step, the same
//! token each time, and again after a failure. The emulator runs no rotation functions, so
//! the test is Secrets Manager here.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use govctl::tailscale::lambda::{Handled, Handler, RotationEvent};

use super::{DAY, US, World};
use crate::common::repo;

/// Collects the handler's log lines, as CloudWatch would.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct Function {
    world: World,
    prod: String,
    handler: Handler,
    logs: Logs,
}

impl Function {
    async fn new() -> Function {
        let world = World::new();
        let prod = world.account("workload-prod");
        let client = world.fake.client(&["auth_keys"]);
        world
            .oauth_secret(&prod, US, "tailscale/oauth", &client)
            .await;
        // The function acts with its own role, in the secret's account.
        let handler = Handler::new(world.sdk(Some(&prod), US).await, &world.fake.url).unwrap();
        Function {
            world,
            prod,
            handler,
            logs: Logs::default(),
        }
    }

    /// A secret whose rotation Secrets Manager has started with `token`.
    async fn rotating(&self, name: &str, token: &str) -> (String, String) {
        let key = self.world.fake.key(60 * DAY, 30 * DAY);
        let value = self.world.value_of(&key, "tailscale/oauth");
        let arn = self
            .world
            .auth_key_secret(&self.prod, US, name, &value)
            .await;
        self.world
            .sm(&self.prod, US)
            .await
            .rotate_secret()
            .secret_id(&arn)
            .client_request_token(token)
            .rotation_lambda_arn(self.world.function(&self.prod))
            .rotation_rules(
                aws_sdk_secretsmanager::types::RotationRulesType::builder()
                    .automatically_after_days(60)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        (arn, key["id"].as_str().unwrap().to_string())
    }

    async fn step(&self, step: &str, arn: &str, token: &str) -> govctl::error::Result<Handled> {
        let event = RotationEvent {
            step: step.into(),
            secret_id: arn.into(),
            client_request_token: token.into(),
        };
        let subscriber = tracing_subscriber::fmt()
            .with_writer(self.logs.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        self.handler.handle(&event).await
    }

    async fn labels(&self, arn: &str) -> Vec<(String, Vec<String>)> {
        self.world.stages(&self.prod, US, arn).await
    }

    fn valid(&self, id: &str) -> bool {
        let key = self.world.fake.key_by_id(id);
        key.get("invalid").is_none()
    }

    async fn finish(self) {
        let logs = self.logs.text();
        assert!(logs.contains("step done"), "the handler logs: {logs}");
        self.world.keep(crate::common::Run {
            code: 0,
            stdout: logs,
            stderr: String::new(),
        });
        self.world.assert_no_leaks().await;
    }
}

const TOKEN: &str = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const RETRIED: &str = "0a0b0c0d-1e1f-4a2b-8c3d-4e5f6a7b8c9d";

#[tokio::test]
async fn four_invocations_rotate_the_secret_and_repeats_change_nothing() {
    let f = Function::new().await;
    let (arn, old_key) = f.rotating("ts/app", TOKEN).await;

    let created = f.step("createSecret", &arn, TOKEN).await.unwrap();
    let Handled::Done { key_id } = created else {
        panic!("{created:?}")
    };
    // Secrets Manager retries a step whose answer it did not get: no second key.
    assert_eq!(
        f.step("createSecret", &arn, TOKEN).await.unwrap(),
        Handled::Done {
            key_id: key_id.clone()
        }
    );
    assert_eq!(f.world.fake.minted_for(TOKEN).len(), 1);
    f.step("setSecret", &arn, TOKEN).await.unwrap();
    f.step("testSecret", &arn, TOKEN).await.unwrap();
    let before = f.labels(&arn).await;
    assert!(
        before
            .iter()
            .any(|(v, l)| v == TOKEN && l == &["AWSPENDING"]),
        "{before:?}"
    );
    f.step("finishSecret", &arn, TOKEN).await.unwrap();

    let after = f.labels(&arn).await;
    assert!(
        after
            .iter()
            .any(|(v, l)| v == TOKEN && l == &["AWSCURRENT"]),
        "{after:?}"
    );
    assert!(
        !after
            .iter()
            .any(|(_, l)| l.iter().any(|l| l == "AWSPENDING")),
        "{after:?}"
    );
    assert!(f.valid(&key_id) && !f.valid(&old_key));
    let current = f.world.value(&f.prod, US, &arn, "AWSCURRENT").await;
    assert_eq!(current["id"], key_id.as_str());

    // Every step again, as after a lost answer: nothing changes.
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        assert_eq!(
            f.step(step, &arn, TOKEN).await.unwrap(),
            Handled::AlreadyCurrent
        );
    }
    assert_eq!(f.world.fake.minted_for(TOKEN).len(), 1);
    f.finish().await;
}

#[tokio::test]
async fn a_failing_step_is_retried_with_the_same_token_and_finishes() {
    let f = Function::new().await;
    let (arn, old_key) = f.rotating("ts/app", RETRIED).await;

    // The create's answer is lost: Tailscale minted a key the secret never got.
    f.world
        .fake
        .faults(json!([{"endpoint": "create_key", "status": 504, "apply": true}]));
    let error = f.step("createSecret", &arn, RETRIED).await.unwrap_err();
    assert!(error.to_string().contains("HTTP 504"), "{error}");
    let Handled::Done { key_id } = f.step("createSecret", &arn, RETRIED).await.unwrap() else {
        panic!()
    };
    let minted = f.world.fake.minted_for(RETRIED);
    assert_eq!(minted.len(), 2);
    assert_eq!(
        minted.iter().filter(|k| k.get("invalid").is_none()).count(),
        1
    );

    // Tailscale fails during testSecret: nothing is promoted, and the retry passes.
    f.step("setSecret", &arn, RETRIED).await.unwrap();
    f.world
        .fake
        .faults(json!([{"endpoint": "get_key", "status": 500, "times": 3}]));
    assert!(f.step("testSecret", &arn, RETRIED).await.is_err());
    f.world.fake.clear_faults();
    f.step("testSecret", &arn, RETRIED).await.unwrap();

    // A revoke that fails is logged, and the next rotation carries the key forward.
    f.world
        .fake
        .faults(json!([{"endpoint": "delete_key", "status": 500, "times": 0}]));
    f.step("finishSecret", &arn, RETRIED).await.unwrap();
    f.world.fake.clear_faults();
    assert!(f.valid(&old_key), "not revoked yet");
    assert!(f.logs.text().contains("could not revoke a replaced key"));
    let current = f.world.value(&f.prod, US, &arn, "AWSCURRENT").await;
    assert_eq!(current["id"], key_id.as_str());

    // Secrets Manager's next rotation: the old key is revoked at last.
    let next = "1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b";
    f.world
        .sm(&f.prod, US)
        .await
        .rotate_secret()
        .secret_id(&arn)
        .client_request_token(next)
        .send()
        .await
        .unwrap();
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        f.step(step, &arn, next).await.unwrap();
    }
    assert!(!f.valid(&old_key) && !f.valid(&key_id));
    let current: Value = f.world.value(&f.prod, US, &arn, "AWSCURRENT").await;
    let replaced: Vec<&str> = current["replaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key_id"].as_str().unwrap())
        .collect();
    assert_eq!(replaced, [key_id.as_str(), old_key.as_str()]);
    f.finish().await;
}

#[tokio::test]
async fn the_function_refuses_what_secrets_manager_would_not_send() {
    let f = Function::new().await;
    let key = f.world.fake.key(DAY, 89 * DAY);
    let value = f.world.value_of(&key, "tailscale/oauth");
    let plain = f
        .world
        .auth_key_secret(&f.prod, US, "ts/plain", &value)
        .await;
    let error = f.step("createSecret", &plain, TOKEN).await.unwrap_err();
    assert!(
        error.to_string().contains("rotation is not enabled"),
        "{error}"
    );

    let (arn, _) = f.rotating("ts/app", TOKEN).await;
    let error = f.step("createSecret", &arn, RETRIED).await.unwrap_err();
    assert!(
        error.to_string().contains("has no staging label"),
        "{error}"
    );
    let error = f.step("rotateSecret", &arn, TOKEN).await.unwrap_err();
    assert!(
        error.to_string().contains("createSecret, setSecret"),
        "{error}"
    );
    let error = f.step("setSecret", &arn, TOKEN).await.unwrap_err();
    assert!(
        error.to_string().contains("no version holds a value"),
        "{error}"
    );
    f.step("createSecret", &arn, TOKEN).await.unwrap();
    f.finish().await;
}

#[tokio::test]
async fn the_built_binary_rotates_when_secrets_manager_invokes_it() {
    let f = Function::new().await;
    let token = "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c";
    let (arn, old_key) = f.rotating("ts/binary", token).await;

    // The Lambda Runtime API hands out the four steps, as Secrets Manager invokes them.
    let steps = ["createSecret", "setSecret", "testSecret", "finishSecret"];
    let events: Vec<Value> = steps
        .iter()
        .map(|step| json!({"Step": step, "SecretId": arn, "ClientRequestToken": token}))
        .collect();
    let events_file = f.world.path("events.json");
    std::fs::write(&events_file, json!(events).to_string()).unwrap();
    let mut runtime = Command::new(repo().join(".venv/bin/python"))
        .arg(repo().join("tests/tailscale/lambda_runtime.py"))
        .arg("--events")
        .arg(&events_file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(runtime.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    let address = ready
        .strip_prefix("LAMBDA_RUNTIME_READY ")
        .unwrap()
        .to_string();

    // The function's environment: its role's credentials, its region, its settings.
    let (key_id, secret, session) = f.world.member_credentials(&f.prod).await;
    let log = std::fs::File::create(f.world.path("function.log")).unwrap();
    let mut function = Command::new(env!("CARGO_BIN_EXE_govctl-tailscale-rotation"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "govctl-tailscale-rotation")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", US)
        .env("AWS_ENDPOINT_URL", &f.world.emulator.endpoint)
        .env("AWS_ACCESS_KEY_ID", key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_SESSION_TOKEN", session)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", f.world.dir.path())
        .env("GOVCTL_TAILSCALE_API_URL", &f.world.fake.url)
        .env("RUST_LOG", "debug")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let done = lines.next().unwrap().unwrap();
    function.kill().ok();
    function.wait().unwrap();
    runtime.wait().unwrap();

    let answers: Vec<Value> =
        serde_json::from_str(done.strip_prefix("LAMBDA_RUNTIME_DONE ").unwrap()).unwrap();
    assert_eq!(answers.len(), 4, "{answers:?}");
    for answer in &answers {
        assert_eq!(answer["ok"], true, "{answer}");
    }
    let labels = f.labels(&arn).await;
    assert!(
        labels
            .iter()
            .any(|(v, l)| v == token && l == &["AWSCURRENT"]),
        "{labels:?}"
    );
    assert!(
        !labels
            .iter()
            .any(|(_, l)| l.iter().any(|l| l == "AWSPENDING")),
        "{labels:?}"
    );
    assert!(!f.valid(&old_key), "the old key is revoked");
    assert_eq!(f.world.fake.minted_for(token).len(), 1);
    let log = std::fs::read_to_string(f.world.path("function.log")).unwrap();
    assert!(log.contains("minted a Tailscale key"), "{log}");
    f.world.assert_no_leaks().await;
}
