//! Calendar months and days in UTC, the way Cost Explorer counts them.
//!
//! Cost Explorer's periods are dates (`YYYY-MM-DD`, start inclusive, end exclusive) in UTC,
//! and a report moves in whole months, so this is all the calendar the cost report needs;
//! it saves a date-time dependency.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    /// 1 to 12
    month: u32,
}

impl Month {
    pub fn new(year: i32, month: u32) -> Option<Month> {
        (1..=12).contains(&month).then_some(Month { year, month })
    }

    /// `YYYY-MM`, or the month of a date `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Month> {
        let year = text.get(0..4)?.parse().ok()?;
        let month = text.get(5..7)?.parse().ok()?;
        let shape = text.as_bytes().get(4) == Some(&b'-') && matches!(text.len(), 7 | 10);
        if !shape {
            return None;
        }
        Month::new(year, month)
    }

    /// The month `count` months later (earlier when negative).
    pub fn plus(self, count: i32) -> Month {
        let index = self.year * 12 + self.month as i32 - 1 + count;
        Month {
            year: index.div_euclid(12),
            month: index.rem_euclid(12) as u32 + 1,
        }
    }

    /// Its first day, `YYYY-MM-01`, as Cost Explorer's periods start.
    pub fn first_day(self) -> String {
        format!("{self}-01")
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day {
    month: Month,
    day: u32,
}

impl Day {
    pub fn new(year: i32, month: u32, day: u32) -> Option<Day> {
        let month = Month::new(year, month)?;
        (1..=31).contains(&day).then_some(Day { month, day })
    }

    /// Today in UTC, by the system clock.
    pub fn today() -> Day {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0);
        Day::from_unix_days((seconds / 86_400) as i64)
    }

    /// The day `days` days after 1970-01-01 (Howard Hinnant's civil-from-days algorithm).
    pub fn from_unix_days(days: i64) -> Day {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Day {
            month: Month { year, month },
            day,
        }
    }

    pub fn month(self) -> Month {
        self.month
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:02}", self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_roll_over_years_both_ways() {
        let december = Month::new(2026, 12).unwrap();
        assert_eq!(december.plus(1).to_string(), "2027-01");
        assert_eq!(december.plus(-12).to_string(), "2025-12");
        assert_eq!(Month::new(2026, 1).unwrap().plus(-1).to_string(), "2025-12");
        assert_eq!(
            Month::new(2026, 3).unwrap().plus(-14).to_string(),
            "2025-01"
        );
        assert_eq!(december.first_day(), "2026-12-01");
    }

    #[test]
    fn months_parse_from_months_and_dates_only() {
        assert_eq!(Month::parse("2026-11"), Month::new(2026, 11));
        assert_eq!(Month::parse("2026-11-01"), Month::new(2026, 11));
        assert_eq!(Month::parse("2026-13"), None);
        assert_eq!(Month::parse("2026/11"), None);
        assert_eq!(Month::parse("2026-1"), None);
        assert_eq!(Month::parse(""), None);
    }

    #[test]
    fn unix_days_become_civil_dates() {
        assert_eq!(Day::from_unix_days(0).to_string(), "1970-01-01");
        assert_eq!(Day::from_unix_days(19_782).to_string(), "2024-02-29");
        assert_eq!(Day::from_unix_days(20_791).to_string(), "2026-12-04");
        assert_eq!(Day::from_unix_days(-1).to_string(), "1969-12-31");
    }
}
