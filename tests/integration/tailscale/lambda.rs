//! The rotation function's handler, called as Secrets Manager would call the function:
//! after RotateSecret made the AWSPENDING placeholder, one invocation per step, the same
//! token each time, and again after a failure. The emulator runs no rotation functions, so
//! the test is Secrets Manager here.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use govctl::tailscale::lambda::{Handled, Handler, RotationEvent};

use super::{DAY, US, World};

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
