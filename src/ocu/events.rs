//! `govctl ocu events`: the OCU threshold notifications that fired, newest first.
//!
//! User Notifications stores a notification in the account's notification hubs (up to three
//! regions) and answers `ListNotificationEvents` only from the hub of the region it is
//! called in. So for each account govctl lists the hubs (control plane, us-east-1), lists
//! the `aws.aoss` notifications of the window in every hub, and drops copies that several
//! hubs hold. The region of a row is where the event happened (`eventOriginRegion`). Which
//! dimension it is about is only in the free text, so each notification is read in full
//! (`GetNotificationEvent`) for its description.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use aws_smithy_types::DateTime;
use serde::Serialize;

use super::EventsArgs;
use super::notify::{EVENT_APPROACHING, EVENT_REACHED, HOME_REGION, SOURCE};
use super::threshold::dimension_of;
use crate::aws::{Aws, Call};
use crate::change::plan::{now, timestamp};
use crate::error::{EXIT_OK, Result};
use crate::output::{self, Row};
use crate::targets::{self, Target};
use crate::ui::Ui;

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRow {
    pub account_id: String,
    pub account_name: String,
    pub region: String,
    pub time: String,
    /// `approaching` or `reached`.
    pub level: String,
    /// `indexing`, `search` or `unknown`, as the description says.
    pub dimension: String,
    pub description: String,
}

impl Row for EventRow {
    const COLUMNS: &'static [&'static str] = &[
        "account_id",
        "account_name",
        "region",
        "time",
        "level",
        "dimension",
        "description",
    ];
}

/// The level of an OCU event type, `None` for any other event.
pub fn level_of(event_type: &str) -> Option<&'static str> {
    match event_type {
        EVENT_APPROACHING => Some("approaching"),
        EVENT_REACHED => Some("reached"),
        _ => None,
    }
}

pub async fn run(args: EventsArgs, ui: &Ui) -> Result<ExitCode> {
    if let Some(out) = &args.output.out {
        output::check_destination(out)?;
    }
    let aws = Aws::connect(&args.aws).await?;
    let regions: Option<BTreeSet<String>> = args
        .targets
        .regions
        .as_ref()
        .map(|r| r.iter().cloned().collect());
    // One visit per account, in the control plane's region; regions only filter.
    let (targets, names) = targets::resolve_named(&aws, &args.targets, ui).await?;
    let accounts: BTreeSet<String> = targets.into_iter().map(|t| t.account).collect();
    let visits: Vec<Target> = accounts
        .into_iter()
        .map(|account| Target {
            account,
            region: HOME_REGION.to_string(),
        })
        .collect();
    let since = now() - args.since;

    let spinner = ui.spinner("reading OCU notifications");
    let outcomes =
        targets::visit(&aws, &visits, |target| account_events(&aws, target, since)).await;
    spinner.finish_and_clear();

    let mut rows = Vec::new();
    for (target, outcome) in outcomes {
        let (hubs, events) = outcome?;
        if hubs == 0 {
            ui.warn(format!(
                "account {} has no notification hub: User Notifications keeps no notifications \
                 there",
                target.account
            ));
        }
        for mut row in events {
            if regions.as_ref().is_some_and(|r| !r.contains(&row.region)) {
                continue;
            }
            row.account_name = names.get(&row.account_id).cloned().unwrap_or_default();
            rows.push(row);
        }
    }
    sort(&mut rows);
    output::emit(
        &rows,
        args.output.output,
        "ocu_events",
        args.output.out.as_deref(),
    )?;

    let mut per_account: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for row in &rows {
        let counts = per_account.entry(row.account_id.as_str()).or_default();
        if row.level == "reached" {
            counts.1 += 1;
        } else {
            counts.0 += 1;
        }
    }
    let detail: Vec<String> = per_account
        .iter()
        .map(|(account, (approaching, reached))| {
            format!("{account}: {approaching} approaching, {reached} reached")
        })
        .collect();
    ui.status(format!(
        "{} OCU notifications since {} in {} of {} accounts{}{}",
        rows.len(),
        timestamp(since),
        per_account.len(),
        visits.len(),
        if detail.is_empty() { "" } else { "; " },
        detail.join("; ")
    ));
    Ok(ExitCode::from(EXIT_OK))
}

/// Newest first; then by account and region, for a stable order.
pub fn sort(rows: &mut [EventRow]) {
    rows.sort_by(|a, b| {
        b.time
            .cmp(&a.time)
            .then_with(|| (&a.account_id, &a.region).cmp(&(&b.account_id, &b.region)))
            .then_with(|| a.level.cmp(&b.level))
    });
}

/// (number of hubs, OCU notifications since `since`) of one account.
async fn account_events(aws: &Aws, target: &Target, since: i64) -> Result<(usize, Vec<EventRow>)> {
    let hubs = hub_regions(aws, &target.account).await?;
    let mut seen = BTreeSet::new();
    let mut rows = Vec::new();
    for hub in &hubs {
        for row in hub_events(aws, &target.account, hub, since).await? {
            let key = (
                row.region.clone(),
                row.time.clone(),
                row.level.clone(),
                row.description.clone(),
            );
            if seen.insert(key) {
                rows.push(row);
            }
        }
    }
    Ok((hubs.len(), rows))
}

/// The account's active notification hubs, us-east-1 first.
async fn hub_regions(aws: &Aws, account: &str) -> Result<Vec<String>> {
    let config = aws.budgeted_config_for(account, HOME_REGION).await?;
    let client = aws_sdk_notifications::Client::new(&config);
    let call =
        Call::new("notifications:ListNotificationHubs", account, HOME_REGION).endpoint_of(&config);
    let mut regions = Vec::new();
    aws.budget()
        .pages(
            &call,
            |token| client.list_notification_hubs().set_next_token(token).send(),
            |page| page.next_token(),
            |page| {
                for hub in page.notification_hubs() {
                    let active = hub
                        .status_summary()
                        .is_none_or(|s| s.status().as_str() == "ACTIVE");
                    if active {
                        regions.push(hub.notification_hub_region().to_string());
                    }
                }
                Ok(())
            },
        )
        .await?;
    regions.sort_by_key(|r| (r != HOME_REGION, r.clone()));
    Ok(regions)
}

/// The OCU notifications one hub holds since `since`, each read in full for its text.
async fn hub_events(aws: &Aws, account: &str, hub: &str, since: i64) -> Result<Vec<EventRow>> {
    let config = aws.budgeted_config_for(account, hub).await?;
    let client = aws_sdk_notifications::Client::new(&config);
    let list = Call::new("notifications:ListNotificationEvents", account, hub).endpoint_of(&config);
    let get = Call::new("notifications:GetNotificationEvent", account, hub).endpoint_of(&config);
    let mut rows = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = aws
            .budget()
            .send(&list, || {
                client
                    .list_notification_events()
                    .source(SOURCE)
                    .start_time(DateTime::from_secs(since))
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        for overview in page.notification_events() {
            let Some(summary) = overview.notification_event() else {
                continue;
            };
            let Some(metadata) = summary.source_event_metadata() else {
                continue;
            };
            let Some(level) = level_of(metadata.event_type()) else {
                continue;
            };
            let full = aws
                .budget()
                .send(&get, || {
                    client.get_notification_event().arn(overview.arn()).send()
                })
                .await?;
            let description = full.content().map(description_of).unwrap_or_default();
            rows.push(EventRow {
                account_id: overview.related_account().to_string(),
                account_name: String::new(),
                region: metadata.event_origin_region().unwrap_or(hub).to_string(),
                time: timestamp(overview.creation_time().secs()),
                level: level.to_string(),
                dimension: dimension_of(&description).as_str().to_string(),
                description,
            });
        }
        token = list.next_token(token.as_deref(), page.next_token())?;
        if token.is_none() {
            return Ok(rows);
        }
    }
}

/// The notification's text: its complete description, else its summary, else its
/// headline. Message components are references into `textParts`; a reference that names
/// no part is taken as the text itself.
fn description_of(content: &aws_sdk_notifications::types::NotificationEventSchema) -> String {
    let parts = content.text_parts();
    let resolve = |reference: &str| -> String {
        match parts.get(reference) {
            Some(part) => part
                .display_text()
                .map(str::to_string)
                .or_else(|| {
                    part.text_by_locale().and_then(|by| {
                        by.iter()
                            .find(|(locale, _)| locale.as_str() == "en_US")
                            .or_else(|| by.iter().next())
                            .map(|(_, text)| text.clone())
                    })
                })
                .unwrap_or_default(),
            None => reference.to_string(),
        }
    };
    let Some(message) = content.message_components() else {
        return String::new();
    };
    [
        message.complete_description(),
        message.paragraph_summary(),
        message.headline(),
    ]
    .into_iter()
    .flatten()
    .map(resolve)
    .find(|text| !text.is_empty())
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(account: &str, time: &str) -> EventRow {
        EventRow {
            account_id: account.into(),
            account_name: String::new(),
            region: "us-east-1".into(),
            time: time.into(),
            level: "reached".into(),
            dimension: "search".into(),
            description: String::new(),
        }
    }

    #[test]
    fn columns_match_the_serialized_fields() {
        let row = row("1", "t");
        assert_eq!(output::serialized_keys(&row), EventRow::COLUMNS);
    }

    #[test]
    fn newest_first() {
        let mut rows = vec![
            row("2", "2026-01-01T00:00:00Z"),
            row("1", "2026-01-03T00:00:00Z"),
            row("3", "2026-01-02T00:00:00Z"),
        ];
        sort(&mut rows);
        let accounts: Vec<&str> = rows.iter().map(|r| r.account_id.as_str()).collect();
        assert_eq!(accounts, ["1", "3", "2"]);
    }

    #[test]
    fn only_the_two_ocu_event_types_have_a_level() {
        assert_eq!(level_of(EVENT_APPROACHING), Some("approaching"));
        assert_eq!(level_of(EVENT_REACHED), Some("reached"));
        assert_eq!(level_of("Collection Created"), None);
    }
}
