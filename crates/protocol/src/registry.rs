//! The bodies of the registry the console reviews (`GET /api/v1/records`,
//! `GET /api/v1/records/{id}`): residents, households and buildings by
//! grid, with search and filters, and each record's field history (every
//! version the server keeps, winner and losers, with who wrote it).
//!
//! Which records a caller may see, how a search is run and what a cursor
//! holds are the server's (`server/src/registry.rs`, docs/registry.md);
//! this module only says what travels.

use std::collections::BTreeMap;

use gridwork_domain::{Kind, RecordId, Value};
use serde::{Deserialize, Serialize};

/// The kinds the registry lists.
pub const REGISTRY_KINDS: [Kind; 3] = [Kind::Resident, Kind::Household, Kind::Building];

/// The query of `GET /api/v1/records`. Every parameter is text as sent, so
/// that a wrong one is answered 422 naming it (not a generic 400).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct RecordFilter {
    /// `resident`, `household` or `building` (required).
    #[serde(default)]
    pub kind: Option<String>,
    /// This grid and every grid below it.
    #[serde(default)]
    pub grid: Option<String>,
    /// A prefix of a name, ID-card number, phone or address (which fields
    /// depends on the kind: docs/registry.md).
    #[serde(default)]
    pub q: Option<String>,
    /// A special-group tag's code (`tags` contains it): residents and
    /// households.
    #[serde(default)]
    pub tag: Option<String>,
    /// A resident's `residence_type` code.
    #[serde(default)]
    pub residence: Option<String>,
    /// The `next` of the page before.
    #[serde(default)]
    pub after: Option<String>,
    /// At most this many (1–200, 50 by default).
    #[serde(default)]
    pub limit: Option<String>,
}

/// A record in a list: its winning values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordItem {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::RecordIdText))]
    pub id: RecordId,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::KindName))]
    pub kind: Kind,
    pub grid: Option<String>,
    /// What to call it in a list: a resident's name, a household's
    /// address, a building's name or address.
    pub title: String,
    /// Every field with a value, by name.
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, crate::openapi::FieldValue>))]
    pub fields: BTreeMap<String, Value>,
}

/// A page of records, in the order of (grid, id).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordPage {
    pub items: Vec<RecordItem>,
    /// The cursor of the next page (`after`), `null` on the last.
    pub next: Option<String>,
}

/// Who wrote a version: a device's number, and the device and its
/// worker when the server knows them. Number 0 is the server itself (the
/// console, a settled conflict): no device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Writer {
    pub number: u32,
    pub device_id: Option<String>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
}

/// One stored version of a field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldVersion {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::FieldValue))]
    pub value: Value,
    /// The value everyone shows; the others are kept for review.
    pub winner: bool,
    pub writer: Writer,
    /// The writer's count of its writes of this field, this one included.
    pub counter: u32,
    /// The write's hybrid logical clock, in milliseconds.
    pub at_ms: u64,
}

/// Every version the server keeps of one field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldHistory {
    pub field: String,
    pub label_zh: String,
    pub label_en: String,
    /// Concurrent versions are kept (a conflict for the centre to settle).
    pub in_conflict: bool,
    /// The winner first, then the losers, latest first.
    pub versions: Vec<FieldVersion>,
}

/// One record whole: `GET /api/v1/records/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordView {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::RecordIdText))]
    pub id: RecordId,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::KindName))]
    pub kind: Kind,
    pub grid: Option<String>,
    pub deleted: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, crate::openapi::FieldValue>))]
    pub fields: BTreeMap<String, Value>,
    /// In the order of the kind's schema.
    pub history: Vec<FieldHistory>,
}

/// The query of `GET /api/v1/activity`: the patrols and visits of a day.
/// Every parameter is text as sent, so that a wrong one is answered 422
/// naming it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ActivityFilter {
    /// The day, `YYYY-MM-DD` in the city's time zone (today by default): a
    /// patrol counts on the day it started, a visit on the day it was made.
    #[serde(default)]
    pub day: Option<String>,
    /// This grid and every grid below it.
    #[serde(default)]
    pub grid: Option<String>,
    /// One worker's, by the name the tablet wrote (`worker`).
    #[serde(default)]
    pub worker: Option<String>,
}

/// The query of `GET /api/v1/activity/period`: each worker's patrols and
/// visits over a span of days (at most 31), as text like the day's query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ActivityPeriodFilter {
    /// The first day, `YYYY-MM-DD` in the city's time zone (six days
    /// before `to` by default: a week).
    #[serde(default)]
    pub from: Option<String>,
    /// The last day, included (today by default).
    #[serde(default)]
    pub to: Option<String>,
    /// This grid and every grid below it.
    #[serde(default)]
    pub grid: Option<String>,
}

/// One worker's span of days: patrols, visits, and on how many of the
/// days they patrolled or visited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerPeriod {
    /// The name the tablet wrote; empty for visits that name none.
    pub worker: String,
    pub patrols: u32,
    pub visits: u32,
    pub days: u32,
}

/// `GET /api/v1/activity/period`: each worker's tally over the span, in
/// the caller's grids, most patrols first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityPeriod {
    pub from: String,
    pub to: String,
    pub patrols: u32,
    pub visits: u32,
    pub workers: Vec<WorkerPeriod>,
    /// More rows matched than one answer reads: narrow it by grid or days.
    pub truncated: bool,
}

/// One worker's day: how many patrols and visits, and how long the
/// patrols that ended took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerDay {
    /// The name the tablet wrote; empty for visits that name none.
    pub worker: String,
    pub patrols: u32,
    pub visits: u32,
    pub patrol_minutes: u32,
}

/// `GET /api/v1/activity`: a day's patrols (with their routes, GeoJSON
/// LineStrings in WGS-84) and visits in the caller's grids, earliest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityDay {
    /// The day shown, `YYYY-MM-DD`.
    pub day: String,
    pub patrols: Vec<RecordItem>,
    pub visits: Vec<RecordItem>,
    /// Each worker's tally, most patrols first (then visits, time on
    /// patrol, name).
    pub workers: Vec<WorkerDay>,
    /// More than the most a day's answer carries matched: narrow it by
    /// grid or worker. The tallies count what is shown.
    pub truncated: bool,
}
