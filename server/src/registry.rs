//! The registry the console reviews: residents, households and buildings
//! by grid (`GET /api/v1/records`), and one record with every version of
//! every field the server keeps (`GET /api/v1/records/{id}`).
//!
//! This module shapes data and reads parameters: it checks a list's query
//! (kind, grid, search, tag, residence type, cursor, limit; a wrong one is
//! a validation error naming the parameter), builds the backend's
//! [`RecordQuery`], and turns stored registers into list items and field
//! histories. It decides nothing about who may see what (that is
//! `Core::records` and `Core::record` in `core.rs`, over the same scope as
//! a device's) and runs no SQL (the backends' `Reads::record_page`). What a
//! search matches is [`crate::backend::search_columns`]; docs/registry.md
//! says it for the centre.

use std::collections::{BTreeMap, HashMap};

use gridwork_domain::{DeviceId, GridCode, Kind, Reason, RecordId, ValidationError, Value};
use gridwork_protocol::RecordChanges;
use gridwork_protocol::registry::{
    FieldHistory, FieldVersion, REGISTRY_KINDS, RecordFilter, RecordItem, RecordView, Writer,
};

use chrono::NaiveDate;
use chrono_tz::Tz;
use gridwork_protocol::registry::{ActivityFilter, ActivityPeriodFilter, WorkerDay};

use crate::backend::{ActivityRow, DeviceOwner, RecordQuery};

/// A page's length when none is asked for, and the most one may be.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;
/// The longest search text: longer than any name, ID number or address
/// prefix a clerk types.
pub const MAX_SEARCH: usize = 50;

/// A list's query, checked: everything but the grids to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub kind: Kind,
    /// The grid whose subtree is asked for, if one is.
    pub grid: Option<String>,
    pub search: Option<String>,
    pub tag: Option<String>,
    pub residence: Option<String>,
    pub after: Option<(String, RecordId)>,
    pub limit: usize,
}

impl Checked {
    /// The backend's query over `grids` (sorted), one more than the page
    /// so that the page knows whether another follows.
    pub fn query(&self, grids: Vec<String>) -> RecordQuery {
        RecordQuery {
            kind: self.kind,
            grids,
            search: self.search.clone(),
            tag: self.tag.clone(),
            residence: self.residence.clone(),
            after: self.after.clone(),
            limit: self.limit + 1,
        }
    }
}

fn invalid(field: &str, reason: Reason) -> ValidationError {
    ValidationError::invalid(field, reason)
}

/// Text given, trimmed; empty counts as not given.
fn given(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// A choice among `choices` of `kind`'s field `field`, for the parameter
/// `name`: 422 naming it, with the allowed codes, when it is not one.
fn choice_of(kind: Kind, field: &str, name: &str, text: &str) -> Result<String, ValidationError> {
    let choices = match kind.def().field(field).map(|f| f.ty) {
        Ok(gridwork_domain::FieldType::Choice { choices } | gridwork_domain::FieldType::Tags { choices }) => {
            choices
        }
        _ => return Err(invalid(name, Reason::Disagrees { other: "kind" })),
    };
    if choices.iter().any(|c| c.code == text) {
        Ok(text.to_owned())
    } else {
        Err(invalid(
            name,
            Reason::NotAChoice {
                allowed: choices.iter().map(|c| c.code).collect(),
                labels_zh: choices.iter().map(|c| c.zh).collect(),
            },
        ))
    }
}

/// Checks a list's query, naming the first parameter that is wrong.
pub fn check(filter: &RecordFilter) -> Result<Checked, ValidationError> {
    let kind = match given(&filter.kind) {
        None => return Err(ValidationError::required("kind")),
        Some(text) => REGISTRY_KINDS.into_iter().find(|k| k.as_str() == text).ok_or_else(|| {
            invalid(
                "kind",
                Reason::NotAChoice {
                    allowed: REGISTRY_KINDS.iter().map(|k| k.as_str()).collect(),
                    labels_zh: REGISTRY_KINDS.iter().map(|k| k.def().label.zh).collect(),
                },
            )
        })?,
    };
    let limit = match given(&filter.limit) {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| invalid("limit", Reason::OutOfRange { min: 1, max: MAX_LIMIT as i64 }))?,
    };
    let grid = grid_param(&filter.grid)?;
    let search = match given(&filter.q) {
        None => None,
        Some(text) if text.chars().count() > MAX_SEARCH => {
            return Err(invalid("q", Reason::TooLong { max: MAX_SEARCH }));
        }
        Some(text) if text.chars().any(char::is_control) => {
            let code_point = text.chars().find(|c| c.is_control()).map_or(0, u32::from);
            return Err(invalid("q", Reason::ControlCharacter { code_point }));
        }
        // ID-card numbers are stored with a capital X.
        Some(text) if text.ends_with('x') && text[..text.len() - 1].bytes().all(|b| b.is_ascii_digit()) => {
            Some(text.to_ascii_uppercase())
        }
        Some(text) => Some(text.to_owned()),
    };
    let tag = match given(&filter.tag) {
        None => None,
        Some(text) => Some(choice_of(kind, "tags", "tag", text)?),
    };
    let residence = match given(&filter.residence) {
        None => None,
        Some(text) => Some(choice_of(kind, "residence_type", "residence", text)?),
    };
    let after = match given(&filter.after) {
        None => None,
        Some(text) => Some(parse_cursor(text).ok_or_else(|| invalid("after", Reason::Cursor))?),
    };
    Ok(Checked { kind, grid, search, tag, residence, after, limit })
}

/// A page's `next`: `GRID~ID` (a grid code holds no `~`, and both halves
/// need no escaping in a URL).
pub fn cursor(grid: &str, id: RecordId) -> String {
    format!("{grid}~{id}")
}

fn parse_cursor(text: &str) -> Option<(String, RecordId)> {
    let (grid, id) = text.split_once('~')?;
    let grid = GridCode::parse(grid).ok()?;
    Some((grid.as_str().to_owned(), id.parse().ok()?))
}

/// The winning values of a record's fields that hold one, by name.
pub fn fields(record: &RecordChanges) -> BTreeMap<String, Value> {
    record
        .fields
        .iter()
        .filter(|f| !f.register.value().is_null())
        .map(|f| (f.field.clone(), f.register.value().clone()))
        .collect()
}

/// What a list calls a record: a resident's name, a household's address
/// (or head), a building's name (or address); its id when it has none.
pub fn title(kind: Kind, id: RecordId, fields: &BTreeMap<String, Value>) -> String {
    let names: &[&str] = match kind {
        Kind::Resident => &["name"],
        Kind::Household => &["address", "head"],
        Kind::Building => &["name", "address"],
        Kind::Patrol | Kind::Visit => &["worker"],
        _ => &[],
    };
    names
        .iter()
        .find_map(|n| fields.get(*n).and_then(Value::as_text))
        .map_or_else(|| id.to_string(), str::to_owned)
}

/// A record as a list item.
pub fn item(record: &RecordChanges) -> RecordItem {
    let fields = fields(record);
    RecordItem {
        id: record.id,
        kind: record.kind,
        grid: fields.get("grid").and_then(Value::as_text).map(str::to_owned),
        title: title(record.kind, record.id, &fields),
        fields,
    }
}

/// A record whole: its values and every version of every field, in the
/// order of its kind's schema; `owner` names the device of a writer
/// number (asked once per number).
pub fn view(
    record: &RecordChanges,
    mut owner: impl FnMut(u32) -> Result<Option<DeviceOwner>, crate::backend::BackendError>,
) -> Result<RecordView, crate::backend::BackendError> {
    let fields = fields(record);
    let mut writers: HashMap<u32, Writer> = HashMap::new();
    let mut history = Vec::new();
    for def in record.kind.def().fields {
        let Some(state) = record.fields.iter().find(|f| f.field == def.name) else { continue };
        let register = &state.register;
        let winner = register.winner().dot();
        let mut versions: Vec<&gridwork_merge::Version<Value>> = register.versions().iter().collect();
        // The winner first, then the losers, latest first.
        versions.sort_by_key(|v| (v.dot() != winner, std::cmp::Reverse(v.hlc)));
        let mut out = Vec::with_capacity(versions.len());
        for version in versions {
            let DeviceId(number) = version.writer;
            let writer = match writers.get(&number) {
                Some(writer) => writer.clone(),
                None => {
                    let found = if number == 0 { None } else { owner(number)? };
                    let writer = Writer {
                        number,
                        device_id: found.as_ref().map(|o| o.device_id.clone()),
                        user_id: found.as_ref().map(|o| o.user_id.clone()),
                        user_name: found.map(|o| o.user_name),
                    };
                    writers.insert(number, writer.clone());
                    writer
                }
            };
            out.push(FieldVersion {
                value: version.value.clone(),
                winner: version.dot() == winner,
                writer,
                counter: version.counter,
                at_ms: version.hlc.physical_ms(),
            });
        }
        history.push(FieldHistory {
            field: def.name.to_owned(),
            label_zh: def.label.zh.to_owned(),
            label_en: def.label.en.to_owned(),
            in_conflict: register.in_conflict(),
            versions: out,
        });
    }
    Ok(RecordView {
        id: record.id,
        kind: record.kind,
        grid: fields.get("grid").and_then(Value::as_text).map(str::to_owned),
        deleted: fields.get("deleted") == Some(&Value::Bool(true)),
        fields,
        history,
    })
}

/// The most patrols, and the most visits, a day's answer carries; more
/// is `truncated` (narrow by grid or worker).
pub const ACTIVITY_MAX: usize = 2_000;
/// The most route text a day's answer carries (a route may be 100,000
/// characters); the patrols after it are left out and the answer is
/// `truncated`.
pub const ROUTE_BYTES_MAX: usize = 8 << 20;
/// The longest worker name a day's query takes (a name field's limit).
const MAX_WORKER: usize = 50;

/// A day's (or a span of days') query, checked: everything but the grids
/// to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityChecked {
    /// The first day and the last (the same for a day's query).
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub grid: Option<String>,
    pub worker: Option<String>,
}

/// The longest span of days a period's tally covers.
pub const PERIOD_DAYS_MAX: i64 = 31;
/// The most patrols, and the most visits, a period's tally reads; more is
/// `truncated` (narrow it by grid or days).
pub const PERIOD_ROWS_MAX: usize = 250_000;

impl ActivityChecked {
    /// The range of times as written that can fall on the days in the
    /// city's zone, whatever offset a tablet wrote: RFC 3339 allows offsets
    /// up to ±23:59, so from two days before the first to the day after
    /// the last (the end excluded). [`Self::keeps`] keeps the ones that do.
    pub fn written_range(&self) -> (String, String) {
        let from =
            self.from.pred_opt().and_then(|d| d.pred_opt()).map_or_else(String::new, |d| d.to_string());
        // After the last date there is nothing: `~` sorts after any digit.
        let to =
            self.to.succ_opt().and_then(|d| d.succ_opt()).map_or_else(|| "~".to_owned(), |d| d.to_string());
        (from, to)
    }

    /// The day in `zone` a time as written falls on, if one of the days.
    pub fn day_of(&self, row: &ActivityRow, zone: Tz) -> Option<NaiveDate> {
        let (at, _) = gridwork_domain::formats::parse_date_time(&row.at).ok()?;
        let day = at.with_timezone(&zone).date_naive();
        (self.from..=self.to).contains(&day).then_some(day)
    }

    /// When a time as written happened, for ordering a day's list.
    pub fn instant(row: &ActivityRow) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        gridwork_domain::formats::parse_date_time(&row.at).ok().map(|(at, _)| at)
    }

    /// Whether a time as written falls on one of the days in `zone`, and
    /// (when one is asked for) names the worker.
    pub fn keeps(&self, row: &ActivityRow, zone: Tz) -> bool {
        self.day_of(row, zone).is_some()
            && self.worker.as_ref().is_none_or(|w| row.worker.as_deref().map(str::trim) == Some(w.as_str()))
    }
}

/// Checks a day's query, naming the first parameter that is wrong; the
/// day is `today` when none is given.
pub fn check_activity(filter: &ActivityFilter, today: NaiveDate) -> Result<ActivityChecked, ValidationError> {
    let day = given(&filter.day).map(|t| date("day", t)).transpose()?.unwrap_or(today);
    let grid = grid_param(&filter.grid)?;
    let worker = match given(&filter.worker) {
        None => None,
        Some(text) if text.chars().count() > MAX_WORKER => {
            return Err(invalid("worker", Reason::TooLong { max: MAX_WORKER }));
        }
        Some(text) => Some(text.to_owned()),
    };
    Ok(ActivityChecked { from: day, to: day, grid, worker })
}

/// The `grid` parameter: a grid code, if one is given.
fn grid_param(grid: &Option<String>) -> Result<Option<String>, ValidationError> {
    given(grid)
        .map(|text| {
            GridCode::parse(text).map(|code| code.as_str().to_owned()).map_err(|r| invalid("grid", r))
        })
        .transpose()
}

/// A date parameter, `YYYY-MM-DD`, naming `name` when it is not one.
fn date(name: &'static str, text: &str) -> Result<NaiveDate, ValidationError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|_| text.len() == 10)
        .ok_or_else(|| invalid(name, Reason::Date))
}

/// Checks a period's query, naming the first parameter that is wrong:
/// `to` is today by default, `from` six days before it; `from` may not be
/// after `to`, nor more than [`PERIOD_DAYS_MAX`] days before it.
pub fn check_activity_period(
    filter: &ActivityPeriodFilter,
    today: NaiveDate,
) -> Result<ActivityChecked, crate::storage::StorageError> {
    use crate::storage::StorageError;
    use gridwork_protocol::codes::ErrorCode;
    let to = given(&filter.to).map(|t| date("to", t)).transpose()?.unwrap_or(today);
    let from = match given(&filter.from) {
        Some(text) => date("from", text)?,
        None => to - chrono::Days::new(6),
    };
    if from > to {
        return Err(StorageError::Said {
            code: ErrorCode::Invalid,
            en: format!("`to` ({to}) is before `from` ({from})"),
            zh: format!("结束日期({to})早于开始日期({from})"),
        });
    }
    if (to - from).num_days() >= PERIOD_DAYS_MAX {
        return Err(StorageError::Said {
            code: ErrorCode::Invalid,
            en: format!(
                "`from` ({from}) is more than {PERIOD_DAYS_MAX} days before `to` ({to}): ask for a shorter span"
            ),
            zh: format!("统计时段最长 {PERIOD_DAYS_MAX} 天,请缩短"),
        });
    }
    let grid = grid_param(&filter.grid)?;
    Ok(ActivityChecked { from, to, grid, worker: None })
}

/// Each worker's tally of a day's patrols and visits, most patrols first
/// (then most visits, most time on patrol, then by name).
pub fn tally(patrols: &[RecordItem], visits: &[RecordItem]) -> Vec<WorkerDay> {
    fn day_of<'a>(by_worker: &'a mut BTreeMap<String, WorkerDay>, item: &RecordItem) -> &'a mut WorkerDay {
        let worker = item.fields.get("worker").and_then(Value::as_text).map_or("", str::trim).to_owned();
        by_worker.entry(worker.clone()).or_insert(WorkerDay {
            worker,
            patrols: 0,
            visits: 0,
            patrol_minutes: 0,
        })
    }
    let time = |item: &RecordItem, name: &str| {
        let text = item.fields.get(name).and_then(Value::as_text)?;
        gridwork_domain::formats::parse_date_time(text).ok().map(|(at, _)| at)
    };
    let mut by_worker: BTreeMap<String, WorkerDay> = BTreeMap::new();
    for patrol in patrols {
        let minutes = match (time(patrol, "started_at"), time(patrol, "ended_at")) {
            (Some(start), Some(end)) => u32::try_from((end - start).num_minutes().max(0)).unwrap_or(u32::MAX),
            _ => 0,
        };
        let day = day_of(&mut by_worker, patrol);
        day.patrols += 1;
        day.patrol_minutes = day.patrol_minutes.saturating_add(minutes);
    }
    for visit in visits {
        day_of(&mut by_worker, visit).visits += 1;
    }
    let mut workers: Vec<WorkerDay> = by_worker.into_values().collect();
    workers.sort_by(|a, b| {
        (b.patrols, b.visits, b.patrol_minutes)
            .cmp(&(a.patrols, a.visits, a.patrol_minutes))
            .then(a.worker.cmp(&b.worker))
    });
    workers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(pairs: &[(&str, &str)]) -> RecordFilter {
        let mut f = RecordFilter::default();
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "kind" => f.kind = v,
                "grid" => f.grid = v,
                "q" => f.q = v,
                "tag" => f.tag = v,
                "residence" => f.residence = v,
                "after" => f.after = v,
                "limit" => f.limit = v,
                _ => unreachable!(),
            }
        }
        f
    }

    #[test]
    fn a_wrong_parameter_is_named() {
        let field = |pairs: &[(&str, &str)]| check(&filter(pairs)).unwrap_err().field().map(str::to_owned);
        assert_eq!(field(&[]).as_deref(), Some("kind"));
        assert_eq!(field(&[("kind", "case")]).as_deref(), Some("kind"));
        for limit in ["0", "201", "-1", "ten"] {
            assert_eq!(field(&[("kind", "resident"), ("limit", limit)]).as_deref(), Some("limit"));
        }
        assert_eq!(field(&[("kind", "resident"), ("after", "nonsense")]).as_deref(), Some("after"));
        assert_eq!(field(&[("kind", "resident"), ("tag", "nobody")]).as_deref(), Some("tag"));
        assert_eq!(field(&[("kind", "building"), ("tag", "elderly_alone")]).as_deref(), Some("tag"));
        assert_eq!(
            field(&[("kind", "household"), ("residence", "registered")]).as_deref(),
            Some("residence")
        );
        assert_eq!(field(&[("kind", "resident"), ("grid", "no grid")]).as_deref(), Some("grid"));
    }

    #[test]
    fn a_cursor_goes_round() {
        let id: RecordId = "01890a5d-ac96-774b-bcce-b302099a8057".parse().unwrap();
        let checked = check(&filter(&[("kind", "resident"), ("after", &cursor("C1-01", id))])).unwrap();
        assert_eq!(checked.after, Some(("C1-01".to_owned(), id)));
        assert_eq!(checked.limit, DEFAULT_LIMIT);
        let id_prefix = check(&filter(&[("kind", "resident"), ("q", " 33070219900101123x ")])).unwrap();
        assert_eq!(id_prefix.search.as_deref(), Some("33070219900101123X"));
    }
}
