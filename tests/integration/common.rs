//! Starting the emulator, seeding it and running govctl against it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// A running emulator; it exits when this process does, because its stdin closes.
pub struct Emulator {
    pub endpoint: String,
    _child: Child,
    _stdin: ChildStdin,
}

/// The seeded emulator shared by the read-only tests.
pub struct World {
    pub emulator: Emulator,
    pub manifest: Value,
}

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.exists(),
        "the emulator is not installed: run scripts/setup-emulator (scripts/test does it)"
    );
    python
}

impl Emulator {
    pub fn start() -> Emulator {
        let mut child = Command::new(python())
            .arg(repo().join("tests/emulator/server.py"))
            .args(["--port", "0", "--exit-on-stdin-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the emulator");
        let stdin = child.stdin.take().expect("emulator stdin");
        let stdout = child.stdout.take().expect("emulator stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the emulator's ready line");
        let endpoint = line
            .trim()
            .strip_prefix("GOVCTL_EMULATOR_READY ")
            .unwrap_or_else(|| panic!("unexpected emulator output: {line:?}"))
            .to_string();
        Emulator {
            endpoint,
            _child: child,
            _stdin: stdin,
        }
    }

    pub fn seed(&self, scenario: &str) -> Value {
        let out = Command::new(python())
            .arg(repo().join("tests/emulator/seed.py"))
            .args(["--endpoint", &self.endpoint, "--scenario", scenario])
            .output()
            .expect("run the seed script");
        assert!(
            out.status.success(),
            "seeding failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("seed manifest is JSON")
    }
}

/// The shared emulator, seeded with the `test` scenario.
pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let emulator = Emulator::start();
        let manifest = emulator.seed("test");
        World { emulator, manifest }
    })
}

impl World {
    pub fn account(&self, name: &str) -> &str {
        self.manifest["accounts"][name]
            .as_str()
            .unwrap_or_else(|| panic!("no account {name} in the manifest"))
    }

    /// The unversioned ARN of a seeded layer, e.g. `layer("shared-utils", "us-east-1")`.
    pub fn layer(&self, name: &str, region: &str) -> &str {
        self.manifest["layers"][format!("{name}@{region}")]
            .as_str()
            .unwrap_or_else(|| panic!("no layer {name}@{region} in the manifest"))
    }

    pub fn govctl(&self) -> Command {
        govctl_at(&self.emulator.endpoint)
    }

    /// govctl signed with the keys of one of the seed's restricted IAM users.
    pub fn govctl_as(&self, user: &str) -> Command {
        let keys = &self.manifest["users"][user];
        let mut command = self.govctl();
        command
            .env("AWS_ACCESS_KEY_ID", keys["access_key_id"].as_str().unwrap())
            .env(
                "AWS_SECRET_ACCESS_KEY",
                keys["secret_access_key"].as_str().unwrap(),
            );
        command
    }
}

/// govctl with an environment that points at `endpoint` and nothing of the user's.
pub fn govctl_at(endpoint: &str) -> Command {
    let mut command = bare_govctl();
    command
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", endpoint);
    command
}

/// govctl with no credentials, region or endpoint at all.
pub fn bare_govctl() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_govctl"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") || key.starts_with("GOVCTL_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    let home = std::env::temp_dir().join("govctl-test-home");
    std::fs::create_dir_all(&home).expect("create test home");
    let (config, credentials) = (home.join("empty-config"), home.join("empty-credentials"));
    std::fs::write(&config, "").expect("write an empty AWS config file");
    std::fs::write(&credentials, "").expect("write an empty AWS credentials file");
    command
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", config)
        .env("AWS_SHARED_CREDENTIALS_FILE", credentials)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1");
    command
}

/// What a run printed, with a few checks every run must pass.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(command: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("run govctl");
    let run = Run {
        code: status.code().expect("govctl exited by a signal"),
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "govctl panicked:\n{}",
        run.stderr
    );
    run
}

impl Run {
    /// Asserts a clean success and returns stdout.
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "stderr:\n{}", self.stderr);
        self
    }

    /// Asserts a one-line error with exit 2, and returns that line.
    pub fn error_line(&self) -> &str {
        assert_eq!(
            self.code, 2,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            self.stdout.is_empty(),
            "an error printed data: {}",
            self.stdout
        );
        self.stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("no error line in:\n{}", self.stderr))
    }

    pub fn hint(&self) -> Option<&str> {
        self.stderr.lines().find_map(|l| l.strip_prefix("hint: "))
    }
}

/// A plain HTTP/1.1 request to the emulator's control endpoints; returns the body.
pub fn http(method: &str, url: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap();
    let mut stream = std::net::TcpStream::connect(host).expect("connect to the emulator");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    assert!(
        head.starts_with("HTTP/1.1 2") || head.starts_with("HTTP/1.0 2"),
        "{method} {url}: {head}"
    );
    body.to_string()
}

/// The SDK pointed at `endpoint`, acting in `account` through the member role, or in the
/// management account for `None`: for tests that set up or inspect state themselves.
pub async fn sdk(endpoint: &str, account: Option<&str>, region: &str) -> aws_config::SdkConfig {
    let base = management_sdk(endpoint, region).await;
    let Some(account) = account else { return base };
    let (key, secret, token) = member_keys(endpoint, account).await;
    let creds = aws_credential_types::Credentials::new(key, secret, Some(token), None, "test");
    base.into_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
        .build()
}

/// Keys of the member role in `account`: access key ID, secret and session token.
pub async fn member_keys(endpoint: &str, account: &str) -> (String, String, String) {
    let base = management_sdk(endpoint, "us-east-1").await;
    let out = aws_sdk_sts::Client::new(&base)
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        ))
        .role_session_name("test")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    (
        c.access_key_id().to_string(),
        c.secret_access_key().to_string(),
        c.session_token().to_string(),
    )
}

async fn management_sdk(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .test_credentials()
        .load()
        .await
}
