//! `govctl cost report`: spend per account and service, month over month, with a forecast
//! for the current month and the largest movers, at a known Cost Explorer price.
//!
//! A report reads the last `--months` closed months (and the one before them, which gives
//! the first its change) and the current month to date. Closed months come from the
//! [`cache`] where it has them; one `GetCostAndUsage` ([`explorer`]) covers the rest, and
//! `GetCostForecast` requests follow by `--forecast`. [`query`] plans and counts those
//! requests, [`report`] does the arithmetic, [`table`] draws it for people.

pub mod cache;
pub mod calendar;
pub mod explorer;
pub mod query;
pub mod report;
pub mod table;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use futures::{StreamExt, stream};
use rust_decimal::Decimal;

use crate::aws::Aws;
use crate::cli::{AwsArgs, Format, OutputArgs, TableDefault, parse_account};
use crate::error::{EXIT_OK, Error, Result};
use crate::output;
use crate::ui::Ui;

use cache::{Cache, Miss};
use calendar::{Day, Month};
use explorer::{Explorer, Forecast};
use query::{
    Dimension, ForecastMode, Grouping, Meter, Metric, Query, dollars, forecasts_known_in_advance,
    parse_grouping, parse_service, requests_known_in_advance,
};
use report::{MonthCosts, Movement, Report, Thresholds};

/// The document kinds of the report and of the movers view in JSON.
pub const REPORT_KIND: &str = "cost_report";
pub const MOVERS_KIND: &str = "cost_movers";

#[derive(Debug, Subcommand)]
pub enum CostCommand {
    /// Spend per account and service, month over month, with the current month's forecast
    /// and the largest movers
    #[command(long_about = REPORT_ABOUT, after_help = REPORT_EXAMPLES)]
    Report(CostReportArgs),
}

const REPORT_ABOUT: &str = "\
Spend per account and service from Cost Explorer (called in the management account, at its
us-east-1 endpoint): the last --months closed months and the current month to date, the change
from each month to the next, a forecast for the current month, and the largest movers.

Cost Explorer charges USD 0.01 per request and per page. The report says on stderr how many
requests it needs before the first one, and how many it made; it never makes more than
--max-requests. Closed months are cached on disk ($XDG_CACHE_HOME/govctl/cost, or
~/.cache/govctl/cost) and cost nothing the next time.";

const REPORT_EXAMPLES: &str = "\
Examples:
  govctl cost report
  govctl cost report --months 6 --group-by service --output csv > spend.csv
  govctl cost report --services 'AWS Lambda','Amazon OpenSearch Service' --forecast total
  govctl cost report --movers --output json --threshold-pct 30 --min-change 50";

#[derive(Debug, Args)]
pub struct CostReportArgs {
    /// Closed months to show, besides the current month
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=12))]
    pub months: u32,

    /// Rows per account, per service, or per account and service
    #[arg(long, value_name = "DIMENSIONS", default_value = "account,service",
          value_parser = parse_grouping)]
    pub group_by: Grouping,

    /// Only these services, as Cost Explorer names them (comma-separated)
    #[arg(long, value_name = "NAME,...", value_delimiter = ',', value_parser = parse_service)]
    pub services: Vec<String>,

    /// Only these accounts (comma-separated IDs)
    #[arg(long, value_name = "ID,...", value_delimiter = ',', value_parser = parse_account)]
    pub accounts: Vec<String>,

    /// The cost metric
    #[arg(long, value_enum, default_value = "UnblendedCost")]
    pub metric: Metric,

    /// Which current-month forecasts to ask for (each is one request)
    #[arg(long, value_enum, default_value = "rows")]
    pub forecast: ForecastMode,

    /// A largest mover changed by more than this percentage from the month before...
    #[arg(long, value_name = "PCT", default_value = "20", value_parser = parse_non_negative)]
    pub threshold_pct: Decimal,

    /// ...and by at least this amount, in the report's currency
    #[arg(long, value_name = "AMOUNT", default_value = "10", value_parser = parse_non_negative)]
    pub min_change: Decimal,

    /// Write only the largest movers (the table shows them after the report anyway)
    #[arg(long)]
    pub movers: bool,

    /// Most Cost Explorer requests (pages included) the report may make, at USD 0.01 each
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_requests: u32,

    /// Ask Cost Explorer for the closed months again instead of reading them from the cache
    /// (the fresh answers replace the cached ones)
    #[arg(long)]
    pub refresh: bool,

    #[command(flatten)]
    pub output: OutputArgs<TableDefault>,

    #[command(flatten)]
    pub aws: AwsArgs,
}

fn parse_non_negative(value: &str) -> std::result::Result<Decimal, String> {
    match value.trim().parse::<Decimal>() {
        Ok(number) if number >= Decimal::ZERO => Ok(number),
        _ => Err("expected a number, 0 or more (such as 20 or 12.5)".into()),
    }
}

pub async fn run(command: CostCommand, ui: &Ui) -> Result<ExitCode> {
    match command {
        CostCommand::Report(args) => report_command(args, ui).await,
    }
}

async fn report_command(args: CostReportArgs, ui: &Ui) -> Result<ExitCode> {
    if let Some(path) = &args.output.out {
        output::check_destination(path)?;
    }
    let costs = collect(&args, ui).await?;
    emit(&args, &costs)?;
    ui.status(costs.summary());
    Ok(ExitCode::from(EXIT_OK))
}

/// What a cost report found, ready to be written in any of its views.
pub struct Costs {
    pub report: Report,
    pub query: Query,
    pub names: HashMap<String, String>,
    pub thresholds: Thresholds,
    /// Forecasts Cost Explorer had too little data for.
    pub unforecast: usize,
}

impl Costs {
    /// The report's rows, one per group and month, as CSV and JSON write them.
    pub fn rows(&self) -> Vec<report::CostRow> {
        report::cost_rows(&self.report, &self.query.grouping, &self.names)
    }

    /// The largest movers, largest change first.
    pub fn movers(&self) -> Vec<report::MoverRow> {
        report::mover_rows(
            &self.report,
            &self.query.grouping,
            &self.names,
            &self.thresholds,
        )
    }

    /// The closing line on stderr.
    pub fn summary(&self) -> String {
        summary(&self.report, &self.query, &self.thresholds, self.unforecast)
    }
}

/// Asks Cost Explorer (and the cache) for what `args` wants, within `--max-requests`, and
/// says on stderr what it will cost and what it cost.
pub async fn collect(args: &CostReportArgs, ui: &Ui) -> Result<Costs> {
    let needed = requests_known_in_advance(args.forecast);
    if needed > args.max_requests {
        return Err(Error::RequestLimit {
            needed: format!("at least {needed}"),
            max: args.max_requests,
            detail: "no request was made".into(),
        });
    }

    // The baseline month only gives the first shown month its change.
    let today = Day::today();
    let current = today.month();
    let closed: Vec<Month> = (0..=args.months)
        .map(|back| current.plus(back as i32 - args.months as i32 - 1))
        .collect();
    let query = Query::new(
        args.metric,
        args.group_by.clone(),
        &args.accounts,
        &args.services,
    );
    let thresholds = Thresholds {
        percent: args.threshold_pct,
        min_change: args.min_change,
    };

    let aws = Aws::connect(&args.aws).await?;
    warn_unless_management(&aws, ui).await;
    let identity = query.identity(args.aws.endpoint_url.as_deref());
    let cache = match cache::default_root() {
        Some(root) => Some(Cache::new(&root, &aws.caller().account, identity)),
        None => {
            ui.warn("neither XDG_CACHE_HOME nor HOME is set: closed months are not cached");
            None
        }
    };
    let cached = if args.refresh {
        BTreeMap::new()
    } else {
        read_cache(cache.as_ref(), &closed, ui)
    };
    let first = closed
        .iter()
        .copied()
        .find(|month| !cached.contains_key(month))
        .unwrap_or(current);
    ui.status(plan_text(
        args,
        cache.as_ref(),
        &closed,
        &cached,
        first,
        current,
    ));

    let meter = Meter::new(args.max_requests);
    let explorer = Explorer::new(&aws, &meter);
    let spinner = ui.spinner("asking Cost Explorer");
    let fetched = explorer
        .usage(
            &query,
            first,
            current,
            forecasts_known_in_advance(args.forecast),
        )
        .await;
    spinner.finish_and_clear();
    let fetched = fetched?;
    if let Some(cache) = &cache {
        write_cache(cache, &fetched, current, ui);
    }

    let mut months: BTreeMap<Month, MonthCosts> = cached;
    months.extend(fetched.into_iter().map(|costs| (costs.month, costs)));
    let months: Vec<MonthCosts> = months.into_values().collect();
    let mut report = Report::build(&months)
        .map_err(|reason| explorer.call("ce:GetCostAndUsage").failure(reason))?;

    let unforecast = forecast(&explorer, &aws, &query, &mut report, args.forecast, today).await?;
    let names = account_names(&aws, &query.grouping, ui).await;

    ui.status(format!(
        "Cost Explorer: {} made ({}), USD {}; {} of {} closed months from the cache",
        counted(meter.made() as usize, "request"),
        meter.breakdown(),
        dollars(meter.made()),
        closed.iter().filter(|m| **m < first).count(),
        closed.len(),
    ));
    Ok(Costs {
        report,
        query,
        names,
        thresholds,
        unforecast,
    })
}

/// The closed months the cache has, from the oldest on; unusable files are warned about.
fn read_cache(cache: Option<&Cache>, closed: &[Month], ui: &Ui) -> BTreeMap<Month, MonthCosts> {
    let mut cached = BTreeMap::new();
    let Some(cache) = cache else {
        return cached;
    };
    for month in closed {
        match cache.get(*month) {
            Ok(costs) => {
                cached.insert(*month, costs);
            }
            Err(Miss::Absent) => {}
            Err(Miss::Unusable(reason)) => ui.warn(format!("ignoring the cache file {reason}")),
        }
    }
    cached
}

/// Keeps the closed months whose amounts Cost Explorer no longer marks as estimated.
fn write_cache(cache: &Cache, fetched: &[MonthCosts], current: Month, ui: &Ui) {
    for costs in fetched {
        if costs.month >= current || costs.estimated {
            continue;
        }
        if let Err(error) = cache.put(costs) {
            ui.warn(format!(
                "{error}; {} will be fetched again next time",
                costs.month
            ));
        }
    }
}

fn plan_text(
    args: &CostReportArgs,
    cache: Option<&Cache>,
    closed: &[Month],
    cached: &BTreeMap<Month, MonthCosts>,
    first: Month,
    current: Month,
) -> String {
    let period = if first == current {
        current.to_string()
    } else {
        format!("{first} to {current}")
    };
    let forecasts = match args.forecast {
        ForecastMode::Rows => {
            format!("; 1 GetCostForecast for the total, 1 more per row with spend in {current}")
        }
        ForecastMode::Total => "; 1 GetCostForecast for the total".to_string(),
        ForecastMode::None => String::new(),
    };
    let from_cache = closed.iter().filter(|m| **m < first).count();
    let cache_line = match cache {
        Some(_) if args.refresh => "cache: not read (--refresh)".to_string(),
        Some(cache) => format!(
            "cache: {from_cache} of {} closed months, in {}{}",
            closed.len(),
            cache.dir().display(),
            if cached.len() > from_cache {
                " (more are cached, but the one request covers them anyway)"
            } else {
                ""
            }
        ),
        None => "cache: none".to_string(),
    };
    let needed = requests_known_in_advance(args.forecast);
    format!(
        "Cost Explorer: at least {} (USD {}), at most {} (--max-requests): \
         1 GetCostAndUsage for {period}, 1 more per extra page{forecasts}\n{cache_line}",
        counted(needed as usize, "request"),
        dollars(needed),
        args.max_requests,
    )
}

/// `1 row`, `2 rows`.
fn counted(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Asks for the forecasts `mode` wants, after checking that they all fit; returns how many
/// Cost Explorer could not give.
async fn forecast(
    explorer: &Explorer<'_>,
    aws: &Aws,
    query: &Query,
    report: &mut Report,
    mode: ForecastMode,
    today: Day,
) -> Result<usize> {
    let mut wanted: Vec<Vec<String>> = match mode {
        ForecastMode::None => return Ok(0),
        ForecastMode::Total => Vec::new(),
        ForecastMode::Rows => report
            .lines_to_forecast()
            .iter()
            .map(|line| line.keys.clone())
            .collect(),
    };
    let rows = wanted.len();
    wanted.push(Vec::new()); // the total

    let meter = explorer.meter();
    let needed = wanted.len() as u32;
    if !meter.allows(needed) {
        let made = meter.made();
        return Err(Error::RequestLimit {
            needed: (made + needed).to_string(),
            max: meter.max(),
            detail: format!(
                "{made} GetCostAndUsage made (USD {}), then {needed} GetCostForecast: one per \
                 row with spend in {} ({rows}) and one for the total; closed months with \
                 final amounts are cached now, so a rerun costs less",
                dollars(made),
                today.month(),
            ),
        });
    }

    let outcomes: Vec<(Vec<String>, Result<Option<Forecast>>)> = stream::iter(wanted)
        .map(|keys| async move {
            let filter = if keys.is_empty() {
                query.filter()
            } else {
                query.filter_for(&keys)
            };
            let outcome = explorer.forecast(query, filter, today).await;
            (keys, outcome)
        })
        .buffer_unordered(aws.concurrency().max(1))
        .collect()
        .await;

    let mut rest = HashMap::new();
    let mut unavailable = 0;
    for (keys, outcome) in outcomes {
        match outcome? {
            Some(Forecast { amount, unit }) => {
                if !report.currency.is_empty() && !unit.is_empty() && unit != report.currency {
                    return Err(explorer.call("ce:GetCostForecast").failure(format!(
                        "the forecast is in {unit}, the costs in {}",
                        report.currency
                    )));
                }
                rest.insert(keys, amount);
            }
            None => unavailable += 1,
        }
    }
    report.set_forecasts(&rest);
    Ok(unavailable)
}

/// Account names from Organizations, when rows are per account; empty (with a warning)
/// when the caller cannot read them.
async fn account_names(aws: &Aws, grouping: &Grouping, ui: &Ui) -> HashMap<String, String> {
    if !grouping.has(Dimension::Account) {
        return HashMap::new();
    }
    match crate::org::account_names(aws).await {
        Ok(names) => names,
        Err(error) => {
            ui.warn(format!("account names are left empty: {error}"));
            HashMap::new()
        }
    }
}

/// Cost Explorer shows the whole organization only to its management account; anyone
/// else sees their own account's costs, which would pass for a complete report.
async fn warn_unless_management(aws: &Aws, ui: &Ui) {
    let client = aws_sdk_organizations::Client::new(aws.config());
    match client.describe_organization().send().await {
        Ok(answer) => {
            let management = answer
                .organization()
                .and_then(|organization| organization.master_account_id());
            if let Some(management) = management.filter(|id| *id != aws.caller().account) {
                ui.warn(format!(
                    "account {} is not the management account ({management}) of its \
                     organization: Cost Explorer shows it only its own costs",
                    aws.caller().account
                ));
            }
        }
        Err(error) => tracing::debug!(
            error = %crate::aws::errors::describe(&error),
            "cannot tell whether the caller is the management account"
        ),
    }
}

fn emit(args: &CostReportArgs, costs: &Costs) -> Result<()> {
    let Costs {
        report,
        query,
        names,
        thresholds,
        ..
    } = costs;
    let thresholds = *thresholds;
    let out = args.output.out.as_deref();
    match (args.output.output, args.movers) {
        (Format::Table, movers_only) => {
            let view = table::View {
                report,
                grouping: &query.grouping,
                names,
                metric: query.metric,
                thresholds,
                forecasts: args.forecast != ForecastMode::None,
            };
            match out {
                Some(path) => {
                    output::write_file(path, |writer| table::write(&view, movers_only, writer))
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut writer = BufWriter::new(stdout.lock());
                    table::write(&view, movers_only, &mut writer)?;
                    writer.flush()?;
                    Ok(())
                }
            }
        }
        (format, false) => output::emit(&costs.rows(), format, REPORT_KIND, out),
        (format, true) => output::emit(&costs.movers(), format, MOVERS_KIND, out),
    }
}

fn summary(report: &Report, query: &Query, thresholds: &Thresholds, unforecast: usize) -> String {
    let latest = report.latest_closed();
    let change = report.latest_change(&report.total);
    let percent = match (change.movement, change.percent) {
        (Movement::New, _) => "new".to_string(),
        (_, Some(p)) => format!("{}%", table::money(p)),
        (_, None) => "no change".to_string(),
    };
    let money = |amount: Decimal| match report.currency.as_str() {
        "" => table::money(amount),
        currency => format!("{} {currency}", table::money(amount)),
    };
    let forecast = match report.total.forecast {
        Some(amount) => format!("; {} forecast {}", report.current(), money(amount)),
        None => String::new(),
    };
    let missing = match unforecast {
        0 => String::new(),
        n => format!(
            " (Cost Explorer has too little data for {})",
            counted(n, "forecast")
        ),
    };
    format!(
        "{} by {}; {} total {} ({percent} on {}){forecast}{missing}; {}",
        counted(report.lines.len(), "row"),
        query.grouping.describe(),
        report.months[latest],
        money(report.total.amounts[latest]),
        report.months[latest - 1],
        counted(report.movers(thresholds).len(), "largest mover"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_non_negative_numbers() {
        assert_eq!(parse_non_negative("12.5"), Ok(Decimal::new(125, 1)));
        assert_eq!(parse_non_negative("0"), Ok(Decimal::ZERO));
        assert!(parse_non_negative("-1").is_err());
        assert!(parse_non_negative("ten").is_err());
    }
}
