//! The errors a user meets: one line, exit 2, no panic, and a hint where govctl has one.

use std::net::TcpListener;

use crate::common::{bare_govctl, govctl_at, run, world};

fn report(args: &[&str]) -> Vec<String> {
    let mut all = vec!["layers".to_string(), "report".into()];
    all.extend(args.iter().map(|a| a.to_string()));
    all
}

#[test]
fn an_unknown_aggregator_is_named_with_account_and_region() {
    let out = run(world().govctl().args(report(&["--aggregator", "nope"])));
    assert_eq!(
        out.error_line(),
        "error: configuration aggregator 'nope' was not found in account 123456789012, \
         region us-east-1"
    );
}

#[test]
fn a_malformed_layer_arn_says_what_shape_is_expected() {
    let arn = "arn:aws:lambda:us-east-1:12345:layer:shared-utils:3";
    let out = run(world()
        .govctl()
        .args(report(&["--aggregator", "x", "--layer-arn", arn])));
    let line = out.error_line();
    assert!(line.contains(arn), "{line}");
    assert!(
        line.contains("'12345' is not a 12-digit account ID"),
        "{line}"
    );
    assert!(
        line.contains("arn:aws:lambda:<region>:<12-digit account id>:layer:<name>:<version>"),
        "{line}"
    );
}

#[test]
fn a_layer_arn_that_could_break_the_query_is_refused() {
    let arn = "arn:aws:lambda:us-east-1:123456789012:layer:x' OR accountId = '1:3";
    let out = run(world()
        .govctl()
        .args(report(&["--aggregator", "x", "--layer-arn", arn])));
    let line = out.error_line();
    assert!(
        line.contains("cannot be put safely into a Config query"),
        "{line}"
    );
    assert!(line.contains("a single quote"), "{line}");
}

#[test]
fn bad_input_is_refused_before_any_aws_call() {
    // No endpoint is reachable here: reaching AWS would fail differently.
    let out = run(govctl_at("http://127.0.0.1:9").args(report(&[
        "--aggregator",
        "x",
        "--layer-arn",
        "arn:aws:lambda:us-east-1:123456789012:layer:x",
    ])));
    assert!(
        out.error_line().contains("the version is missing"),
        "{}",
        out.stderr
    );
}

#[test]
fn missing_credentials_get_a_hint() {
    let out = run(bare_govctl()
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &world().emulator.endpoint)
        .args(report(&["--aggregator", "org-aggregator"])));
    assert!(
        out.error_line()
            .starts_with("error: no AWS credentials were found"),
        "{}",
        out.stderr
    );
    assert!(out.hint().unwrap().contains("--profile"), "{}", out.stderr);
}

#[test]
fn a_missing_region_gets_a_hint() {
    let out = run(bare_govctl()
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(["org", "accounts"]));
    assert_eq!(out.error_line(), "error: no AWS region is configured");
    assert!(out.hint().unwrap().contains("--region"));
}

#[test]
fn an_unreachable_endpoint_is_named() {
    // A port that was free a moment ago and has nothing listening now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = run(govctl_at(&endpoint).args(report(&["--aggregator", "org-aggregator"])));
    let line = out.error_line();
    assert!(line.contains(&format!("cannot reach {endpoint}")), "{line}");
    assert!(line.contains("sts:GetCallerIdentity"), "{line}");
    assert!(out.hint().unwrap().contains("--endpoint-url"));
}

#[test]
fn access_denied_names_the_action_account_and_region() {
    let world = world();
    let out = run(world
        .govctl_as("no-config-reader")
        .args(report(&["--aggregator", "org-aggregator"])));
    let line = out.error_line();
    assert!(
        line.starts_with(
            "error: access denied to config:SelectAggregateResourceConfig in account \
             123456789012, region us-east-1: AccessDeniedException: User: \
             arn:aws:iam::123456789012:user/no-config-reader is not authorized"
        ),
        "{line}"
    );
    assert!(out.hint().unwrap().contains("policies/"), "{}", out.stderr);
}

#[test]
fn an_output_file_in_a_missing_directory_is_refused_up_front() {
    let out = run(world().govctl().args(report(&[
        "--aggregator",
        "org-aggregator",
        "--out",
        "/nonexistent-dir/report.csv",
    ])));
    let line = out.error_line();
    assert!(line.contains("/nonexistent-dir/report.csv"), "{line}");
    assert!(line.contains("directory does not exist"), "{line}");
}

#[test]
fn usage_errors_exit_2() {
    let out = run(world().govctl().args(["layers", "report"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--aggregator"), "{}", out.stderr);

    let out = run(world()
        .govctl()
        .args(report(&["--aggregator", "a", "--output", "xml"])));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("xml"), "{}", out.stderr);
}

#[test]
fn a_policy_file_mistake_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(
        &path,
        "version = 1\n[[approve]]\nlayer = \"x\"\nversoin = 2\n",
    )
    .unwrap();
    let out = run(world().govctl().args(report(&[
        "--aggregator",
        "org-aggregator",
        "--policy",
        path.to_str().unwrap(),
    ])));
    let line = out.error_line();
    assert!(line.contains("policy.toml"), "{line}");
    assert!(line.contains("line 4"), "{line}");
    assert!(line.contains("versoin"), "{line}");
}

#[test]
fn completions_are_generated() {
    let out = run(bare_govctl().args(["completions", "bash"])).ok();
    assert!(out.stdout.contains("govctl"));
    assert!(out.stdout.contains("--aggregator"));
}

#[test]
fn every_command_has_help_with_an_example() {
    for args in [
        vec!["--help"],
        vec!["layers", "report", "--help"],
        vec!["org", "accounts", "--help"],
        vec!["completions", "--help"],
    ] {
        let out = run(bare_govctl().args(&args)).ok();
        assert!(out.stdout.contains("Example"), "{args:?}:\n{}", out.stdout);
    }
}
