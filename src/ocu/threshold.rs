//! The arithmetic of OCU limits: utilisation, states, ordering, and what a notification says.
//!
//! OpenSearch Serverless notifies at 75 % ("approaching") and 100 % ("reached") of an
//! account's maximum OCUs in a region, separately for indexing and search. govctl applies
//! the same thresholds to the peak usage over a window. OCU values are doubles in
//! CloudWatch, so the comparison is done in decimal on the values as they print: usage at
//! exactly 75 % of the maximum is approaching, never "just below" by a rounding error.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Serialize;

/// Percent of the maximum at which AWS sends "OCU Utilization Approaching Max Limit".
pub const APPROACHING_PCT: u32 = 75;
/// Percent of the maximum at which AWS sends "OCU Utilization Reached Max Limit".
pub const REACHED_PCT: u32 = 100;
/// The smallest maximum OpenSearch Serverless accepts, for indexing and for search.
pub const MINIMUM_OCU: i32 = 2;

/// How close one dimension (indexing or search) of one account and region is to its limit.
/// The order is from least to most urgent, so the worst of several is their maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// No maximum is set, so there is nothing to be near.
    NoLimit,
    /// A maximum is set but CloudWatch has no datapoint in the window.
    NoData,
    /// Peak usage below 75 % of the maximum.
    Ok,
    /// Peak usage at or above 75 % of the maximum.
    Approaching,
    /// Peak usage at or above the maximum.
    Reached,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::NoLimit => "no-limit",
            State::NoData => "no-data",
            State::Ok => "ok",
            State::Approaching => "approaching",
            State::Reached => "reached",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The level `--fail-on` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Approaching,
    Reached,
}

impl FailOn {
    /// Whether a row in `state` makes the command exit 1.
    pub fn matches(self, state: State) -> bool {
        match self {
            FailOn::Approaching => state >= State::Approaching,
            FailOn::Reached => state >= State::Reached,
        }
    }
}

/// The decimal value of a double as it prints (its shortest round-trip form).
fn decimal(value: f64) -> Option<Decimal> {
    if !value.is_finite() {
        return None;
    }
    Decimal::from_str(&value.to_string())
        .or_else(|_| Decimal::from_scientific(&format!("{value:e}")))
        .ok()
}

/// The state of a dimension whose maximum is `max` and whose peak usage is `peak`.
pub fn state(max: Option<i32>, peak: Option<f64>) -> State {
    let Some(max) = max else {
        return State::NoLimit;
    };
    let Some(peak) = peak.and_then(decimal) else {
        return State::NoData;
    };
    let max = Decimal::from(max);
    if peak * Decimal::from(100) >= max * Decimal::from(REACHED_PCT) {
        State::Reached
    } else if peak * Decimal::from(100) >= max * Decimal::from(APPROACHING_PCT) {
        State::Approaching
    } else {
        State::Ok
    }
}

/// `usage` in percent of `max`, to one decimal; `None` when either is unknown or max is 0.
pub fn utilisation_pct(max: Option<i32>, usage: Option<f64>) -> Option<f64> {
    let max = max.filter(|m| *m > 0)?;
    let usage = decimal(usage?)?;
    let pct = (usage * Decimal::from(100) / Decimal::from(max)).round_dp(1);
    pct.to_string().parse().ok()
}

/// Which OCU dimension a notification is about. AWS says so only in the free text
/// ("Your search OCU usage is at 75% ..."), so it is read from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dimension {
    Indexing,
    Search,
    Unknown,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Indexing => "indexing",
            Dimension::Search => "search",
            Dimension::Unknown => "unknown",
        }
    }
}

/// The dimension `text` names: exactly one of "indexing" and "search", as words.
pub fn dimension_of(text: &str) -> Dimension {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let indexing = words.iter().any(|w| matches!(*w, "indexing" | "index"));
    let search = words.contains(&"search");
    match (indexing, search) {
        (true, false) => Dimension::Indexing,
        (false, true) => Dimension::Search,
        _ => Dimension::Unknown,
    }
}

/// The CloudWatch period (seconds, a multiple of 60) for a window of `seconds`: one minute
/// when that gives at most 1,440 datapoints per metric, longer otherwise. OCU metrics are
/// published per minute, and the peak of a period is its `Maximum`, so no peak is lost.
pub fn period_for(seconds: i64) -> i32 {
    let minutes = (seconds.max(60) + 59) / 60;
    let per_point = (minutes + 1439) / 1440;
    i32::try_from(per_point * 60).unwrap_or(i32::MAX)
}

/// What `set-limits` refuses for a new maximum, or `None` when it is acceptable.
pub fn refusal(new: i32, peak: Option<f64>) -> Option<String> {
    if new < MINIMUM_OCU {
        return Some(format!(
            "{new} is below the minimum of {MINIMUM_OCU} OCUs that OpenSearch Serverless accepts"
        ));
    }
    let peak_value = peak.and_then(decimal)?;
    if Decimal::from(new) < peak_value {
        return Some(format!(
            "{new} is below the peak usage of {} OCUs in the window: collections would be \
             throttled at once",
            peak.unwrap_or_default()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_75_percent_is_approaching_and_just_below_is_ok() {
        assert_eq!(state(Some(8), Some(6.0)), State::Approaching);
        assert_eq!(state(Some(10), Some(7.5)), State::Approaching);
        assert_eq!(state(Some(10), Some(7.49)), State::Ok);
        assert_eq!(state(Some(20), Some(15.0)), State::Approaching);
    }

    #[test]
    fn at_or_over_the_maximum_is_reached() {
        assert_eq!(state(Some(10), Some(10.0)), State::Reached);
        assert_eq!(state(Some(10), Some(12.5)), State::Reached);
        assert_eq!(state(Some(10), Some(9.99)), State::Approaching);
    }

    #[test]
    fn no_limit_and_no_data_are_their_own_states() {
        assert_eq!(state(None, Some(3.0)), State::NoLimit);
        assert_eq!(state(None, None), State::NoLimit);
        assert_eq!(state(Some(6), None), State::NoData);
        assert_eq!(state(Some(6), Some(f64::NAN)), State::NoData);
    }

    #[test]
    fn states_order_from_least_to_most_urgent() {
        let mut states = vec![
            State::Reached,
            State::Ok,
            State::NoLimit,
            State::Approaching,
            State::NoData,
        ];
        states.sort();
        assert_eq!(
            states,
            [
                State::NoLimit,
                State::NoData,
                State::Ok,
                State::Approaching,
                State::Reached
            ]
        );
        assert_eq!(
            serde_json::to_string(&State::NoLimit).unwrap(),
            "\"no-limit\""
        );
    }

    #[test]
    fn fail_on_includes_the_worse_states() {
        assert!(FailOn::Approaching.matches(State::Approaching));
        assert!(FailOn::Approaching.matches(State::Reached));
        assert!(!FailOn::Approaching.matches(State::Ok));
        assert!(!FailOn::Reached.matches(State::Approaching));
        assert!(FailOn::Reached.matches(State::Reached));
        assert!(!FailOn::Reached.matches(State::NoData));
    }

    #[test]
    fn utilisation_is_rounded_to_one_decimal() {
        assert_eq!(utilisation_pct(Some(8), Some(6.0)), Some(75.0));
        assert_eq!(utilisation_pct(Some(3), Some(1.0)), Some(33.3));
        assert_eq!(utilisation_pct(Some(4), Some(2.5)), Some(62.5));
        assert_eq!(utilisation_pct(None, Some(2.5)), None);
        assert_eq!(utilisation_pct(Some(4), None), None);
    }

    #[test]
    fn the_dimension_comes_from_the_free_text() {
        let search =
            "Your search OCU usage is at 75% and is approaching the configured maximum limit.";
        assert_eq!(dimension_of(search), Dimension::Search);
        let indexing = "Your indexing OCU usage has reached the configured maximum limit.";
        assert_eq!(dimension_of(indexing), Dimension::Indexing);
        assert_eq!(
            dimension_of("OCU usage reached the limit"),
            Dimension::Unknown
        );
        assert_eq!(dimension_of("search and indexing OCUs"), Dimension::Unknown);
        // "research" is not "search".
        assert_eq!(dimension_of("research OCU usage"), Dimension::Unknown);
    }

    #[test]
    fn periods_keep_at_most_1440_points() {
        assert_eq!(period_for(24 * 3600), 60);
        assert_eq!(period_for(7 * 86_400), 420);
        assert_eq!(period_for(30), 60);
        assert!(7 * 86_400 / i64::from(period_for(7 * 86_400)) <= 1440);
    }

    #[test]
    fn new_limits_below_two_or_below_the_peak_are_refused() {
        assert!(refusal(1, None).unwrap().contains("minimum of 2"));
        assert!(refusal(5, Some(6.5)).unwrap().contains("peak usage of 6.5"));
        assert_eq!(refusal(7, Some(6.5)), None);
        assert_eq!(refusal(6, Some(6.0)), None);
        assert_eq!(refusal(2, None), None);
    }
}
