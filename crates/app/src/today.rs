//! What the Today screen shows, worked out from the records on the device:
//! open tasks by due date, the cases of the worker's grids not yet closed
//! (overdue first, then by deadline), visits whose follow-up is due within a
//! week, and the patrol the worker started and has not ended.
//!
//! Pure functions over records and a clock reading: no store, no IO.

use chrono::{DateTime, Duration, NaiveDate, TimeZone};
use gridwork_domain::formats::{parse_date, parse_date_time};
use gridwork_domain::{Kind, Record, Value};
use serde::Serialize;

/// Cases in these states need nothing more from anyone.
const FINISHED_CASES: &[&str] = &["closed", "visited", "rejected"];
const OPEN_TASKS: &[&str] = &["open", "in_progress"];
/// Follow-ups due within this many days are shown.
pub const FOLLOW_UP_DAYS: i64 = 7;

/// A case with how long is left before its deadline (negative: overdue).
#[derive(Debug, Serialize, PartialEq)]
pub struct CaseDue {
    #[serde(flatten)]
    pub record: serde_json::Value,
    pub due_in_ms: Option<i64>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Today {
    pub tasks: Vec<serde_json::Value>,
    pub cases: Vec<CaseDue>,
    pub follow_ups: Vec<serde_json::Value>,
    pub patrol: Option<serde_json::Value>,
    pub counts: Counts,
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Counts {
    pub overdue_cases: usize,
    pub open_cases: usize,
    pub open_tasks: usize,
    pub follow_ups_due: usize,
}

fn text<'a>(record: &'a Record, field: &str) -> Option<&'a str> {
    record.get(field).and_then(Value::as_text)
}

fn instant_ms(text: &str) -> Option<i64> {
    parse_date_time(text).ok().map(|(at, _)| at.timestamp_millis())
}

/// Works out Today from the device's tasks, cases, visits and patrols.
/// `today` is the worker's local date; `worker` their name.
pub fn today<Tz: TimeZone>(records: &[Record], now: DateTime<Tz>, worker: &str) -> Today {
    let now_ms = now.timestamp_millis();
    let today: NaiveDate = now.date_naive();
    let mut tasks: Vec<&Record> = records
        .iter()
        .filter(|r| r.kind == Kind::Task && text(r, "status").is_some_and(|s| OPEN_TASKS.contains(&s)))
        .collect();
    // By due date, those without one last.
    tasks.sort_by_key(|r| (text(r, "due").is_none(), text(r, "due").map(str::to_owned)));

    let mut cases: Vec<(&Record, Option<i64>)> = records
        .iter()
        .filter(|r| r.kind == Kind::Case && !text(r, "status").is_some_and(|s| FINISHED_CASES.contains(&s)))
        .map(|r| (r, text(r, "deadline").and_then(instant_ms).map(|d| d - now_ms)))
        .collect();
    // Overdue first (most overdue first), then the nearest deadline; cases
    // without a deadline last, newest report first.
    cases.sort_by(|(a, a_due), (b, b_due)| match (a_due, b_due) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => {
            text(b, "reported_at").and_then(instant_ms).cmp(&text(a, "reported_at").and_then(instant_ms))
        }
    });

    let horizon = today + Duration::days(FOLLOW_UP_DAYS);
    let mut follow_ups: Vec<(&Record, NaiveDate)> = records
        .iter()
        .filter(|r| r.kind == Kind::Visit)
        .filter_map(|r| Some((r, parse_date(text(r, "follow_up_due")?).ok()?)))
        .filter(|(_, due)| *due <= horizon)
        .collect();
    follow_ups.sort_by_key(|(_, due)| *due);

    let patrol = records
        .iter()
        .filter(|r| {
            r.kind == Kind::Patrol && text(r, "ended_at").is_none() && text(r, "worker") == Some(worker)
        })
        .max_by_key(|r| text(r, "started_at").and_then(instant_ms));

    let counts = Counts {
        overdue_cases: cases.iter().filter(|(_, due)| due.is_some_and(|d| d < 0)).count(),
        open_cases: cases.len(),
        open_tasks: tasks.len(),
        follow_ups_due: follow_ups.len(),
    };
    Today {
        tasks: tasks.into_iter().map(Record::to_json).collect(),
        cases: cases.into_iter().map(|(r, due_in_ms)| CaseDue { record: r.to_json(), due_in_ms }).collect(),
        follow_ups: follow_ups.into_iter().map(|(r, _)| r.to_json()).collect(),
        patrol: patrol.map(Record::to_json),
        counts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;
    use gridwork_domain::RecordId;

    fn record(kind: Kind, fields: &[(&str, &str)]) -> Record {
        let def = kind.def();
        let mut values = vec![Value::Null; def.fields.len()];
        for (name, value) in fields {
            values[def.index_of(name).unwrap()] = Value::Text((*value).to_owned());
        }
        static NEXT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Record { id: RecordId::from_parts(1, [n; 10]), kind, values }
    }

    fn ids(list: &[serde_json::Value]) -> Vec<&str> {
        list.iter().map(|r| r["description"].as_str().or(r["title"].as_str()).unwrap_or("?")).collect()
    }

    #[test]
    fn overdue_cases_come_first_then_the_nearest_deadline_and_closed_ones_not_at_all() {
        let shanghai = FixedOffset::east_opt(8 * 3600).unwrap();
        let now = shanghai.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
        let records = vec![
            record(
                Kind::Case,
                &[
                    ("description", "later"),
                    ("status", "dispatched"),
                    ("deadline", "2026-11-30T18:00:00+08:00"),
                ],
            ),
            record(
                Kind::Case,
                &[
                    ("description", "overdue"),
                    ("status", "handling"),
                    ("deadline", "2026-11-26T18:00:00+08:00"),
                ],
            ),
            record(Kind::Case, &[("description", "none"), ("status", "reported")]),
            record(
                Kind::Case,
                &[("description", "soon"), ("status", "accepted"), ("deadline", "2026-11-27T12:00:00+08:00")],
            ),
            record(
                Kind::Case,
                &[("description", "closed"), ("status", "closed"), ("deadline", "2026-11-01T18:00:00+08:00")],
            ),
            record(Kind::Task, &[("title", "t-late"), ("status", "open"), ("due", "2026-12-10")]),
            record(Kind::Task, &[("title", "t-done"), ("status", "done"), ("due", "2026-11-20")]),
            record(Kind::Task, &[("title", "t-soon"), ("status", "in_progress"), ("due", "2026-11-28")]),
        ];
        let today = today(&records, now, "网格员");
        assert_eq!(
            ids(&today.cases.iter().map(|c| c.record.clone()).collect::<Vec<_>>()),
            ["overdue", "soon", "later", "none"]
        );
        assert_eq!(today.cases[0].due_in_ms, Some(-15 * 3600 * 1000));
        assert_eq!(today.cases[1].due_in_ms, Some(3 * 3600 * 1000));
        assert_eq!(today.cases[3].due_in_ms, None);
        assert_eq!(ids(&today.tasks), ["t-soon", "t-late"]);
        assert_eq!(
            today.counts,
            Counts { overdue_cases: 1, open_cases: 4, open_tasks: 2, follow_ups_due: 0 }
        );
    }

    #[test]
    fn follow_ups_due_within_a_week_and_the_workers_own_open_patrol() {
        let shanghai = FixedOffset::east_opt(8 * 3600).unwrap();
        let now = shanghai.with_ymd_and_hms(2026, 11, 27, 23, 30, 0).unwrap();
        let records = vec![
            record(Kind::Visit, &[("notes", "in 7 days"), ("follow_up_due", "2026-12-04")]),
            record(Kind::Visit, &[("notes", "in 8 days"), ("follow_up_due", "2026-12-05")]),
            record(Kind::Visit, &[("notes", "overdue"), ("follow_up_due", "2026-11-20")]),
            record(Kind::Visit, &[("notes", "none")]),
            record(Kind::Patrol, &[("worker", "别人"), ("started_at", "2026-11-27T08:00:00+08:00")]),
            record(
                Kind::Patrol,
                &[
                    ("worker", "网格员"),
                    ("started_at", "2026-11-27T08:00:00+08:00"),
                    ("ended_at", "2026-11-27T09:00:00+08:00"),
                ],
            ),
            record(Kind::Patrol, &[("worker", "网格员"), ("started_at", "2026-11-27T10:00:00+08:00")]),
        ];
        let today = today(&records, now, "网格员");
        let notes: Vec<&str> = today.follow_ups.iter().map(|v| v["notes"].as_str().unwrap()).collect();
        assert_eq!(notes, ["overdue", "in 7 days"]);
        let patrol = today.patrol.expect("the open patrol");
        assert_eq!(patrol["started_at"], "2026-11-27T10:00:00+08:00");
    }
}
