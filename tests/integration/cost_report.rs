//! `govctl cost report` against the emulator's Cost Explorer, seeded with the `cost` scenario.
//!
//! The scenario (tests/emulator/seed.py) is relative to today: month offset 0 is the current
//! month, 1 the last closed month, 4 the oldest. The tests share one emulator and take turns,
//! since each one counts requests (`/_govctl/stats`) and some change the cost table; each has
//! a cache directory of its own. The region is eu-west-1 throughout: Cost Explorer must be
//! called at us-east-1 whatever the region. (The seed and govctl each read today's date: a
//! run that crosses midnight UTC at the end of a month would see different months.)

use std::path::Path;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, OnceLock};

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};

use crate::common::{Emulator, Run, bare_govctl, govctl_at, http, run};

struct CostWorld {
    emulator: Emulator,
    manifest: Value,
}

/// The shared cost emulator, reset to the seeded table, without faults or statistics.
fn world() -> MutexGuard<'static, CostWorld> {
    static WORLD: OnceLock<Mutex<CostWorld>> = OnceLock::new();
    let world = WORLD
        .get_or_init(|| {
            let emulator = Emulator::start();
            let manifest = emulator.seed("cost");
            Mutex::new(CostWorld { emulator, manifest })
        })
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    world.post_table(&world.manifest["cost_table"].clone());
    world.control("DELETE", "faults", "");
    world.control("DELETE", "stats", "");
    world
}

impl CostWorld {
    fn control(&self, method: &str, path: &str, body: &str) -> String {
        http(
            method,
            &format!("{}/_govctl/{path}", self.emulator.endpoint),
            body,
        )
    }

    fn post_table(&self, table: &Value) {
        self.control("POST", "cost-explorer", &table.to_string());
    }

    /// Requests by action since the last reset, e.g. `requests("ce:GetCostAndUsage")`.
    fn requests(&self, action: &str) -> u64 {
        let stats: Value = serde_json::from_str(&self.control("GET", "stats", "")).unwrap();
        stats["by_action"][action].as_u64().unwrap_or(0)
    }

    fn reset_stats(&self) {
        self.control("DELETE", "stats", "");
    }

    fn account(&self, name: &str) -> String {
        self.manifest["accounts"][name]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `YYYY-MM` of the month `offset` months back (0: the current month).
    fn month(&self, offset: u32) -> String {
        self.manifest["months"][offset.to_string()]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn cost(&self, cache: &Path, args: &[&str]) -> Run {
        let mut command = govctl_at(&self.emulator.endpoint);
        command
            .env("XDG_CACHE_HOME", cache)
            .env("AWS_REGION", "eu-west-1")
            .args(["cost", "report"])
            .args(args);
        run(&mut command)
    }

    fn json(&self, cache: &Path, args: &[&str]) -> (Vec<Value>, String) {
        let run = self
            .cost(cache, &[&["--output", "json"], args].concat())
            .ok();
        let document: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(document["schema_version"], 1);
        (document["rows"].as_array().unwrap().clone(), run.stderr)
    }

    /// GetCostAndUsage pages for the months from `oldest` back to the current month, all
    /// groups: the emulator puts `page_size` groups on a page, a month without groups
    /// counting as one.
    fn pages(&self, oldest: u32) -> u64 {
        let table = &self.manifest["cost_table"];
        let months: Vec<String> = (0..=oldest).map(|offset| self.month(offset)).collect();
        let items: u64 = months
            .iter()
            .map(|month| {
                let groups = table["rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|row| row["month"] == json!(month))
                    .count() as u64;
                groups.max(1)
            })
            .sum();
        items.div_ceil(table["page_size"].as_u64().unwrap())
    }

    /// Cost Explorer's forecast for the rest of the month as the emulator makes it: the
    /// month to date per day elapsed, times the days left.
    fn rest_of_month(&self, month_to_date: &str) -> Decimal {
        let today = self.manifest["today"].as_str().unwrap();
        let (year, month, day): (i32, u32, u32) = (
            today[0..4].parse().unwrap(),
            today[5..7].parse().unwrap(),
            today[8..10].parse().unwrap(),
        );
        let remaining = days_in_month(year, month) - day + 1;
        let per_day = dec(month_to_date) / Decimal::from(day);
        (per_day * Decimal::from(remaining))
            .round_dp_with_strategy(10, RoundingStrategy::MidpointNearestEven)
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn text(value: &Value) -> Option<&str> {
    value.as_str()
}

/// The row of one account (by name), service and month; `total` for the total row.
fn row<'a>(
    rows: &'a [Value],
    account: Option<&str>,
    service: Option<&str>,
    month: &str,
) -> &'a Value {
    rows.iter()
        .find(|r| {
            account.is_none_or(|a| r["account_id"] == json!(a))
                && service.is_none_or(|s| r["service"] == json!(s))
                && r["month"] == json!(month)
                && (account.is_some() || service.is_some() || r["total"] == json!(true))
        })
        .unwrap_or_else(|| panic!("no row {account:?} {service:?} {month} in {rows:#?}"))
}

const LAMBDA: &str = "AWS Lambda";
const SEARCH: &str = "Amazon OpenSearch Service";
const S3: &str = "Amazon Simple Storage Service";
const WATCH: &str = "Amazon CloudWatch";
const EC2: &str = "Amazon Elastic Compute Cloud - Compute";

#[test]
fn a_report_sums_months_changes_and_forecasts_exactly() {
    let world = world();
    let cache = tempfile::tempdir().unwrap();
    let (rows, stderr) = world.json(cache.path(), &[]);
    let prod = world.account("workload-prod");
    let dev = world.account("workload-dev");
    let data = world.account("data-platform");
    let (m3, m2, m1, m0) = (
        world.month(3),
        world.month(2),
        world.month(1),
        world.month(0),
    );

    // 10 groups x 4 months shown, then the total's 4.
    assert_eq!(rows.len(), 44);
    let lambda = |month: &str| row(&rows, Some(&prod), Some(LAMBDA), month);
    assert_eq!(lambda(&m3)["amount"], "110");
    assert_eq!(lambda(&m3)["change"], "10"); // from the baseline month 4
    assert_eq!(lambda(&m2)["amount"], "120.0000000005");
    assert_eq!(lambda(&m1)["change"], "-30.0000000005");
    assert_eq!(lambda(&m1)["change_pct"], "-25");
    assert_eq!(lambda(&m1)["account_name"], "workload-prod");
    assert_eq!(lambda(&m1)["forecast"], Value::Null);
    assert_eq!(lambda(&m0)["month_to_date"], true);
    let forecast = dec("40") + world.rest_of_month("40");
    assert_eq!(
        text(&lambda(&m0)["forecast"]),
        Some(forecast.normalize().to_string().as_str())
    );

    // A service new last month, and one new this month (no history: no forecast).
    let new = row(&rows, Some(&dev), Some(LAMBDA), &m1);
    assert_eq!(
        (&new["amount"], &new["change"]),
        (&json!("45"), &json!("45"))
    );
    assert_eq!(new["change_pct"], Value::Null);
    let newer = row(&rows, Some(&data), Some(WATCH), &m0);
    assert_eq!(
        (&newer["change"], &newer["change_pct"]),
        (&json!("25"), &Value::Null)
    );
    assert_eq!(newer["forecast"], Value::Null);
    assert_eq!(row(&rows, Some(&data), Some(WATCH), &m1)["amount"], "0");

    // A service gone last month, and one gone this month (no spend: no forecast asked).
    let gone = row(&rows, Some(&data), Some(SEARCH), &m1);
    assert_eq!(
        (&gone["amount"], &gone["change"]),
        (&json!("0"), &json!("-310"))
    );
    assert_eq!(gone["change_pct"], "-100");
    let gone_now = row(&rows, Some(&data), Some(S3), &m0);
    assert_eq!(
        (&gone_now["change"], &gone_now["change_pct"]),
        (&json!("-20"), &json!("-100"))
    );
    assert_eq!(gone_now["forecast"], Value::Null);

    // Totals to the last digit, and the total's own forecast.
    let total = |month: &str| row(&rows, None, None, month);
    assert_eq!(total(&m2)["amount"], "1533.1000000005");
    assert_eq!(total(&m1)["amount"], "1078.2");
    assert_eq!(total(&m1)["change"], "-454.9000000005");
    assert_eq!(total(&m1)["account_id"], "");
    let total_forecast = dec("268.1") + world.rest_of_month("268.1");
    assert_eq!(
        text(&total(&m0)["forecast"]),
        Some(total_forecast.normalize().to_string().as_str())
    );
    assert!(rows.iter().all(|r| r["currency"] == "USD"));

    // Every request counted, on both sides: the pages of one GetCostAndUsage for months 4
    // to 0, and a forecast for each of the 8 rows with spend this month plus the total.
    let pages = world.pages(4);
    assert_eq!(world.requests("ce:GetCostAndUsage"), pages);
    assert_eq!(world.requests("ce:GetCostForecast"), 9);
    let made = pages + 9;
    assert!(
        stderr.contains(&format!(
            "Cost Explorer: {made} requests made ({pages} GetCostAndUsage, 9 GetCostForecast), \
             USD 0.{made:02}; 0 of 4 closed months from the cache"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("Cost Explorer: at least 2 requests (USD 0.02), at most 50"),
        "{stderr}"
    );
    assert!(stderr.contains("1 more per row with spend in"), "{stderr}");
    assert!(
        stderr.contains("(Cost Explorer has too little data for 1 forecast)"),
        "{stderr}"
    );
}

#[test]
fn closed_months_come_from_the_cache_and_refresh_asks_again() {
    let world = world();
    let cache = tempfile::tempdir().unwrap();
    let prod = world.account("workload-prod");
    let (m1, m0) = (world.month(1), world.month(0));
    world.json(cache.path(), &["--forecast", "none"]);

    // Cost Explorer now says something else about every month, closed or not.
    let mut changed = world.manifest["cost_table"].clone();
    for row in changed["rows"].as_array_mut().unwrap() {
        let doubled = dec(row["amount"].as_str().unwrap()) * Decimal::from(2);
        row["amount"] = json!(doubled.to_string());
    }
    world.post_table(&changed);
    world.reset_stats();

    let (rows, stderr) = world.json(cache.path(), &["--forecast", "none"]);
    let lambda =
        |rows: &[Value], month: &str| row(rows, Some(&prod), Some(LAMBDA), month)["amount"].clone();
    assert_eq!(lambda(&rows, &m1), "90", "a closed month from the cache");
    assert_eq!(lambda(&rows, &m0), "80", "the current month is asked again");
    assert_eq!(world.requests("ce:GetCostAndUsage"), world.pages(0));
    assert!(
        stderr.contains("4 of 4 closed months from the cache"),
        "{stderr}"
    );

    world.reset_stats();
    let (rows, _) = world.json(cache.path(), &["--forecast", "none", "--refresh"]);
    assert_eq!(lambda(&rows, &m1), "180");
    assert_eq!(world.requests("ce:GetCostAndUsage"), world.pages(4));

    // The fresh answers replaced the cached ones.
    world.reset_stats();
    let (rows, _) = world.json(cache.path(), &["--forecast", "none"]);
    assert_eq!(lambda(&rows, &m1), "180");
    assert_eq!(world.requests("ce:GetCostAndUsage"), world.pages(0));

    // Another query (metric, grouping or filters) has its own cache.
    world.reset_stats();
    world.json(
        cache.path(),
        &["--forecast", "none", "--group-by", "account"],
    );
    assert!(world.requests("ce:GetCostAndUsage") > 0);
    let files = walk(cache.path());
    assert!(
        files
            .iter()
            .all(|f| f.contains("/govctl/cost/123456789012/")),
        "{files:?}"
    );
    assert_eq!(files.len(), 8, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        !text.contains("testing"),
        "no credentials in the cache: {text}"
    );
}

fn walk(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path.display().to_string());
        }
    }
    files.sort();
    files
}

#[test]
fn max_requests_is_never_exceeded() {
    let world = world();
    let cache = tempfile::tempdir().unwrap();

    // Known in advance: one GetCostAndUsage and the total's forecast.
    let refused = world.cost(cache.path(), &["--max-requests", "1"]);
    assert!(
        refused.error_line().contains(
            "needs at least 2 Cost Explorer requests, more than --max-requests 1: no request \
             was made"
        ),
        "{}",
        refused.stderr
    );
    assert!(refused.hint().unwrap().contains("--forecast total"));
    assert_eq!(world.requests("ce:GetCostAndUsage"), 0);

    // More pages than fit, with one request kept for the total's forecast.
    let refused = world.cost(
        cache.path(),
        &["--max-requests", "5", "--forecast", "total"],
    );
    assert!(
        refused
            .error_line()
            .contains("needs at least 6 Cost Explorer requests"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("4 requests made (USD 0.04)"),
        "{}",
        refused.stderr
    );
    assert_eq!(world.requests("ce:GetCostAndUsage"), 4);
    assert_eq!(world.requests("ce:GetCostForecast"), 0);
    assert!(
        walk(cache.path()).is_empty(),
        "nothing is cached from a partial answer"
    );

    // Exactly enough.
    world.reset_stats();
    let pages = world.pages(4).to_string();
    world
        .cost(
            cache.path(),
            &["--max-requests", &pages, "--forecast", "none"],
        )
        .ok();
    assert_eq!(world.requests("ce:GetCostAndUsage").to_string(), pages);

    // The row forecasts are known after the answer, and checked before the first one.
    world.reset_stats();
    let refused = world.cost(cache.path(), &["--max-requests", "5"]);
    let current_pages = world.pages(0);
    assert!(
        refused.error_line().contains(&format!(
            "needs {} Cost Explorer requests, more than --max-requests 5: {current_pages} \
             GetCostAndUsage made",
            current_pages + 9
        )),
        "{}",
        refused.stderr
    );
    assert_eq!(world.requests("ce:GetCostAndUsage"), current_pages);
    assert_eq!(world.requests("ce:GetCostForecast"), 0);
}

#[test]
fn the_table_shows_two_decimals_and_the_largest_movers() {
    let world = world();
    let cache = tempfile::tempdir().unwrap();
    let run = world.cost(cache.path(), &["--forecast", "total"]).ok();
    let (m2, m1, m0) = (world.month(2), world.month(1), world.month(0));
    let out = &run.stdout;
    assert!(
        out.starts_with(&format!(
            "Unblended cost in USD by account and service, {} to {m0}.",
            world.month(3)
        )),
        "{out}"
    );
    for expected in [
        "120.00",
        "1533.10",
        "1078.20",
        "-29.67%",
        "new",
        "workload-prod",
    ] {
        assert!(out.contains(expected), "{expected} missing:\n{out}");
    }
    assert!(out.contains(&format!("{m0} MTD")), "{out}");

    let movers = out
        .split_once(&format!("Largest movers from {m2} to {m1}"))
        .unwrap_or_else(|| panic!("no movers in:\n{out}"))
        .1;
    assert!(
        movers.contains("(a change over 20% and of at least 10.00 USD)"),
        "{movers}"
    );
    let order: Vec<&str> = movers
        .lines()
        .filter_map(|line| {
            ["gone", "down", "up", "new"]
                .into_iter()
                .find(|m| line.ends_with(&format!("{m} │")))
        })
        .collect();
    assert_eq!(order, ["gone", "down", "up", "new", "down"], "{movers}");
    assert!(run.stderr.contains("5 largest movers"), "{}", run.stderr);
}

#[test]
fn the_movers_view_follows_both_thresholds() {
    let world = world();
    let cache = tempfile::tempdir().unwrap();
    let movers = |extra: &[&str]| -> Vec<(String, String)> {
        let args = [&["--movers", "--forecast", "none"], extra].concat();
        let (rows, _) = world.json(cache.path(), &args);
        rows.iter()
            .map(|r| {
                (
                    r["service"].as_str().unwrap().to_string(),
                    r["movement"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let named = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(s, m)| (s.to_string(), m.to_string()))
            .collect()
    };
    assert_eq!(
        movers(&[]),
        named(&[
            (SEARCH, "gone"),
            (SEARCH, "down"),
            (EC2, "up"),
            (LAMBDA, "new"),
            (LAMBDA, "down")
        ])
    );
    assert_eq!(
        movers(&["--threshold-pct", "26.9"]),
        named(&[(SEARCH, "gone"), (LAMBDA, "new")])
    );
    assert_eq!(
        movers(&["--min-change", "50"]),
        named(&[(SEARCH, "gone"), (SEARCH, "down"), (EC2, "up")])
    );

    let run = world
        .cost(
            cache.path(),
            &["--movers", "--output", "csv", "--forecast", "none"],
        )
        .ok();
    let mut lines = run.stdout.lines();
    assert_eq!(
        lines.next(),
        Some(
            "account_id,account_name,service,previous_month,previous_amount,month,amount,\
             currency,change,change_pct,movement"
        )
    );
    let gone = lines.next().unwrap();
    assert!(
        gone.ends_with(&format!(
            "data-platform,{SEARCH},{},310,{},0,USD,-310,-100,gone",
            world.month(2),
            world.month(1)
        )),
        "{gone}"
    );
}

#[test]
fn filters_grouping_and_metric_shape_the_query() {
    let world = world();
    let cache = tempfile::tempdir().unwrap();
    let prod = world.account("workload-prod");
    let m1 = world.month(1);

    let (rows, _) = world.json(
        cache.path(),
        &[
            "--group-by",
            "account",
            "--services",
            LAMBDA,
            "--forecast",
            "none",
        ],
    );
    let accounts: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter_map(|r| r["account_id"].as_str())
        .collect();
    assert_eq!(
        accounts,
        ["", &prod, &world.account("workload-dev")]
            .into_iter()
            .collect()
    );
    assert_eq!(row(&rows, Some(&prod), None, &m1)["amount"], "90");
    assert!(rows.iter().all(|r| r["service"] == ""));

    let (rows, _) = world.json(
        cache.path(),
        &[
            "--group-by",
            "service",
            "--accounts",
            &prod,
            "--metric",
            "AmortizedCost",
            "--forecast",
            "rows",
        ],
    );
    assert_eq!(row(&rows, None, Some(SEARCH), &m1)["amount"], "500");
    assert_eq!(row(&rows, None, Some(LAMBDA), &m1)["amount"], "90");
    assert_eq!(rows.iter().filter(|r| r["month"] == json!(m1)).count(), 4);
    // One forecast per service with spend this month, within the account filter.
    let search_forecast = dec("120") + world.rest_of_month("120");
    assert_eq!(
        text(&row(&rows, None, Some(SEARCH), &world.month(0))["forecast"]),
        Some(search_forecast.normalize().to_string().as_str())
    );
}

#[test]
fn cost_explorer_is_asked_at_us_east_1_whatever_the_region() {
    let world = world();
    let cache = tempfile::tempdir().unwrap();
    let fail_in = |region: &str| {
        let rules = json!({"seed": 1, "rules": [
            {"match": {"action": "ce:*", "region": region}, "server_error": 1}
        ]});
        world.control("POST", "faults", &rules.to_string());
    };
    fail_in("eu-west-1");
    world.cost(cache.path(), &["--forecast", "total"]).ok();
    fail_in("us-east-1");
    let failed = world.cost(cache.path(), &["--forecast", "total"]);
    assert!(
        failed.error_line().contains(
            "ce:GetCostAndUsage failed in account 123456789012, \
                                      region us-east-1"
        ),
        "{}",
        failed.stderr
    );
}

#[test]
fn an_output_file_gets_the_whole_report() {
    let world = world();
    let cache = tempfile::tempdir().unwrap();
    let out = cache.path().join("spend.csv");
    let run = world
        .cost(
            cache.path(),
            &[
                "--output",
                "csv",
                "--forecast",
                "none",
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .ok();
    assert!(run.stdout.is_empty());
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(csv.starts_with(
        "account_id,account_name,service,total,month,month_to_date,amount,currency,change,\
         change_pct,forecast\r\n"
    ));
    assert_eq!(csv.lines().count(), 45);

    world.reset_stats();
    let missing = cache.path().join("nope/spend.csv");
    let refused = world.cost(cache.path(), &["--out", missing.to_str().unwrap()]);
    assert!(
        refused.error_line().contains("cannot write"),
        "{}",
        refused.stderr
    );
    assert_eq!(world.requests("sts:GetCallerIdentity"), 0);
}

#[test]
fn bad_input_is_refused_before_any_call() {
    for (args, expected) in [
        (&["--months", "0"][..], "'0'"),
        (&["--months", "13"][..], "'13'"),
        (
            &["--group-by", "region"][..],
            "expected account, service or account,service",
        ),
        (
            &["--group-by", "account,account"][..],
            "expected account, service",
        ),
        (&["--threshold-pct=-5"][..], "expected a number, 0 or more"),
        (&["--min-change", "ten"][..], "expected a number, 0 or more"),
        (&["--metric", "BlendedCost"][..], "'BlendedCost'"),
        (
            &["--accounts", "123"][..],
            "expected a 12-digit AWS account ID",
        ),
        (&["--max-requests", "0"][..], "'0'"),
        (&["--forecast", "some"][..], "'some'"),
    ] {
        let mut command = bare_govctl();
        command.args(["cost", "report"]).args(args);
        let refused = run(&mut command);
        let line = refused.error_line();
        assert!(line.contains(expected), "{args:?}: {line}");
    }
}

#[test]
fn a_member_account_is_told_that_it_sees_only_its_own_costs() {
    let world = world();
    let cache = tempfile::tempdir().unwrap();
    let prod = world.account("workload-prod");
    let keys = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(crate::common::member_keys(&world.emulator.endpoint, &prod));
    let mut command = govctl_at(&world.emulator.endpoint);
    command
        .env("XDG_CACHE_HOME", cache.path())
        .env("AWS_ACCESS_KEY_ID", &keys.0)
        .env("AWS_SECRET_ACCESS_KEY", &keys.1)
        .env("AWS_SESSION_TOKEN", &keys.2)
        .args(["cost", "report", "--forecast", "none", "--output", "csv"]);
    let run = run(&mut command).ok();
    assert!(
        run.stderr.contains(&format!(
            "warning: account {prod} is not the management account (123456789012) of its \
             organization: Cost Explorer shows it only its own costs"
        )),
        "{}",
        run.stderr
    );
}
