//! The on-disk cache of closed months' costs, so a report pays only for what can change.
//!
//! A closed month's costs are final once Cost Explorer stops marking them `Estimated`, so
//! they are kept as one JSON file per caller account, query and month:
//!
//! ```text
//! $XDG_CACHE_HOME/govctl/cost/<caller account>/<query digest>/<YYYY-MM>.json
//! ```
//!
//! (`~/.cache/govctl/cost/...` without `XDG_CACHE_HOME`). The digest is over the query's
//! identity (metric, grouping, account and service filters, and the endpoint override, so
//! an emulator's answers never stand in for AWS's); each file repeats that identity and is
//! used only when it matches, so a digest collision or a hand-edited file is a miss, not a
//! wrong report. Files hold group keys (account IDs, service names) and amounts: never
//! credentials. They are written atomically, in directories only the user can read, and a
//! file that cannot be read or written costs a warning and a request, never the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::cost::calendar::Month;
use crate::cost::report::MonthCosts;
use crate::error::{Error, Result};
use crate::output;

/// Raised when the file layout or meaning changes; other versions are ignored.
const FORMAT: u32 = 1;

/// `$XDG_CACHE_HOME/govctl/cost`, or `~/.cache/govctl/cost`; `None` without either.
pub fn default_root() -> Option<PathBuf> {
    // The XDG base directory specification ignores relative paths.
    let xdg = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute());
    let base = xdg.or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
            .map(|home| home.join(".cache"))
    })?;
    Some(base.join("govctl").join("cost"))
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    format: u32,
    caller_account: String,
    query: Value,
    month: String,
    currency: Option<String>,
    groups: Vec<Group>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Group {
    keys: Vec<String>,
    /// A decimal string, exactly as summed from Cost Explorer's answer.
    amount: String,
}

/// The cache of one caller account and query.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    caller_account: String,
    identity: Value,
}

/// Why a cache file was not used.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// There is no file for the month.
    Absent,
    /// There is one, but it cannot be used (the reason).
    Unusable(String),
}

impl Cache {
    pub fn new(root: &Path, caller_account: &str, identity: Value) -> Cache {
        let digest = Sha256::digest(identity.to_string().as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Cache {
            dir: root.join(caller_account).join(hex),
            caller_account: caller_account.to_string(),
            identity,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, month: Month) -> PathBuf {
        self.dir.join(format!("{month}.json"))
    }

    /// The cached costs of `month`.
    pub fn get(&self, month: Month) -> std::result::Result<MonthCosts, Miss> {
        let path = self.path(month);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Miss::Absent),
            Err(e) => return Err(Miss::Unusable(format!("{}: {e}", path.display()))),
        };
        self.parse(month, &text)
            .map_err(|reason| Miss::Unusable(format!("{}: {reason}", path.display())))
    }

    fn parse(&self, month: Month, text: &str) -> std::result::Result<MonthCosts, String> {
        let entry: Entry = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if entry.format != FORMAT {
            return Err(format!("format {} is not {FORMAT}", entry.format));
        }
        if entry.caller_account != self.caller_account
            || entry.query != self.identity
            || entry.month != month.to_string()
        {
            return Err("it was written for another account, query or month".into());
        }
        let mut groups = BTreeMap::new();
        for group in entry.groups {
            let amount = Decimal::from_str(&group.amount)
                .map_err(|_| format!("amount '{}' is not a decimal", group.amount))?;
            groups.insert(group.keys, amount);
        }
        Ok(MonthCosts {
            month,
            currency: entry.currency,
            groups,
            estimated: false,
        })
    }

    /// Keeps the costs of a closed month whose amounts are final.
    pub fn put(&self, costs: &MonthCosts) -> Result<()> {
        let entry = Entry {
            format: FORMAT,
            caller_account: self.caller_account.clone(),
            query: self.identity.clone(),
            month: costs.month.to_string(),
            currency: costs.currency.clone(),
            groups: costs
                .groups
                .iter()
                .map(|(keys, amount)| Group {
                    keys: keys.clone(),
                    amount: amount.to_string(),
                })
                .collect(),
        };
        create_private_dir(&self.dir)?;
        let path = self.path(costs.month);
        output::write_file(&path, |writer| {
            serde_json::to_writer_pretty(&mut *writer, &entry)
                .map_err(|e| Error::Encode(e.to_string()))?;
            writer.write_all(b"\n")?;
            Ok(())
        })
    }
}

/// Creates `dir` and its missing parents, readable by the user only: cost data is business
/// information, and `~/.cache` is often readable by others.
fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn costs(month: Month) -> MonthCosts {
        let mut groups = BTreeMap::new();
        groups.insert(
            vec!["111122223333".to_string(), "AWS Lambda".to_string()],
            Decimal::from_str("120.0000000005").unwrap(),
        );
        groups.insert(
            vec!["111122223333".to_string(), "Amazon S3".to_string()],
            Decimal::from_str("0.10").unwrap(),
        );
        MonthCosts {
            month,
            currency: Some("USD".into()),
            groups,
            estimated: false,
        }
    }

    #[test]
    fn a_month_comes_back_exactly_as_it_was_put() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(
            dir.path(),
            "123456789012",
            json!({"metric": "UnblendedCost"}),
        );
        let month = Month::new(2026, 11).unwrap();
        assert_eq!(cache.get(month).unwrap_err(), Miss::Absent);

        cache.put(&costs(month)).unwrap();
        let back = cache.get(month).unwrap();
        assert_eq!(back.groups, costs(month).groups);
        assert_eq!(back.currency.as_deref(), Some("USD"));
        let text = std::fs::read_to_string(cache.dir().join("2026-11.json")).unwrap();
        assert!(text.contains("\"120.0000000005\""), "{text}");
        assert!(text.contains("\"0.10\""), "{text}");
    }

    #[test]
    fn files_of_another_query_account_or_month_are_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let month = Month::new(2026, 11).unwrap();
        let cache = Cache::new(
            dir.path(),
            "123456789012",
            json!({"metric": "UnblendedCost"}),
        );
        cache.put(&costs(month)).unwrap();

        let other_query = Cache::new(dir.path(), "123456789012", json!({"metric": "Amortized"}));
        assert_eq!(other_query.get(month).unwrap_err(), Miss::Absent);
        let other_account = Cache::new(dir.path(), "999999999999", json!({"metric": "Unblended"}));
        assert_eq!(other_account.get(month).unwrap_err(), Miss::Absent);

        // Copied under another month's name: refused, not misread.
        let next = month.plus(1);
        std::fs::copy(
            cache.dir().join("2026-11.json"),
            cache.dir().join("2026-12.json"),
        )
        .unwrap();
        assert!(matches!(cache.get(next), Err(Miss::Unusable(_))));

        std::fs::write(cache.dir().join("2026-11.json"), "{not json").unwrap();
        assert!(matches!(cache.get(month), Err(Miss::Unusable(_))));
    }

    #[cfg(unix)]
    #[test]
    fn cache_directories_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(&dir.path().join("cost"), "123456789012", json!({}));
        cache.put(&costs(Month::new(2026, 1).unwrap())).unwrap();
        let mode = std::fs::metadata(cache.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let file = std::fs::metadata(cache.dir().join("2026-01.json")).unwrap();
        assert_eq!(file.permissions().mode() & 0o077, 0);
    }
}
