//! Open311 GeoReport v2 for city systems (a 12345 hotline, the city's own
//! case systems), under `/open311/v2`: the case categories as services
//! (`GET services.json`), the cases as service requests (`GET
//! requests.json`, `GET requests/{id}.json`), and a case filed by a city
//! system (`POST requests.json`), which lands in the flow as a case entered
//! at the console does. See `docs/open311.md`.
//!
//! Who may ask: the holder of an integration key an admin issued, or of a
//! console login (admins, centre staff, departments' handlers; filing needs
//! a key, staff or an admin), sent as `Authorization: Bearer`. Each sees
//! exactly the cases the console would show them (`Storage::case_reports`
//! narrows the query as `Storage::cases` does; a key sees what a staff
//! account of its grid sees). Errors come in GeoReport's shape, `[{"code",
//! "description"}]`.
//!
//! What it does not do: XML (JSON only), service definitions (no service
//! takes attributes: `metadata` is false), the `api_key` parameter (keys go
//! in the header, never in URLs or logs), photos (`media_url`), choosing a
//! grid from `lat`/`long` (a case names its grid in the `grid` parameter),
//! and anything about a person: the reporter's name and phone are kept on
//! a filed case as the console keeps them, but no answer here carries
//! them, nor the resident concerned, nor who took which step (the reports
//! are built without reading them: `flow::report`).

use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{NaiveDate, TimeZone};
use gridwork_domain::RecordId;
use serde::Serialize;

use crate::cases::Status;
use crate::core::INTEGRATION_KEY_PREFIX;
use crate::error::AppError;
use crate::flow::{CITY_ZONE, rfc3339};
use crate::storage::{CaseReport, Category, NewCase, Principal, ReportQuery, Role, StorageError};
use crate::{AppState, blocking};

/// The most requests one answer lists: the newest that match. Older ones
/// are reached by narrowing `end_date` (the spec allows a limit).
pub const MAX_REQUESTS: usize = 1000;

/// The largest body of `POST requests.json`: a description of at most
/// 5,000 characters and a few short parameters, with room to spare.
pub const POST_BODY: usize = 64 * 1024;

/// The routes, nested at `/open311/v2` by `crate::router`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/services.json", get(services))
        .route("/requests.json", get(requests).post(file_request))
        .route("/requests/{file}", get(request))
        .route("/services.xml", get(services_xml))
        .route("/requests.xml", get(requests_xml).post(file_request_xml))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// An error in GeoReport's shape: `[{"code": 400, "description": "…"}]`,
/// with the description in Chinese beside it. Input a rule refuses is 400
/// here (422 on `/api/v1`), as GeoReport clients expect.
#[derive(Debug)]
pub struct GeoError {
    status: StatusCode,
    description: String,
    description_zh: String,
    retry_after: Option<u64>,
}

impl GeoError {
    fn new(status: StatusCode, en: impl Into<String>, zh: impl Into<String>) -> GeoError {
        GeoError { status, description: en.into(), description_zh: zh.into(), retry_after: None }
    }

    fn bad(en: impl Into<String>, zh: impl Into<String>) -> GeoError {
        GeoError::new(StatusCode::BAD_REQUEST, en, zh)
    }

    fn unauthorized() -> GeoError {
        GeoError::new(
            StatusCode::UNAUTHORIZED,
            "no key, or one the server does not know (wrong, revoked, or an expired console session): send `Authorization: Bearer KEY` with an integration key an admin issued or a console session's token",
            "没有密钥,或密钥无效(错误、已吊销或会话已过期):请以 `Authorization: Bearer 密钥` 发送管理员签发的集成密钥或控制台会话令牌",
        )
    }

    fn forbidden(en: impl Into<String>, zh: impl Into<String>) -> GeoError {
        GeoError::new(StatusCode::FORBIDDEN, en, zh)
    }
}

impl From<AppError> for GeoError {
    fn from(error: AppError) -> GeoError {
        let status = match error.status {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            other => other,
        };
        GeoError {
            status,
            description: error.message,
            description_zh: error.message_zh,
            retry_after: error.retry_after,
        }
    }
}

/// An error's body in GeoReport's shape: one error, in an array.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GeoErrors(Vec<GeoErrorItem>);

/// One error of [`GeoErrors`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GeoErrorItem {
    /// The HTTP status.
    code: u16,
    description: String,
    /// The description in Chinese.
    description_zh: String,
}

impl IntoResponse for GeoError {
    fn into_response(self) -> Response {
        let body = GeoErrors(vec![GeoErrorItem {
            code: self.status.as_u16(),
            description: self.description,
            description_zh: self.description_zh,
        }]);
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

async fn not_found() -> GeoError {
    GeoError::new(
        StatusCode::NOT_FOUND,
        "no such resource: this server serves services.json, requests.json and requests/{id}.json under /open311/v2/ (docs/open311.md)",
        "没有这个资源:/open311/v2/ 下提供 services.json、requests.json 和 requests/{id}.json",
    )
}

async fn method_not_allowed() -> GeoError {
    GeoError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this resource does not take that method: GET services.json, GET and POST requests.json, GET requests/{id}.json",
        "此资源不支持该请求方法",
    )
}

/// What answers a `.xml` resource.
async fn xml_only() -> GeoError {
    GeoError::bad(
        "this server answers in JSON only: ask for the .json resource",
        "本服务器只提供 JSON 格式,请请求 .json 资源",
    )
}

/// Services in XML, which this server does not write.
///
/// Who: anyone; nothing is read.
#[utoipa::path(
    get,
    path = "/open311/v2/services.xml",
    tag = "open311",
    responses((status = 400, description = "this server answers in JSON only: ask for the .json resource", body = GeoErrors)),
)]
pub(crate) async fn services_xml() -> GeoError {
    xml_only().await
}

/// Service requests in XML, which this server does not write.
///
/// Who: anyone; nothing is read.
#[utoipa::path(
    get,
    path = "/open311/v2/requests.xml",
    tag = "open311",
    responses((status = 400, description = "this server answers in JSON only: ask for the .json resource", body = GeoErrors)),
)]
pub(crate) async fn requests_xml() -> GeoError {
    xml_only().await
}

/// Filing in XML, which this server does not read.
///
/// Who: anyone; nothing is read.
#[utoipa::path(
    post,
    path = "/open311/v2/requests.xml",
    tag = "open311",
    responses((status = 400, description = "this server answers in JSON only: ask for the .json resource", body = GeoErrors)),
)]
pub(crate) async fn file_request_xml() -> GeoError {
    xml_only().await
}

/// Who asks: an integration key's holder, or a console login's (admins,
/// staff, handlers). Devices sync elsewhere; workers use their tablets.
#[derive(Debug)]
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = GeoError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, GeoError> {
        let token = crate::bearer(&parts.headers).ok_or_else(GeoError::unauthorized)?;
        let digest = crate::core::digest(token);
        let storage = state.storage.clone();
        let now = state.now_ms();
        let principal = if token.starts_with(INTEGRATION_KEY_PREFIX) {
            blocking(move || storage.authenticate_key(digest)).await?
        } else {
            blocking(move || storage.authenticate(digest, now)).await?
        };
        let who = principal.ok_or_else(GeoError::unauthorized)?;
        match (who.role, &who.device) {
            (Role::Admin | Role::Staff | Role::Handler, None) => Ok(Caller(who)),
            _ => Err(GeoError::forbidden(
                "this needs an integration key or a console login (centre staff, a department's handler, an administrator); devices sync at /api/v1/sync",
                "此接口需要集成密钥或控制台登录(中心工作人员、职能部门或管理员);设备请使用同步接口",
            )),
        }
    }
}

/// The parameters of a query string or a form, in order.
#[derive(Debug, Default)]
struct Params(Vec<(String, String)>);

impl Params {
    fn form(bytes: &[u8]) -> Params {
        Params(form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    /// A JSON object's members, numbers as their text.
    fn json(bytes: &[u8]) -> Result<Params, GeoError> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            GeoError::bad(
                format!("the body is not a JSON object: {e}"),
                format!("请求内容不是 JSON 对象:{e}"),
            )
        })?;
        let serde_json::Value::Object(members) = value else {
            return Err(GeoError::bad("the body is not a JSON object", "请求内容不是 JSON 对象"));
        };
        let mut params = Vec::with_capacity(members.len());
        for (name, value) in members {
            let text = match value {
                serde_json::Value::String(text) => text,
                serde_json::Value::Number(number) => number.to_string(),
                serde_json::Value::Null => continue,
                _ => {
                    return Err(GeoError::bad(
                        format!("`{name}` must be text or a number"),
                        format!("参数`{name}`须为文本或数字"),
                    ));
                }
            };
            params.push((name, text));
        }
        Ok(Params(params))
    }

    /// Refuses a parameter not in `known`, naming it.
    fn only(&self, known: &[&str]) -> Result<(), GeoError> {
        for (name, _) in &self.0 {
            if name == "api_key" {
                return Err(GeoError::bad(
                    "send the key as `Authorization: Bearer KEY`, not as the api_key parameter (it would end up in logs)",
                    "请以 `Authorization: Bearer 密钥` 发送密钥,不要用 api_key 参数",
                ));
            }
            if !known.contains(&name.as_str()) {
                return Err(GeoError::bad(
                    format!("unknown parameter `{name}`: this takes {}", known.join(", ")),
                    format!("未知参数`{name}`,可用参数:{}", known.join("、")),
                ));
            }
        }
        Ok(())
    }

    /// A parameter given at most once, trimmed, empty as absent.
    fn one(&self, name: &str) -> Result<Option<&str>, GeoError> {
        let mut given = self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v.trim());
        let first = given.next();
        if given.next().is_some() {
            return Err(GeoError::bad(format!("`{name}` is given twice"), format!("参数`{name}`重复给出")));
        }
        Ok(first.filter(|v| !v.is_empty()))
    }

    /// Every value of a parameter that may be given several times and
    /// comma-delimited.
    fn list(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }
}

/// Open311's status of a case: `closed` once the flow is done with it
/// (closed, visited, rejected), `open` before (a handled case is open until
/// the centre closes it).
fn open311_status(status: &str) -> &'static str {
    match Status::parse(status) {
        Some(status) if status.is_finished() => "closed",
        _ => "open",
    }
}

/// The Gridwork statuses an Open311 `status` stands for.
fn statuses_of(status: &str) -> Option<impl Iterator<Item = String>> {
    let closed = match status {
        "open" => false,
        "closed" => true,
        _ => return None,
    };
    Some(Status::ALL.into_iter().filter(move |s| s.is_finished() == closed).map(|s| s.as_str().to_owned()))
}

/// Which end of a range a date names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Start,
    End,
}

/// An ISO 8601 instant (`2026-03-02T08:00:00+08:00`, `…Z`, or a date,
/// `2026-03-02`, in the city's time zone) as Unix ms. An end includes the
/// whole second it names (answers give seconds), a date's end the whole
/// day. A `+` turned into a space by form decoding is read as `+`.
fn instant(param: &str, text: &str, end: End) -> Result<u64, GeoError> {
    let refused = || {
        GeoError::bad(
            format!(
                "`{param}` is `{text}`, not an ISO 8601 date-time with its offset (e.g. 2026-03-02T08:00:00+08:00, 2026-03-02T00:00:00Z; write `+` as %2B in a URL) or a date (2026-03-02)"
            ),
            format!(
                "参数`{param}`为`{text}`,不是带时区的 ISO 8601 时间(如 2026-03-02T08:00:00+08:00,URL 中的`+`写作 %2B)或日期(2026-03-02)"
            ),
        )
    };
    let mut text = text.to_owned();
    if let Some(i) = text.rfind(' ')
        && i >= 10
        && text[i + 1..].len() == 5
        && text.as_bytes()[i + 3] == b':'
    {
        text.replace_range(i..=i, "+");
    }
    let ms = if let Ok(at) = chrono::DateTime::parse_from_rfc3339(&text) {
        let ms = at.timestamp_millis();
        match end {
            End::Start => ms,
            End::End => ms - ms.rem_euclid(1000) + 999,
        }
    } else if let Ok(day) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        let day = match end {
            End::Start => day,
            End::End => day.succ_opt().ok_or_else(refused)?,
        };
        let midnight = CITY_ZONE
            .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"))
            .earliest()
            .ok_or_else(refused)?
            .timestamp_millis();
        match end {
            End::Start => midnight,
            End::End => midnight - 1,
        }
    } else {
        return Err(refused());
    };
    Ok(ms.max(0) as u64)
}

/// `GET services.json`: one service per case category.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Service {
    service_code: String,
    service_name: String,
    description: String,
    metadata: bool,
    #[serde(rename = "type")]
    kind: &'static str,
    keywords: String,
    group: String,
}

/// A category's limit in words: `3 working days`, `24 hours`.
fn limit_words(limit: &str) -> String {
    match crate::deadlines::Limit::parse(limit) {
        Some(crate::deadlines::Limit::Hours(n)) => format!("{n} hours"),
        Some(crate::deadlines::Limit::WorkingDays(n)) => format!("{n} working days"),
        None => limit.to_owned(),
    }
}

fn service_of(category: &Category) -> Service {
    let mut description =
        format!("{}: solved within {}", category.name_en, limit_words(&category.solve_limit));
    if let Some(on_site) = &category.on_site_limit {
        description += &format!(", on site within {}", limit_words(on_site));
    }
    Service {
        service_code: category.code.clone(),
        service_name: category.name_zh.clone(),
        description,
        metadata: false,
        kind: "realtime",
        keywords: category.name_en.clone(),
        group: String::new(),
    }
}

/// The services: one per case category.
///
/// Who: an integration key, or a console login (centre staff, a department's handler, an administrator); each sees the cases the console would show it.
#[utoipa::path(
    get,
    path = "/open311/v2/services.json",
    tag = "open311",
    params(("jurisdiction_id" = Option<String>, Query, description = "accepted and ignored: this server is one jurisdiction")),
    responses((status = 200, description = "one service per case category", body = Vec<Service>)),
    security(("integration_key" = []), ("session" = [])),
)]
pub(crate) async fn services(
    State(state): State<AppState>,
    _who: Caller,
) -> Result<Json<Vec<Service>>, GeoError> {
    let storage = state.storage.clone();
    let categories = blocking(move || storage.categories()).await?;
    Ok(Json(categories.iter().map(service_of).collect()))
}

/// A service request: a case as a city system may see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ServiceRequest {
    service_request_id: String,
    status: &'static str,
    status_notes: Option<String>,
    service_name: String,
    service_code: String,
    description: String,
    agency_responsible: Option<String>,
    service_notice: Option<String>,
    requested_datetime: String,
    updated_datetime: String,
    expected_datetime: String,
    address: Option<String>,
    address_id: Option<String>,
    zipcode: Option<String>,
    lat: Option<f64>,
    long: Option<f64>,
    media_url: Option<String>,
    /// Jurisdiction-specific: the code of the grid the case is in.
    grid: String,
}

fn request_of(report: &CaseReport, categories: &[Category]) -> ServiceRequest {
    let service_name = categories
        .iter()
        .find(|c| c.code == report.category)
        .map_or_else(|| report.category.clone(), |c| c.name_zh.clone());
    // With a department once dispatched; until then, with the centre of
    // the grid that handles it.
    let agency_responsible = match &report.department {
        Some(department) => Some(department.name_zh.clone()),
        None => Some(report.handling_grid_name.clone().unwrap_or_else(|| report.handling_grid.clone())),
    };
    ServiceRequest {
        service_request_id: report.id.to_string(),
        status: open311_status(&report.status),
        status_notes: report.latest_note.clone(),
        service_name,
        service_code: report.category.clone(),
        description: report.description.clone(),
        agency_responsible,
        service_notice: None,
        requested_datetime: rfc3339(report.received_at_ms),
        updated_datetime: rfc3339(report.updated_at_ms),
        expected_datetime: rfc3339(report.due_at_ms),
        address: report.location.clone(),
        address_id: None,
        zipcode: None,
        lat: report.latitude,
        long: report.longitude,
        media_url: None,
        grid: report.grid.clone(),
    }
}

/// `GET requests.json?service_code=&status=&start_date=&end_date=`: the
/// newest [`MAX_REQUESTS`] cases the caller may see that match, or the
/// ones `service_request_id` lists (which overrides the rest).
///
/// Who: an integration key, or a console login (centre staff, a department's handler, an administrator); each sees the cases the console would show it.
#[utoipa::path(
    get,
    path = "/open311/v2/requests.json",
    tag = "open311",
    params(
        ("service_request_id" = Option<String>, Query, description = "ids, comma-delimited (at most 1,000): these requests, the other filters ignored"),
        ("service_code" = Option<String>, Query, description = "services (categories), comma-delimited"),
        ("status" = Option<String>, Query, description = "`open` or `closed`, comma-delimited"),
        ("start_date" = Option<String>, Query, description = "received at or after: ISO 8601 with its offset, or a date in the city's zone"),
        ("end_date" = Option<String>, Query, description = "received at or before: ISO 8601 with its offset, or a date (the whole day)"),
        ("jurisdiction_id" = Option<String>, Query, description = "accepted and ignored"),
    ),
    responses((status = 200, description = "the newest 1,000 matching requests the caller may see", body = Vec<ServiceRequest>)),
    security(("integration_key" = []), ("session" = [])),
)]
pub(crate) async fn requests(
    State(state): State<AppState>,
    Caller(who): Caller,
    uri: Uri,
) -> Result<Json<Vec<ServiceRequest>>, GeoError> {
    let params = Params::form(uri.query().unwrap_or_default().as_bytes());
    params.only(&[
        "service_code",
        "status",
        "start_date",
        "end_date",
        "service_request_id",
        "jurisdiction_id",
    ])?;
    let storage = state.storage.clone();
    let categories = blocking(move || storage.categories()).await?;
    let ids = params.list("service_request_id");
    if !ids.is_empty() {
        if ids.len() > MAX_REQUESTS {
            return Err(GeoError::bad(
                format!(
                    "`service_request_id` lists {} requests; ask for at most {MAX_REQUESTS} at once",
                    ids.len()
                ),
                format!("参数`service_request_id`一次最多{MAX_REQUESTS}个"),
            ));
        }
        // An id that is not one, or of a case the caller may not see, is
        // left out, as one that does not exist.
        let ids: Vec<RecordId> = ids.iter().filter_map(|id| id.parse().ok()).collect();
        let storage = state.storage.clone();
        let reports = blocking(move || {
            let mut found = Vec::with_capacity(ids.len());
            for id in ids {
                match storage.case_report(&who, id) {
                    Ok(report) => found.push(report),
                    Err(StorageError::NotFound(_)) => {}
                    Err(other) => return Err(other),
                }
            }
            Ok(found)
        })
        .await?;
        return Ok(Json(reports.iter().map(|r| request_of(r, &categories)).collect()));
    }
    let codes = params.list("service_code");
    if let Some(unknown) = codes.iter().find(|code| !categories.iter().any(|c| c.code == **code)) {
        return Err(GeoError::bad(
            format!("`service_code` `{unknown}` is not a service of this server (services.json lists them)"),
            format!("参数`service_code`的`{unknown}`不是本服务器的服务类别(见 services.json)"),
        ));
    }
    let mut statuses = Vec::new();
    let asked = params.list("status");
    for status in &asked {
        statuses.extend(statuses_of(status).ok_or_else(|| {
            GeoError::bad(
                format!("`status` `{status}` is neither `open` nor `closed`"),
                format!("参数`status`的`{status}`须为 open 或 closed"),
            )
        })?);
    }
    let from = params.one("start_date")?.map(|t| instant("start_date", t, End::Start)).transpose()?;
    let to = params.one("end_date")?.map(|t| instant("end_date", t, End::End)).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(GeoError::bad("`start_date` is after `end_date`", "参数`start_date`晚于`end_date`"));
    }
    let query = ReportQuery {
        statuses: (!asked.is_empty()).then_some(statuses),
        categories: (!codes.is_empty()).then(|| codes.iter().map(|c| (*c).to_owned()).collect()),
        received_from_ms: from,
        received_to_ms: to,
        limit: MAX_REQUESTS,
    };
    let storage = state.storage.clone();
    let reports = blocking(move || storage.case_reports(&who, query)).await?;
    Ok(Json(reports.iter().map(|r| request_of(r, &categories)).collect()))
}

/// `GET requests/{id}.json`: one case, in an array as the spec has it; a
/// case the caller may not see is not found, as one that does not exist.
///
/// Who: an integration key, or a console login (centre staff, a department's handler, an administrator); each sees the cases the console would show it.
#[utoipa::path(
    get,
    path = "/open311/v2/requests/{file}",
    tag = "open311",
    params(
        ("file" = String, Path, description = "`{id}.json`: the service request's id (a case's record id) and `.json`"),
        ("jurisdiction_id" = Option<String>, Query, description = "accepted and ignored"),
    ),
    responses(
        (status = 200, description = "the request, alone in an array", body = Vec<ServiceRequest>),
        (status = 404, description = "no such request the caller may see", body = GeoErrors),
    ),
    security(("integration_key" = []), ("session" = [])),
)]
pub(crate) async fn request(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(file): Path<String>,
    uri: Uri,
) -> Result<Json<Vec<ServiceRequest>>, GeoError> {
    if file.ends_with(".xml") {
        return Err(xml_only().await);
    }
    let not_found = || {
        GeoError::new(
            StatusCode::NOT_FOUND,
            format!("there is no service request {file}"),
            format!("没有服务请求{file}"),
        )
    };
    let id: RecordId = file.strip_suffix(".json").and_then(|id| id.parse().ok()).ok_or_else(not_found)?;
    Params::form(uri.query().unwrap_or_default().as_bytes()).only(&["jurisdiction_id"])?;
    let storage = state.storage.clone();
    let categories = blocking(move || storage.categories()).await?;
    let storage = state.storage.clone();
    match blocking(move || storage.case_report(&who, id)).await {
        Ok(report) => Ok(Json(vec![request_of(&report, &categories)])),
        Err(error) if error.status == StatusCode::NOT_FOUND => Err(not_found()),
        Err(error) => Err(error.into()),
    }
}

/// `POST requests.json`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Filed {
    service_request_id: String,
    /// What of the request was not kept, if anything.
    service_notice: Option<String>,
}

/// `POST requests.json`'s parameters, for the API's description: a form,
/// or a JSON object of text and numbers. The handler reads them as
/// [`POST_PARAMS`] (a test keeps the two alike).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
struct Filing {
    /// The service (case category) code.
    service_code: String,
    /// What is wrong, at most 5,000 characters.
    description: String,
    /// The code of the grid the case is in (the caller must see it).
    grid: String,
    lat: Option<f64>,
    long: Option<f64>,
    address_string: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    /// Taken and not kept, as `device_id`, `account_id`, `address_id` and `media_url`.
    email: Option<String>,
    device_id: Option<String>,
    account_id: Option<String>,
    address_id: Option<String>,
    media_url: Option<String>,
    jurisdiction_id: Option<String>,
}

/// The parameters `POST requests.json` takes.
const POST_PARAMS: &[&str] = &[
    "service_code",
    "description",
    "grid",
    "lat",
    "long",
    "address_string",
    "first_name",
    "last_name",
    "phone",
    "email",
    "device_id",
    "account_id",
    "address_id",
    "media_url",
    "jurisdiction_id",
];

/// Taken by the spec but kept nowhere: a case holds no e-mail, account,
/// device, address id or photo link.
const NOT_KEPT: &[&str] = &["email", "device_id", "account_id", "address_id", "media_url"];

/// The Open311 parameter a field of the case comes from, for errors.
fn parameter_of(field: &str) -> &str {
    match field {
        "category" => "service_code",
        "location" => "address_string",
        "latitude" => "lat",
        "longitude" => "long",
        "reporter" => "first_name/last_name",
        "reporter_phone" => "phone",
        other => other,
    }
}

/// The reporter's name from the spec's two parts: `last_name` then
/// `first_name` unspaced for Chinese names (张 + 三 = 张三), `first last`
/// otherwise.
fn reporter_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    match (first, last) {
        (Some(first), Some(last)) if !(first.is_ascii() && last.is_ascii()) => Some(format!("{last}{first}")),
        (Some(first), Some(last)) => Some(format!("{first} {last}")),
        (one, other) => one.or(other).map(str::to_owned),
    }
}

fn number(params: &Params, name: &str) -> Result<Option<f64>, GeoError> {
    params
        .one(name)?
        .map(|text| {
            text.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(|| {
                GeoError::bad(
                    format!("`{name}` is `{text}`, not a number"),
                    format!("参数`{name}`为`{text}`,不是数字"),
                )
            })
        })
        .transpose()
}

/// `POST requests.json` (a form or a JSON object): files a case, received
/// at once into the flow as one entered at the console, after the same
/// checks. `grid` (the grid's code) says where; the caller must see it.
///
/// Who: an integration key, or a centre staff or administrator's login.
#[utoipa::path(
    post,
    path = "/open311/v2/requests.json",
    tag = "open311",
    request_body(content(
        (Filing = "application/x-www-form-urlencoded"),
        (Filing = "application/json"),
    )),
    responses(
        (status = 200, description = "the case is filed into the flow", body = Vec<Filed>),
        (status = 403, description = "filing needs an integration key, or a centre staff or administrator's login", body = GeoErrors),
        (status = 413, description = "the body is larger than 64 KiB", body = GeoErrors),
    ),
    security(("integration_key" = []), ("session" = [])),
)]
pub(crate) async fn file_request(
    State(state): State<AppState>,
    Caller(who): Caller,
    request: Request,
) -> Result<Json<Vec<Filed>>, GeoError> {
    if !matches!(who.role, Role::Admin | Role::Staff) {
        return Err(GeoError::forbidden(
            "filing a case needs an integration key, or a centre staff or administrator's login",
            "提交事件需要集成密钥,或中心工作人员、管理员的登录",
        ));
    }
    let (parts, body) = request.into_parts();
    let params = read_params(&parts.headers, body, &state).await?;
    params.only(POST_PARAMS)?;
    let storage = state.storage.clone();
    let categories = blocking(move || storage.categories()).await?;
    let required = |name: &str| {
        params
            .one(name)?
            .ok_or_else(|| GeoError::bad(format!("`{name}` is required"), format!("缺少必填参数`{name}`")))
    };
    let code = required("service_code")?;
    if !categories.iter().any(|c| c.code == code) {
        return Err(GeoError::bad(
            format!("`service_code` `{code}` is not a service of this server (services.json lists them)"),
            format!("参数`service_code`的`{code}`不是本服务器的服务类别(见 services.json)"),
        ));
    }
    let description = required("description")?;
    let grid = params.one("grid")?.ok_or_else(|| {
        GeoError::bad(
            "`grid` is required: the code of the grid the case is in (this server's own parameter; lat/long do not choose it)",
            "缺少必填参数`grid`:事件所在网格的编码",
        )
    })?;
    let case = NewCase {
        grid: grid.to_owned(),
        category: code.to_owned(),
        description: description.to_owned(),
        location: params.one("address_string")?.map(str::to_owned),
        reporter: reporter_name(params.one("first_name")?, params.one("last_name")?),
        reporter_phone: params.one("phone")?.map(str::to_owned),
        urgency: None,
        latitude: number(&params, "lat")?,
        longitude: number(&params, "long")?,
    };
    let mut dropped = Vec::new();
    for name in NOT_KEPT {
        if params.one(name)?.is_some() {
            dropped.push(*name);
        }
    }
    let storage = state.storage.clone();
    let now = state.now_ms();
    let id = blocking(move || {
        storage.add_case(&who, case, now).map_err(|error| match error {
            // Named as the caller named it.
            StorageError::Invalid(invalid) => {
                let param = parameter_of(invalid.field().unwrap_or("request"));
                StorageError::Said {
                    code: gridwork_protocol::codes::ErrorCode::Invalid,
                    en: format!("`{param}`: {invalid}"),
                    zh: format!("参数`{param}`:{}", invalid.zh()),
                }
            }
            other => other,
        })
    })
    .await?;
    let service_notice = (!dropped.is_empty()).then(|| {
        format!("not kept (a case holds only the reporter's name and phone): {}", dropped.join(", "))
    });
    Ok(Json(vec![Filed { service_request_id: id.to_string(), service_notice }]))
}

/// A POST's parameters: a form (`application/x-www-form-urlencoded`, also
/// when no type is given) or a JSON object, read within [`POST_BODY`] and
/// the server's body budget.
async fn read_params(
    headers: &HeaderMap,
    body: axum::body::Body,
    state: &AppState,
) -> Result<Params, GeoError> {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    let json = match kind.as_deref() {
        None | Some("application/x-www-form-urlencoded") => false,
        Some("application/json") => true,
        Some(other) => {
            return Err(GeoError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "a request is sent as application/x-www-form-urlencoded or application/json, not {other}"
                ),
                format!("请求须为 application/x-www-form-urlencoded 或 application/json 格式,而不是 {other}"),
            ));
        }
    };
    let body =
        crate::wire::read_body(headers, body, POST_BODY, &state.body_budget, state.limits.small_body_timeout)
            .await?;
    if json { Params::json(&body.bytes) } else { Ok(Params::form(&body.bytes)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_described_filing_takes_exactly_the_parameters_the_handler_reads() {
        let schema = serde_json::to_value(<Filing as utoipa::PartialSchema>::schema()).unwrap();
        let mut described: Vec<&str> =
            schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
        let mut read = POST_PARAMS.to_vec();
        described.sort_unstable();
        read.sort_unstable();
        assert_eq!(described, read);
    }

    #[test]
    fn statuses_map_to_open_until_the_flow_is_done() {
        assert_eq!(open311_status("reported"), "open");
        assert_eq!(open311_status("handled"), "open");
        for done in ["closed", "visited", "rejected"] {
            assert_eq!(open311_status(done), "closed");
        }
        let open: Vec<String> = statuses_of("open").unwrap().collect();
        assert_eq!(open, ["reported", "accepted", "dispatched", "handled", "returned"]);
        assert!(statuses_of("pending").is_none());
    }

    #[test]
    fn instants_take_offsets_dates_and_a_plus_lost_to_form_decoding() {
        let at = instant("start_date", "2026-03-02T08:00:00+08:00", End::Start).unwrap();
        assert_eq!(at, 1_772_409_600_000);
        assert_eq!(instant("start_date", "2026-03-02T00:00:00Z", End::Start).unwrap(), at);
        assert_eq!(instant("start_date", "2026-03-02T08:00:00 08:00", End::Start).unwrap(), at);
        assert_eq!(instant("end_date", "2026-03-02T08:00:00+08:00", End::End).unwrap(), at + 999);
        let day = instant("start_date", "2026-03-02", End::Start).unwrap();
        assert_eq!(day, at - 8 * 3_600_000);
        assert_eq!(instant("end_date", "2026-03-02", End::End).unwrap(), day + 24 * 3_600_000 - 1);
        let refused = instant("end_date", "yesterday", End::End).unwrap_err();
        assert!(refused.description.contains("`end_date`"), "{refused:?}");
        assert!(instant("start_date", "2026-03-02T08:00:00", End::Start).is_err(), "an offset is needed");
    }

    #[test]
    fn reporters_names_join_as_they_are_written() {
        assert_eq!(reporter_name(Some("三"), Some("张")).as_deref(), Some("张三"));
        assert_eq!(reporter_name(Some("Ada"), Some("Lovelace")).as_deref(), Some("Ada Lovelace"));
        assert_eq!(reporter_name(None, Some("王")).as_deref(), Some("王"));
        assert_eq!(reporter_name(None, None), None);
    }
}
