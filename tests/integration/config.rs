//! The config file: where govctl finds it, and that a flag beats the environment, which
//! beats the file, which beats the default.

use serde_json::Value;

use crate::common::{bare_govctl, run, world};

fn config_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("govctl.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn setting<'a>(shown: &'a Value, key: &str) -> &'a Value {
    shown["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {shown}"))
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file() {
    let world = world();
    let (_dir, path) = config_file("version = 1\n[layers]\naggregator = \"org-aggregator\"\n");
    let report = |env: Option<&str>, flag: Option<&str>| {
        let mut command = world.govctl();
        command
            .arg("--config")
            .arg(&path)
            .args(["layers", "report"]);
        if let Some(value) = env {
            command.env("GOVCTL_AGGREGATOR", value);
        }
        if let Some(value) = flag {
            command.args(["--aggregator", value]);
        }
        run(&mut command)
    };

    let from_file = report(None, None).ok();
    assert_eq!(
        from_file.stdout.lines().count(),
        9,
        "the test organization's 8 rows"
    );

    let line = report(Some("nope"), None).error_line().to_string();
    assert!(line.contains("aggregator 'nope' was not found"), "{line}");

    let from_flag = report(Some("nope"), Some("org-aggregator")).ok();
    assert_eq!(from_flag.stdout, from_file.stdout);
}

#[test]
fn config_show_says_where_each_value_came_from() {
    let (_dir, path) = config_file(
        "version = 1\n[aws]\nregions = [\"eu-west-1\", \"us-east-1\"]\nexternal_id = \"x-secret\"\n\
         [layers]\naggregator = \"org-aggregator\"\n",
    );
    let out = run(bare_govctl()
        .env("GOVCTL_CONFIG", &path)
        .env("GOVCTL_CONCURRENCY", "4")
        .args(["config", "show", "--output", "json"]))
    .ok();
    let shown: Value = serde_json::from_str(&out.stdout).unwrap();
    let from_file = format!("config file {}", path.display());
    assert_eq!(
        setting(&shown, "layers.aggregator")["value"],
        "org-aggregator"
    );
    assert_eq!(
        setting(&shown, "layers.aggregator")["source"],
        from_file.as_str()
    );
    assert_eq!(
        setting(&shown, "aws.regions")["value"],
        "eu-west-1,us-east-1"
    );
    assert_eq!(setting(&shown, "aws.concurrency")["value"], "4");
    assert_eq!(
        setting(&shown, "aws.concurrency")["source"],
        "environment GOVCTL_CONCURRENCY"
    );
    assert_eq!(setting(&shown, "aws.role_name")["source"], "default");
    assert_eq!(setting(&shown, "aws.external_id")["value"], "(set)");
    assert!(
        !out.stdout.contains("x-secret"),
        "the external ID is not shown"
    );
    assert!(
        out.stderr.contains(&path.display().to_string()),
        "{}",
        out.stderr
    );
}

#[test]
fn a_broken_or_missing_config_file_is_one_line_naming_it() {
    let (_dir, path) = config_file("version = 1\n[layers]\naggregater = \"x\"\n");
    let out = run(bare_govctl()
        .arg("--config")
        .arg(&path)
        .args(["config", "show"]));
    let line = out.error_line();
    assert!(
        line.contains("govctl.toml") && line.contains("aggregater"),
        "{line}"
    );
    assert!(line.contains("line 3"), "{line}");

    let out = run(bare_govctl().args(["--config", "/nonexistent/govctl.toml", "config", "show"]));
    assert!(out.error_line().contains("/nonexistent/govctl.toml"));

    // The per-user file is optional: without one, config show works and says so.
    let out = run(bare_govctl().args(["config", "show"])).ok();
    assert!(out.stderr.contains("no config file"), "{}", out.stderr);
}
