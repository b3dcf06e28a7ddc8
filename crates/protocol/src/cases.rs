//! The bodies of the case flow's API (`/api/v1/cases…`,
//! `/api/v1/departments`): what the console, the CLI and the server say of
//! cases, their steps and deadlines. The rules of the flow are the
//! server's (`server/src/cases.rs`).

use std::collections::BTreeMap;

use gridwork_domain::{RecordId, Value};
use serde::{Deserialize, Serialize};

/// A step someone takes on a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Accept,
    Reject,
    Dispatch,
    Transfer,
    Return,
    Escalate,
    Handle,
    Close,
    Visit,
    Supervise,
}

impl Step {
    pub const ALL: [Step; 10] = [
        Step::Accept,
        Step::Reject,
        Step::Dispatch,
        Step::Transfer,
        Step::Return,
        Step::Escalate,
        Step::Handle,
        Step::Close,
        Step::Visit,
        Step::Supervise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Accept => "accept",
            Step::Reject => "reject",
            Step::Dispatch => "dispatch",
            Step::Transfer => "transfer",
            Step::Return => "return",
            Step::Escalate => "escalate",
            Step::Handle => "handle",
            Step::Close => "close",
            Step::Visit => "visit",
            Step::Supervise => "supervise",
        }
    }

    /// The step's name as the centre says it.
    pub fn zh(self) -> &'static str {
        match self {
            Step::Accept => "受理",
            Step::Reject => "不予受理",
            Step::Dispatch => "分派",
            Step::Transfer => "流转",
            Step::Return => "退回",
            Step::Escalate => "上报",
            Step::Handle => "处置",
            Step::Close => "办结",
            Step::Visit => "回访",
            Step::Supervise => "督办",
        }
    }
}

/// How the reporter found the outcome, asked at the return visit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    Satisfied,
    Basic,
    Unsatisfied,
}

impl Satisfaction {
    pub fn as_str(self) -> &'static str {
        match self {
            Satisfaction::Satisfied => "satisfied",
            Satisfaction::Basic => "basic",
            Satisfaction::Unsatisfied => "unsatisfied",
        }
    }
}

/// `POST /api/v1/cases/{id}/steps`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    pub step: Option<Step>,
    /// Dispatch, transfer: the department's code.
    #[serde(default)]
    pub department: Option<String>,
    /// Required for reject, return, handle (the reply), close (the
    /// feedback) and supervise.
    #[serde(default)]
    pub note: Option<String>,
    /// Visit: required.
    #[serde(default)]
    pub satisfaction: Option<Satisfaction>,
}

/// `POST /api/v1/admin/departments`, and a department as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Department {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
}

/// A case in a list: where it is in the flow and when it is due.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseSummary {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::RecordIdText))]
    pub id: RecordId,
    /// Where it is.
    pub grid: String,
    /// Whose centre handles it (one level up per escalation).
    pub handling_grid: String,
    pub category: String,
    pub status: String,
    pub department: Option<String>,
    pub description: String,
    /// When the server first received it (its clock, not the tablet's).
    pub received_at_ms: u64,
    /// The end of the time to solve it.
    pub due_at_ms: u64,
    /// For categories that must be seen on site first (water, power, gas).
    pub on_site_due_at_ms: Option<u64>,
    /// Still open and past `due_at_ms`.
    pub overdue: bool,
    /// Still open, not overdue, and due within a day.
    pub due_soon: bool,
    pub handled_in_grid: bool,
    /// Where it was reported (WGS-84), if the tablet had a position.
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
}

/// `GET /api/v1/cases`: a page, newest first; `next` continues it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CasePage {
    pub items: Vec<CaseSummary>,
    pub next: Option<String>,
}

/// One step of a case's trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseStepInfo {
    pub id: u64,
    pub at_ms: u64,
    /// `report` for the case's arrival, otherwise a [`Step`]'s name.
    pub step: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub device_id: Option<String>,
    pub from_status: Option<String>,
    pub to_status: String,
    pub department: Option<String>,
    pub note: Option<String>,
}

/// `GET /api/v1/cases/{id}`: the case's fields, its place in the flow and
/// its whole trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseView {
    pub summary: CaseSummary,
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, crate::openapi::FieldValue>))]
    pub fields: BTreeMap<String, Value>,
    pub steps: Vec<CaseStepInfo>,
    /// Years the deadline's count went through that the holiday calendar
    /// does not hold: counted by weekdays alone.
    pub uncounted_years: Vec<i32>,
    /// The steps the caller may take on it now.
    #[serde(default)]
    pub open_steps: Vec<Step>,
}

/// `GET /api/v1/supervisions`: a supervision note (督办) on an open case
/// the caller may see, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Supervision {
    pub case: CaseSummary,
    pub at_ms: u64,
    /// Who sent it.
    pub by: Option<String>,
    pub note: Option<String>,
}

/// `POST /api/v1/cases`: a case entered at the console (a hotline call).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    pub grid: String,
    pub category: String,
    pub description: String,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub reporter: Option<String>,
    #[serde(default)]
    pub reporter_phone: Option<String>,
    #[serde(default)]
    pub urgency: Option<String>,
    /// Where it happened (WGS84), if known.
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
}

/// `GET /api/v1/cases?…`: which cases, newest received first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct CaseFilter {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    /// Only open cases past their deadline (督办).
    #[serde(default)]
    pub overdue: bool,
    /// The `next` of the page before.
    #[serde(default)]
    pub after: Option<String>,
    /// At most this many (1–200, 50 by default).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A case category and its deadlines (`GET /api/v1/categories`, and the
/// body of `PUT /api/v1/admin/categories/{code}` without `code`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Category {
    #[serde(default)]
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// `24h` (clock hours) or `3wd` (working days), if the case must be
    /// seen on site first.
    pub on_site_limit: Option<String>,
    pub solve_limit: String,
    /// The department its cases usually go to.
    pub department: Option<String>,
}

/// One day of the holiday calendar that differs from Monday-to-Friday.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CalendarDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// `holiday` (a day off) or `workday` (a make-up working day, 调休).
    pub kind: String,
    pub name_zh: String,
    pub name_en: String,
}

/// A year of the holiday calendar (`GET /api/v1/calendar/{year}`, and the
/// body of `PUT /api/v1/admin/calendar/{year}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CalendarYear {
    /// The year in the path is the one replaced.
    #[serde(default)]
    pub year: i32,
    /// Where the days come from (the State Council's notice); `None` when
    /// the year was never entered: deadlines through it count weekdays
    /// alone.
    pub source: Option<String>,
    pub days: Vec<CalendarDay>,
}
