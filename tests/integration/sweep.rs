//! `govctl sweep`: every area into one dated directory, a failing area reported as failed,
//! and the HTML summary as a browser shows it.
//!
//! The sweep runs against an emulator of its own, seeded with the `sweep` scenario (the
//! `test` organization plus OCU limits and usage and a Cost Explorer table) and two
//! Tailscale auth-key secrets with the local Tailscale API, so that every area has
//! findings.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{Emulator, Run, govctl_at, run};
use crate::tailscale::{DAY, Fake, TAG};

struct Sweepable {
    emulator: Emulator,
    manifest: Value,
    fake: Fake,
    _fake_log: tempfile::TempDir,
}

fn sweepable() -> &'static Sweepable {
    static WORLD: OnceLock<Sweepable> = OnceLock::new();
    WORLD.get_or_init(|| {
        let emulator = Emulator::start();
        let manifest = emulator.seed("sweep");
        let fake_log = tempfile::tempdir().unwrap();
        let fake = Fake::start(&fake_log.path().join("fake.stderr"));
        let world = Sweepable {
            emulator,
            manifest,
            fake,
            _fake_log: fake_log,
        };
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(auth_key_secrets(&world));
        world
    })
}

/// Two auth-key secrets in the management account: one whose key has 60 days left (ok) and
/// one with 10 (rotate-soon), both minted through the same OAuth client.
async fn auth_key_secrets(world: &Sweepable) {
    let config = crate::common::sdk(&world.emulator.endpoint, None, "us-east-1").await;
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let client = world.fake.client(&["auth_keys", "devices:core"]);
    let oauth = serde_json::json!({
        "client_id": client["client_id"], "client_secret": client["client_secret"]
    });
    let oauth_arn = sm
        .create_secret()
        .name("tailscale/oauth")
        .secret_string(oauth.to_string())
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    for (name, left) in [
        ("tailscale/fresh", 60 * DAY),
        ("tailscale/ageing", 10 * DAY),
    ] {
        let key = world.fake.key(80 * DAY - left, left);
        let value = serde_json::json!({
            "key": key["key"], "id": key["id"], "created": key["created"],
            "expires": key["expires"], "oauth_secret": oauth_arn, "tags": [TAG],
            "reusable": true, "ephemeral": true, "preauthorized": true
        });
        sm.create_secret()
            .name(name)
            .secret_string(value.to_string())
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("govctl:tailscale-auth-key")
                    .value("true")
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
}

const CONFIG: &str = r#"
version = 1
[aws]
regions = ["us-east-1", "eu-west-1"]
[layers]
aggregator = "org-aggregator"
[sweep.cost]
forecast = "total"
fail_on_movers = true
"#;

/// A scratch directory with a config file and a cache of its own.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new(config: &str) -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("govctl.toml"), config).unwrap();
        Scratch { dir }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("sweeps")
    }

    fn govctl(&self, world: &Sweepable) -> Command {
        let mut command = govctl_at(&world.emulator.endpoint);
        command
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .env("GOVCTL_TAILSCALE_API_URL", &world.fake.url)
            .arg("--config")
            .arg(self.dir.path().join("govctl.toml"));
        command
    }

    fn sweep(&self, world: &Sweepable, args: &[&str]) -> Run {
        let mut command = self.govctl(world);
        command.arg("sweep").arg("--out").arg(self.out()).args(args);
        run(&mut command)
    }

    /// The one sweep directory, from what the sweep printed.
    fn result(&self, out: &Run) -> PathBuf {
        let dir = PathBuf::from(out.stdout.trim());
        assert_eq!(dir.parent(), Some(self.out().as_path()), "{}", out.stdout);
        dir
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap()
}

fn area<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["areas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["area"] == name)
        .unwrap_or_else(|| panic!("no area {name} in {summary}"))
}

/// Data rows of a CSV file, without its header.
fn csv_rows(path: &Path) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(path)
        .unwrap()
        .records()
        .map(Result::unwrap)
        .collect()
}

fn column(path: &Path, name: &str) -> Vec<String> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let index = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {}", path.display()));
    reader
        .records()
        .map(|r| r.unwrap()[index].to_string())
        .collect()
}

#[test]
fn a_sweep_writes_every_area_and_a_summary_that_agrees_with_them() {
    let world = sweepable();
    let scratch = Scratch::new(CONFIG);
    let out = scratch.sweep(world, &[]);
    assert_eq!(out.code, 1, "findings in every area: {}", out.stderr);
    let dir = scratch.result(&out);

    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "cost-movers.csv",
            "cost-movers.json",
            "cost.csv",
            "cost.json",
            "layers.csv",
            "layers.json",
            "ocu.csv",
            "ocu.json",
            "summary.html",
            "summary.json",
            "tailscale.csv",
            "tailscale.json",
        ]
    );
    let siblings: Vec<_> = std::fs::read_dir(scratch.out()).unwrap().collect();
    assert_eq!(siblings.len(), 1, "no .partial directory is left behind");

    let summary = json(&dir.join("summary.json"));
    assert_eq!(summary["kind"], "sweep_summary");
    assert_eq!(summary["schema_version"], 1);
    assert_eq!(summary["exit_code"], 1);
    assert_eq!(summary["status"], "findings");

    // Layers: the same report `layers report` gives, and the summary counts its rows.
    let layers = area(&summary, "layers");
    let report = run(govctl_at(&world.emulator.endpoint).args([
        "layers",
        "report",
        "--aggregator",
        "org-aggregator",
    ]))
    .ok();
    assert_eq!(read(&dir.join("layers.csv")), report.stdout);
    let rows = csv_rows(&dir.join("layers.csv")).len();
    assert_eq!(rows, 8);
    assert_eq!(layers["rows"], rows);
    assert_eq!(layers["findings"], rows);
    assert_eq!(layers["status"], "findings");
    assert_eq!(layers["details"]["layers"], 5);
    assert_eq!(
        json(&dir.join("layers.json"))["rows"]
            .as_array()
            .unwrap()
            .len(),
        rows
    );

    // OCU: one account at its maximum, one well below; the states counted match the CSV.
    let ocu = area(&summary, "ocu");
    let states = column(&dir.join("ocu.csv"), "state");
    assert_eq!(states, ["reached", "ok"]);
    assert_eq!(ocu["details"]["states"]["reached"], 1);
    assert_eq!(ocu["details"]["states"]["ok"], 1);
    assert_eq!(ocu["details"]["visited"], 8, "4 accounts x 2 regions");
    assert_eq!(
        ocu["findings"], 1,
        "approaching by default: the reached row"
    );

    // Tailscale: one key fine, one to rotate soon; any state but ok is a finding.
    let tailscale = area(&summary, "tailscale");
    let states = column(&dir.join("tailscale.csv"), "state");
    assert_eq!(
        states,
        ["rotate-soon", "ok"],
        "sorted by secret name: ageing, fresh"
    );
    assert_eq!(tailscale["details"]["states"]["rotate-soon"], 1);
    assert_eq!(tailscale["details"]["states"]["ok"], 1);
    assert_eq!(tailscale["findings"], 1);
    let key = read(&dir.join("tailscale.json"));
    assert!(!key.contains("tskey-"), "no key in the report");

    // Cost: the summary's monthly totals are the total rows of the CSV.
    let cost = area(&summary, "cost");
    let cost_csv = dir.join("cost.csv");
    let totals: Vec<(String, String)> = column(&cost_csv, "total")
        .into_iter()
        .zip(column(&cost_csv, "month"))
        .zip(column(&cost_csv, "amount"))
        .filter(|((total, _), _)| total == "true")
        .map(|((_, month), amount)| (month, amount))
        .collect();
    assert_eq!(totals.len(), 4, "three closed months and this one");
    for (month, amount) in &totals {
        assert_eq!(cost["details"]["totals"][month], amount.as_str(), "{month}");
    }
    let last_closed = world.manifest["months"]["1"].as_str().unwrap();
    assert_eq!(cost["details"]["totals"][last_closed], "1078.2");
    let movers = csv_rows(&dir.join("cost-movers.csv")).len();
    assert!(movers > 0);
    assert_eq!(cost["details"]["movers"], movers);
    assert_eq!(cost["findings"], movers, "fail_on_movers = true");

    // The page names every area and carries both charts.
    let html = read(&dir.join("summary.html"));
    for title in [
        "Outdated Lambda layers",
        "OpenSearch Serverless OCU limits",
        "Tailscale auth keys",
        "Cost",
    ] {
        assert!(html.contains(title), "{title}");
    }
    assert!(html.contains("Peak OCU utilisation") && html.contains("Cost per month (USD)"));
    assert!(!html.contains("<script"), "the page runs nothing");
    assert!(
        !html.contains(" src=") && !html.contains("href=\"http"),
        "loads nothing"
    );
}

#[test]
fn a_failing_area_is_reported_and_does_not_stop_the_others() {
    let world = sweepable();
    let config = CONFIG.replace("aggregator = \"org-aggregator\"", "aggregator = \"nope\"");
    let scratch = Scratch::new(&config);
    let out = scratch.sweep(world, &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("warning: layers failed: configuration aggregator 'nope' was not found"),
        "{}",
        out.stderr
    );
    let dir = scratch.result(&out);
    let summary = json(&dir.join("summary.json"));
    assert_eq!(summary["exit_code"], 2);
    let layers = area(&summary, "layers");
    assert_eq!(layers["status"], "failed");
    assert!(layers["error"].as_str().unwrap().contains("'nope'"));
    assert!(!dir.join("layers.csv").exists());
    for other in ["ocu", "tailscale", "cost"] {
        assert_eq!(area(&summary, other)["status"], "findings", "{other}");
    }
    assert!(dir.join("ocu.csv").exists() && dir.join("cost.csv").exists());
    assert!(read(&dir.join("summary.html")).contains("failed"));
}

#[test]
fn thresholds_and_areas_come_from_the_config_and_flags() {
    let world = sweepable();
    let config = format!(
        "{CONFIG}\n[sweep.ocu]\nfail_on = \"never\"\n[sweep.layers]\nenabled = false\n\
                 [sweep.tailscale]\nfail_on = [\"expired\", \"revoked\"]\n"
    )
    .replace("fail_on_movers = true", "fail_on_movers = false");
    let scratch = Scratch::new(&config);
    let out = scratch.sweep(world, &[]);
    assert_eq!(out.code, 0, "nothing counts as a finding: {}", out.stderr);
    let summary = json(&scratch.result(&out).join("summary.json"));
    let names: Vec<&str> = summary["areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["area"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ocu", "tailscale", "cost"], "layers is disabled");
    assert_eq!(area(&summary, "ocu")["rows"], 2);
    assert_eq!(area(&summary, "ocu")["status"], "ok");

    let only = scratch.sweep(world, &["--areas", "layers"]);
    assert_eq!(only.code, 1, "named on the command line, layers runs");
    let summary = json(&scratch.result(&only).join("summary.json"));
    assert_eq!(summary["areas"].as_array().unwrap().len(), 1);
}

#[test]
fn a_bad_setting_fails_before_any_aws_call_and_writes_nothing() {
    let world = sweepable();
    let scratch = Scratch::new(&format!("{CONFIG}months = 40\n"));
    let out = scratch.sweep(world, &[]);
    let line = out.error_line();
    assert!(
        line.starts_with("error: invalid setting in [sweep.cost]:") && line.contains("40"),
        "{line}"
    );
    assert!(!scratch.out().exists(), "nothing written");

    let scratch = Scratch::new(&format!("{CONFIG}output = \"csv\"\n"));
    let line = scratch.sweep(world, &[]).error_line().to_string();
    assert!(line.contains("output cannot be set"), "{line}");
}

/// Chromium's screenshot of the summary shows both charts: the cost bars and the OCU bars
/// are drawn in the page's first series colour, which nothing else on the page uses.
#[test]
fn the_summary_page_shows_its_charts_in_a_browser() {
    let world = sweepable();
    let scratch = Scratch::new(CONFIG);
    let out = scratch.sweep(world, &[]);
    let dir = scratch.result(&out);
    let html = dir.join("summary.html");
    let png = scratch.dir.path().join("summary.png");

    let browser = chromium();
    let profile = tempfile::tempdir().unwrap();
    let shot = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1100,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium");
    assert!(
        png.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let channels = frame.color_type.samples();
    let bar = [0x4e, 0x79, 0xa7];
    let rows_with_bar: Vec<usize> = pixels[..frame.buffer_size()]
        .chunks(frame.line_size)
        .enumerate()
        .filter(|(_, line)| line.chunks(channels).any(|p| p[..3] == bar))
        .map(|(y, _)| y)
        .collect();
    // The OCU chart comes before the cost chart: two separate bands of bar-coloured rows,
    // the cost bars (hundreds of pixels tall) far taller than the OCU bars.
    let bands = rows_with_bar
        .windows(2)
        .filter(|w| w[1] > w[0] + 40)
        .count()
        + 1;
    assert!(bands >= 2, "both charts are drawn: rows {rows_with_bar:?}");
    assert!(rows_with_bar.len() > 150, "the cost bars are drawn tall");
}

fn chromium() -> PathBuf {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    found.expect("Chromium is not installed: run scripts/setup-browser (scripts/test does it)")
}

/// The caller's policy the repository ships for a sweep (policies/iam/govctl-sweep.json)
/// names every action a sweep needs: the seed's `sweeper` user has that policy's actions
/// (moto cannot check resource ARNs), and the emulator evaluates them for every call the
/// sweep makes in the caller's account.
#[test]
fn the_shipped_sweep_policy_allows_every_area() {
    let world = sweepable();
    let scratch = Scratch::new(CONFIG);
    let keys = &world.manifest["users"]["sweeper"];
    let mut command = scratch.govctl(world);
    command
        .env("AWS_ACCESS_KEY_ID", keys["access_key_id"].as_str().unwrap())
        .env(
            "AWS_SECRET_ACCESS_KEY",
            keys["secret_access_key"].as_str().unwrap(),
        )
        .arg("sweep")
        .arg("--out")
        .arg(scratch.out());
    let out = run(&mut command);
    let summary = json(&scratch.result(&out).join("summary.json"));
    for name in ["layers", "ocu", "tailscale", "cost"] {
        let area = area(&summary, name);
        assert_ne!(area["status"], "failed", "{name}: {}", area["error"]);
    }
    assert!(!out.stderr.contains("access denied"), "{}", out.stderr);
    assert!(
        summary["caller"]["arn"]
            .as_str()
            .unwrap()
            .ends_with("user/sweeper")
    );
}
