//! AWS Organizations: the accounts govctl works across, and where they sit.
//!
//! The organizational unit path of an account is found by walking the tree from the root
//! (two listing calls per unit) rather than asking for each account's parents (one call per
//! account and level): organizations have far fewer units than accounts. The walk is
//! sequential on purpose, since Organizations throttles at a few requests per second.

use std::collections::{HashMap, VecDeque};
use std::process::ExitCode;

use aws_sdk_organizations::types;
use serde::Serialize;

use crate::aws::{Aws, Call};
use crate::cli::{OrgAccountsArgs, OrgCommand};
use crate::error::{EXIT_OK, Result};
use crate::output::{self, Row};
use crate::ui::Ui;

/// One account of the organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub account_id: String,
    pub name: String,
    pub email: String,
    pub status: String,
    /// Units from the root down, joined by `/`, for example `Root/Workloads/Prod`.
    pub ou_path: String,
}

impl Row for Account {
    const COLUMNS: &'static [&'static str] = &["account_id", "name", "email", "status", "ou_path"];
}

pub async fn run(command: OrgCommand, ui: &Ui) -> Result<ExitCode> {
    match command {
        OrgCommand::Accounts(args) => accounts_command(args, ui).await,
    }
}

async fn accounts_command(args: OrgAccountsArgs, ui: &Ui) -> Result<ExitCode> {
    if let Some(path) = &args.output.out {
        output::check_destination(path)?;
    }
    let aws = Aws::connect(&args.aws).await?;

    let spinner = ui.spinner("reading the organization");
    let accounts = accounts(&aws).await;
    spinner.finish_and_clear();
    let accounts = accounts?;

    output::emit(
        &accounts,
        args.output.output,
        "org_accounts",
        args.output.out.as_deref(),
    )?;
    ui.status(format!("{} accounts", accounts.len()));
    Ok(ExitCode::from(EXIT_OK))
}

/// Every account with its organizational unit path, sorted by account ID.
pub async fn accounts(aws: &Aws) -> Result<Vec<Account>> {
    let client = aws_sdk_organizations::Client::new(aws.config());
    let listed = list_accounts(aws, &client).await?;
    let paths = ou_paths(aws, &client).await?;

    let mut accounts: Vec<Account> = listed
        .iter()
        .map(|a| {
            let id = a.id().unwrap_or_default().to_string();
            Account {
                ou_path: paths.get(&id).cloned().unwrap_or_default(),
                name: a.name().unwrap_or_default().to_string(),
                email: a.email().unwrap_or_default().to_string(),
                status: status_of(a),
                account_id: id,
            }
        })
        .collect();
    accounts.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    Ok(accounts)
}

/// An account as `ListAccounts` gives it, without its place in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub status: String,
}

impl Member {
    /// Only active accounts can be entered; suspended and closing ones refuse the role.
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

/// Every account of the organization, whatever its status; one paginated call.
pub async fn members(aws: &Aws) -> Result<Vec<Member>> {
    let client = aws_sdk_organizations::Client::new(aws.config());
    let listed = list_accounts(aws, &client).await?;
    Ok(listed
        .iter()
        .filter_map(|a| {
            Some(Member {
                id: a.id()?.to_string(),
                name: a.name().unwrap_or_default().to_string(),
                status: status_of(a),
            })
        })
        .collect())
}

/// Account ID to name, for reports.
pub async fn account_names(aws: &Aws) -> Result<HashMap<String, String>> {
    Ok(members(aws)
        .await?
        .into_iter()
        .map(|member| (member.id, member.name))
        .collect())
}

/// The account's state, from the newer `State` field where Organizations sends it.
fn status_of(account: &types::Account) -> String {
    match (account.state(), account.status()) {
        (Some(state), _) => state.as_str().to_string(),
        (None, Some(status)) => status.as_str().to_string(),
        (None, None) => String::new(),
    }
}

fn call(aws: &Aws, action: &'static str) -> Call {
    Call::new(action, &aws.caller().account, aws.region()).endpoint_of(aws.config())
}

async fn list_accounts(
    aws: &Aws,
    client: &aws_sdk_organizations::Client,
) -> Result<Vec<types::Account>> {
    let pages = client
        .list_accounts()
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| call(aws, "organizations:ListAccounts").error(e))?;
    Ok(pages
        .into_iter()
        .flat_map(|p| p.accounts.unwrap_or_default())
        .collect())
}

/// Walks the tree from the root, returning each account's path.
async fn ou_paths(
    aws: &Aws,
    client: &aws_sdk_organizations::Client,
) -> Result<HashMap<String, String>> {
    let pages = client
        .list_roots()
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| call(aws, "organizations:ListRoots").error(e))?;
    let mut queue: VecDeque<(String, String)> = pages
        .iter()
        .flat_map(|p| p.roots())
        .filter_map(|r| Some((r.id()?.to_string(), r.name().unwrap_or("Root").to_string())))
        .collect();
    let mut paths = HashMap::new();

    while let Some((parent, path)) = queue.pop_front() {
        let pages = client
            .list_accounts_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| call(aws, "organizations:ListAccountsForParent").error(e))?;
        for account in pages.iter().flat_map(|p| p.accounts()) {
            if let Some(id) = account.id() {
                paths.insert(id.to_string(), path.clone());
            }
        }

        let pages = client
            .list_organizational_units_for_parent()
            .parent_id(&parent)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| call(aws, "organizations:ListOrganizationalUnitsForParent").error(e))?;
        for unit in pages.iter().flat_map(|p| p.organizational_units()) {
            if let Some(id) = unit.id() {
                let name = unit.name().unwrap_or(id);
                queue.push_back((id.to_string(), format!("{path}/{name}")));
            }
        }
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_match_the_serialized_fields() {
        let account = Account {
            account_id: "111122223333".into(),
            name: "prod".into(),
            email: "prod@example.com".into(),
            status: "ACTIVE".into(),
            ou_path: "Root/Workloads".into(),
        };
        assert_eq!(output::serialized_keys(&account), Account::COLUMNS);
    }
}
