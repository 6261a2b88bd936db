//! The `[sweep]` section of govctl.toml, and turning it into each area's arguments.
//!
//! Each area is one of govctl's reports, and `[sweep.<area>]` takes that report's flags
//! without their dashes (`[sweep.cost] months = 6` is `govctl cost report --months 6`).
//! They are parsed by the report's own clap definition, so a sweep accepts exactly what the
//! report accepts, with the same defaults and the same messages; everything is parsed
//! before the first AWS call, so a typo fails the sweep at once rather than one area later.
//! Besides the report's flags, an area takes `enabled`, and the keys that say what counts as
//! a finding (`fail_on = "never"` turns that off).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, FromArgMatches, Parser};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The areas a sweep covers, in the order it reports them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Area {
    /// Lambda functions on outdated layer versions (`layers report`)
    Layers,
    /// OpenSearch Serverless OCU usage against its limits (`ocu status`)
    Ocu,
    /// Tailscale auth keys in Secrets Manager (`tailscale status`)
    Tailscale,
    /// Spend per account and service (`cost report`)
    Cost,
}

impl Area {
    pub const ALL: [Area; 4] = [Area::Layers, Area::Ocu, Area::Tailscale, Area::Cost];

    pub fn name(self) -> &'static str {
        match self {
            Area::Layers => "layers",
            Area::Ocu => "ocu",
            Area::Tailscale => "tailscale",
            Area::Cost => "cost",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Area::Layers => "Outdated Lambda layers",
            Area::Ocu => "OpenSearch Serverless OCU limits",
            Area::Tailscale => "Tailscale auth keys",
            Area::Cost => "Cost",
        }
    }
}

impl std::fmt::Display for Area {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `[sweep]` as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Stands for `GOVCTL_SWEEP_OUT` (see `config::SETTINGS`).
    pub out: Option<PathBuf>,
    /// The areas a sweep runs when `--areas` does not say; default all.
    pub areas: Option<Vec<Area>>,
    #[serde(default)]
    pub layers: Table,
    #[serde(default)]
    pub ocu: Table,
    #[serde(default)]
    pub tailscale: Table,
    #[serde(default)]
    pub cost: Table,
}

/// An area's keys: the report's flags without dashes, plus the sweep's own keys.
pub type Table = BTreeMap<String, toml::Value>;

impl File {
    pub fn table(&self, area: Area) -> &Table {
        match area {
            Area::Layers => &self.layers,
            Area::Ocu => &self.ocu,
            Area::Tailscale => &self.tailscale,
            Area::Cost => &self.cost,
        }
    }
}

/// What an area's table says besides the report's flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Own {
    pub enabled: bool,
    /// The report's flags, ready for its parser.
    pub argv: Vec<String>,
    /// The sweep's own keys of the area (what counts as a finding), by name.
    pub keys: BTreeMap<String, toml::Value>,
}

/// Splits `table` into the sweep's own keys (`enabled`, and those in `own_keys`) and the
/// report's flags, given as command-line words.
pub fn split(area: Area, table: &Table, own_keys: &[&str]) -> Result<Own> {
    let mut enabled = true;
    let mut argv = Vec::new();
    let mut keys = BTreeMap::new();
    for (key, value) in table {
        if key == "enabled" {
            enabled = value
                .as_bool()
                .ok_or_else(|| invalid(area, key, "true or false"))?;
            continue;
        }
        if own_keys.contains(&key.as_str()) {
            keys.insert(key.clone(), value.clone());
            continue;
        }
        argv.extend(words(area, key, value)?);
    }
    Ok(Own {
        enabled,
        argv,
        keys,
    })
}

/// `key = value` as command-line words: `--key value`, `--key` for true, nothing for false,
/// and a list joined by commas.
pub fn words(area: Area, key: &str, value: &toml::Value) -> Result<Vec<String>> {
    let flag = format!("--{}", key.replace('_', "-"));
    Ok(match value {
        toml::Value::Boolean(true) => vec![flag],
        toml::Value::Boolean(false) => Vec::new(),
        toml::Value::String(text) => vec![flag, text.clone()],
        toml::Value::Integer(n) => vec![flag, n.to_string()],
        toml::Value::Float(n) => vec![flag, n.to_string()],
        toml::Value::Array(items) => {
            let items: Option<Vec<String>> = items
                .iter()
                .map(|item| match item {
                    toml::Value::String(text) => Some(text.clone()),
                    toml::Value::Integer(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect();
            let items = items.ok_or_else(|| invalid(area, key, "a list of strings"))?;
            vec![flag, items.join(",")]
        }
        _ => return Err(invalid(area, key, "a string, number, boolean or list")),
    })
}

fn invalid(area: Area, key: &str, expected: &str) -> Error {
    Error::SweepSetting {
        area: area.name(),
        message: format!("{key} must be {expected}"),
    }
}

#[derive(Parser)]
#[command(name = "sweep", no_binary_name = true, disable_help_flag = true)]
struct Parsed<T: Args> {
    #[command(flatten)]
    args: T,
}

/// The report's arguments from `argv`, by the report's own definition (defaults and
/// environment variables included).
pub fn parse<T: Args + FromArgMatches>(area: Area, argv: &[String]) -> Result<T> {
    Parsed::<T>::try_parse_from(argv)
        .map(|parsed| parsed.args)
        .map_err(|error| Error::SweepSetting {
            area: area.name(),
            message: first_line(&error.to_string()),
        })
}

/// clap's message without its `error:` prefix and usage lines, with `--flag` shown as the
/// file's key.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    line.replace("'--", "'").replace("--", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn keys_become_flags_and_own_keys_stay_apart() {
        let own = split(
            Area::Cost,
            &table(
                "months = 6\ngroup_by = \"service\"\nrefresh = true\nmovers = false\n\
                 services = [\"AWS Lambda\", \"Amazon S3\"]\nfail_on_movers = true\n\
                 enabled = false\n",
            ),
            &["fail_on_movers"],
        )
        .unwrap();
        assert!(!own.enabled);
        assert_eq!(
            own.argv,
            [
                "--group-by",
                "service",
                "--months",
                "6",
                "--refresh",
                "--services",
                "AWS Lambda,Amazon S3"
            ]
        );
        assert_eq!(own.keys["fail_on_movers"].as_bool(), Some(true));
    }

    #[test]
    fn a_bad_key_or_value_names_the_area() {
        let err = split(Area::Ocu, &table("enabled = \"yes\""), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[sweep.ocu]") && err.contains("enabled"),
            "{err}"
        );

        #[derive(Debug, clap::Args)]
        struct Months {
            #[arg(long, value_parser = clap::value_parser!(u32).range(1..=12))]
            months: u32,
        }
        let err = parse::<Months>(Area::Cost, &["--months".into(), "40".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("[sweep.cost]") && err.contains("40"), "{err}");
        assert!(!err.contains('\n') && !err.contains("--months"), "{err}");

        let err = parse::<Months>(Area::Cost, &["--mnths".into(), "4".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("'mnths'"), "{err}");
    }
}
