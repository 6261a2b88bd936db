//! CloudFormation StackSet operations that resume instead of repeating.
//!
//! A change deployed through a StackSet must survive an interrupted apply: every operation
//! carries a caller-chosen `OperationId`, derived from the plan, so running the apply
//! again finds the operation it started (and waits for it) rather than starting it twice.
//! This module holds that machinery for any StackSet: create it once, create or update
//! stack instances under an operation ID, wait for the operation, read per-instance
//! results, list instances.
//!
//! `govctl remediate` (src/remediate/apply.rs) reads operations, results and instances
//! through it; its wave-by-wave creation, parameters and cleanup stay there.

use std::time::Duration;

use aws_sdk_cloudformation::types::{
    Parameter, PermissionModels, StackSetOperationPreferences, StackSetOperationStatus,
};
use serde::Serialize;

use crate::aws::errors::code_of;
use crate::aws::{Aws, Call};
use crate::error::Result;
use crate::output::Row;

/// One stack instance's outcome in an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceResult {
    pub account_id: String,
    pub region: String,
    pub status: String,
    pub reason: String,
}

impl Row for InstanceResult {
    const COLUMNS: &'static [&'static str] = &["account_id", "region", "status", "reason"];
}

/// A stack instance as `ListStackInstances` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub account_id: String,
    pub region: String,
    pub status: String,
    pub detail: String,
}

/// How to create a StackSet with self-managed permissions.
pub struct Definition<'a> {
    pub description: String,
    pub template: &'a str,
    pub parameters: Vec<(&'a str, String)>,
    /// `None`: `AWSCloudFormationStackSetAdministrationRole` in the caller's account.
    pub admin_role_arn: Option<String>,
    pub execution_role_name: String,
}

/// Whether stack instances are created or updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
}

/// One StackSet in the caller's account and region.
pub struct StackSet<'a> {
    aws: &'a Aws,
    name: String,
    client: aws_sdk_cloudformation::Client,
    poll: Duration,
}

pub fn parameters(values: &[(&str, String)]) -> Vec<Parameter> {
    values
        .iter()
        .map(|(key, value)| {
            Parameter::builder()
                .parameter_key(*key)
                .parameter_value(value)
                .build()
        })
        .collect()
}

impl<'a> StackSet<'a> {
    pub fn new(aws: &'a Aws, name: impl Into<String>, poll: Duration) -> Self {
        StackSet {
            aws,
            name: name.into(),
            client: aws_sdk_cloudformation::Client::new(aws.config()),
            poll,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn call(&self, action: &'static str) -> Call {
        Call::new(action, &self.aws.caller().account, self.aws.region())
            .endpoint_of(self.aws.config())
    }

    /// Creates the StackSet unless it exists.
    pub async fn ensure(&self, definition: &Definition<'_>) -> Result<()> {
        let described = self
            .client
            .describe_stack_set()
            .stack_set_name(&self.name)
            .send()
            .await;
        match described {
            Ok(_) => return Ok(()),
            Err(e) if code_of(&e) == Some("StackSetNotFoundException") => {}
            Err(e) => return Err(self.call("cloudformation:DescribeStackSet").error(e)),
        }
        let admin_role = definition.admin_role_arn.clone().unwrap_or_else(|| {
            format!(
                "arn:{}:iam::{}:role/AWSCloudFormationStackSetAdministrationRole",
                crate::aws::partition_of(&self.aws.caller().arn),
                self.aws.caller().account
            )
        });
        self.client
            .create_stack_set()
            .stack_set_name(&self.name)
            .description(&definition.description)
            .template_body(definition.template)
            .permission_model(PermissionModels::SelfManaged)
            .administration_role_arn(admin_role)
            .execution_role_name(&definition.execution_role_name)
            .set_parameters(Some(parameters(&definition.parameters)))
            .send()
            .await
            .map_err(|e| self.call("cloudformation:CreateStackSet").error(e))?;
        Ok(())
    }

    /// Creates or updates the instances of `accounts` in `regions` under operation `op`,
    /// unless an operation `op` exists already; waits for it; returns its final status and
    /// the per-instance results.
    pub async fn deploy(
        &self,
        action: Action,
        op: &str,
        accounts: &[String],
        regions: &[String],
        overrides: &[(&str, String)],
        preferences: StackSetOperationPreferences,
    ) -> Result<(String, Vec<InstanceResult>)> {
        if self.operation_status(op).await?.is_none() {
            let sent = match action {
                Action::Create => self
                    .client
                    .create_stack_instances()
                    .stack_set_name(&self.name)
                    .set_accounts(Some(accounts.to_vec()))
                    .set_regions(Some(regions.to_vec()))
                    .set_parameter_overrides(Some(parameters(overrides)))
                    .operation_preferences(preferences)
                    .operation_id(op)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        let code = code_of(&e).map(str::to_string);
                        (
                            code,
                            self.call("cloudformation:CreateStackInstances").error(e),
                        )
                    }),
                Action::Update => self
                    .client
                    .update_stack_instances()
                    .stack_set_name(&self.name)
                    .set_accounts(Some(accounts.to_vec()))
                    .set_regions(Some(regions.to_vec()))
                    .set_parameter_overrides(Some(parameters(overrides)))
                    .operation_preferences(preferences)
                    .operation_id(op)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        let code = code_of(&e).map(str::to_string);
                        (
                            code,
                            self.call("cloudformation:UpdateStackInstances").error(e),
                        )
                    }),
            };
            match sent {
                Ok(()) => {}
                // Another run started it between our look and our call: wait for that one.
                Err((Some(code), _)) if code == "OperationIdAlreadyExistsException" => {}
                Err((_, error)) => return Err(error),
            }
        }
        let status = self.wait(op).await?;
        let results = self.results(op).await?;
        Ok((status, results))
    }

    pub async fn operation_status(&self, op: &str) -> Result<Option<StackSetOperationStatus>> {
        let out = self
            .client
            .describe_stack_set_operation()
            .stack_set_name(&self.name)
            .operation_id(op)
            .send()
            .await;
        match out {
            Ok(out) => Ok(out.stack_set_operation().and_then(|o| o.status().cloned())),
            Err(e) if code_of(&e) == Some("OperationNotFoundException") => Ok(None),
            Err(e) => Err(self
                .call("cloudformation:DescribeStackSetOperation")
                .error(e)),
        }
    }

    /// Polls until the operation ends; its final status (`SUCCEEDED`, `FAILED`, `STOPPED`).
    pub async fn wait(&self, op: &str) -> Result<String> {
        loop {
            match self.operation_status(op).await? {
                Some(
                    StackSetOperationStatus::Running
                    | StackSetOperationStatus::Queued
                    | StackSetOperationStatus::Stopping,
                ) => tokio::time::sleep(self.poll).await,
                Some(done) => return Ok(done.as_str().to_string()),
                None => {
                    let call = self.call("cloudformation:DescribeStackSetOperation");
                    return Err(
                        call.failure(format!("operation {op} of {} disappeared", self.name))
                    );
                }
            }
        }
    }

    pub async fn results(&self, op: &str) -> Result<Vec<InstanceResult>> {
        let pages = self
            .client
            .list_stack_set_operation_results()
            .stack_set_name(&self.name)
            .operation_id(op)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| {
                self.call("cloudformation:ListStackSetOperationResults")
                    .error(e)
            })?;
        let mut results: Vec<InstanceResult> = pages
            .iter()
            .flat_map(|p| p.summaries())
            .map(|s| InstanceResult {
                account_id: s.account().unwrap_or_default().to_string(),
                region: s.region().unwrap_or_default().to_string(),
                status: s
                    .status()
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default(),
                reason: s.status_reason().unwrap_or_default().to_string(),
            })
            .collect();
        results.sort_by(|a, b| (&a.account_id, &a.region).cmp(&(&b.account_id, &b.region)));
        Ok(results)
    }

    /// Every stack instance; none when the StackSet does not exist.
    pub async fn instances(&self) -> Result<Vec<Instance>> {
        let listed = self
            .client
            .list_stack_instances()
            .stack_set_name(&self.name)
            .into_paginator()
            .send()
            .try_collect()
            .await;
        let pages = match listed {
            Ok(pages) => pages,
            Err(e) if code_of(&e) == Some("StackSetNotFoundException") => return Ok(Vec::new()),
            Err(e) => return Err(self.call("cloudformation:ListStackInstances").error(e)),
        };
        Ok(pages
            .iter()
            .flat_map(|p| p.summaries())
            .map(|s| Instance {
                account_id: s.account().unwrap_or_default().to_string(),
                region: s.region().unwrap_or_default().to_string(),
                status: s
                    .status()
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default(),
                detail: s
                    .stack_instance_status()
                    .and_then(|d| d.detailed_status())
                    .map(|d| d.as_str().to_string())
                    .unwrap_or_default(),
            })
            .collect())
    }
}
