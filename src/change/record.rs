//! Change records: the shared state of each plan, kept in the management account.
//!
//! Every operator and auditor must see the same approvals and status, so they cannot live in
//! a local file. Each plan has an SSM parameter `/govctl/changes/<plan id>` holding a JSON
//! record (status, approvals bound to the plan's digest, events); SSM keeps every earlier
//! value in the parameter's history, so the record is its own audit trail in AWS. A second
//! parameter `/govctl/locks/<plan id>`, created only if absent, makes sure two applies of
//! the same plan never run at once.

use std::fmt;

use aws_sdk_ssm::types::{ParameterTier, ParameterType};
use serde::{Deserialize, Serialize};

use super::plan::{Identity, Plan, now, timestamp};
use crate::aws::errors::code_of;
use crate::aws::{Aws, Call};
use crate::error::{Error, Result};

/// Where change records live.
pub const RECORD_PREFIX: &str = "/govctl/changes/";

/// Where apply locks live.
pub const LOCK_PREFIX: &str = "/govctl/locks/";

/// Standard-tier parameters hold 4 KB; larger records need the advanced tier (8 KB).
const STANDARD_LIMIT: usize = 4096;
const ADVANCED_LIMIT: usize = 8192;

/// Where a change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Planned,
    Approved,
    Applying,
    Applied,
    Failed,
    RolledBack,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Status::Planned => "planned",
            Status::Approved => "approved",
            Status::Applying => "applying",
            Status::Applied => "applied",
            Status::Failed => "failed",
            Status::RolledBack => "rolled-back",
        };
        f.write_str(text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub by: Identity,
    pub at: String,
    /// The plan digest this approval covers; a changed plan needs a new approval.
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: String,
    pub by: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub plan_id: String,
    pub kind: String,
    pub digest: String,
    pub status: Status,
    pub planned_by: Identity,
    pub planned_at: String,
    pub expires_at: String,
    pub summary: String,
    #[serde(default)]
    pub approvals: Vec<Approval>,
    #[serde(default)]
    pub events: Vec<Event>,
    /// Set when old events were dropped to fit the parameter; SSM's history keeps them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub events_truncated: bool,
}

impl Record {
    pub fn for_plan(plan: &Plan, summary: String) -> Record {
        Record {
            plan_id: plan.plan_id.clone(),
            kind: plan.kind.clone(),
            digest: plan.digest.clone(),
            status: Status::Planned,
            planned_by: plan.created_by.clone(),
            planned_at: plan.created_at.clone(),
            expires_at: plan.expires_at.clone(),
            summary,
            approvals: Vec::new(),
            events: Vec::new(),
            events_truncated: false,
        }
    }

    /// Approvals that cover `digest` and were not given by the planner (unless
    /// `allow_self` says a single operator may approve their own plans).
    pub fn valid_approvals(&self, digest: &str, allow_self: bool) -> Vec<&Approval> {
        self.approvals
            .iter()
            .filter(|a| a.digest == digest)
            .filter(|a| allow_self || a.by.arn != self.planned_by.arn)
            .collect()
    }

    pub fn push_event(&mut self, by: &Identity, event: &str, detail: impl Into<String>) {
        self.events.push(Event {
            at: timestamp(now()),
            by: by.arn.clone(),
            event: event.to_string(),
            detail: detail.into(),
        });
    }

    /// The record as stored: JSON, shortened to fit the parameter by dropping old events.
    fn encode(&self) -> Result<String> {
        let mut record = self.clone();
        loop {
            let text = serde_json::to_string(&record).map_err(|e| Error::Encode(e.to_string()))?;
            if text.len() <= ADVANCED_LIMIT || record.events.is_empty() {
                return Ok(text);
            }
            record.events.remove(0);
            record.events_truncated = true;
        }
    }
}

/// Reads and writes change records and locks in the caller's account.
pub struct Records<'a> {
    aws: &'a Aws,
    ssm: aws_sdk_ssm::Client,
}

impl<'a> Records<'a> {
    pub fn new(aws: &'a Aws) -> Self {
        Records {
            aws,
            ssm: aws_sdk_ssm::Client::new(aws.config()),
        }
    }

    fn call(&self, action: &'static str) -> Call {
        Call::new(action, &self.aws.caller().account, self.aws.region())
            .endpoint_of(self.aws.config())
    }

    /// The record of `plan_id`, if there is one.
    pub async fn get(&self, plan_id: &str) -> Result<Option<Record>> {
        let name = format!("{RECORD_PREFIX}{plan_id}");
        let out = match self.ssm.get_parameter().name(&name).send().await {
            Ok(out) => out,
            Err(e) if code_of(&e) == Some("ParameterNotFound") => return Ok(None),
            Err(e) => return Err(self.call("ssm:GetParameter").error(e)),
        };
        let value = out.parameter().and_then(|p| p.value()).unwrap_or_default();
        decode(&name, value).map(Some)
    }

    /// Stores `record`, replacing any earlier value.
    pub async fn put(&self, record: &Record) -> Result<()> {
        self.write(record, true).await
    }

    /// Stores `record` only if the plan has no record yet; returns the stored record.
    pub async fn create(&self, record: &Record) -> Result<Record> {
        match self.write(record, false).await {
            Ok(()) => Ok(record.clone()),
            Err(Error::Aws { message, .. }) if message.starts_with("ParameterAlreadyExists") => {
                let existing = self.get(&record.plan_id).await?;
                Ok(existing.unwrap_or_else(|| record.clone()))
            }
            Err(other) => Err(other),
        }
    }

    async fn write(&self, record: &Record, overwrite: bool) -> Result<()> {
        let value = record.encode()?;
        let tier = if value.len() > STANDARD_LIMIT {
            ParameterTier::Advanced
        } else {
            ParameterTier::Standard
        };
        self.ssm
            .put_parameter()
            .name(format!("{RECORD_PREFIX}{}", record.plan_id))
            .description(format!("govctl change record: {}", record.summary))
            .r#type(ParameterType::String)
            .tier(tier)
            .overwrite(overwrite)
            .value(value)
            .send()
            .await
            .map_err(|e| self.call("ssm:PutParameter").error(e))?;
        Ok(())
    }

    /// Every change record, newest plan first.
    pub async fn list(&self) -> Result<Vec<Record>> {
        let pages = self
            .ssm
            .get_parameters_by_path()
            .path(RECORD_PREFIX.trim_end_matches('/'))
            .recursive(true)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.call("ssm:GetParametersByPath").error(e))?;
        let mut records = Vec::new();
        for parameter in pages.iter().flat_map(|p| p.parameters()) {
            let name = parameter.name().unwrap_or_default();
            records.push(decode(name, parameter.value().unwrap_or_default())?);
        }
        records.sort_by(|a, b| {
            b.planned_at
                .cmp(&a.planned_at)
                .then(b.plan_id.cmp(&a.plan_id))
        });
        Ok(records)
    }

    /// Takes the apply lock of `plan_id`, or says who holds it.
    pub async fn lock(&self, plan_id: &str, holder: &Identity) -> Result<()> {
        let name = format!("{LOCK_PREFIX}{plan_id}");
        let value = serde_json::json!({"holder": holder.arn, "since": timestamp(now())});
        let result = self
            .ssm
            .put_parameter()
            .name(&name)
            .r#type(ParameterType::String)
            .overwrite(false)
            .value(value.to_string())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("ParameterAlreadyExists") => {
                let held = self
                    .ssm
                    .get_parameter()
                    .name(&name)
                    .send()
                    .await
                    .ok()
                    .and_then(|out| out.parameter().and_then(|p| p.value().map(String::from)))
                    .unwrap_or_default();
                Err(Error::ChangeLocked {
                    plan_id: plan_id.to_string(),
                    holder: held,
                    lock: name,
                })
            }
            Err(e) => Err(self.call("ssm:PutParameter").error(e)),
        }
    }

    /// Gives the apply lock back.
    pub async fn unlock(&self, plan_id: &str) -> Result<()> {
        let result = self
            .ssm
            .delete_parameter()
            .name(format!("{LOCK_PREFIX}{plan_id}"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("ParameterNotFound") => Ok(()),
            Err(e) => Err(self.call("ssm:DeleteParameter").error(e)),
        }
    }
}

fn decode(name: &str, value: &str) -> Result<Record> {
    serde_json::from_str(value).map_err(|e| Error::RecordInvalid {
        name: name.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn identity(name: &str) -> Identity {
        Identity {
            arn: format!("arn:aws:iam::111122223333:user/{name}"),
            account: "111122223333".into(),
        }
    }

    fn record() -> Record {
        let plan = Plan::new(
            "k",
            identity("planner"),
            json!({}),
            json!([]),
            1_796_000_000,
            60,
        );
        Record::for_plan(&plan, "summary".into())
    }

    #[test]
    fn approvals_must_match_the_digest_and_come_from_someone_else() {
        let mut r = record();
        let digest = r.digest.clone();
        let approve = |by: &str, digest: &str| Approval {
            by: identity(by),
            at: "t".into(),
            digest: digest.into(),
            comment: None,
        };
        r.approvals.push(approve("planner", &digest));
        assert!(
            r.valid_approvals(&digest, false).is_empty(),
            "self-approval"
        );
        assert_eq!(
            r.valid_approvals(&digest, true).len(),
            1,
            "allowed when configured"
        );
        r.approvals.push(approve("approver", "sha256:other"));
        assert!(
            r.valid_approvals(&digest, false).is_empty(),
            "approval of another digest"
        );
        r.approvals.push(approve("approver", &digest));
        assert_eq!(r.valid_approvals(&digest, false).len(), 1);
    }

    #[test]
    fn a_long_history_is_shortened_to_fit_the_parameter() {
        let mut r = record();
        for i in 0..200 {
            r.push_event(
                &identity("x"),
                "wave-succeeded",
                format!("wave {i} of many"),
            );
        }
        let text = r.encode().unwrap();
        assert!(text.len() <= ADVANCED_LIMIT);
        let stored: Record = serde_json::from_str(&text).unwrap();
        assert!(stored.events_truncated);
        assert!(
            stored.events.last().unwrap().detail.contains("199"),
            "newest events kept"
        );
    }

    #[test]
    fn statuses_read_as_people_write_them() {
        assert_eq!(
            serde_json::to_string(&Status::RolledBack).unwrap(),
            "\"rolled-back\""
        );
        assert_eq!(Status::RolledBack.to_string(), "rolled-back");
    }
}
