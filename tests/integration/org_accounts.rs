//! `govctl org accounts` against the seeded organization.

use serde_json::Value;

use crate::common::{run, world};

#[test]
fn lists_accounts_with_their_organizational_unit_path() {
    let world = world();
    let out = run(world.govctl().args(["org", "accounts", "--output", "csv"])).ok();
    let mut lines = out.stdout.split("\r\n").filter(|l| !l.is_empty());
    assert_eq!(lines.next(), Some("account_id,name,email,status,ou_path"));
    let lines: Vec<&str> = lines.collect();

    let expect = |name: &str, path: &str| {
        format!(
            "{},{name},{name}@example.com,ACTIVE,{path}",
            world.account(name)
        )
    };
    for line in [
        expect("shared-layers", "Root/Shared"),
        expect("workload-prod", "Root/Workloads/Prod"),
        expect("workload-dev", "Root/Workloads/Dev"),
    ] {
        assert!(
            lines.contains(&line.as_str()),
            "missing {line} in {lines:?}"
        );
    }
    let management = lines
        .iter()
        .find(|l| l.starts_with("123456789012,"))
        .unwrap();
    assert!(management.ends_with(",ACTIVE,Root"), "{management}");
    assert_eq!(
        lines.len(),
        4,
        "the vendor account is not in the organization"
    );

    let mut ids: Vec<&str> = lines.iter().map(|l| l.split(',').next().unwrap()).collect();
    let unsorted = ids.clone();
    ids.sort();
    assert_eq!(ids, unsorted, "sorted by account ID");
    assert_eq!(out.stderr.trim(), "4 accounts");
}

#[test]
fn defaults_to_a_table_and_offers_json() {
    let world = world();
    let table = run(world.govctl().args(["org", "accounts"])).ok();
    assert!(table.stdout.contains("ou_path"));
    assert!(table.stdout.contains("Root/Workloads/Prod"));

    let json = run(world.govctl().args(["org", "accounts", "--output", "json"])).ok();
    let doc: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["kind"], "org_accounts");
    assert_eq!(doc["rows"].as_array().unwrap().len(), 4);
}
