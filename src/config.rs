//! The config file, `govctl.toml`: the settings operators would otherwise repeat on every
//! command line.
//!
//! Every setting in the file stands for one environment variable that a flag already reads
//! (`[layers] aggregator` is `GOVCTL_AGGREGATOR`, the value of `--aggregator`). Before clap
//! parses, [`load_into_env`] sets those variables that the environment does not already set,
//! so the order of precedence is the usual one, and one mechanism decides it for every
//! command: a flag, then the environment, then the file, then the built-in default.
//! `govctl config show` prints what that gives, and where each value came from.
//!
//! The file is found at `--config FILE`, else `$GOVCTL_CONFIG`, else
//! `$XDG_CONFIG_HOME/govctl/govctl.toml` (`~/.config/govctl/govctl.toml`). A file named by
//! the flag or the variable must exist; the per-user one is optional. The file holds names
//! and numbers, never credentials: keys that would hold a secret do not exist.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use crate::cli::{ConfigCommand, ConfigShowArgs, env};
use crate::error::{EXIT_OK, Error, Result};
use crate::output::{self, Row};
use crate::ui::Ui;

/// The file format this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// One setting the file may hold: its key in the file, and the variable it stands for.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub key: &'static str,
    pub env: &'static str,
    pub default: &'static str,
}

/// Every setting of the file, in the order `config show` lists them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "aws.profile",
        env: env::AWS_PROFILE,
        default: "(the SDK's default chain)",
    },
    Setting {
        key: "aws.region",
        env: env::AWS_REGION,
        default: "(the profile's region)",
    },
    Setting {
        key: "aws.endpoint_url",
        env: env::AWS_ENDPOINT_URL,
        default: "(AWS)",
    },
    Setting {
        key: "aws.role_name",
        env: env::ROLE_NAME,
        default: crate::cli::DEFAULT_ROLE_NAME,
    },
    Setting {
        key: "aws.external_id",
        env: env::EXTERNAL_ID,
        default: "(none)",
    },
    Setting {
        key: "aws.concurrency",
        env: env::CONCURRENCY,
        default: "8",
    },
    Setting {
        key: "aws.max_attempts",
        env: env::AWS_MAX_ATTEMPTS,
        default: "8 for discovery, 3 otherwise",
    },
    Setting {
        key: "aws.regions",
        env: env::REGIONS,
        default: "(the --region)",
    },
    Setting {
        key: "layers.aggregator",
        env: env::AGGREGATOR,
        default: "(none)",
    },
    Setting {
        key: "layers.policy",
        env: env::LAYER_POLICY,
        default: "(none: the newest version of each layer)",
    },
    Setting {
        key: "change.calendar",
        env: env::CHANGE_CALENDAR,
        default: "(none)",
    },
    Setting {
        key: "change.protected_accounts",
        env: env::PROTECTED_ACCOUNTS,
        default: "(none)",
    },
    Setting {
        key: "change.allow_self_approval",
        env: env::ALLOW_SELF_APPROVAL,
        default: "false",
    },
    Setting {
        key: "change.audit_log",
        env: env::AUDIT_LOG,
        default: "$XDG_STATE_HOME/govctl/audit.jsonl",
    },
    Setting {
        key: "sweep.out",
        env: env::SWEEP_OUT,
        default: "(none: --out is needed)",
    },
];

/// The file as written. Unknown keys are refused, so a typo cannot be silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub version: u32,
    #[serde(default)]
    aws: Aws,
    #[serde(default)]
    layers: Layers,
    #[serde(default)]
    change: Change,
    /// Read by `govctl sweep` itself; only `out` stands for a variable.
    #[serde(default)]
    pub sweep: crate::sweep::settings::File,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Aws {
    profile: Option<String>,
    region: Option<String>,
    endpoint_url: Option<String>,
    role_name: Option<String>,
    external_id: Option<String>,
    concurrency: Option<u16>,
    max_attempts: Option<u32>,
    regions: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layers {
    aggregator: Option<String>,
    policy: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    calendar: Option<String>,
    protected_accounts: Option<Vec<String>>,
    allow_self_approval: Option<bool>,
    audit_log: Option<PathBuf>,
}

/// A config file that was found and read.
#[derive(Debug)]
pub struct Loaded {
    pub path: PathBuf,
    /// Setting key to value, as the environment variable would spell it.
    pub values: BTreeMap<&'static str, String>,
    /// The settings whose variables [`load_into_env`] set from the file.
    pub applied: Vec<&'static str>,
    /// The `[sweep]` section.
    pub sweep: crate::sweep::settings::File,
}

impl File {
    /// Parses the text of a config file at `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<File> {
        let file: File = toml::from_str(text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: one_line(&e.to_string()),
        })?;
        if file.version != FORMAT_VERSION {
            return Err(Error::Config {
                path: path.to_path_buf(),
                message: format!(
                    "version {} is not supported; this govctl reads version {FORMAT_VERSION}",
                    file.version
                ),
            });
        }
        Ok(file)
    }

    /// Each setting the file gives, keyed as in [`SETTINGS`], valued as its variable.
    fn values(&self, path: &Path) -> BTreeMap<&'static str, String> {
        let relative = |p: &PathBuf| resolve_relative(path, p).display().to_string();
        let list = |v: &Vec<String>| v.join(",");
        let pairs: [(&'static str, Option<String>); 15] = [
            ("aws.profile", self.aws.profile.clone()),
            ("aws.region", self.aws.region.clone()),
            ("aws.endpoint_url", self.aws.endpoint_url.clone()),
            ("aws.role_name", self.aws.role_name.clone()),
            ("aws.external_id", self.aws.external_id.clone()),
            (
                "aws.concurrency",
                self.aws.concurrency.map(|n| n.to_string()),
            ),
            (
                "aws.max_attempts",
                self.aws.max_attempts.map(|n| n.to_string()),
            ),
            ("aws.regions", self.aws.regions.as_ref().map(list)),
            ("layers.aggregator", self.layers.aggregator.clone()),
            ("layers.policy", self.layers.policy.as_ref().map(relative)),
            ("change.calendar", self.change.calendar.clone()),
            (
                "change.protected_accounts",
                self.change.protected_accounts.as_ref().map(list),
            ),
            (
                "change.allow_self_approval",
                self.change.allow_self_approval.map(|b| b.to_string()),
            ),
            (
                "change.audit_log",
                self.change.audit_log.as_ref().map(relative),
            ),
            ("sweep.out", self.sweep.out.as_ref().map(relative)),
        ];
        pairs
            .into_iter()
            .filter_map(|(key, value)| value.map(|v| (key, v)))
            .collect()
    }
}

/// Paths in the file are relative to the file, not to wherever govctl runs from.
fn resolve_relative(file: &Path, value: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if value.is_relative() => dir.join(value),
        _ => value.to_path_buf(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where the config file is, and whether it must exist.
pub fn locate(args: &[OsString]) -> Option<(PathBuf, bool)> {
    if let Some(path) = flag_value(args) {
        return Some((path, true));
    }
    if let Some(path) = std::env::var_os(env::CONFIG).filter(|v| !v.is_empty()) {
        return Some((PathBuf::from(path), true));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some((base.join("govctl").join("govctl.toml"), false))
}

/// The value of `--config`, read before clap so that the file can feed clap's defaults.
fn flag_value(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter().skip(1);
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            return None;
        }
        if text == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(value) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(value));
        }
    }
    None
}

/// Reads the config file, if there is one.
pub fn load(args: &[OsString]) -> Result<Option<Loaded>> {
    let Some((path, required)) = locate(args) else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(source) => return Err(Error::Read { path, source }),
    };
    let file = File::parse(&path, &text)?;
    let values = file.values(&path);
    Ok(Some(Loaded {
        path,
        values,
        applied: Vec::new(),
        sweep: file.sweep,
    }))
}

/// Loads the config file and sets the variables it stands for that are not already set.
///
/// Must run before any other thread exists: it changes the process environment.
pub fn load_into_env(args: &[OsString]) -> Result<Option<Loaded>> {
    let Some(mut loaded) = load(args)? else {
        return Ok(None);
    };
    for setting in SETTINGS {
        let Some(value) = loaded.values.get(setting.key) else {
            continue;
        };
        if std::env::var_os(setting.env).is_none() {
            // SAFETY: called from `main` before the runtime or any other thread starts, so
            // nothing reads the environment concurrently.
            unsafe { std::env::set_var(setting.env, value) };
            loaded.applied.push(setting.key);
        }
    }
    Ok(Some(loaded))
}

/// One resolved setting, as `config show` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved {
    pub key: String,
    pub value: String,
    pub source: String,
}

impl Row for Resolved {
    const COLUMNS: &'static [&'static str] = &["key", "value", "source"];
}

/// Every setting with its value and where it came from.
pub fn resolve(loaded: Option<&Loaded>) -> Vec<Resolved> {
    SETTINGS
        .iter()
        .map(|setting| {
            let from_file = loaded
                .filter(|l| l.applied.contains(&setting.key))
                .and_then(|l| Some((l.values.get(setting.key)?, &l.path)));
            let (value, source) = match (from_file, std::env::var(setting.env)) {
                (Some((value, path)), _) => {
                    (value.clone(), format!("config file {}", path.display()))
                }
                (None, Ok(value)) => (value, format!("environment {}", setting.env)),
                (None, Err(_)) => (setting.default.to_string(), "default".to_string()),
            };
            let value = if setting.env == env::EXTERNAL_ID && source != "default" {
                "(set)".to_string()
            } else {
                value
            };
            Resolved {
                key: setting.key.to_string(),
                value,
                source,
            }
        })
        .collect()
}

pub async fn run(command: ConfigCommand, loaded: Option<&Loaded>, ui: &Ui) -> Result<ExitCode> {
    match command {
        ConfigCommand::Show(args) => show(args, loaded, ui),
    }
}

fn show(args: ConfigShowArgs, loaded: Option<&Loaded>, ui: &Ui) -> Result<ExitCode> {
    let rows = resolve(loaded);
    output::emit(
        &rows,
        args.output.output,
        "config",
        args.output.out.as_deref(),
    )?;
    match loaded {
        Some(loaded) => ui.status(format!("config file: {}", loaded.path.display())),
        None => ui.status(match locate(&[]) {
            Some((path, _)) => format!("no config file ({} does not exist)", path.display()),
            None => "no config file".to_string(),
        }),
    }
    Ok(ExitCode::from(EXIT_OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../policies/govctl.example.toml");

    #[test]
    fn every_setting_has_a_value_in_the_example() {
        let file = File::parse(Path::new("/etc/govctl/govctl.toml"), EXAMPLE).unwrap();
        let values = file.values(Path::new("/etc/govctl/govctl.toml"));
        for setting in SETTINGS {
            assert!(values.contains_key(setting.key), "{} missing", setting.key);
        }
        assert_eq!(values.len(), SETTINGS.len(), "{values:?}");
    }

    #[test]
    fn lists_become_comma_separated_and_paths_relative_to_the_file() {
        let text = "version = 1\n[aws]\nregions = [\"us-east-1\", \"eu-west-1\"]\n\
                    [layers]\npolicy = \"layers.toml\"\n";
        let file = File::parse(Path::new("/etc/govctl/govctl.toml"), text).unwrap();
        let values = file.values(Path::new("/etc/govctl/govctl.toml"));
        assert_eq!(values["aws.regions"], "us-east-1,eu-west-1");
        assert_eq!(values["layers.policy"], "/etc/govctl/layers.toml");
    }

    #[test]
    fn typos_and_other_versions_are_refused_with_the_file_and_line() {
        let err = File::parse(
            Path::new("g.toml"),
            "version = 1\n[layers]\naggregater = \"x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("g.toml") && err.contains("aggregater"),
            "{err}"
        );
        assert!(err.contains("line 3"), "{err}");
        assert!(!err.contains('\n'));

        let err = File::parse(Path::new("g.toml"), "version = 2\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("version 2"), "{err}");
    }

    #[test]
    fn the_flag_wins_over_the_variable_and_stops_at_a_double_dash() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            flag_value(&args(&["govctl", "--config", "a.toml", "layers"])),
            Some(PathBuf::from("a.toml"))
        );
        assert_eq!(
            flag_value(&args(&["govctl", "layers", "--config=b.toml"])),
            Some(PathBuf::from("b.toml"))
        );
        assert_eq!(flag_value(&args(&["govctl", "--", "--config", "c"])), None);
    }
}
