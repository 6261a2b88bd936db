//! `govctl layers report`: one row per function and outdated layer version.
//!
//! The flow: the aggregator says which functions use which layer versions; the layers'
//! owners say which versions exist; the policy says which version each layer should be on;
//! Organizations names the accounts. [`findings`] combines them without any I/O, so the
//! rules of what counts as outdated are tested on their own.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::Serialize;

use super::arn::{Layer, LayerVersion};
use super::discovery::{self, Function, Interner, Scope, Source};
use super::policy::{Policy, Target};
use super::versions::{self, Lookup};
use super::{listing, query};
use crate::aws::Aws;
use crate::cli::{AwsArgs, DiscoveryArgs, LayersReportArgs};
use crate::error::{EXIT_FINDINGS, EXIT_OK, Result};
use crate::org;
use crate::output::{self, Row};
use crate::ui::Ui;

/// One function using one layer version that the report flags.
///
/// A large organization has tens of thousands of rows that repeat the same accounts,
/// regions, runtimes, layers and stacks, so those fields share one allocation per distinct
/// value (with the functions discovery found, where it can); only the function's own name
/// and ARN are per row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub account_id: Arc<str>,
    pub account_name: Arc<str>,
    pub region: Arc<str>,
    pub function_name: String,
    pub function_arn: String,
    pub runtime: Arc<str>,
    pub layer_arn: Arc<str>,
    pub layer_name: Arc<str>,
    pub layer_version: u64,
    /// The version the function should be on: the newest published, or the approved one.
    pub latest_version: Option<u64>,
    /// Published versions between the function's and `latest_version`.
    pub versions_behind: Option<u64>,
    /// The CloudFormation stack that owns the function; changing it directly causes drift.
    pub managed_by: Arc<str>,
}

impl Row for Finding {
    const COLUMNS: &'static [&'static str] = &[
        "account_id",
        "account_name",
        "region",
        "function_name",
        "function_arn",
        "runtime",
        "layer_arn",
        "layer_name",
        "layer_version",
        "latest_version",
        "versions_behind",
        "managed_by",
    ];
}

/// What the report looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Every layer version older than its target.
    Outdated,
    /// Every use of exactly this layer version.
    Exact(LayerVersion),
}

/// Something the operator should know about rows that could not be completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A layer's versions could not be read; its rows have no target.
    UnreadableLayer { layer: Layer, reason: String },
    /// A function lists a layer ARN that is not a layer version ARN.
    UnknownLayerArn { function_arn: String, value: String },
}

pub async fn run(args: LayersReportArgs, ui: &Ui) -> Result<ExitCode> {
    let discovered = discover(&args.discovery, &args.aws, args.output.out.as_deref(), ui).await?;
    let Discovered {
        aws,
        mode,
        rows,
        scanned,
        missing,
    } = discovered;

    let format = args.output.output;
    output::emit_partial(
        &rows,
        format,
        "layers_report",
        args.output.out.as_deref(),
        &missing,
    )?;
    ui.status(summary(&rows, scanned, &mode));
    report_requests(&aws);

    if !missing.is_empty() {
        ui.warn(format!(
            "the report is partial: {} of the accounts and regions could not be read",
            missing.len()
        ));
        return Ok(ExitCode::from(EXIT_FINDINGS));
    }
    let failed = args.fail_on_findings && !rows.is_empty();
    Ok(ExitCode::from(if failed { EXIT_FINDINGS } else { EXIT_OK }))
}

/// What discovery found, ready to report or to plan from.
pub struct Discovered {
    pub aws: Aws,
    pub mode: Mode,
    pub rows: Vec<Finding>,
    pub scanned: usize,
    /// Partitions that could not be read (only with `--allow-partial`).
    pub missing: Vec<String>,
}

/// Like [`Discovered`], keeping the functions, which a plan needs for their full layer
/// lists.
pub struct DiscoveredFunctions {
    pub discovered: Discovered,
    pub functions: Vec<Function>,
}

/// Runs discovery as `layers report` does: checks the input, connects, finds functions,
/// reads layer versions and account names, and decides the rows.
pub async fn discover(
    args: &DiscoveryArgs,
    aws_args: &AwsArgs,
    out: Option<&std::path::Path>,
    ui: &Ui,
) -> Result<Discovered> {
    let found = discover_functions(args, aws_args, out, ui).await?;
    Ok(found.discovered)
}

/// [`discover`], keeping the functions.
pub async fn discover_functions(
    args: &DiscoveryArgs,
    aws_args: &AwsArgs,
    out: Option<&std::path::Path>,
    ui: &Ui,
) -> Result<DiscoveredFunctions> {
    let mode = match &args.layer_arn {
        Some(value) => Mode::Exact(LayerVersion::parse_for_query(value)?),
        None => Mode::Outdated,
    };
    let policy = match &args.policy {
        Some(path) => Policy::load(path)?,
        None => Policy::default(),
    };
    let scope = Scope {
        layer: mode.layer().cloned(),
        accounts: args.accounts.clone(),
        regions: args.regions.clone(),
    };
    // Built once here so a value that cannot be queried is refused before any AWS call.
    query::expression(scope.layer.as_ref(), None, scope.regions.as_deref())?;
    if let Some(path) = out {
        output::check_destination(path)?;
    }

    let aws = Aws::connect(aws_args).await?;
    let aggregator = args.aggregator.as_deref();
    let found = discovery::discover(
        &aws,
        args.source,
        aggregator,
        &scope,
        args.allow_partial,
        ui,
    )
    .await?;
    if found.scanned == 0 && found.failed.is_empty() && mode == Mode::Outdated {
        ui.warn(match aggregator {
            Some(name) if args.source == Source::Config => format!(
                "aggregator {name} returned no Lambda functions; check that its source \
                 accounts record AWS::Lambda::Function"
            ),
            _ => "no Lambda functions were found in the accounts and regions listed".into(),
        });
    }

    let wanted = layers_to_read(&found.functions, &mode, &policy);
    let (lookups, names) = tokio::join!(
        versions::lookup_all(&aws, wanted, ui),
        org::account_names(&aws)
    );
    let names = names.unwrap_or_else(|error| {
        ui.warn(format!(
            "account_name is empty: cannot read AWS Organizations ({error})"
        ));
        HashMap::new()
    });

    let (mut rows, notices) = findings(&found.functions, &mode, &policy, &lookups, &names);
    if args.source == Source::Lambda {
        listing::fill_managed_by(&aws, &mut rows, ui).await;
    }
    for notice in &notices {
        ui.warn(notice.to_string());
    }

    let missing: Vec<String> = found
        .failed
        .iter()
        .map(|f| format!("{}: {}", f.partition, f.error))
        .collect();
    for failure in &missing {
        ui.warn(format!("not in the report: {failure}"));
    }
    Ok(DiscoveredFunctions {
        discovered: Discovered {
            aws,
            mode,
            rows,
            scanned: found.scanned,
            missing,
        },
        functions: found.functions,
    })
}

/// How many requests the run made, for `-v`: AWS bills some APIs per request and throttles.
pub fn report_requests(aws: &Aws) {
    let stats = &aws.budget().stats;
    tracing::info!(
        requests = stats.requests.load(Ordering::Relaxed),
        retries = stats.retries.load(Ordering::Relaxed),
        throttled = stats.throttled.load(Ordering::Relaxed),
        "discovery requests"
    );
}

impl Mode {
    pub fn layer(&self) -> Option<&LayerVersion> {
        match self {
            Mode::Outdated => None,
            Mode::Exact(layer) => Some(layer),
        }
    }
}

/// The layers whose versions the report needs.
pub fn layers_to_read(functions: &[Function], mode: &Mode, policy: &Policy) -> BTreeSet<Layer> {
    if let Mode::Exact(target) = mode {
        return BTreeSet::from([target.layer.clone()]);
    }
    functions
        .iter()
        .flat_map(|f| f.layers.iter())
        .filter_map(|arn| LayerVersion::parse(arn).ok())
        .map(|v| v.layer)
        .filter(|layer| policy.target(layer) != Target::Ignored)
        .collect()
}

/// Decides the rows of the report, sorted by account, region, function and layer.
pub fn findings(
    functions: &[Function],
    mode: &Mode,
    policy: &Policy,
    lookups: &BTreeMap<Layer, Lookup>,
    names: &HashMap<String, String>,
) -> (Vec<Finding>, Vec<Notice>) {
    let mut rows: Vec<Finding> = Vec::new();
    let mut notices = Vec::new();
    let mut unreadable = BTreeMap::new();
    let mut shared = Interner::default();
    let names: HashMap<&str, Arc<str>> = names
        .iter()
        .map(|(id, name)| (id.as_str(), shared.get(name)))
        .collect();

    for function in functions {
        for arn in function.layers.iter() {
            let Ok(used) = LayerVersion::parse(arn) else {
                notices.push(Notice::UnknownLayerArn {
                    function_arn: function.arn(),
                    value: arn.to_string(),
                });
                continue;
            };
            let lookup = lookups.get(&used.layer);
            let Some((latest, behind)) = judge(&used, mode, policy, lookup) else {
                continue;
            };
            if let Some(Lookup::Unreadable(reason)) = lookup {
                unreadable.insert(used.layer.clone(), reason.clone());
            }
            let row = Finding {
                account_id: function.account_id.clone(),
                account_name: names
                    .get(&*function.account_id)
                    .cloned()
                    .unwrap_or_default(),
                region: function.region.clone(),
                function_name: function.name.to_string(),
                function_arn: function.arn(),
                runtime: function.runtime.clone(),
                layer_arn: arn.clone(),
                layer_name: shared.get(&used.layer.name),
                layer_version: used.version,
                latest_version: latest,
                versions_behind: behind,
                managed_by: shared.get(function.stack_name.as_deref().unwrap_or_default()),
            };
            rows.push(row);
        }
    }

    rows.sort_by(|a, b| order(a).cmp(&order(b)));
    notices.extend(
        unreadable
            .into_iter()
            .map(|(layer, reason)| Notice::UnreadableLayer { layer, reason }),
    );
    (rows, notices)
}

/// Rows sort by account, region, function and layer version, the layer version as
/// [`LayerVersion`] orders (partition, region, account, name, then the version as a number),
/// read from the row's ARN without allocating.
fn order(row: &Finding) -> (&str, &str, &str, [&str; 4], u64) {
    let mut parts = row.layer_arn.split(':');
    let mut next = || parts.next().unwrap_or_default();
    let (_, partition, _, region, account, _, name) =
        (next(), next(), next(), next(), next(), next(), next());
    (
        &row.account_id,
        &row.region,
        &row.function_name,
        [partition, region, account, name],
        row.layer_version,
    )
}

/// Whether `used` belongs in the report, and if so its target and distance from it.
///
/// Returns `None` to leave it out; `Some((latest, behind))` with either unknown when the
/// layer's versions could not be read.
fn judge(
    used: &LayerVersion,
    mode: &Mode,
    policy: &Policy,
    lookup: Option<&Lookup>,
) -> Option<(Option<u64>, Option<u64>)> {
    let found = match lookup {
        Some(Lookup::Found(versions)) => Some(versions),
        _ => None,
    };
    let target = match policy.target(&used.layer) {
        Target::Approved(version) => Some(version),
        Target::Newest => found.and_then(|v| v.newest()),
        Target::Ignored if matches!(mode, Mode::Exact(_)) => found.and_then(|v| v.newest()),
        Target::Ignored => return None,
    };
    let behind = match (found, target) {
        (Some(versions), Some(target)) => Some(versions.behind(used.version, target)),
        _ => None,
    };

    match mode {
        Mode::Exact(wanted) if wanted != used => None,
        Mode::Exact(_) => Some((target, behind)),
        Mode::Outdated => match target {
            Some(target) if used.version >= target => None,
            // Without a target the layer might be outdated: report it rather than drop it.
            _ => Some((target, behind)),
        },
    }
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::UnreadableLayer { layer, reason } => write!(
                f,
                "cannot read the versions of layer {layer}: {reason}; its rows have empty \
                 latest_version and versions_behind"
            ),
            Notice::UnknownLayerArn {
                function_arn,
                value,
            } => write!(
                f,
                "{function_arn} lists '{value}', which is not a layer version ARN"
            ),
        }
    }
}

/// The one-line summary printed on stderr after the report.
pub fn summary(rows: &[Finding], scanned: usize, mode: &Mode) -> String {
    let count = |f: fn(&Finding) -> &str| rows.iter().map(f).collect::<BTreeSet<_>>().len();
    let functions = count(|r| &r.function_arn);
    let accounts = count(|r| &r.account_id);
    let regions = count(|r| &r.region);
    let layers = rows
        .iter()
        .filter_map(|r| LayerVersion::parse(&r.layer_arn).ok())
        .map(|v| v.layer)
        .collect::<BTreeSet<_>>()
        .len();
    let what = match mode {
        Mode::Outdated => plural(layers, "outdated layer"),
        Mode::Exact(layer) => format!("layer version {layer}"),
    };
    format!(
        "{} in {} and {} use {what} ({}; {} scanned)",
        plural(functions, "function"),
        plural(accounts, "account"),
        plural(regions, "region"),
        plural(rows.len(), "row"),
        plural(scanned, "function"),
    )
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::versions::Versions;
    use std::path::Path;

    const A: &str = "111111111111";
    const B: &str = "222222222222";
    const UTILS: &str = "arn:aws:lambda:us-east-1:999999999999:layer:utils";
    const OTEL: &str = "arn:aws:lambda:us-east-1:999999999999:layer:otel";

    fn function(account: &str, name: &str, layers: &[&str]) -> Function {
        Function {
            partition: "aws".into(),
            account_id: account.into(),
            region: "us-east-1".into(),
            name: name.into(),
            runtime: "python3.12".into(),
            layers: layers.iter().map(|l| (*l).into()).collect(),
            stack_name: None,
        }
    }

    fn found(layer: &str, versions: &[u64]) -> (Layer, Lookup) {
        let set = versions.iter().copied().collect();
        (Layer::parse(layer).unwrap(), Lookup::Found(Versions(set)))
    }

    fn run(functions: &[Function], mode: &Mode, policy: &Policy) -> (Vec<Finding>, Vec<Notice>) {
        let lookups = BTreeMap::from([found(UTILS, &[1, 2, 3]), found(OTEL, &[1, 2])]);
        let names = HashMap::from([(A.to_string(), "prod".to_string())]);
        findings(functions, mode, policy, &lookups, &names)
    }

    fn short(rows: &[Finding]) -> Vec<(String, String, Option<u64>, Option<u64>)> {
        rows.iter()
            .map(|r| {
                let name = format!("{}:{}", r.layer_name, r.layer_version);
                (
                    r.function_name.clone(),
                    name,
                    r.latest_version,
                    r.versions_behind,
                )
            })
            .collect()
    }

    fn row(
        f: &str,
        l: &str,
        latest: u64,
        behind: u64,
    ) -> (String, String, Option<u64>, Option<u64>) {
        (f.into(), l.into(), Some(latest), Some(behind))
    }

    #[test]
    fn an_old_layer_beside_a_current_one_is_found() {
        let functions = [
            function(A, "mixed", &[&format!("{UTILS}:3"), &format!("{OTEL}:1")]),
            function(A, "current", &[&format!("{UTILS}:3")]),
            function(A, "none", &[]),
        ];
        let (rows, notices) = run(&functions, &Mode::Outdated, &Policy::default());
        assert_eq!(short(&rows), vec![row("mixed", "otel:1", 2, 1)]);
        assert!(notices.is_empty());
        assert_eq!(&*rows[0].account_name, "prod");
    }

    #[test]
    fn rows_are_sorted_by_account_region_function_and_layer() {
        let functions = [
            function(B, "b", &[&format!("{UTILS}:1")]),
            function(A, "z", &[&format!("{UTILS}:2"), &format!("{OTEL}:1")]),
            function(A, "a", &[&format!("{UTILS}:1")]),
        ];
        let (rows, _) = run(&functions, &Mode::Outdated, &Policy::default());
        let order: Vec<_> = rows
            .iter()
            .map(|r| format!("{}/{}/{}", r.account_id, r.function_name, r.layer_name))
            .collect();
        assert_eq!(
            order,
            vec![
                format!("{A}/a/utils"),
                format!("{A}/z/otel"),
                format!("{A}/z/utils"),
                format!("{B}/b/utils"),
            ]
        );
        assert_eq!(&*rows[3].account_name, "", "unknown accounts have no name");
    }

    #[test]
    fn an_approved_version_replaces_the_newest_and_ignored_layers_disappear() {
        let policy = Policy::parse(
            &format!(
                "version = 1\n[[approve]]\nlayer = '{UTILS}'\nversion = 2\n\
                 [[ignore]]\nlayer = '{OTEL}'\n"
            ),
            Path::new("p.toml"),
        )
        .unwrap();
        let functions = [
            function(A, "old", &[&format!("{UTILS}:1"), &format!("{OTEL}:1")]),
            function(A, "approved", &[&format!("{UTILS}:2")]),
            function(A, "newer", &[&format!("{UTILS}:3")]),
        ];
        let (rows, _) = run(&functions, &Mode::Outdated, &policy);
        assert_eq!(short(&rows), vec![row("old", "utils:1", 2, 1)]);
        assert!(
            !layers_to_read(&functions, &Mode::Outdated, &policy)
                .contains(&Layer::parse(OTEL).unwrap())
        );
    }

    #[test]
    fn exact_mode_lists_every_use_of_one_version_even_when_current() {
        let target = LayerVersion::parse(&format!("{UTILS}:3")).unwrap();
        let functions = [
            function(A, "uses", &[&format!("{OTEL}:1"), &format!("{UTILS}:3")]),
            function(A, "other", &[&format!("{UTILS}:1")]),
        ];
        let mode = Mode::Exact(target.clone());
        let (rows, _) = run(&functions, &mode, &Policy::default());
        assert_eq!(short(&rows), vec![row("uses", "utils:3", 3, 0)]);
        assert_eq!(
            layers_to_read(&functions, &mode, &Policy::default()),
            BTreeSet::from([target.layer])
        );
    }

    #[test]
    fn unreadable_layers_keep_their_rows_with_empty_targets() {
        let vendor = "arn:aws:lambda:us-east-1:555555555555:layer:vendor";
        let functions = [
            function(A, "v1", &[&format!("{vendor}:1")]),
            function(B, "v2", &[&format!("{vendor}:1")]),
        ];
        let mut lookups = BTreeMap::new();
        lookups.insert(
            Layer::parse(vendor).unwrap(),
            Lookup::Unreadable("denied".into()),
        );
        let (rows, notices) = findings(
            &functions,
            &Mode::Outdated,
            &Policy::default(),
            &lookups,
            &HashMap::new(),
        );
        assert_eq!(rows.len(), 2);
        assert!(
            rows.iter()
                .all(|r| r.latest_version.is_none() && r.versions_behind.is_none())
        );
        assert_eq!(notices.len(), 1, "one notice per layer, not per row");
        assert!(notices[0].to_string().contains("denied"));
    }

    #[test]
    fn a_malformed_layer_arn_is_noticed_not_dropped_silently() {
        let functions = [function(
            A,
            "odd",
            &["arn:aws:lambda:us-east-1:1:layer:x:y"],
        )];
        let (rows, notices) = run(&functions, &Mode::Outdated, &Policy::default());
        assert!(rows.is_empty());
        assert!(matches!(
            notices.as_slice(),
            [Notice::UnknownLayerArn { .. }]
        ));
    }

    #[test]
    fn columns_match_the_serialized_fields() {
        let functions = [function(A, "f", &[&format!("{UTILS}:1")])];
        let (rows, _) = run(&functions, &Mode::Outdated, &Policy::default());
        assert_eq!(output::serialized_keys(&rows[0]), Finding::COLUMNS);
    }

    #[test]
    fn the_summary_counts_what_was_affected() {
        let functions = [
            function(A, "a", &[&format!("{UTILS}:1"), &format!("{OTEL}:1")]),
            function(B, "b", &[&format!("{UTILS}:2")]),
        ];
        let (rows, _) = run(&functions, &Mode::Outdated, &Policy::default());
        assert_eq!(
            summary(&rows, 5, &Mode::Outdated),
            "2 functions in 2 accounts and 1 region use 2 outdated layers (3 rows; 5 functions \
             scanned)"
        );
    }
}
