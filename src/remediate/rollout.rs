//! What a layer remediation plan holds, and the pure rules that build it.
//!
//! A rollout moves functions off old versions of one layer (by name, in every region where
//! it is outdated) to the target version, by deploying `stacksets/layer-remediation.yaml`
//! into each affected account and region through one StackSet. Layer ARNs differ per region,
//! so each region gets its own old and new ARNs as parameter overrides. Accounts go in
//! waves: the canary accounts first, then the rest a few at a time, so a bad version is
//! caught while it touches little.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::layers::arn::LayerVersion;
use crate::layers::discovery::Function;
use crate::layers::report::Finding;

/// The kind of change in plan files and change records.
pub const KIND: &str = "layer-remediation";

/// A rough cost of one batch of stack instances, for the estimate shown to people.
const MINUTES_PER_BATCH: u64 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    pub rollout_id: String,
    pub stack_set_name: String,
    pub layer_name: String,
    pub window_start: String,
    pub window_end: String,
    pub preferences: Preferences,
    /// Per region: the old layer version ARNs to replace and the one to put in their place.
    pub swaps: BTreeMap<String, Swap>,
    pub waves: Vec<Wave>,
    pub functions: Vec<PlannedFunction>,
    /// Accounts that had functions to change but are protected, so are left alone.
    pub protected: Vec<String>,
    pub estimated_minutes: u64,
    pub template_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swap {
    pub old: Vec<String>,
    pub new: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wave {
    pub name: String,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFunction {
    pub account_id: String,
    pub account_name: String,
    pub region: String,
    pub function_name: String,
    pub function_arn: String,
    pub managed_by: String,
    pub layers_before: Vec<String>,
    pub layers_after: Vec<String>,
}

/// StackSet operation preferences, as the plan fixes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    pub max_concurrent_count: Option<i32>,
    pub max_concurrent_percentage: Option<i32>,
    pub failure_tolerance_count: Option<i32>,
    pub failure_tolerance_percentage: Option<i32>,
    pub region_order: Vec<String>,
    /// `SEQUENTIAL` or `PARALLEL`.
    pub region_concurrency: String,
    /// `STRICT_FAILURE_TOLERANCE` or `SOFT_FAILURE_TOLERANCE`.
    pub concurrency_mode: String,
}

/// Which accounts the plan may touch, and how it goes through them.
#[derive(Debug, Clone, Default)]
pub struct Targeting {
    pub exclude: BTreeSet<String>,
    pub protected: BTreeSet<String>,
    /// Accounts whose organizational unit path starts with one of these (all when empty).
    pub ou_paths: Vec<String>,
    pub account_paths: BTreeMap<String, String>,
    pub canary: Vec<String>,
    pub wave_size: usize,
}

/// The new layer list: the old versions replaced in place, everything else kept in order.
pub fn swap_layers(layers: &[String], old: &[String], new: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(layers.len());
    for layer in layers {
        let replacement = if old.contains(layer) {
            new
        } else {
            layer.as_str()
        };
        if !out.iter().any(|l| l == replacement) {
            out.push(replacement.to_string());
        }
    }
    out
}

/// Chooses the functions and swaps from the report's rows for one layer name.
///
/// Rows without a known target version cannot be planned and are returned separately.
pub fn plan_functions(
    rows: &[Finding],
    functions: &[Function],
    layer_name: &str,
    targeting: &Targeting,
) -> (
    BTreeMap<String, Swap>,
    Vec<PlannedFunction>,
    Vec<String>,
    Vec<Finding>,
) {
    let mut swaps: BTreeMap<String, Swap> = BTreeMap::new();
    let mut protected = BTreeSet::new();
    let mut unplannable = Vec::new();
    let mut chosen: Vec<&Finding> = Vec::new();

    for row in rows.iter().filter(|r| &*r.layer_name == layer_name) {
        if !in_scope(&row.account_id, targeting) {
            continue;
        }
        if targeting.protected.contains(&*row.account_id) {
            protected.insert(row.account_id.to_string());
            continue;
        }
        let Some(target) = row.latest_version else {
            unplannable.push(row.clone());
            continue;
        };
        let Ok(used) = LayerVersion::parse(&row.layer_arn) else {
            continue;
        };
        let new = LayerVersion {
            layer: used.layer.clone(),
            version: target,
        }
        .to_string();
        let swap = swaps.entry(row.region.to_string()).or_insert_with(|| Swap {
            old: Vec::new(),
            new: new.clone(),
        });
        if !swap.old.iter().any(|old| **old == *row.layer_arn) {
            swap.old.push(row.layer_arn.to_string());
            swap.old.sort();
        }
        chosen.push(row);
    }

    let by_arn: BTreeMap<String, &Function> = functions.iter().map(|f| (f.arn(), f)).collect();
    let mut planned: BTreeMap<String, PlannedFunction> = BTreeMap::new();
    for row in chosen {
        let Some(function) = by_arn.get(&row.function_arn) else {
            continue;
        };
        let before: Vec<String> = function.layers.iter().map(|l| l.to_string()).collect();
        let swap = &swaps[&*row.region];
        planned
            .entry(row.function_arn.clone())
            .or_insert_with(|| PlannedFunction {
                account_id: row.account_id.to_string(),
                account_name: row.account_name.to_string(),
                region: row.region.to_string(),
                function_name: row.function_name.clone(),
                function_arn: row.function_arn.clone(),
                managed_by: row.managed_by.to_string(),
                layers_after: swap_layers(&before, &swap.old, &swap.new),
                layers_before: before,
            });
    }
    let mut planned: Vec<PlannedFunction> = planned.into_values().collect();
    planned.sort_by(|a, b| {
        (&a.account_id, &a.region, &a.function_name).cmp(&(
            &b.account_id,
            &b.region,
            &b.function_name,
        ))
    });
    (swaps, planned, protected.into_iter().collect(), unplannable)
}

fn in_scope(account: &str, targeting: &Targeting) -> bool {
    if targeting.exclude.contains(account) {
        return false;
    }
    if targeting.ou_paths.is_empty() {
        return true;
    }
    let path = targeting
        .account_paths
        .get(account)
        .map(String::as_str)
        .unwrap_or("");
    targeting
        .ou_paths
        .iter()
        .any(|prefix| path == prefix || path.starts_with(&format!("{prefix}/")))
}

/// Canary accounts first, then the others `wave_size` at a time.
pub fn waves(functions: &[PlannedFunction], canary: &[String], wave_size: usize) -> Vec<Wave> {
    let mut regions_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for f in functions {
        regions_of
            .entry(&f.account_id)
            .or_default()
            .insert(&f.region);
    }
    let wave = |name: String, accounts: Vec<&str>| {
        let regions: BTreeSet<&str> = accounts
            .iter()
            .flat_map(|a| regions_of[a].clone())
            .collect();
        Wave {
            name,
            accounts: accounts.iter().map(|a| a.to_string()).collect(),
            regions: regions.into_iter().map(String::from).collect(),
        }
    };

    let mut waves = Vec::new();
    let canaries: Vec<&str> = regions_of
        .keys()
        .copied()
        .filter(|a| canary.iter().any(|c| c == a))
        .collect();
    if !canaries.is_empty() {
        waves.push(wave("canary".into(), canaries.clone()));
    }
    let rest: Vec<&str> = regions_of
        .keys()
        .copied()
        .filter(|a| !canaries.contains(a))
        .collect();
    for (i, chunk) in rest.chunks(wave_size.max(1)).enumerate() {
        waves.push(wave(format!("wave-{}", i + 1), chunk.to_vec()));
    }
    waves
}

/// A rough duration: per wave and region, batches of instances in turn.
pub fn estimate_minutes(waves: &[Wave], preferences: &Preferences) -> u64 {
    let parallel_regions = preferences.region_concurrency == "PARALLEL";
    waves
        .iter()
        .map(|wave| {
            let accounts = wave.accounts.len() as u64;
            let at_once = match (
                preferences.max_concurrent_count,
                preferences.max_concurrent_percentage,
            ) {
                (Some(count), _) => count.max(1) as u64,
                (None, Some(pct)) => (accounts * pct.clamp(1, 100) as u64).div_ceil(100).max(1),
                (None, None) => 1,
            };
            let per_region = accounts.div_ceil(at_once) * MINUTES_PER_BATCH;
            if parallel_regions {
                per_region
            } else {
                per_region * wave.regions.len() as u64
            }
        })
        .sum()
}

/// A short ID that names the rollout's StackSet and operations, from what it changes.
pub fn rollout_id(
    swaps: &BTreeMap<String, Swap>,
    functions: &[PlannedFunction],
    at: &str,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(at.as_bytes());
    for (region, swap) in swaps {
        hasher.update(region.as_bytes());
        hasher.update(swap.old.join(",").as_bytes());
        hasher.update(swap.new.as_bytes());
    }
    for f in functions {
        hasher.update(f.function_arn.as_bytes());
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    format!("lr-{hex}")
}

/// The operation ID of one wave in one region: the same on every run of the same plan, so a
/// re-run finds the operation it started instead of starting another.
pub fn operation_id(rollout_id: &str, wave: &str, region: &str) -> String {
    format!("{rollout_id}-{wave}-{region}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arn(name: &str, version: u64) -> String {
        format!("arn:aws:lambda:us-east-1:111111111111:layer:{name}:{version}")
    }

    #[test]
    fn the_old_version_is_replaced_in_place_and_order_kept() {
        let layers = vec![arn("otel", 1), arn("utils", 1), arn("extra", 4)];
        let after = swap_layers(&layers, &[arn("utils", 1)], &arn("utils", 3));
        assert_eq!(
            after,
            vec![arn("otel", 1), arn("utils", 3), arn("extra", 4)]
        );
    }

    #[test]
    fn several_old_versions_collapse_without_duplicates() {
        let layers = vec![arn("utils", 1), arn("utils", 3)];
        let after = swap_layers(&layers, &[arn("utils", 1)], &arn("utils", 3));
        assert_eq!(after, vec![arn("utils", 3)]);
    }

    fn planned(account: &str, region: &str) -> PlannedFunction {
        PlannedFunction {
            account_id: account.into(),
            account_name: String::new(),
            region: region.into(),
            function_name: "f".into(),
            function_arn: format!("arn:aws:lambda:{region}:{account}:function:f"),
            managed_by: String::new(),
            layers_before: vec![],
            layers_after: vec![],
        }
    }

    #[test]
    fn waves_start_with_the_canary_then_go_a_few_accounts_at_a_time() {
        let functions = vec![
            planned("1", "us-east-1"),
            planned("2", "eu-west-1"),
            planned("3", "us-east-1"),
            planned("3", "eu-west-1"),
            planned("4", "us-east-1"),
        ];
        let waves = waves(&functions, &["3".into(), "9".into()], 2);
        let names: Vec<_> = waves
            .iter()
            .map(|w| (w.name.as_str(), w.accounts.clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("canary", vec!["3".to_string()]),
                ("wave-1", vec!["1".to_string(), "2".to_string()]),
                ("wave-2", vec!["4".to_string()]),
            ]
        );
        assert_eq!(waves[0].regions, vec!["eu-west-1", "us-east-1"]);
        assert_eq!(waves[1].regions, vec!["eu-west-1", "us-east-1"]);
    }

    #[test]
    fn the_estimate_counts_batches_per_region() {
        let wave = Wave {
            name: "w".into(),
            accounts: vec!["1".into(), "2".into(), "3".into()],
            regions: vec!["a".into(), "b".into()],
        };
        let mut prefs = Preferences {
            max_concurrent_count: Some(2),
            max_concurrent_percentage: None,
            failure_tolerance_count: None,
            failure_tolerance_percentage: None,
            region_order: vec![],
            region_concurrency: "SEQUENTIAL".into(),
            concurrency_mode: "STRICT_FAILURE_TOLERANCE".into(),
        };
        assert_eq!(
            estimate_minutes(std::slice::from_ref(&wave), &prefs),
            2 * 3 * 2
        );
        prefs.region_concurrency = "PARALLEL".into();
        assert_eq!(estimate_minutes(&[wave], &prefs), 2 * 3);
    }

    #[test]
    fn operation_ids_are_stable_and_valid() {
        let id = operation_id("lr-0a1b2c3d4e", "wave-1", "eu-west-1");
        assert_eq!(id, "lr-0a1b2c3d4e-wave-1-eu-west-1");
        assert!(id.len() <= 128);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn ou_paths_select_accounts_under_them() {
        let targeting = Targeting {
            ou_paths: vec!["Root/Workloads".into()],
            account_paths: BTreeMap::from([
                ("1".into(), "Root/Workloads/Prod".into()),
                ("2".into(), "Root/WorkloadsX".into()),
                ("3".into(), "Root/Workloads".into()),
            ]),
            ..Targeting::default()
        };
        assert!(in_scope("1", &targeting));
        assert!(!in_scope("2", &targeting));
        assert!(in_scope("3", &targeting));
        assert!(!in_scope("4", &targeting));
    }
}
