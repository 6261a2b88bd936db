//! The gate itself: recording plans, approving them, and letting an apply through.
//!
//! Each step checks the plan file against its change record: the file's digest must match
//! the digest recorded when it was planned, so an edited file, or one swapped for another
//! plan's, is refused everywhere. An apply gets through only with an approval of that
//! digest from a principal other than the planner (unless self-approval is allowed), while
//! the plan is unexpired, from the caller's account, not yet applied, when the change
//! calendar (if named) is open, and when no other apply of the same plan runs.

use serde_json::{Value, json};

use super::audit::AuditLog;
use super::plan::{Identity, Plan, now, timestamp};
use super::record::{Approval, Record, Records, Status};
use crate::aws::errors::code_of;
use crate::aws::{Aws, Call};
use crate::error::{Error, Result};

/// Settings of the gate that operators choose.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lets the planner approve their own plan (single-operator setups).
    pub allow_self_approval: bool,
    /// An SSM Change Calendar that must be OPEN for applies.
    pub calendar: Option<String>,
    pub audit: AuditLog,
}

pub struct Gate<'a> {
    aws: &'a Aws,
    records: Records<'a>,
    settings: Settings,
    caller: Identity,
}

impl<'a> Gate<'a> {
    pub fn new(aws: &'a Aws, settings: Settings) -> Self {
        let caller = Identity {
            arn: aws.caller().arn.clone(),
            account: aws.caller().account.clone(),
        };
        Gate {
            aws,
            records: Records::new(aws),
            settings,
            caller,
        }
    }

    pub fn caller(&self) -> &Identity {
        &self.caller
    }

    pub fn records(&self) -> &Records<'a> {
        &self.records
    }

    /// Records a new plan as `planned` and logs it.
    pub async fn record_plan(&self, plan: &Plan, summary: String) -> Result<Record> {
        let mut record = Record::for_plan(plan, summary);
        record.push_event(&self.caller, "planned", "");
        let stored = self.records.create(&record).await?;
        self.audit(plan, "planned", json!({"summary": stored.summary}))?;
        Ok(stored)
    }

    /// The record of `plan`, which must exist and carry the plan's digest.
    pub async fn record_of(&self, plan: &Plan) -> Result<Record> {
        let record = self
            .records
            .get(&plan.plan_id)
            .await?
            .ok_or_else(|| Error::NoRecord {
                plan_id: plan.plan_id.clone(),
            })?;
        if record.digest != plan.digest {
            return Err(Error::PlanTampered {
                plan_id: plan.plan_id.clone(),
            });
        }
        Ok(record)
    }

    /// Approves `plan` as the caller.
    pub async fn approve(&self, plan: &Plan, comment: Option<String>) -> Result<Record> {
        plan.check(&self.caller, now())?;
        let mut record = self.record_of(plan).await?;
        if !matches!(record.status, Status::Planned | Status::Approved) {
            return Err(Error::WrongStatus {
                plan_id: plan.plan_id.clone(),
                status: record.status.to_string(),
                action: "approved",
            });
        }
        if self.caller.arn == record.planned_by.arn && !self.settings.allow_self_approval {
            return Err(Error::SelfApproval {
                plan_id: plan.plan_id.clone(),
                approver: self.caller.arn.clone(),
            });
        }

        record.approvals.push(Approval {
            by: self.caller.clone(),
            at: timestamp(now()),
            digest: plan.digest.clone(),
            comment: comment.clone(),
        });
        record.status = Status::Approved;
        record.push_event(
            &self.caller,
            "approved",
            comment.clone().unwrap_or_default(),
        );
        self.records.put(&record).await?;
        self.audit(plan, "approved", json!({"comment": comment}))?;
        Ok(record)
    }

    /// Everything an apply needs that is not specific to the kind of change.
    ///
    /// `resuming` statuses (`applying`, `failed`) are let through so an interrupted apply can
    /// be run again; it is the apply's job to continue rather than repeat.
    pub async fn check_apply(&self, plan: &Plan) -> Result<Record> {
        plan.check(&self.caller, now())?;
        let record = self.record_of(plan).await?;
        match record.status {
            Status::Approved | Status::Applying | Status::Failed => {}
            Status::Planned => {
                return Err(Error::NotApproved {
                    plan_id: plan.plan_id.clone(),
                    reason: "no one has approved it".into(),
                });
            }
            Status::Applied | Status::RolledBack => {
                return Err(Error::WrongStatus {
                    plan_id: plan.plan_id.clone(),
                    status: record.status.to_string(),
                    action: "applied again",
                });
            }
        }
        let allow_self = self.settings.allow_self_approval;
        if record.valid_approvals(&plan.digest, allow_self).is_empty() {
            return Err(Error::NotApproved {
                plan_id: plan.plan_id.clone(),
                reason: "its only approvals are by the planner, or of another version of it".into(),
            });
        }
        self.check_calendar().await?;
        Ok(record)
    }

    /// Refuses while the named change calendar is closed.
    pub async fn check_calendar(&self) -> Result<()> {
        let Some(calendar) = &self.settings.calendar else {
            return Ok(());
        };
        let ssm = aws_sdk_ssm::Client::new(self.aws.config());
        let call = Call::new(
            "ssm:GetCalendarState",
            &self.caller.account,
            self.aws.region(),
        )
        .endpoint_of(self.aws.config());
        let out = ssm
            .get_calendar_state()
            .calendar_names(calendar)
            .send()
            .await
            .map_err(|e| {
                if code_of(&e) == Some("InvalidDocument") {
                    Error::InvalidInput {
                        what: "--change-calendar",
                        value: calendar.clone(),
                        expected: "the name or ARN of an SSM Change Calendar".into(),
                    }
                } else {
                    call.error(e)
                }
            })?;
        match out.state().map(|s| s.as_str()) {
            Some("OPEN") => Ok(()),
            _ => Err(Error::CalendarClosed {
                calendar: calendar.clone(),
            }),
        }
    }

    /// Takes the apply lock and marks the change `applying`.
    pub async fn start_apply(
        &self,
        plan: &Plan,
        record: &mut Record,
        break_lock: bool,
    ) -> Result<()> {
        if break_lock {
            self.records.unlock(&plan.plan_id).await?;
            self.audit(plan, "lock-broken", Value::Null)?;
        }
        self.records.lock(&plan.plan_id, &self.caller).await?;
        let resumed = record.status != Status::Approved;
        record.status = Status::Applying;
        let event = if resumed {
            "apply-resumed"
        } else {
            "apply-started"
        };
        record.push_event(&self.caller, event, "");
        if let Err(error) = self.records.put(record).await {
            self.records.unlock(&plan.plan_id).await.ok();
            return Err(error);
        }
        self.audit(plan, event, Value::Null)
    }

    /// Records a step of the apply (a wave, say) in the record and the log.
    pub async fn step(
        &self,
        plan: &Plan,
        record: &mut Record,
        event: &str,
        detail: Value,
    ) -> Result<()> {
        record.push_event(&self.caller, event, detail.to_string());
        self.records.put(record).await?;
        self.audit(plan, event, detail)
    }

    /// Ends the apply with `status`, and gives the lock back.
    pub async fn finish(
        &self,
        plan: &Plan,
        record: &mut Record,
        status: Status,
        detail: Value,
    ) -> Result<()> {
        record.status = status;
        record.push_event(&self.caller, &status.to_string(), detail.to_string());
        let stored = self.records.put(record).await;
        let unlocked = self.records.unlock(&plan.plan_id).await;
        self.audit(plan, &status.to_string(), detail)?;
        stored.and(unlocked)
    }

    /// Appends to the local audit log.
    pub fn audit(&self, plan: &Plan, event: &str, detail: Value) -> Result<()> {
        self.settings.audit.append(
            &plan.plan_id,
            &plan.kind,
            &plan.digest,
            event,
            &self.caller,
            detail,
        )
    }
}
