//! Saved plans: what a change will do, sealed with a digest.
//!
//! A plan is a JSON file that an operator reviews, an approver approves and an apply
//! executes. The approval and the apply are bound to its SHA-256 digest, taken over a
//! canonical form of everything else in the file (keys sorted, no insignificant white
//! space), so any edit after planning, even a reformatting that changes a value, is caught.
//! Plans expire, and name the account and principal that made them.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::output;

/// The plan file format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// How long a plan stays valid unless the planner says otherwise.
pub const DEFAULT_TTL_SECONDS: i64 = 7 * 24 * 3600;

/// The principal that made or approved something, as STS reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub arn: String,
    pub account: String,
}

/// A saved plan. `inputs` and `changes` belong to the kind of change; the gate only
/// seals, checks and records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub format_version: u32,
    pub plan_id: String,
    pub kind: String,
    pub created_at: String,
    pub expires_at: String,
    pub created_by: Identity,
    pub inputs: Value,
    pub changes: Value,
    pub digest: String,
}

impl Plan {
    /// Seals a new plan made at `now` (seconds since the epoch).
    pub fn new(
        kind: &str,
        created_by: Identity,
        inputs: Value,
        changes: Value,
        now: i64,
        ttl_seconds: i64,
    ) -> Plan {
        let mut plan = Plan {
            format_version: FORMAT_VERSION,
            plan_id: String::new(),
            kind: kind.to_string(),
            created_at: timestamp(now),
            expires_at: timestamp(now + ttl_seconds),
            created_by,
            inputs,
            changes,
            digest: String::new(),
        };
        let seed = plan.compute_digest();
        plan.plan_id = format!("chg-{}-{}", compact_time(now), &seed[7..15]);
        plan.digest = plan.compute_digest();
        plan
    }

    /// Reads a plan file, refusing one that is not a plan of this format.
    pub fn load(path: &Path) -> Result<Plan> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let plan: Plan = serde_json::from_str(&text).map_err(|e| Error::PlanInvalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if plan.format_version != FORMAT_VERSION {
            return Err(Error::PlanInvalid {
                path: path.to_path_buf(),
                reason: format!(
                    "format_version {} is not supported; this govctl reads {FORMAT_VERSION}",
                    plan.format_version
                ),
            });
        }
        Ok(plan)
    }

    /// Writes the plan, complete or not at all.
    pub fn save(&self, path: &Path) -> Result<()> {
        output::write_file(path, |writer| {
            serde_json::to_writer_pretty(&mut *writer, self)
                .map_err(|e| Error::Encode(e.to_string()))?;
            writer.write_all(b"\n")?;
            Ok(())
        })
    }

    /// The digest of everything but the digest itself.
    pub fn compute_digest(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(fields) = &mut value {
            fields.remove("digest");
        }
        let mut canonical = String::new();
        write_canonical(&value, &mut canonical);
        let hash = Sha256::digest(canonical.as_bytes());
        let mut hex = String::with_capacity(7 + 64);
        hex.push_str("sha256:");
        for byte in hash {
            let _ = write!(hex, "{byte:02x}");
        }
        hex
    }

    /// Refuses a plan whose content no longer matches its digest.
    pub fn check_digest(&self) -> Result<()> {
        if self.compute_digest() == self.digest {
            Ok(())
        } else {
            Err(Error::PlanTampered {
                plan_id: self.plan_id.clone(),
            })
        }
    }

    /// Refuses a plan past its expiry at `now`.
    pub fn check_expiry(&self, now: i64) -> Result<()> {
        let expires = DateTime::from_str(&self.expires_at, Format::DateTime)
            .map(|t| t.secs())
            .map_err(|_| Error::PlanTampered {
                plan_id: self.plan_id.clone(),
            })?;
        if now < expires {
            Ok(())
        } else {
            Err(Error::PlanExpired {
                plan_id: self.plan_id.clone(),
                expired_at: self.expires_at.clone(),
            })
        }
    }

    /// Refuses a plan made in another account than the caller's.
    pub fn check_account(&self, caller: &Identity) -> Result<()> {
        if self.created_by.account == caller.account {
            Ok(())
        } else {
            Err(Error::PlanForeign {
                plan_id: self.plan_id.clone(),
                plan_account: self.created_by.account.clone(),
                caller_account: caller.account.clone(),
            })
        }
    }

    /// The plan's `changes` as the kind's own type, refusing a plan of another kind.
    /// `path` names the file in errors.
    pub fn changes_as<T: DeserializeOwned>(&self, kind: &str, path: &Path) -> Result<T> {
        self.part_as(kind, path, &self.changes)
    }

    /// Like [`Plan::changes_as`], for the plan's `inputs`.
    pub fn inputs_as<T: DeserializeOwned>(&self, kind: &str, path: &Path) -> Result<T> {
        self.part_as(kind, path, &self.inputs)
    }

    fn part_as<T: DeserializeOwned>(&self, kind: &str, path: &Path, part: &Value) -> Result<T> {
        if self.kind != kind {
            return Err(Error::PlanInvalid {
                path: path.to_path_buf(),
                reason: format!("it is a {} plan, not a {kind} plan", self.kind),
            });
        }
        serde_json::from_value(part.clone()).map_err(|e| Error::PlanInvalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// The lines every rendering of a plan starts with: what it is, who made it, when it
    /// expires and its digest.
    pub fn write_header(&self, out: &mut dyn Write) -> Result<()> {
        writeln!(out, "Plan {} ({})", self.plan_id, self.kind)?;
        writeln!(
            out,
            "  made by   {} at {}",
            self.created_by.arn, self.created_at
        )?;
        writeln!(out, "  expires   {}", self.expires_at)?;
        writeln!(out, "  digest    {}", self.digest)?;
        Ok(())
    }

    /// What a planning command says last: where the plan is and what to do next.
    pub fn write_next_step(&self, path: &Path, out: &mut dyn Write) -> Result<()> {
        writeln!(
            out,
            "\nPlan {} written to {}.\nNext: govctl change approve {}",
            self.plan_id,
            path.display(),
            path.display()
        )?;
        Ok(())
    }

    /// All the checks that need nothing but the file, the caller and the clock.
    pub fn check(&self, caller: &Identity, now: i64) -> Result<()> {
        self.check_digest()?;
        self.check_account(caller)?;
        self.check_expiry(now)
    }
}

/// RFC 3339 in UTC, to the second.
pub fn timestamp(seconds: i64) -> String {
    DateTime::from_secs(seconds)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| seconds.to_string())
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn compact_time(seconds: i64) -> String {
    timestamp(seconds)
        .replace(['-', ':'], "")
        .replace('T', "t")
        .to_lowercase()
}

/// JSON with object keys sorted and no white space, so equal values hash equally.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                write_canonical(&fields[*key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_796_000_000;

    fn me() -> Identity {
        Identity {
            arn: "arn:aws:iam::111122223333:user/planner".into(),
            account: "111122223333".into(),
        }
    }

    fn plan() -> Plan {
        Plan::new(
            "layer-remediation",
            me(),
            json!({"aggregator": "org", "layers": ["a", "b"]}),
            json!([{"account": "1", "function": "f"}]),
            NOW,
            DEFAULT_TTL_SECONDS,
        )
    }

    #[test]
    fn a_new_plan_is_sealed_and_passes_its_checks() {
        let plan = plan();
        assert!(plan.digest.starts_with("sha256:"));
        assert_eq!(plan.digest.len(), 7 + 64);
        assert!(plan.plan_id.starts_with("chg-"), "{}", plan.plan_id);
        plan.check(&me(), NOW + 60).unwrap();
        assert_eq!(plan.created_at, timestamp(NOW));
    }

    #[test]
    fn the_digest_ignores_key_order_but_not_values() {
        let a = plan();
        let mut b = a.clone();
        b.inputs = json!({"layers": ["a", "b"], "aggregator": "org"});
        assert_eq!(a.compute_digest(), b.compute_digest());
        b.inputs = json!({"layers": ["b", "a"], "aggregator": "org"});
        assert_ne!(a.compute_digest(), b.compute_digest());
    }

    #[test]
    fn any_edit_is_refused_as_tampering() {
        let mut tampered = plan();
        tampered.changes = json!([{"account": "2", "function": "f"}]);
        assert!(matches!(
            tampered.check_digest(),
            Err(Error::PlanTampered { .. })
        ));

        let mut later = plan();
        later.expires_at = timestamp(NOW + 365 * 24 * 3600);
        assert!(matches!(
            later.check_digest(),
            Err(Error::PlanTampered { .. })
        ));
    }

    #[test]
    fn an_expired_plan_is_refused() {
        let plan = plan();
        let err = plan.check(&me(), NOW + DEFAULT_TTL_SECONDS).unwrap_err();
        assert!(matches!(err, Error::PlanExpired { .. }), "{err}");
    }

    #[test]
    fn a_plan_from_another_account_is_refused() {
        let other = Identity {
            arn: "arn:aws:iam::444455556666:user/x".into(),
            account: "444455556666".into(),
        };
        let err = plan().check(&other, NOW).unwrap_err();
        assert!(err.to_string().contains("444455556666"), "{err}");
    }

    #[test]
    fn a_saved_plan_loads_back_identical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        let plan = plan();
        plan.save(&path).unwrap();
        assert_eq!(Plan::load(&path).unwrap(), plan);

        std::fs::write(&path, "{\"format_version\": 1}").unwrap();
        let err = Plan::load(&path).unwrap_err().to_string();
        assert!(err.contains("plan.json"), "{err}");
    }

    #[test]
    fn canonical_json_sorts_keys_and_drops_white_space() {
        let mut out = String::new();
        write_canonical(
            &json!({"b": [1, {"d": null, "c": "x"}], "a": true}),
            &mut out,
        );
        assert_eq!(out, r#"{"a":true,"b":[1,{"c":"x","d":null}]}"#);
    }
}
