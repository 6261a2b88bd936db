//! `govctl layers report` against the seeded organization.
//!
//! The `test` scenario (tests/emulator/seed.py): a shared-layers account publishes
//! shared-utils 1-3 and otel-extension 1-2 in us-east-1 and shared-utils 1-2 in eu-west-1;
//! the management account publishes mgmt-tools 1-2; a vendor outside the organization
//! publishes vendor-agent 1-2. Functions in workload-prod, workload-dev and the management
//! account use them in every combination the report has to get right.

use std::io::Write;

use serde_json::Value;

use crate::common::{World, run, world};

const HEADER: &str = "account_id,account_name,region,function_name,function_arn,runtime,\
                      layer_arn,layer_name,layer_version,latest_version,versions_behind,managed_by";

/// One expected CSV row, built from the manifest's account IDs and layer ARNs.
struct Expect<'a> {
    world: &'a World,
}

impl Expect<'_> {
    #[allow(clippy::too_many_arguments)]
    fn row(
        &self,
        account: &str,
        region: &str,
        function: &str,
        runtime: &str,
        (layer, owner_region, version): (&str, &str, u64),
        latest: &str,
        behind: &str,
        managed_by: &str,
    ) -> String {
        let id = self.id(account);
        let name = self.name(account);
        let layer_arn = format!("{}:{version}", self.world.layer(layer, owner_region));
        format!(
            "{id},{name},{region},{function},arn:aws:lambda:{region}:{id}:function:{function},\
             {runtime},{layer_arn},{layer},{version},{latest},{behind},{managed_by}"
        )
    }

    fn id(&self, account: &str) -> String {
        match account {
            "management" => "123456789012".into(),
            other => self.world.account(other).to_string(),
        }
    }

    fn name(&self, account: &str) -> String {
        match account {
            "management" => management_name(self.world),
            other => other.to_string(),
        }
    }
}

/// The management account's name as Organizations reports it.
fn management_name(world: &World) -> String {
    let out = run(world.govctl().args(["org", "accounts", "--output", "json"])).ok();
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account_id"] == "123456789012")
        .map(|a| a["name"].as_str().unwrap().to_string())
        .expect("the management account is listed")
}

/// CSV lines without the header, checking the header and RFC 4180 line ends on the way.
fn rows(csv: &str) -> Vec<String> {
    assert!(csv.ends_with("\r\n"), "CSV lines end with CRLF: {csv:?}");
    let mut lines = csv.split("\r\n").filter(|l| !l.is_empty());
    assert_eq!(lines.next(), Some(HEADER));
    lines.map(str::to_string).collect()
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

/// Rows must come sorted by account, region, function, then layer (version numerically).
fn assert_report_order(lines: &[String]) {
    let key = |line: &String| {
        let f: Vec<&str> = line.split(',').collect();
        let layer = f[6].rsplit_once(':').unwrap().0.to_string();
        (
            f[0].to_string(),
            f[2].to_string(),
            f[3].to_string(),
            layer,
            f[8].parse::<u64>().unwrap(),
        )
    };
    let keys: Vec<_> = lines.iter().map(key).collect();
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(keys, expected, "rows are not in report order");
}

fn report(world: &World, extra: &[&str]) -> crate::common::Run {
    run(world
        .govctl()
        .args(["layers", "report", "--aggregator", "org-aggregator"])
        .args(extra))
}

#[test]
fn finds_every_outdated_layer_across_accounts_and_regions() {
    let world = world();
    let e = Expect { world };
    let out = report(world, &[]).ok();
    let lines = rows(&out.stdout);

    let us = "us-east-1";
    let eu = "eu-west-1";
    let py = "python3.12";
    let expected = vec![
        e.row(
            "workload-prod",
            us,
            "orders-api",
            py,
            ("shared-utils", us, 1),
            "3",
            "2",
            "orders-stack",
        ),
        e.row(
            "workload-prod",
            us,
            "payments",
            "nodejs20.x",
            ("otel-extension", us, 1),
            "2",
            "1",
            "",
        ),
        e.row(
            "workload-prod",
            us,
            "reporting",
            py,
            ("otel-extension", us, 1),
            "2",
            "1",
            "",
        ),
        e.row(
            "workload-prod",
            us,
            "reporting",
            py,
            ("shared-utils", us, 2),
            "3",
            "1",
            "",
        ),
        e.row(
            "workload-prod",
            us,
            "vendor-fn",
            py,
            ("vendor-agent", us, 1),
            "",
            "",
            "",
        ),
        e.row(
            "workload-prod",
            eu,
            "eu-orders",
            py,
            ("shared-utils", eu, 1),
            "2",
            "1",
            "",
        ),
        e.row(
            "workload-dev",
            us,
            "dev-worker",
            py,
            ("shared-utils", us, 2),
            "3",
            "1",
            "",
        ),
        e.row(
            "management",
            us,
            "mgmt-ops",
            py,
            ("mgmt-tools", us, 1),
            "2",
            "1",
            "",
        ),
    ];
    assert_eq!(sorted(lines.clone()), sorted(expected));
    assert_report_order(&lines);
}

#[test]
fn says_once_which_layers_could_not_be_read_and_why() {
    let world = world();
    let out = report(world, &[]).ok();
    let vendor = world.layer("vendor-agent", "us-east-1");
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(warnings[0].contains(vendor), "{}", warnings[0]);
    assert!(warnings[0].contains("999999999999"), "{}", warnings[0]);
    assert!(
        warnings[0].contains("AccessDenied"),
        "the reason is given: {}",
        warnings[0]
    );
}

#[test]
fn prints_a_one_line_summary_on_stderr() {
    let out = report(world(), &[]).ok();
    let summary: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.starts_with("warning:"))
        .collect();
    assert_eq!(
        summary,
        vec![
            "7 functions in 3 accounts and 2 regions use 5 outdated layers (8 rows; 10 \
             functions scanned)"
        ]
    );
}

#[test]
fn quiet_keeps_warnings_but_drops_the_summary() {
    let out = report(world(), &["--quiet"]).ok();
    assert!(
        out.stderr.lines().all(|l| l.starts_with("warning:")),
        "{}",
        out.stderr
    );
}

#[test]
fn layer_arn_mode_lists_every_use_of_exactly_that_version() {
    let world = world();
    let e = Expect { world };
    let us = "us-east-1";
    let arn = format!("{}:3", world.layer("shared-utils", us));
    let out = report(world, &["--layer-arn", &arn]).ok();

    let expected = vec![
        e.row(
            "workload-prod",
            us,
            "payments",
            "nodejs20.x",
            ("shared-utils", us, 3),
            "3",
            "0",
            "",
        ),
        e.row(
            "workload-dev",
            us,
            "dev-api",
            "python3.12",
            ("shared-utils", us, 3),
            "3",
            "0",
            "",
        ),
    ];
    assert_eq!(sorted(rows(&out.stdout)), sorted(expected));
    assert!(
        out.stderr.contains(&format!("use layer version {arn}")),
        "{}",
        out.stderr
    );
}

#[test]
fn layer_arn_mode_with_an_unused_version_is_empty_but_well_formed() {
    let world = world();
    let arn = format!("{}:2", world.layer("otel-extension", "us-east-1"));
    let out = report(world, &["--layer-arn", &arn]).ok();
    let lines = rows(&out.stdout);
    assert!(
        lines.iter().any(|l| l.contains(",dev-worker,")),
        "{lines:?}"
    );

    let arn = format!("{}:9", world.layer("otel-extension", "us-east-1"));
    let out = report(world, &["--layer-arn", &arn, "--fail-on-findings"]);
    assert_eq!(out.code, 0, "no rows, no failure: {}", out.stderr);
    assert_eq!(out.stdout, format!("{HEADER}\r\n"));
}

#[test]
fn a_policy_file_approves_versions_and_ignores_layers() {
    let world = world();
    let e = Expect { world };
    let us = "us-east-1";
    let eu = "eu-west-1";
    let mut policy = tempfile::NamedTempFile::new().unwrap();
    write!(
        policy,
        "version = 1\n\
         [[approve]]\nlayer = \"{}\"\nversion = 2\n\
         [[ignore]]\nlayer = \"{}\"\nreason = \"vendor managed\"\n",
        world.layer("shared-utils", us),
        world.layer("vendor-agent", us),
    )
    .unwrap();
    let out = report(world, &["--policy", policy.path().to_str().unwrap()]).ok();

    let py = "python3.12";
    let expected = vec![
        e.row(
            "workload-prod",
            us,
            "orders-api",
            py,
            ("shared-utils", us, 1),
            "2",
            "1",
            "orders-stack",
        ),
        e.row(
            "workload-prod",
            us,
            "payments",
            "nodejs20.x",
            ("otel-extension", us, 1),
            "2",
            "1",
            "",
        ),
        e.row(
            "workload-prod",
            us,
            "reporting",
            py,
            ("otel-extension", us, 1),
            "2",
            "1",
            "",
        ),
        e.row(
            "workload-prod",
            eu,
            "eu-orders",
            py,
            ("shared-utils", eu, 1),
            "2",
            "1",
            "",
        ),
        e.row(
            "management",
            us,
            "mgmt-ops",
            py,
            ("mgmt-tools", us, 1),
            "2",
            "1",
            "",
        ),
    ];
    assert_eq!(sorted(rows(&out.stdout)), sorted(expected));
    assert!(
        !out.stderr.contains("warning:"),
        "the ignored layer is not read: {}",
        out.stderr
    );
}

#[test]
fn the_example_policy_in_the_repository_is_valid() {
    let world = world();
    let policy = crate::common::repo().join("policies/layers.example.toml");
    let out = report(world, &["--policy", policy.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn json_output_carries_the_same_fields_with_a_schema_version() {
    let world = world();
    let out = report(world, &["--output", "json"]).ok();
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["kind"], "layers_report");
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 8);

    let keys: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.join(","), HEADER);

    let orders = rows
        .iter()
        .find(|r| r["function_name"] == "orders-api")
        .unwrap();
    assert_eq!(orders["layer_version"], 1);
    assert_eq!(orders["latest_version"], 3);
    assert_eq!(orders["versions_behind"], 2);
    assert_eq!(orders["managed_by"], "orders-stack");
    assert_eq!(orders["account_name"], "workload-prod");

    let vendor = rows
        .iter()
        .find(|r| r["function_name"] == "vendor-fn")
        .unwrap();
    assert_eq!(vendor["latest_version"], Value::Null);
    assert_eq!(vendor["versions_behind"], Value::Null);
}

#[test]
fn table_output_shows_the_same_rows_for_people() {
    let world = world();
    let out = report(world, &["--output", "table"]).ok();
    for column in [
        "account_id",
        "function_name",
        "latest_version",
        "managed_by",
    ] {
        assert!(
            out.stdout.contains(column),
            "missing {column}:\n{}",
            out.stdout
        );
    }
    for function in [
        "orders-api",
        "payments",
        "reporting",
        "vendor-fn",
        "eu-orders",
        "mgmt-ops",
    ] {
        assert!(
            out.stdout.contains(function),
            "missing {function}:\n{}",
            out.stdout
        );
    }
    assert!(
        !out.stdout.contains("dev-api"),
        "a current function is listed"
    );
}

#[test]
fn out_writes_the_file_and_nothing_to_stdout() {
    let world = world();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.csv");
    let out = report(world, &["--out", path.to_str().unwrap()]).ok();
    assert!(out.stdout.is_empty());
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(rows(&written).len(), 8);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
}

#[test]
fn fail_on_findings_exits_1_when_there_are_rows() {
    let out = report(world(), &["--fail-on-findings"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(rows(&out.stdout).len(), 8, "the report is still written");
}

#[test]
fn an_account_aggregator_sees_only_its_accounts_and_regions() {
    let world = world();
    let out = run(world.govctl().args([
        "layers",
        "report",
        "--aggregator",
        "accounts-aggregator",
        "--fail-on-findings",
    ]));
    assert_eq!(out.code, 0, "dev-eu is current: {}", out.stderr);
    assert_eq!(out.stdout, format!("{HEADER}\r\n"));
    assert!(
        out.stderr.contains("(0 rows; 1 function scanned)"),
        "{}",
        out.stderr
    );
}

#[test]
fn account_names_stay_empty_with_one_warning_when_organizations_is_denied() {
    let world = world();
    let out = run(world.govctl_as("no-org-reader").args([
        "layers",
        "report",
        "--aggregator",
        "org-aggregator",
    ]))
    .ok();
    let lines = rows(&out.stdout);
    assert_eq!(lines.len(), 8);
    assert!(
        lines.iter().all(|l| l.split(',').nth(1) == Some("")),
        "{lines:?}"
    );

    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("account_name is empty"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(
        warnings[0].contains("organizations:ListAccounts"),
        "{}",
        warnings[0]
    );
}

#[test]
fn the_lambda_source_gives_the_same_report_as_config() {
    let world = world();
    let config = report(world, &[]).ok();
    let lambda = run(world.govctl().args([
        "layers",
        "report",
        "--source",
        "lambda",
        "--regions",
        "us-east-1,eu-west-1",
    ]))
    .ok();
    assert_eq!(lambda.stdout, config.stdout);
    assert!(
        lambda.stderr.contains("(8 rows; 10 functions scanned)"),
        "{}",
        lambda.stderr
    );
}

#[test]
fn the_lambda_source_needs_no_aggregator_and_honours_the_filters() {
    let world = world();
    let prod = world.account("workload-prod");
    let out = run(world.govctl().args([
        "layers",
        "report",
        "--source",
        "lambda",
        "--accounts",
        prod,
        "--regions",
        "eu-west-1",
    ]))
    .ok();
    let lines = rows(&out.stdout);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(",eu-orders,"), "{lines:?}");
}

#[test]
fn accounts_and_regions_narrow_the_config_source_too() {
    let world = world();
    let dev = world.account("workload-dev");
    let out = report(world, &["--accounts", dev, "--regions", "us-east-1"]).ok();
    let lines = rows(&out.stdout);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(",dev-worker,"), "{lines:?}");
}

#[test]
fn allow_partial_reports_what_it_could_read_and_exits_1() {
    let world = world();
    // The vendor account is outside the organization: no role to assume there.
    let prod = world.account("workload-prod");
    let accounts = format!("{prod},999999999999");
    let out = run(world.govctl().args([
        "layers",
        "report",
        "--source",
        "lambda",
        "--accounts",
        &accounts,
        "--regions",
        "us-east-1,eu-west-1",
        "--allow-partial",
        "--output",
        "json",
    ]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["partial"], true);
    let missing = doc["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert!(
        missing[0]
            .as_str()
            .unwrap()
            .contains("account 999999999999")
    );
    assert_eq!(
        doc["rows"].as_array().unwrap().len(),
        6,
        "prod's rows are all there"
    );
    assert!(
        out.stderr.contains("the report is partial"),
        "{}",
        out.stderr
    );

    let strict = run(world.govctl().args([
        "layers",
        "report",
        "--source",
        "lambda",
        "--accounts",
        &accounts,
    ]));
    let line = strict.error_line();
    assert!(
        line.contains("cannot assume role arn:aws:iam::999999999999:role/"),
        "{line}"
    );
}
