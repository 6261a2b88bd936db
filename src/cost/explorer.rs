//! The Cost Explorer calls of a report: `GetCostAndUsage` page by page, and
//! `GetCostForecast`, each counted by the [`Meter`] and never past its maximum.
//!
//! Cost Explorer is a global service answered from one endpoint per partition (us-east-1
//! for `aws`), whatever region the rest of govctl runs in; `--endpoint-url` still wins.
//!
//! Known shortcoming: the SDK's own retries (throttling, server errors, up to
//! `--max-attempts`) happen inside one `send` and are counted as one request. Whether AWS
//! bills a throttled attempt is unverified; if it does, a run can cost more than it says.

use std::collections::BTreeMap;
use std::str::FromStr;

use aws_config::{Region, SdkConfig};
use aws_sdk_costexplorer::Client;
use aws_sdk_costexplorer::types::{DateInterval, Granularity, ResultByTime};
use rust_decimal::Decimal;

use crate::aws::{Aws, Call, errors::code_of, partition_of};
use crate::cost::calendar::{Day, Month};
use crate::cost::query::{Meter, Query};
use crate::cost::report::MonthCosts;
use crate::error::{Error, Result};

const GET_COST_AND_USAGE: &str = "GetCostAndUsage";
const GET_COST_FORECAST: &str = "GetCostForecast";

/// The region of Cost Explorer's endpoint in a partition. Only `aws` is verified; the
/// China regions' endpoint is documented as cn-northwest-1.
pub fn region_for(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "cn-northwest-1",
        _ => "us-east-1",
    }
}

/// Cost Explorer's forecast of the rest of a month.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub amount: Decimal,
    pub unit: String,
}

/// A Cost Explorer client in the caller's account, and the meter its requests go through.
pub struct Explorer<'a> {
    client: Client,
    config: SdkConfig,
    account: String,
    region: &'static str,
    meter: &'a Meter,
}

impl<'a> Explorer<'a> {
    pub fn new(aws: &Aws, meter: &'a Meter) -> Explorer<'a> {
        let region = region_for(partition_of(&aws.caller().arn));
        let config = aws
            .config()
            .clone()
            .into_builder()
            .region(Region::new(region))
            .build();
        Explorer {
            client: Client::new(&config),
            config,
            account: aws.caller().account.clone(),
            region,
            meter,
        }
    }

    /// The context of a failed `action` (the IAM action name), for its error.
    pub fn call(&self, action: &'static str) -> Call {
        Call::new(action, &self.account, self.region).endpoint_of(&self.config)
    }

    pub fn meter(&self) -> &Meter {
        self.meter
    }

    /// The costs of every month from `first` to `last`, both included, following every
    /// page. `reserved` requests are kept free for what comes after (the forecasts): a page
    /// that would eat into them is not requested, and the report fails instead.
    pub async fn usage(
        &self,
        query: &Query,
        first: Month,
        last: Month,
        reserved: u32,
    ) -> Result<Vec<MonthCosts>> {
        let call = self.call("ce:GetCostAndUsage");
        let period = interval(first.first_day(), last.plus(1).first_day())?;
        let mut months: BTreeMap<Month, MonthCosts> = BTreeMap::new();
        let mut token: Option<String> = None;

        loop {
            if !self.meter.allows(1 + reserved) {
                return Err(page_limit(self.meter, reserved));
            }
            self.meter.record(GET_COST_AND_USAGE);
            let page = self
                .client
                .get_cost_and_usage()
                .time_period(period.clone())
                .granularity(Granularity::Monthly)
                .metrics(query.metric.usage_name())
                .set_group_by(Some(query.group_definitions()))
                .set_filter(query.filter())
                .set_next_page_token(token.clone())
                .send()
                .await
                .map_err(|e| call.error(e))?;

            for result in page.results_by_time() {
                merge(&mut months, result, query, first, last, &call)?;
            }
            match call.next_token(token.as_deref(), page.next_page_token())? {
                Some(next) => token = Some(next),
                None => break,
            }
        }

        // Cost Explorer answers every month of the period, with no groups if nothing was
        // spent. A month it left out is taken as empty but never cached.
        let mut month = first;
        while month <= last {
            months.entry(month).or_insert_with(|| MonthCosts {
                month,
                currency: None,
                groups: BTreeMap::new(),
                estimated: true,
            });
            month = month.plus(1);
        }
        Ok(months.into_values().collect())
    }

    /// Cost Explorer's forecast from `today` to the end of its month, for the rows `filter`
    /// selects: the amount and its unit, or `None` when Cost Explorer has too little data.
    pub async fn forecast(
        &self,
        query: &Query,
        filter: Option<aws_sdk_costexplorer::types::Expression>,
        today: Day,
    ) -> Result<Option<Forecast>> {
        let call = self.call("ce:GetCostForecast");
        // Forecasts start today at the earliest; the report adds the month to date.
        let period = interval(today.to_string(), today.month().plus(1).first_day())?;
        self.meter.record(GET_COST_FORECAST);
        let answer = self
            .client
            .get_cost_forecast()
            .time_period(period)
            .metric(query.metric.forecast_metric())
            .granularity(Granularity::Monthly)
            .set_filter(filter)
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) if code_of(&e) == Some("DataUnavailableException") => return Ok(None),
            Err(e) => return Err(call.error(e)),
        };
        let total = answer
            .total()
            .ok_or_else(|| call.failure("the forecast has no Total"))?;
        let amount = parse_amount(total.amount().unwrap_or_default())
            .ok_or_else(|| call.failure("the forecast's Total.Amount is not a number"))?;
        Ok(Some(Forecast {
            amount,
            unit: total.unit().unwrap_or_default().to_string(),
        }))
    }
}

fn interval(start: String, end: String) -> Result<DateInterval> {
    DateInterval::builder()
        .start(start)
        .end(end)
        .build()
        .map_err(|e| Error::Encode(e.to_string()))
}

/// Adds one `ResultsByTime` entry to its month: a month split over pages comes back once
/// per page, each time with more of its groups.
fn merge(
    months: &mut BTreeMap<Month, MonthCosts>,
    result: &ResultByTime,
    query: &Query,
    first: Month,
    last: Month,
    call: &Call,
) -> Result<()> {
    let start = result
        .time_period()
        .map(|period| period.start())
        .unwrap_or_default();
    let month = Month::parse(start)
        .filter(|month| (first..=last).contains(month))
        .ok_or_else(|| call.failure(format!("an answer for '{start}', outside the period")))?;
    let costs = months.entry(month).or_insert_with(|| MonthCosts {
        month,
        currency: None,
        groups: BTreeMap::new(),
        estimated: false,
    });
    costs.estimated |= result.estimated();

    let width = query.grouping.dimensions().len();
    for group in result.groups() {
        if group.keys().len() != width {
            return Err(call.failure(format!(
                "a group of {month} has {} keys for {width} dimensions",
                group.keys().len()
            )));
        }
        let Some(value) = group
            .metrics()
            .and_then(|metrics| metrics.get(query.metric.usage_name()))
        else {
            return Err(call.failure(format!(
                "a group of {month} has no {}",
                query.metric.usage_name()
            )));
        };
        let text = value.amount().unwrap_or_default();
        let amount = parse_amount(text)
            .ok_or_else(|| call.failure(format!("the amount '{text}' is not a number")))?;
        let unit = value.unit().unwrap_or_default();
        match &costs.currency {
            Some(known) if known != unit => {
                return Err(call.failure(format!("{month} has amounts in {known} and in {unit}")));
            }
            Some(_) => {}
            None => costs.currency = Some(unit.to_string()),
        }
        *costs.groups.entry(group.keys().to_vec()).or_default() += amount;
    }
    Ok(())
}

/// Cost Explorer writes amounts as plain decimals, and tiny ones sometimes in exponent
/// notation (`1.2E-7`).
pub fn parse_amount(text: &str) -> Option<Decimal> {
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

fn page_limit(meter: &Meter, reserved: u32) -> Error {
    let made = meter.made();
    let reserve = if reserved > 0 {
        format!(" and {reserved} kept for the forecasts")
    } else {
        String::new()
    };
    Error::RequestLimit {
        needed: format!("at least {}", made + 1 + reserved),
        max: meter.max(),
        detail: format!(
            "Cost Explorer answered in more pages than fit: {made} requests made \
             (USD {}){reserve}; nothing was written or cached",
            crate::cost::query::dollars(made)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_in_both_notations() {
        assert_eq!(parse_amount("12.3400"), Decimal::from_str("12.34").ok());
        assert_eq!(parse_amount("1.2E-7"), Decimal::from_str("0.00000012").ok());
        assert_eq!(parse_amount("-0.5"), Decimal::from_str("-0.5").ok());
        assert_eq!(parse_amount(""), None);
        assert_eq!(parse_amount("twelve"), None);
    }

    #[test]
    fn cost_explorer_is_called_in_its_partition_s_home_region() {
        assert_eq!(region_for("aws"), "us-east-1");
        assert_eq!(region_for("aws-cn"), "cn-northwest-1");
    }
}
