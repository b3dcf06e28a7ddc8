//! Working days and case deadlines, without a database: the holiday
//! calendar as data (public holidays, and the make-up working days on
//! weekends, 调休), limits in hours or in working days, and when a case is
//! due, counted in the city's time zone from when the server first
//! received it (a tablet's clock is not trusted for deadlines).
//!
//! Where the calendar comes from (the `calendar_days` and `calendar_years`
//! tables, seeded by migration and edited by admins) and which limit a
//! category has are the storage's and the flow's business, not this
//! module's.

use std::collections::{BTreeSet, HashMap};

use chrono::{Datelike, Days, NaiveDate, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// What a calendar says of a day, where it differs from the week's rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// A day off, whatever the weekday (a public holiday).
    Holiday,
    /// A working day, whatever the weekday (a make-up day on a weekend).
    Workday,
}

/// The holiday calendar: the days that differ from Monday-to-Friday, and
/// the years whose days were published and entered.
#[derive(Clone, Debug, Default)]
pub struct Calendar {
    days: HashMap<NaiveDate, DayKind>,
    years: BTreeSet<i32>,
}

impl Calendar {
    pub fn new(
        days: impl IntoIterator<Item = (NaiveDate, DayKind)>,
        years: impl IntoIterator<Item = i32>,
    ) -> Self {
        Calendar { days: days.into_iter().collect(), years: years.into_iter().collect() }
    }

    /// Whether people work on `day`.
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        match self.days.get(&day) {
            Some(DayKind::Holiday) => false,
            Some(DayKind::Workday) => true,
            None => !matches!(day.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }

    /// Whether `year`'s holidays were entered.
    pub fn has_year(&self, year: i32) -> bool {
        self.years.contains(&year)
    }

    /// The `n`th working day after `day` (`day` itself not counted), and
    /// the years passed through that the calendar does not hold (counted
    /// by weekdays alone: a deadline there may be wrong).
    pub fn working_days_after(&self, day: NaiveDate, n: u32) -> (NaiveDate, BTreeSet<i32>) {
        let mut unknown = BTreeSet::new();
        let mut current = day;
        let mut counted = 0;
        while counted < n {
            current = current.checked_add_days(Days::new(1)).expect("dates within chrono's range");
            if !self.has_year(current.year()) {
                unknown.insert(current.year());
            }
            if self.is_working_day(current) {
                counted += 1;
            }
        }
        (current, unknown)
    }
}

/// How long a step may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "unit", content = "count")]
pub enum Limit {
    /// Clock hours from receipt (on site within 24 hours).
    Hours(u32),
    /// To the end of the `n`th working day after the day of receipt.
    WorkingDays(u32),
}

impl Limit {
    /// `24h` or `7wd`, as admins and the CLI write them.
    pub fn parse(text: &str) -> Option<Limit> {
        let text = text.trim();
        if let Some(hours) = text.strip_suffix('h') {
            return hours.parse().ok().filter(|h| (1..=24 * 366).contains(h)).map(Limit::Hours);
        }
        let days = text.strip_suffix("wd")?;
        days.parse().ok().filter(|d| (1..=366).contains(d)).map(Limit::WorkingDays)
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Hours(hours) => write!(f, "{hours}h"),
            Limit::WorkingDays(days) => write!(f, "{days}wd"),
        }
    }
}

/// When something is due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    /// The last moment it is in time, in milliseconds since the epoch: the
    /// end of the last working day (23:59:59.999 local), or the hour.
    pub at_ms: u64,
    /// Years the count went through that the calendar does not hold.
    pub unknown_years: BTreeSet<i32>,
}

/// When a step received at `received_ms` is due under `limit`, in the
/// time zone `zone`.
pub fn due(calendar: &Calendar, zone: Tz, received_ms: u64, limit: Limit) -> Due {
    match limit {
        Limit::Hours(hours) => {
            Due { at_ms: received_ms + u64::from(hours) * 3_600_000, unknown_years: BTreeSet::new() }
        }
        Limit::WorkingDays(days) => {
            let received = zone.timestamp_millis_opt(received_ms as i64).single().expect("a plain instant");
            let (last, unknown_years) = calendar.working_days_after(received.date_naive(), days);
            let next = last.checked_add_days(Days::new(1)).expect("dates within range");
            let midnight = next.and_hms_opt(0, 0, 0).expect("midnight exists");
            // Asia/Shanghai has no daylight saving; elsewhere a midnight
            // skipped by it becomes the earliest moment of that day.
            let start = zone
                .from_local_datetime(&midnight)
                .earliest()
                .unwrap_or_else(|| zone.from_utc_datetime(&midnight));
            Due { at_ms: start.timestamp_millis() as u64 - 1, unknown_years }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    /// 2026 as published: New Year (01-01..03 off, 01-04 Sunday worked),
    /// the Spring Festival (02-15..23 off, 02-14 and 02-28 Saturdays worked),
    /// National Day (10-01..07 off, 10-10 Saturday worked).
    fn calendar_2026() -> Calendar {
        let mut days = vec![
            (date("2026-01-04"), DayKind::Workday),
            (date("2026-02-14"), DayKind::Workday),
            (date("2026-02-28"), DayKind::Workday),
            (date("2026-10-10"), DayKind::Workday),
        ];
        for day in ["2026-01-01", "2026-01-02", "2026-01-03"] {
            days.push((date(day), DayKind::Holiday));
        }
        for d in 15..=23 {
            days.push((date(&format!("2026-02-{d}")), DayKind::Holiday));
        }
        for d in 1..=7 {
            days.push((date(&format!("2026-10-0{d}")), DayKind::Holiday));
        }
        Calendar::new(days, [2026])
    }

    fn shanghai(text: &str) -> u64 {
        let local: chrono::NaiveDateTime = text.parse().unwrap();
        chrono_tz::Asia::Shanghai.from_local_datetime(&local).unwrap().timestamp_millis() as u64
    }

    fn local(ms: u64) -> String {
        chrono_tz::Asia::Shanghai
            .timestamp_millis_opt(ms as i64)
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    #[test]
    fn seven_working_days_skip_weekends_and_holidays_and_count_make_up_days() {
        let calendar = calendar_2026();
        let zone = chrono_tz::Asia::Shanghai;
        // An ordinary Monday: the 7th working day after is Wednesday next week.
        let due7 = due(&calendar, zone, shanghai("2026-03-02T10:00:00"), Limit::WorkingDays(7));
        assert_eq!(local(due7.at_ms), "2026-03-11 23:59:59");
        assert!(due7.unknown_years.is_empty());
        // Reported on Friday 02-13, before the Spring Festival: Saturday
        // 02-14 is worked (1), 02-15..23 are off, 02-24 (2), 25 (3), 26 (4),
        // 27 (5), Saturday 02-28 worked (6), Monday 03-02 (7).
        let festival = due(&calendar, zone, shanghai("2026-02-13T16:30:00"), Limit::WorkingDays(7));
        assert_eq!(local(festival.at_ms), "2026-03-02 23:59:59");
        // Three working days from National Day's eve: 10-08 (1), 10-09 (2),
        // Saturday 10-10 worked (3).
        let utilities = due(&calendar, zone, shanghai("2026-09-30T20:00:00"), Limit::WorkingDays(3));
        assert_eq!(local(utilities.at_ms), "2026-10-10 23:59:59");
    }

    #[test]
    fn the_day_is_the_citys_not_utc() {
        let calendar = calendar_2026();
        // 2026-03-02 01:00 in Shanghai is still Sunday 03-01 in UTC: the
        // count starts from Monday, the city's day.
        let due1 =
            due(&calendar, chrono_tz::Asia::Shanghai, shanghai("2026-03-02T01:00:00"), Limit::WorkingDays(1));
        assert_eq!(local(due1.at_ms), "2026-03-03 23:59:59");
    }

    #[test]
    fn hours_are_clock_hours_whatever_the_day() {
        let calendar = calendar_2026();
        let received = shanghai("2026-10-01T09:15:00");
        let on_site = due(&calendar, chrono_tz::Asia::Shanghai, received, Limit::Hours(24));
        assert_eq!(local(on_site.at_ms), "2026-10-02 09:15:00");
    }

    #[test]
    fn a_count_into_a_year_not_entered_says_so() {
        let calendar = calendar_2026();
        // From 2026-12-28 (Monday): 29, 30, 31, then 2027 by weekdays alone.
        let due7 =
            due(&calendar, chrono_tz::Asia::Shanghai, shanghai("2026-12-28T09:00:00"), Limit::WorkingDays(7));
        assert_eq!(local(due7.at_ms), "2027-01-06 23:59:59");
        assert_eq!(due7.unknown_years, BTreeSet::from([2027]));
        let within =
            due(&calendar, chrono_tz::Asia::Shanghai, shanghai("2026-12-21T09:00:00"), Limit::WorkingDays(3));
        assert!(within.unknown_years.is_empty());
    }

    #[test]
    fn limits_read_as_admins_write_them() {
        assert_eq!(Limit::parse("24h"), Some(Limit::Hours(24)));
        assert_eq!(Limit::parse(" 7wd "), Some(Limit::WorkingDays(7)));
        assert_eq!(Limit::parse("0wd"), None);
        assert_eq!(Limit::parse("7d"), None);
        assert_eq!(Limit::parse("-3h"), None);
        assert_eq!(Limit::WorkingDays(3).to_string(), "3wd");
    }
}
