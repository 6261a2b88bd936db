//! The local audit log: one JSON line per plan, approval, apply step and outcome.
//!
//! The change record in AWS is the shared history; this file is the operator's own, kept
//! even when the record cannot be written (no network, access denied), so nothing govctl
//! did goes unrecorded. Entries hold identities, digests and counts, never credentials.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::plan::{Identity, now, timestamp};
use crate::error::{Error, Result};

/// One line of the log.
#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    pub at: String,
    pub plan_id: &'a str,
    pub kind: &'a str,
    pub event: &'a str,
    pub by: &'a str,
    pub account: &'a str,
    pub digest: &'a str,
    pub detail: Value,
}

/// An append-only JSON Lines file.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub fn new(path: PathBuf) -> Self {
        AuditLog { path }
    }

    /// `$XDG_STATE_HOME/govctl/audit.jsonl`, or `~/.local/state/govctl/audit.jsonl`.
    pub fn default_path() -> PathBuf {
        let state = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .unwrap_or_else(|| PathBuf::from("."));
        state.join("govctl").join("audit.jsonl")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry made now by `by`.
    #[allow(clippy::too_many_arguments)]
    pub fn append(
        &self,
        plan_id: &str,
        kind: &str,
        digest: &str,
        event: &str,
        by: &Identity,
        detail: Value,
    ) -> Result<()> {
        let entry = Entry {
            at: timestamp(now()),
            plan_id,
            kind,
            event,
            by: &by.arn,
            account: &by.account,
            digest,
            detail,
        };
        let write_error = |source| Error::Write {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(write_error)?;
        }
        let mut line = serde_json::to_vec(&entry).map_err(|e| Error::Encode(e.to_string()))?;
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(write_error)?;
        // One write call per line, so concurrent appenders do not interleave within a line.
        file.write_all(&line).map_err(write_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join("nested/audit.jsonl"));
        let me = Identity {
            arn: "arn:aws:iam::111122223333:user/me".into(),
            account: "111122223333".into(),
        };
        log.append(
            "chg-1",
            "k",
            "sha256:x",
            "planned",
            &me,
            serde_json::json!({"n": 1}),
        )
        .unwrap();
        log.append("chg-1", "k", "sha256:x", "approved", &me, Value::Null)
            .unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "planned");
        assert_eq!(lines[1]["by"], "arn:aws:iam::111122223333:user/me");
    }
}
