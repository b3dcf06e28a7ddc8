//! The Gridwork server: the HTTP API under `/api/v1/` (enrollment, sync,
//! attachments, administration) and Open311 GeoReport v2 for city systems
//! under `/open311/v2/` ([`open311`]), over a [`storage::Storage`].
//!
//! Handlers only carry messages: they authenticate, decode, call storage on a
//! blocking thread, and encode the answer. Decisions about data live in the
//! storage implementation and the store crate below it. See
//! `docs/sync-protocol.md` for the protocol.

pub mod attachments;
pub mod backend;
pub mod cases;
pub mod console;
pub mod core;
pub mod deadlines;
pub mod demo;
pub mod error;
pub mod export;
pub mod flow;
pub mod guesses;
pub mod limits;
pub mod listener;
pub mod open311;
pub mod openapi;
pub mod postgres;
pub mod registry;
pub mod scopes;
pub mod share;
pub mod sqlite;
pub mod stats;
pub mod storage;
pub mod turns;
pub mod wire;

use gridwork_protocol::codes::ErrorCode;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gridwork_protocol::sync::{APP_VERSION_HEADER, EnrollRequest, PullRequest, PushRequest};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::guesses::Guesses;
use crate::limits::Limits;
use crate::storage::{
    ActivityDay, ActivityFilter, ActivityPeriod, ActivityPeriodFilter, NewGrid, NewUser, Principal,
    RecordFilter, RecordPage, RecordView, Role, Storage, StorageError,
};
use crate::turns::Turns;
use crate::wire::{BodyBudget, Wire};
use gridwork_protocol::admin::{
    AppliedParked, ApplyParked, Conflict, Created, DeviceInfo, Dismissed, EnrollmentCode, IntegrationKey,
    IssuedIntegrationKey, LoggedOut, Login, NewEnrollmentCode, NewIntegrationKey, ParkedChange, ParkedPage,
    Revoked, UserInfo,
};

/// How long one request may take before it is answered with a timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Failed enrollments or logins an address may make per window before it
/// waits.
const GUESSES: u32 = 10;
const GUESS_WINDOW: Duration = Duration::from_secs(600);
/// Logins, right or wrong, an address may make in a minute: an office of
/// staff behind one address logging in at nine, not a flood.
const LOGINS_PER_MINUTE: u32 = 120;

pub use gridwork_store::{Clock, OffsetClock, SystemClock};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub storage: Arc<dyn Storage>,
    pub data_dir: PathBuf,
    enroll_guesses: Guesses,
    login_guesses: Guesses,
    /// Per device, the turn to push (see `push`).
    push_turns: Turns,
    /// Per device, the turn to pull: one page at a time.
    pull_turns: Turns,
    /// Each device's share of the database's writer.
    writer_share: Arc<share::WriterShare>,
    /// Per upload, the turn to write it.
    pub uploads: Turns,
    pub limits: Arc<Limits>,
    /// Memory for request bodies, across all requests.
    pub body_budget: BodyBudget,
    /// What every rule about time reads: the system's clock, or one a test
    /// sets.
    clock: Arc<dyn Clock>,
    /// Exports being written (see `export_cases`).
    exports: Arc<tokio::sync::Semaphore>,
    /// The console map's background tiles (`https://HOST/{z}/{x}/{y}.png`),
    /// if the city has a tile server; without one the map draws the grids'
    /// own boundaries alone.
    pub map_tiles: Option<Arc<str>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("data_dir", &self.data_dir).finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(storage: Arc<dyn Storage>, data_dir: PathBuf) -> Self {
        AppState::with_limits(storage, data_dir, Limits::default())
    }

    pub fn with_limits(storage: Arc<dyn Storage>, data_dir: PathBuf, limits: Limits) -> Self {
        AppState {
            body_budget: BodyBudget::new(limits.body_memory),
            limits: Arc::new(limits),
            storage,
            data_dir,
            enroll_guesses: Guesses::new(
                ("wrong enrollment codes", "注册码错误", "enrollment"),
                GUESSES,
                GUESS_WINDOW,
                None,
            ),
            login_guesses: Guesses::new(
                ("wrong passwords", "用户名或密码错误", "login"),
                GUESSES,
                GUESS_WINDOW,
                Some(LOGINS_PER_MINUTE),
            ),
            push_turns: Turns::default(),
            pull_turns: Turns::default(),
            writer_share: Arc::default(),
            uploads: Turns::default(),
            clock: Arc::new(SystemClock),
            map_tiles: None,
            exports: Arc::new(tokio::sync::Semaphore::new(EXPORTS_AT_ONCE)),
        }
    }

    /// The same state with a tile server for the console's map.
    pub fn with_map_tiles(mut self, tiles: Option<String>) -> Self {
        self.map_tiles = tiles.map(Arc::from);
        self
    }

    /// The same state reading time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The server's time: Unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }
}

/// Works on the horizon (see `storage::Horizon`) at start and every hour.
pub async fn purge_hourly(state: AppState) {
    loop {
        let storage = state.storage.clone();
        let now = state.now_ms();
        match blocking(move || storage.purge(now)).await {
            Ok(purged) if purged.moves + purged.records > 0 => {
                tracing::info!(?purged, "cut what is older than the horizon")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error.message, "cutting below the horizon failed"),
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// Runs a storage call on a blocking thread.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::from(StorageError::Internal(format!("worker thread: {e}"))))?
        .map_err(AppError::from)
}

/// The token of an `Authorization: Bearer TOKEN` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The holder of a valid bearer token. A revoked device is told to wipe.
#[derive(Debug)]
pub struct Authed(pub Principal);

impl FromRequestParts<AppState> for Authed {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = bearer(&parts.headers).ok_or_else(AppError::unauthorized)?;
        let digest = sqlite::digest(token);
        let storage = state.storage.clone();
        let now = state.now_ms();
        let principal =
            blocking(move || storage.authenticate(digest, now)).await?.ok_or_else(AppError::unauthorized)?;
        if principal.device.as_ref().is_some_and(|d| d.revoked) {
            return Err(AppError::revoked());
        }
        Ok(Authed(principal))
    }
}

impl Authed {
    fn admin(self) -> Result<Principal, AppError> {
        match (&self.0.role, &self.0.device) {
            (Role::Admin, None) => Ok(self.0),
            _ => Err(AppError::forbidden("this needs an administrator's token", "此操作需要管理员权限")),
        }
    }

    fn staff(self) -> Result<Principal, AppError> {
        match (&self.0.role, &self.0.device) {
            (Role::Admin | Role::Staff, None) => Ok(self.0),
            _ => Err(AppError::forbidden(
                "this needs a centre staff or administrator's token",
                "此操作需要中心工作人员权限",
            )),
        }
    }

    fn console(self) -> Result<Principal, AppError> {
        match (&self.0.role, &self.0.device) {
            (Role::Admin | Role::Staff | Role::Handler, None) => Ok(self.0),
            _ => Err(AppError::forbidden(
                "this needs a console login (centre staff, a department's handler, or an administrator)",
                "此操作需要控制台登录(中心工作人员、职能部门或管理员)",
            )),
        }
    }

    fn device(self) -> Result<Principal, AppError> {
        match &self.0.device {
            Some(_) => Ok(self.0),
            None => Err(AppError::forbidden(
                "sync needs a device's token (enroll the device first)",
                "同步需要设备令牌,请先注册设备",
            )),
        }
    }
}

/// An admin (console or CLI token, not a device's), checked from the
/// headers, before any body is read.
#[derive(Debug)]
pub struct AdminCaller(pub Principal);

/// Centre staff or an admin, checked before any body is read.
#[derive(Debug)]
pub struct StaffCaller(pub Principal);

/// Anyone working at the console (staff, handlers, admins), checked before
/// any body is read; what each may see is the storage's to decide.
#[derive(Debug)]
pub struct ConsoleCaller(pub Principal);

/// A device, checked before any body is read.
#[derive(Debug)]
pub struct DeviceCaller(pub Principal);

impl FromRequestParts<AppState> for ConsoleCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        Authed::from_request_parts(parts, state).await?.console().map(ConsoleCaller)
    }
}

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        Authed::from_request_parts(parts, state).await?.admin().map(AdminCaller)
    }
}

impl FromRequestParts<AppState> for StaffCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        Authed::from_request_parts(parts, state).await?.staff().map(StaffCaller)
    }
}

impl FromRequestParts<AppState> for DeviceCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        Authed::from_request_parts(parts, state).await?.device().map(DeviceCaller)
    }
}

/// A JSON body of at most `LIMIT` bytes (an administration request by
/// default), whose mistakes are answered in JSON, naming what is wrong.
#[derive(Debug)]
pub struct Body<T, const LIMIT: usize = ADMIN_BODY>(pub T);

/// The largest administration request: a grid with its boundary.
pub const ADMIN_BODY: usize = 256 * 1024;
/// The largest login: a name and a password of at most 1,024 characters.
pub const LOGIN_BODY: usize = 8 * 1024;

impl<T: DeserializeOwned, const LIMIT: usize> FromRequest<AppState> for Body<T, LIMIT> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, AppError> {
        let (parts, body) = request.into_parts();
        let body =
            wire::read_body(&parts.headers, body, LIMIT, &state.body_budget, state.limits.small_body_timeout)
                .await?;
        serde_json::from_slice(&body.bytes).map(Body).map_err(|e| AppError::malformed(e.to_string()))
    }
}

async fn require_protocol(request: Request, next: Next) -> Response {
    match wire::check_protocol(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

async fn time_limit(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => AppError::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::Timeout,
            format!("the request took longer than {} s", REQUEST_TIMEOUT.as_secs()),
            "请求超时",
        )
        .into_response(),
    }
}

async fn fallback() -> AppError {
    AppError::not_found(
        "no such endpoint; the API lives under /api/v1/",
        "没有这个接口;接口位于 /api/v1/ 之下",
    )
}

async fn method_not_allowed() -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method; see docs/sync-protocol.md",
        "此接口不支持该请求方法",
    )
}

/// Whether the server is up, its epoch and version.
///
/// Who: anyone; no token.
#[utoipa::path(
    get,
    path = "/api/v1/health",
    tag = "meta",
    responses(
        (status = 200, description = "the server is up: `{\"status\": \"ok\", \"epoch\", \"version\"}`", body = Object),
    ),
)]
async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(
        serde_json::json!({"status": "ok", "epoch": state.storage.epoch(), "version": env!("CARGO_PKG_VERSION")}),
    )
}

/// Outside the API: the console's pages and files.
async fn console_or_not_found(State(state): State<AppState>, method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") || path.starts_with("/open311/") {
        return fallback().await.into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed().await.into_response();
    }
    console::serve(&uri, state.map_tiles.as_deref())
}

fn app_version(headers: &HeaderMap) -> Option<String> {
    headers.get(APP_VERSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Enrolls a device with a one-time enrollment code.
///
/// Who: anyone; no token.
#[utoipa::path(
    post,
    path = "/api/v1/enroll",
    tag = "sync",
    request_body(content = EnrollRequest, description = "JSON, or the same value in postcard as `application/x-gridwork+postcard`; either may be zstd-compressed (`Content-Encoding: zstd`); the answer comes in the request's encoding"),
    responses(
        (status = 200, description = "the device is enrolled: its number and token", body = gridwork_protocol::sync::EnrollResponse),
        (status = 403, description = "the enrollment code is wrong, used or expired", body = gridwork_protocol::sync::ErrorBody),
        (status = 429, description = "too many wrong codes from this address: wait (`Retry-After`)", body = gridwork_protocol::sync::ErrorBody),
    ),
)]
async fn enroll(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Wire<EnrollRequest, { wire::SMALL }>,
) -> Result<Response, AppError> {
    let storage = state.storage.clone();
    let EnrollRequest { code, app_version, request_id } = request.value;
    let now = state.now_ms();
    let enroll = move || storage.enroll(&code, &app_version, request_id.as_deref(), now);
    let wrong = |error: &AppError| error.code == ErrorCode::BadEnrollmentCode;
    match state.enroll_guesses.attempt(&state.storage, now, peer.ip(), enroll, wrong).await {
        Ok(enrolled) => Ok(request.reply.send(&enrolled?)),
        Err(refusal) => Ok(refusal),
    }
}

/// A device sends its changed records; each is applied or refused.
///
/// Who: an enrolled, unrevoked device.
#[utoipa::path(
    post,
    path = "/api/v1/sync/push",
    tag = "sync",
    request_body(content = PushRequest, description = "JSON, or the same value in postcard as `application/x-gridwork+postcard`; either may be zstd-compressed (`Content-Encoding: zstd`); the answer comes in the request's encoding"),
    responses(
        (status = 200, description = "what was applied and what was refused, record by record", body = gridwork_protocol::sync::PushResponse),
        (status = 409, description = "the device's database diverged from what the server holds (`device_diverged`): nothing was applied", body = gridwork_protocol::sync::ErrorBody),
        (status = 429, description = "the device pushes too often: wait (`Retry-After`)", body = gridwork_protocol::sync::ErrorBody),
        (status = 503, description = "the server is busy: try again (`Retry-After`)", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("device" = [])),
)]
async fn push(
    State(state): State<AppState>,
    DeviceCaller(device): DeviceCaller,
    request: Request,
) -> Result<Response, AppError> {
    // One push per device at a time, its body read only once it is its
    // turn, and the turn kept until the answer has gone out: a device never
    // needs two at once, and so one device can hold neither many bodies nor
    // many answers in memory.
    let id = device.device.as_ref().expect("a device principal").id.clone();
    let turn = state.push_turns.take(id.clone()).await;
    // A device that has held the writer more than its share waits its turn
    // (see `share.rs`), before its body is read.
    let wait = state.writer_share.wait(&id);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let version = app_version(request.headers());
    let request: Wire<PushRequest> = Wire::from_request(request, &state).await?;
    let storage = state.storage.clone();
    let reply = request.reply;
    let started = std::time::Instant::now();
    let now = state.now_ms();
    match blocking(move || storage.push(&device, request.value, version.as_deref(), now)).await {
        Ok(pushed) => {
            state.writer_share.charge(&id, pushed.writer_time);
            Ok(wire::hold(reply.send(&pushed.answer), turn).await)
        }
        Err(error) => {
            // Refused whole after it took the writer (or waited for it):
            // charged all the same.
            state.writer_share.charge(&id, started.elapsed());
            Err(error)
        }
    }
}

/// A device fetches the changes of its scope after its cursor, a page at a time.
///
/// Who: an enrolled, unrevoked device.
#[utoipa::path(
    post,
    path = "/api/v1/sync/pull",
    tag = "sync",
    request_body(content = PullRequest, description = "JSON, or the same value in postcard as `application/x-gridwork+postcard`; either may be zstd-compressed (`Content-Encoding: zstd`); the answer comes in the request's encoding"),
    responses(
        (status = 200, description = "a page of the changes in the device's scope", body = gridwork_protocol::sync::PullResponse),
    ),
    security(("device" = [])),
)]
async fn pull(
    State(state): State<AppState>,
    DeviceCaller(device): DeviceCaller,
    request: Request,
) -> Result<Response, AppError> {
    // One page at a time per device, kept until the page has gone out: one
    // device can take neither every reader nor memory for many pages.
    let id = device.device.as_ref().expect("a device principal").id.clone();
    let turn = state.pull_turns.take(id).await;
    let request: Wire<PullRequest, { wire::SMALL }> = Wire::from_request(request, &state).await?;
    let storage = state.storage.clone();
    let reply = request.reply;
    let now = state.now_ms();
    let answer = blocking(move || storage.pull(&device, request.value, now)).await?;
    Ok(wire::hold(reply.send(&answer), turn).await)
}

/// Starts a console session with a name and password.
///
/// Who: anyone; no token.
#[utoipa::path(
    post,
    path = "/api/v1/login",
    tag = "console",
    request_body = Login,
    responses(
        (status = 200, description = "a console session", body = gridwork_protocol::admin::ConsoleSession),
        (status = 401, description = "wrong name or password", body = gridwork_protocol::sync::ErrorBody),
        (status = 429, description = "too many wrong passwords or logins from this address: wait (`Retry-After`)", body = gridwork_protocol::sync::ErrorBody),
    ),
)]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Body(login): Body<Login, LOGIN_BODY>,
) -> Result<Response, AppError> {
    // One check at a time (argon2 takes about 19 MiB and tens of
    // milliseconds): the others wait without holding any.
    let storage = state.storage.clone();
    let now = state.now_ms();
    let try_login = move || storage.login(&login.name, &login.password, now);
    let wrong = |error: &AppError| error.code == ErrorCode::BadLogin;
    match state.login_guesses.attempt(&state.storage, now, peer.ip(), try_login, wrong).await {
        Ok(session) => Ok(Json(session?).into_response()),
        Err(refusal) => Ok(refusal),
    }
}

/// Ends the console session whose token the request carries.
///
/// Who: the holder of a console session (`Authorization: Bearer TOKEN`).
#[utoipa::path(
    post,
    path = "/api/v1/logout",
    tag = "console",
    responses(
        (status = 200, description = "the session is ended", body = LoggedOut),
        (status = 400, description = "the token is not a console session", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<LoggedOut>, AppError> {
    let token = bearer(&headers).ok_or_else(AppError::unauthorized)?;
    let digest = sqlite::digest(token);
    let storage = state.storage.clone();
    let now = state.now_ms();
    if !blocking(move || storage.logout(digest, now)).await? {
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::NotASession,
            "this token is not a console session; devices are revoked by an admin",
            "此令牌不是控制台会话;设备须由管理员注销",
        ));
    }
    Ok(Json(LoggedOut { logged_out: true }))
}

/// Adds a grid to the tree.
///
/// Who: an administrator (a session token, not a device's).
#[utoipa::path(
    post,
    path = "/api/v1/admin/grids",
    tag = "admin",
    request_body = NewGrid,
    responses(
        (status = 200, description = "the grid's id", body = Created),
        (status = 422, description = "a field is invalid: the error names it", body = gridwork_protocol::sync::ErrorBody),
        (status = 409, description = "a grid with that code exists", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn add_grid(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    Body(grid): Body<NewGrid>,
) -> Result<Json<Created>, AppError> {
    let storage = state.storage.clone();
    let now = state.now_ms();
    let id = blocking(move || storage.add_grid(&admin, grid, now)).await?;
    Ok(Json(Created { id: id.to_string() }))
}

/// Renames, moves or redraws a grid.
///
/// Who: an administrator (a session token, not a device's).
#[utoipa::path(
    put,
    path = "/api/v1/admin/grids/{code}",
    tag = "admin",
    params(("code" = String, Path, description = "the grid's code")),
    request_body = gridwork_protocol::console::GridChange,
    responses(
        (status = 200, description = "the grid as it now is", body = gridwork_protocol::console::GridInfo),
        (status = 404, description = "no such grid", body = gridwork_protocol::sync::ErrorBody),
        (status = 422, description = "a field is invalid: the error names it", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn update_grid(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    Path(code): Path<String>,
    Body(change): Body<gridwork_protocol::console::GridChange>,
) -> Result<Json<gridwork_protocol::console::GridInfo>, AppError> {
    let storage = state.storage.clone();
    let now = state.now_ms();
    Ok(Json(blocking(move || storage.update_grid(&admin, &code, change, now)).await?))
}

/// Adds a user: a grid worker, centre staff, a department's handler or an administrator.
///
/// Who: an administrator (a session token, not a device's).
#[utoipa::path(
    post,
    path = "/api/v1/admin/users",
    tag = "admin",
    request_body = NewUser,
    responses(
        (status = 200, description = "the user's id", body = Created),
        (status = 422, description = "a field is invalid: the error names it", body = gridwork_protocol::sync::ErrorBody),
        (status = 409, description = "a user with that name exists", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn add_user(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    Body(user): Body<NewUser>,
) -> Result<Json<Created>, AppError> {
    let storage = state.storage.clone();
    let now = state.now_ms();
    let id = blocking(move || storage.create_user(&admin, user, now)).await?;
    Ok(Json(Created { id: id.to_string() }))
}

/// Issues a one-time code that enrolls a device of a grid worker.
///
/// Who: an administrator (a session token, not a device's).
#[utoipa::path(
    post,
    path = "/api/v1/admin/enrollment-codes",
    tag = "admin",
    request_body = NewEnrollmentCode,
    responses(
        (status = 200, description = "a one-time code for enrolling a device of the user", body = EnrollmentCode),
        (status = 404, description = "no such user", body = gridwork_protocol::sync::ErrorBody),
        (status = 422, description = "a field is invalid: the error names it", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn enrollment_code(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    Body(request): Body<NewEnrollmentCode>,
) -> Result<Json<EnrollmentCode>, AppError> {
    let ttl_minutes = request.ttl_minutes.unwrap_or(30);
    if !(1..=7 * 24 * 60).contains(&ttl_minutes) {
        return Err(StorageError::Invalid(gridwork_domain::ValidationError::invalid(
            "ttl_minutes",
            gridwork_domain::Reason::OutOfRange { min: 1, max: 7 * 24 * 60 },
        ))
        .into());
    }
    let storage = state.storage.clone();
    let now = state.now_ms();
    let code =
        blocking(move || storage.create_enrollment_code(&admin, &request.user_id, ttl_minutes * 60_000, now))
            .await?;
    Ok(Json(code))
}

/// Lists the enrolled devices.
///
/// Who: an administrator (a session token, not a device's).
#[utoipa::path(
    get,
    path = "/api/v1/admin/devices",
    tag = "admin",
    responses(
        (status = 200, description = "every enrolled device", body = Vec<DeviceInfo>),
    ),
    security(("session" = [])),
)]
async fn devices(
    State(state): State<AppState>,
    _admin: AdminCaller,
) -> Result<Json<Vec<DeviceInfo>>, AppError> {
    let storage = state.storage.clone();
    let devices = blocking(move || storage.devices()).await?;
    Ok(Json(devices))
}

/// Revokes a device: it wipes itself at its next sync, and its token is refused from now.
///
/// Who: an administrator (a session token, not a device's).
#[utoipa::path(
    post,
    path = "/api/v1/admin/devices/{id}/revoke",
    tag = "admin",
    params(("id" = String, Path, description = "the device's id")),
    responses(
        (status = 200, description = "the device is revoked: it wipes itself at its next sync", body = Revoked),
        (status = 404, description = "no such device", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn revoke(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Revoked>, AppError> {
    let storage = state.storage.clone();
    let device = id.clone();
    let now = state.now_ms();
    blocking(move || storage.revoke_device(&admin, &device, now)).await?;
    Ok(Json(Revoked { revoked: id }))
}

/// Issues an integration key for a city system (Open311).
///
/// Who: an administrator (a session token, not a device's).
#[utoipa::path(
    post,
    path = "/api/v1/admin/integration-keys",
    tag = "admin",
    request_body = NewIntegrationKey,
    responses(
        (status = 200, description = "the key, with its secret (shown once)", body = IssuedIntegrationKey),
        (status = 422, description = "a field is invalid: the error names it", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn issue_integration_key(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    Body(key): Body<NewIntegrationKey>,
) -> Result<Json<IssuedIntegrationKey>, AppError> {
    let storage = state.storage.clone();
    let now = state.now_ms();
    Ok(Json(blocking(move || storage.issue_integration_key(&admin, key, now)).await?))
}

/// Lists the integration keys.
///
/// Who: an administrator (a session token, not a device's).
#[utoipa::path(
    get,
    path = "/api/v1/admin/integration-keys",
    tag = "admin",
    responses(
        (status = 200, description = "every integration key, without secrets", body = Vec<IntegrationKey>),
    ),
    security(("session" = [])),
)]
async fn integration_keys(
    State(state): State<AppState>,
    _admin: AdminCaller,
) -> Result<Json<Vec<IntegrationKey>>, AppError> {
    let storage = state.storage.clone();
    Ok(Json(blocking(move || storage.integration_keys()).await?))
}

/// Revokes an integration key.
///
/// Who: an administrator (a session token, not a device's).
#[utoipa::path(
    post,
    path = "/api/v1/admin/integration-keys/{id}/revoke",
    tag = "admin",
    params(("id" = String, Path, description = "the key's id")),
    responses(
        (status = 200, description = "the key as it now is, revoked", body = IntegrationKey),
        (status = 404, description = "no such integration key", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn revoke_integration_key(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<IntegrationKey>, AppError> {
    let storage = state.storage.clone();
    let now = state.now_ms();
    Ok(Json(blocking(move || storage.revoke_integration_key(&admin, &id, now)).await?))
}

/// The conflict inbox: fields with concurrent values kept for review.
///
/// Who: centre staff (their part of the grid tree's records) or an administrator.
#[utoipa::path(
    get,
    path = "/api/v1/admin/conflicts",
    tag = "console",
    responses(
        (status = 200, description = "the fields with concurrent values kept for review (city-wide staff and admins)", body = Vec<Conflict>),
    ),
    security(("session" = [])),
)]
async fn conflicts(
    State(state): State<AppState>,
    StaffCaller(staff): StaffCaller,
) -> Result<Json<Vec<Conflict>>, AppError> {
    let storage = state.storage.clone();
    let conflicts = blocking(move || storage.conflicts(&staff, 10_000)).await?;
    Ok(Json(conflicts))
}

/// Settles a conflict: the server writes the value kept.
///
/// Who: centre staff (a record in their part of the grid tree) or an administrator.
#[utoipa::path(
    post,
    path = "/api/v1/admin/conflicts/settle",
    tag = "console",
    request_body = gridwork_protocol::console::SettleConflict,
    responses(
        (status = 200, description = "the value kept", body = gridwork_protocol::console::Settled),
        (status = 404, description = "no such record or field in conflict", body = gridwork_protocol::sync::ErrorBody),
        (status = 409, description = "the record is deleted, or the case flow owns the field", body = gridwork_protocol::sync::ErrorBody),
        (status = 422, description = "a field is invalid: the error names it", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn settle_conflict(
    State(state): State<AppState>,
    StaffCaller(staff): StaffCaller,
    Body(settle): Body<gridwork_protocol::console::SettleConflict>,
) -> Result<Json<gridwork_protocol::console::Settled>, AppError> {
    let storage = state.storage.clone();
    let now = state.now_ms();
    Ok(Json(blocking(move || storage.settle_conflict(&staff, settle, now)).await?))
}

/// `GET /api/v1/cases/export`'s question: the list's filter, a format
/// and a language.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct CaseExport {
    format: String,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    overdue: bool,
}

/// The most rows one export holds: a file of some tens of MB at most.
const EXPORT_MAX_ROWS: usize = 20_000;
/// Exports written at once; more wait their turn or are told to.
const EXPORTS_AT_ONCE: usize = 2;

/// The case list, filtered as the list is, as an XLSX or CSV file.
///
/// Who: any console login (centre staff, a department's handler, an administrator); each sees only its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/cases/export",
    tag = "cases",
    params(CaseExport),
    responses(
        (status = 200, description = "the list as a spreadsheet (`Content-Disposition: attachment`)", content(
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (String = "text/csv"),
        )),
        (status = 503, description = "two exports are being written: try again (`Retry-After`)", body = gridwork_protocol::sync::ErrorBody),
        (status = 422, description = "more than 20,000 cases match: narrow the list", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn export_cases(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
    wanted: Result<axum::extract::Query<CaseExport>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let wanted = query(wanted)?;
    let storage = state.storage.clone();
    let now = state.now_ms();
    let english = wanted.lang.as_deref() == Some("en");
    download(&state, &wanted.format, "cases", true, move |sheet| {
        let filter = gridwork_protocol::cases::CaseFilter {
            status: wanted.status,
            category: wanted.category,
            department: wanted.department,
            overdue: wanted.overdue,
            after: None,
            limit: Some(200),
        };
        let cases = all_pages(
            |after| {
                let page = storage.cases(&who, gridwork_protocol::cases::CaseFilter { after, ..filter.clone() }, now)?;
                Ok((page.items, page.next))
            },
            || StorageError::Said {
                code: ErrorCode::Invalid,
                en: format!(
                    "more than {EXPORT_MAX_ROWS} cases match: narrow the list (status, category, department) and export again"
                ),
                zh: format!("符合条件的事件超过 {EXPORT_MAX_ROWS} 件,请缩小筛选范围后再导出"),
            },
        )?;
        let names = export::Names {
            categories: storage.categories()?,
            departments: storage.departments()?,
            ..grid_names(storage.as_ref(), &who, english)?
        };
        if sheet == export::Format::GeoJson {
            return Ok(export::cases_geojson(&cases, &names));
        }
        table_file(sheet, english, ("Cases", "事件"), export::case_table(&cases, &names))
    })
    .await
}

/// Writes an export off the async threads, at most [`EXPORTS_AT_ONCE`] at
/// a time (each holds its rows and its file in memory), and answers it as
/// the download `gridwork-NAME.xlsx`, `.csv` (or `.geojson`, for the lists
/// that have a map: `geojson`).
async fn download(
    state: &AppState,
    format: &str,
    name: &'static str,
    geojson: bool,
    make: impl FnOnce(export::Format) -> Result<Vec<u8>, StorageError> + Send + 'static,
) -> Result<Response, AppError> {
    let sheet = export::Format::parse(format)
        .filter(|f| geojson || *f != export::Format::GeoJson)
        .ok_or_else(|| {
            let (en, zh) = if geojson {
                ("write format=xlsx, format=csv or format=geojson", "导出格式只能是 xlsx、csv 或 geojson")
            } else {
                ("write format=xlsx or format=csv", "导出格式只能是 xlsx 或 csv")
            };
            AppError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::Invalid,
                format!("format `{format}` is not one this list exports: {en}"),
                zh,
            )
        })?;
    let Ok(turn) = state.exports.clone().try_acquire_owned() else {
        return Err(AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Busy,
            format!("{EXPORTS_AT_ONCE} exports are being written: try again in a few seconds"),
            "正在生成其他导出文件,请稍后再试",
        )
        .retry_after(5));
    };
    let bytes = blocking(move || {
        // Held until the file is written, even if the request times out.
        let _turn = turn;
        make(sheet)
    })
    .await?;
    let file = format!("gridwork-{name}.{}", sheet.extension());
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, sheet.content_type().to_owned()),
            (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
        ],
        bytes,
    )
        .into_response())
}

/// A list's table as a spreadsheet, its sheet titled in one language.
fn table_file<S: AsRef<str>>(
    format: export::Format,
    english: bool,
    (en, zh): (&str, &str),
    (header, rows): (Vec<S>, Vec<Vec<export::Cell>>),
) -> Result<Vec<u8>, StorageError> {
    let header: Vec<&str> = header.iter().map(AsRef::as_ref).collect();
    export::write(format, if english { en } else { zh }, &header, &rows)
        .map_err(|e| StorageError::Internal(format!("writing the export: {e}")))
}

/// Every page of a list, read page after page from the start, up to
/// [`EXPORT_MAX_ROWS`] rows; past them, `too_many`.
fn all_pages<T, C>(
    mut page: impl FnMut(Option<C>) -> Result<(Vec<T>, Option<C>), StorageError>,
    too_many: impl Fn() -> StorageError,
) -> Result<Vec<T>, StorageError> {
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        let (items, next) = page(after)?;
        rows.extend(items);
        if rows.len() > EXPORT_MAX_ROWS {
            return Err(too_many());
        }
        match next {
            Some(next) => after = Some(next),
            None => return Ok(rows),
        }
    }
}

/// The names of the grids `who` sees, by code, and the language: what an
/// export shows instead of codes.
fn grid_names(storage: &dyn Storage, who: &Principal, english: bool) -> Result<export::Names, StorageError> {
    Ok(export::Names {
        english,
        grids: storage.grids(who)?.into_iter().map(|g| (g.code, g.name)).collect(),
        ..export::Names::default()
    })
}

/// What `GET /api/v1/records/export` takes: the list's filter (as
/// `/records` takes it, without paging), the format and the language.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RecordExport {
    /// `xlsx` or `csv`.
    format: String,
    /// `en` for English headers and labels; Chinese otherwise.
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    grid: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    residence: Option<String>,
}

/// The registry list, filtered as the list is, as an XLSX or CSV file.
/// Exporting leaves an audit line (the filter and how many rows, not the
/// search text nor the values).
///
/// Who: centre staff and administrators, each in its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/records/export",
    tag = "registry",
    params(RecordExport),
    responses(
        (status = 200, description = "the list as a spreadsheet (`Content-Disposition: attachment`)", content(
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (String = "text/csv"),
        )),
        (status = 503, description = "two exports are being written: try again (`Retry-After`)", body = gridwork_protocol::sync::ErrorBody),
        (status = 422, description = "a parameter is wrong, or more than 20,000 records match: narrow the list", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn export_records(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
    wanted: Result<axum::extract::Query<RecordExport>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let wanted = query(wanted)?;
    let storage = state.storage.clone();
    let now = state.now_ms();
    let english = wanted.lang.as_deref() == Some("en");
    download(&state, &wanted.format, "registry", false, move |sheet| {
        let filter = RecordFilter {
            kind: wanted.kind,
            grid: wanted.grid,
            q: wanted.q,
            tag: wanted.tag,
            residence: wanted.residence,
            after: None,
            limit: Some("200".into()),
        };
        let items = all_pages(
            |after| {
                let page = storage.records(&who, RecordFilter { after, ..filter.clone() })?;
                Ok((page.items, page.next))
            },
            || StorageError::Said {
                code: ErrorCode::Invalid,
                en: format!(
                    "more than {EXPORT_MAX_ROWS} records match: narrow the list (grid, search, tag) and export again"
                ),
                zh: format!("符合条件的记录超过 {EXPORT_MAX_ROWS} 条,请缩小筛选范围后再导出"),
            },
        )?;
        // The list checked the kind (trimmed, as it reads it).
        let kind = gridwork_domain::Kind::parse(filter.kind.as_deref().unwrap_or_default().trim())
            .map_err(|_| StorageError::Internal("a kind the list took is not a kind".into()))?;
        let detail = serde_json::json!({
            "kind": kind.as_str(), "grid": filter.grid, "tag": filter.tag,
            "residence": filter.residence, "searched": filter.q.is_some(), "rows": items.len(),
        });
        storage.note_export(&who, "records_export", detail, now)?;
        let names = grid_names(storage.as_ref(), &who, english)?;
        let label = kind.def().label;
        table_file(sheet, english, (label.en, label.zh), export::record_table(kind, &items, &names))
    })
    .await
}

/// Each worker's patrols and visits over a span of days (a week by
/// default, at most 31 days), in the caller's grids.
///
/// Who: centre staff and administrators, each in its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/activity/period",
    tag = "registry",
    params(gridwork_protocol::registry::ActivityPeriodFilter),
    responses(
        (status = 200, description = "each worker's tally over the days, most patrols first", body = gridwork_protocol::registry::ActivityPeriod),
        (status = 422, description = "a parameter is wrong (named in the message)", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn activity_period(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
    filter: Result<axum::extract::Query<ActivityPeriodFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ActivityPeriod>, AppError> {
    let filter = query(filter)?;
    let storage = state.storage.clone();
    let now = state.now_ms();
    Ok(Json(blocking(move || storage.activity_period(&who, filter, now)).await?))
}

/// What `GET /api/v1/activity/period/export` takes: the span's filter, the
/// format and the language.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PeriodExport {
    /// `xlsx` or `csv`.
    format: String,
    /// `en` for English headers; Chinese otherwise.
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    grid: Option<String>,
}

/// Each worker's tally over a span of days as an XLSX or CSV file.
///
/// Who: centre staff and administrators, each in its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/activity/period/export",
    tag = "registry",
    params(PeriodExport),
    responses(
        (status = 200, description = "the tally as a spreadsheet (`Content-Disposition: attachment`)", content(
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (String = "text/csv"),
        )),
        (status = 503, description = "two exports are being written: try again (`Retry-After`)", body = gridwork_protocol::sync::ErrorBody),
        (status = 422, description = "a parameter is wrong, or the span holds more than one answer reads: narrow it", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn export_activity_period(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
    wanted: Result<axum::extract::Query<PeriodExport>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let wanted = query(wanted)?;
    let storage = state.storage.clone();
    let now = state.now_ms();
    let english = wanted.lang.as_deref() == Some("en");
    download(&state, &wanted.format, "workers", false, move |sheet| {
        let filter = ActivityPeriodFilter { from: wanted.from, to: wanted.to, grid: wanted.grid };
        let period = storage.activity_period(&who, filter.clone(), now)?;
        if period.truncated {
            return Err(StorageError::Said {
                code: ErrorCode::Invalid,
                en: "the span holds more than one answer reads: narrow it by grid or days and export again"
                    .into(),
                zh: "该时段的记录过多,请按网格或缩短时段后再导出".into(),
            });
        }
        let detail = serde_json::json!({
            "from": period.from, "to": period.to, "grid": filter.grid, "rows": period.workers.len(),
        });
        storage.note_export(&who, "activity_period_export", detail, now)?;
        table_file(sheet, english, ("Workers", "网格员"), export::period_table(&period, english))
    })
    .await
}

/// What `GET /api/v1/activity/export` takes: the day's filter (as
/// `/activity` takes it), which list, the format and the language.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ActivityExport {
    /// `xlsx` or `csv`.
    format: String,
    /// `patrol` or `visit`.
    kind: String,
    /// `en` for English headers and labels; Chinese otherwise.
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    day: Option<String>,
    #[serde(default)]
    grid: Option<String>,
    #[serde(default)]
    worker: Option<String>,
}

/// A day's patrols or visits, filtered as the page is, as an XLSX or CSV
/// file (routes left out). Exporting leaves an audit line.
///
/// Who: centre staff and administrators, each in its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/activity/export",
    tag = "registry",
    params(ActivityExport),
    responses(
        (status = 200, description = "the list as a spreadsheet (`Content-Disposition: attachment`)", content(
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (String = "text/csv"),
        )),
        (status = 503, description = "two exports are being written: try again (`Retry-After`)", body = gridwork_protocol::sync::ErrorBody),
        (status = 422, description = "a parameter is wrong, or the day holds more than one answer does: narrow it by grid or worker", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn export_activity(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
    wanted: Result<axum::extract::Query<ActivityExport>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let wanted = query(wanted)?;
    let kind = match wanted.kind.as_str() {
        "patrol" => gridwork_domain::Kind::Patrol,
        "visit" => gridwork_domain::Kind::Visit,
        other => {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::Invalid,
                format!("`kind` is `{other}`: write kind=patrol or kind=visit"),
                "“kind”只能是 patrol(巡查)或 visit(走访)",
            ));
        }
    };
    let storage = state.storage.clone();
    let now = state.now_ms();
    let english = wanted.lang.as_deref() == Some("en");
    download(&state, &wanted.format, kind.def().table, false, move |sheet| {
        let filter = ActivityFilter { day: wanted.day, grid: wanted.grid, worker: wanted.worker };
        let (day, items, truncated) = storage.activity_list(&who, filter.clone(), kind, EXPORT_MAX_ROWS, now)?;
        if truncated {
            return Err(StorageError::Said {
                code: ErrorCode::Invalid,
                en: format!(
                    "{day} holds more than {EXPORT_MAX_ROWS} of them: narrow it by grid or worker and export again"
                ),
                zh: format!("{day} 的记录超过 {EXPORT_MAX_ROWS} 条,请按网格或网格员缩小范围后再导出"),
            });
        }
        let detail = serde_json::json!({
            "kind": kind.as_str(), "day": day, "grid": filter.grid,
            "worker": filter.worker.is_some(), "rows": items.len(),
        });
        storage.note_export(&who, "activity_export", detail, now)?;
        let names = grid_names(storage.as_ref(), &who, english)?;
        let label = kind.def().label;
        table_file(sheet, english, (label.en, label.zh), export::record_table(kind, &items, &names))
    })
    .await
}

/// The record kinds, their fields' labels and choices, for the console's
/// tables and forms.
///
/// Who: any console login (centre staff, a department's handler, an administrator); each sees only its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/schema",
    tag = "console",
    responses(
        (status = 200, description = "the record kinds: fields, labels, types and choices", body = Vec<gridwork_protocol::schema::KindInfo>),
    ),
    security(("session" = [])),
)]
async fn schema(_who: ConsoleCaller) -> Json<Vec<gridwork_protocol::schema::KindInfo>> {
    Json(gridwork_protocol::schema::kinds())
}

/// Supervision notes (督办) on the cases the caller sees.
///
/// Who: any console login (centre staff, a department's handler, an administrator); each sees only its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/supervisions",
    tag = "cases",
    responses(
        (status = 200, description = "supervision notes (督办) on the cases the caller sees", body = Vec<gridwork_protocol::cases::Supervision>),
    ),
    security(("session" = [])),
)]
async fn supervisions(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
) -> Result<Json<Vec<gridwork_protocol::cases::Supervision>>, AppError> {
    let storage = state.storage.clone();
    let now = state.now_ms();
    Ok(Json(blocking(move || storage.supervisions(&who, now)).await?))
}

/// Who is logged in, and their part of the grid tree.
///
/// Who: any console login (centre staff, a department's handler, an administrator); each sees only its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "console",
    responses(
        (status = 200, description = "who is logged in, and their grids", body = gridwork_protocol::console::Me),
    ),
    security(("session" = [])),
)]
async fn me(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
) -> Result<Json<gridwork_protocol::console::Me>, AppError> {
    let storage = state.storage.clone();
    let mut me = blocking(move || storage.me(&who)).await?;
    me.map_tiles = state.map_tiles.as_deref().map(str::to_owned);
    Ok(Json(me))
}

/// The grids the caller sees, with their boundaries.
///
/// Who: any console login (centre staff, a department's handler, an administrator); each sees only its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/grids",
    tag = "console",
    responses(
        (status = 200, description = "the grids the caller sees, with their boundaries", body = Vec<gridwork_protocol::console::GridInfo>),
    ),
    security(("session" = [])),
)]
async fn grids(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
) -> Result<Json<Vec<gridwork_protocol::console::GridInfo>>, AppError> {
    let storage = state.storage.clone();
    Ok(Json(blocking(move || storage.grids(&who)).await?))
}

/// What the exports of the administration lists and of the grids take.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListExport {
    /// `xlsx` or `csv` (or `geojson`, for the grids).
    format: String,
    /// `en` for English headers; Chinese otherwise.
    #[serde(default)]
    lang: Option<String>,
}

/// The enrolled devices as a spreadsheet.
///
/// Who: an administrator.
#[utoipa::path(get, path = "/api/v1/admin/devices/export", tag = "admin", params(ListExport),
    responses((status = 200, description = "the list as a spreadsheet", content((Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (String = "text/csv")))),
    security(("session" = [])))]
async fn export_devices(
    State(state): State<AppState>,
    AdminCaller(_admin): AdminCaller,
    wanted: Result<axum::extract::Query<ListExport>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let wanted = query(wanted)?;
    let storage = state.storage.clone();
    let english = wanted.lang.as_deref() == Some("en");
    download(&state, &wanted.format, "devices", false, move |format| {
        table_file(format, english, ("Devices", "设备"), export::device_table(&storage.devices()?, english))
    })
    .await
}

/// The accounts as a spreadsheet (no passwords, no sessions).
///
/// Who: an administrator.
#[utoipa::path(get, path = "/api/v1/admin/users/export", tag = "admin", params(ListExport),
    responses((status = 200, description = "the list as a spreadsheet", content((Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (String = "text/csv")))),
    security(("session" = [])))]
async fn export_users(
    State(state): State<AppState>,
    AdminCaller(_admin): AdminCaller,
    wanted: Result<axum::extract::Query<ListExport>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let wanted = query(wanted)?;
    let storage = state.storage.clone();
    let english = wanted.lang.as_deref() == Some("en");
    download(&state, &wanted.format, "accounts", false, move |format| {
        table_file(format, english, ("Accounts", "账号"), export::user_table(&storage.users()?, english))
    })
    .await
}

/// The conflict inbox as a spreadsheet, within the caller's grids;
/// audited (the values are residents' data).
///
/// Who: an administrator, or centre staff (their part of the tree).
#[utoipa::path(get, path = "/api/v1/admin/conflicts/export", tag = "console", params(ListExport),
    responses((status = 200, description = "the list as a spreadsheet", content((Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (String = "text/csv")))),
    security(("session" = [])))]
async fn export_conflicts(
    State(state): State<AppState>,
    StaffCaller(staff): StaffCaller,
    wanted: Result<axum::extract::Query<ListExport>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let wanted = query(wanted)?;
    let storage = state.storage.clone();
    let now = state.now_ms();
    let english = wanted.lang.as_deref() == Some("en");
    download(&state, &wanted.format, "conflicts", false, move |format| {
        let conflicts = storage.conflicts(&staff, EXPORT_MAX_ROWS)?;
        storage.note_export(&staff, "conflicts_export", serde_json::json!({"rows": conflicts.len()}), now)?;
        table_file(format, english, ("Conflicts", "冲突"), export::conflict_table(&conflicts, english))
    })
    .await
}

/// The parked refusals as a spreadsheet (without their values), within
/// the caller's grids.
///
/// Who: an administrator, or centre staff (their part of the tree).
#[utoipa::path(get, path = "/api/v1/admin/parked/export", tag = "console", params(ListExport),
    responses((status = 200, description = "the list as a spreadsheet", content((Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), (String = "text/csv")))),
    security(("session" = [])))]
async fn export_parked(
    State(state): State<AppState>,
    StaffCaller(staff): StaffCaller,
    wanted: Result<axum::extract::Query<ListExport>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let wanted = query(wanted)?;
    let storage = state.storage.clone();
    let english = wanted.lang.as_deref() == Some("en");
    download(&state, &wanted.format, "refused", false, move |format| {
        let items = all_pages(
            |after| {
                let page = storage.parked(&staff, after, 1000)?;
                Ok((page.items, page.next))
            },
            || StorageError::Said {
                code: ErrorCode::Invalid,
                en: format!(
                    "more than {EXPORT_MAX_ROWS} refused changes are parked: dismiss the reviewed ones and export again"
                ),
                zh: format!("被拒修改超过 {EXPORT_MAX_ROWS} 条,请先处理已审核的再导出"),
            },
        )?;
        let names = grid_names(storage.as_ref(), &staff, english)?;
        table_file(format, english, ("Refused changes", "被拒修改"), export::parked_table(&items, &names))
    })
    .await
}

/// The grids the caller sees: GeoJSON with their boundaries (WGS-84), or
/// a table.
///
/// Who: any console login; each sees only its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/grids/export",
    tag = "console",
    params(ListExport),
    responses(
        (status = 200, description = "the grids as a file (`Content-Disposition: attachment`)", content(
            (String = "application/geo+json"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (String = "text/csv"),
        )),
        (status = 503, description = "two exports are being written: try again (`Retry-After`)", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn export_grids(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
    wanted: Result<axum::extract::Query<ListExport>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let wanted = query(wanted)?;
    let storage = state.storage.clone();
    let english = wanted.lang.as_deref() == Some("en");
    download(&state, &wanted.format, "grids", true, move |format| {
        let grids = storage.grids(&who)?;
        if format == export::Format::GeoJson {
            return Ok(export::grids_geojson(&grids));
        }
        table_file(format, english, ("Grids", "网格"), export::grid_table(&grids, english))
    })
    .await
}

/// `GET /api/v1/stats`'s question.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct StatsSince {
    /// Cases received at or after this instant (Unix ms); all by default.
    since_ms: Option<u64>,
}

/// The dashboard's figures.
///
/// Who: any console login (centre staff, a department's handler, an administrator); each sees only its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/stats",
    tag = "console",
    params(StatsSince),
    responses(
        (status = 200, description = "the dashboard's figures of the cases the caller sees", body = gridwork_protocol::console::CaseStats),
    ),
    security(("session" = [])),
)]
async fn stats(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
    since: Result<axum::extract::Query<StatsSince>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<gridwork_protocol::console::CaseStats>, AppError> {
    // Past what the database's integers hold, nothing was received.
    let since = query(since)?.since_ms.unwrap_or(0).min(i64::MAX as u64);
    let storage = state.storage.clone();
    let now = state.now_ms();
    Ok(Json(blocking(move || storage.case_stats(&who, since, now)).await?))
}

/// Where a page of a list starts and how long it is.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Page {
    after: Option<u64>,
    limit: Option<usize>,
}

impl Page {
    /// The page length asked for, 100 by default, at most 1,000.
    fn limit(&self) -> usize {
        self.limit.unwrap_or(100).clamp(1, 1000)
    }
}

fn query<T: DeserializeOwned>(
    query: Result<axum::extract::Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, AppError> {
    query.map(|q| q.0).map_err(|e| AppError::malformed(e.body_text()))
}

/// Refused changes parked for review, a page at a time.
///
/// Who: an administrator, or centre staff (those given part of the grid
/// tree: the refusals of their grids).
#[utoipa::path(
    get,
    path = "/api/v1/admin/parked",
    tag = "console",
    params(Page),
    responses(
        (status = 200, description = "a page of refused changes parked for review", body = ParkedPage),
    ),
    security(("session" = [])),
)]
async fn parked(
    State(state): State<AppState>,
    StaffCaller(staff): StaffCaller,
    page: Result<axum::extract::Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ParkedPage>, AppError> {
    let page = query(page)?;
    let storage = state.storage.clone();
    let parked = blocking(move || storage.parked(&staff, page.after, page.limit())).await?;
    Ok(Json(parked))
}

/// A record id in the path, its mistakes answered in JSON.
#[derive(Debug)]
struct CaseId(gridwork_domain::RecordId);

impl<S: Send + Sync> FromRequestParts<S> for CaseId {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| AppError::malformed(e.body_text()))?;
        text.parse().map(CaseId).map_err(|_| {
            AppError::not_found(format!("`{text}` is not a case id"), format!("`{text}`不是事件编号"))
        })
    }
}

/// The departments cases are dispatched to.
///
/// Who: any console login (centre staff, a department's handler, an administrator); each sees only its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/departments",
    tag = "cases",
    responses(
        (status = 200, description = "the departments cases are dispatched to", body = Vec<gridwork_protocol::cases::Department>),
    ),
    security(("session" = [])),
)]
async fn departments(
    State(state): State<AppState>,
    _who: ConsoleCaller,
) -> Result<Json<Vec<gridwork_protocol::cases::Department>>, AppError> {
    let storage = state.storage.clone();
    Ok(Json(blocking(move || storage.departments()).await?))
}

/// Adds a department.
///
/// Who: an administrator (a session token, not a device's).
#[utoipa::path(
    post,
    path = "/api/v1/admin/departments",
    tag = "admin",
    request_body = gridwork_protocol::cases::Department,
    responses(
        (status = 200, description = "the department's code: `{\"code\"}`", body = Object),
        (status = 422, description = "a field is invalid: the error names it", body = gridwork_protocol::sync::ErrorBody),
        (status = 409, description = "a department with that code exists", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn add_department(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    Body(department): Body<gridwork_protocol::cases::Department>,
) -> Result<Json<serde_json::Value>, AppError> {
    let storage = state.storage.clone();
    let now = state.now_ms();
    let code = department.code.clone();
    blocking(move || storage.add_department(&admin, department, now)).await?;
    Ok(Json(serde_json::json!({"code": code})))
}

/// The cases the caller sees, filtered, a page at a time.
///
/// Who: any console login (centre staff, a department's handler, an administrator); each sees only its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/cases",
    tag = "cases",
    params(gridwork_protocol::cases::CaseFilter),
    responses(
        (status = 200, description = "a page of the cases the caller sees, newest first", body = gridwork_protocol::cases::CasePage),
    ),
    security(("session" = [])),
)]
async fn cases(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
    filter: Result<
        axum::extract::Query<gridwork_protocol::cases::CaseFilter>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Json<gridwork_protocol::cases::CasePage>, AppError> {
    let filter = query(filter)?;
    let storage = state.storage.clone();
    let now = state.now_ms();
    Ok(Json(blocking(move || storage.cases(&who, filter, now)).await?))
}

/// Residents, households or buildings by grid, searched and filtered, a
/// page at a time in the order of (grid, id).
///
/// Who: centre staff and administrators, each in its part of the grid tree (a department's handler has no registry).
#[utoipa::path(
    get,
    path = "/api/v1/records",
    tag = "registry",
    params(gridwork_protocol::registry::RecordFilter),
    responses(
        (status = 200, description = "a page of records and the cursor of the next", body = gridwork_protocol::registry::RecordPage),
        (status = 422, description = "a parameter is wrong (named in the message)", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn records(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
    filter: Result<axum::extract::Query<RecordFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RecordPage>, AppError> {
    let filter = query(filter)?;
    let storage = state.storage.clone();
    Ok(Json(blocking(move || storage.records(&who, filter)).await?))
}

/// A registry record's id in the path; one that is not an id is a record
/// that is not there.
#[derive(Debug)]
struct RecordPath(gridwork_domain::RecordId);

impl<S: Send + Sync> FromRequestParts<S> for RecordPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| AppError::malformed(e.body_text()))?;
        text.parse().map(RecordPath).map_err(|_| {
            AppError::not_found(format!("`{text}` is not a record id"), format!("`{text}`不是记录编号"))
        })
    }
}

/// A day's patrols (with their routes) and visits in the caller's grids,
/// and each worker's tally.
///
/// Who: centre staff and administrators, each in its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/activity",
    tag = "registry",
    params(gridwork_protocol::registry::ActivityFilter),
    responses(
        (status = 200, description = "the day's patrols and visits, earliest first, and each worker's tally", body = gridwork_protocol::registry::ActivityDay),
        (status = 422, description = "a parameter is wrong (named in the message)", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn activity(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
    filter: Result<axum::extract::Query<ActivityFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ActivityDay>, AppError> {
    let filter = query(filter)?;
    let storage = state.storage.clone();
    let now = state.now_ms();
    Ok(Json(blocking(move || storage.activity(&who, filter, now)).await?))
}

/// One registry record whole: its winning values and every version of
/// each field the server keeps, with who wrote it. Reading it leaves an
/// audit line.
///
/// Who: centre staff and administrators, each in its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/records/{id}",
    tag = "registry",
    params(("id" = String, Path, description = "the record's id (a UUIDv7)")),
    responses(
        (status = 200, description = "the record and its fields' histories", body = gridwork_protocol::registry::RecordView),
        (status = 404, description = "no such record the caller may see", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn record(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
    RecordPath(id): RecordPath,
) -> Result<Json<RecordView>, AppError> {
    let storage = state.storage.clone();
    let now = state.now_ms();
    Ok(Json(blocking(move || storage.record(&who, id, now)).await?))
}

/// One case: its fields, its place in the flow, its trail.
///
/// Who: any console login (centre staff, a department's handler, an administrator); each sees only its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{id}",
    tag = "cases",
    params(("id" = String, Path, description = "the case's record id (a UUIDv7)")),
    responses(
        (status = 200, description = "the case: its fields, steps and the steps the caller may take", body = gridwork_protocol::cases::CaseView),
        (status = 404, description = "no such case the caller may see", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn case(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
    CaseId(id): CaseId,
) -> Result<Json<gridwork_protocol::cases::CaseView>, AppError> {
    let storage = state.storage.clone();
    let now = state.now_ms();
    Ok(Json(blocking(move || storage.case(&who, id, now)).await?))
}

/// Takes a step of the case flow (accept, dispatch, handle, close, …).
///
/// Who: any console login (centre staff, a department's handler, an administrator); each sees only its part of the grid tree.
#[utoipa::path(
    post,
    path = "/api/v1/cases/{id}/steps",
    tag = "cases",
    params(("id" = String, Path, description = "the case's record id (a UUIDv7)")),
    request_body = gridwork_protocol::cases::StepRequest,
    responses(
        (status = 200, description = "the case after the step", body = gridwork_protocol::cases::CaseView),
        (status = 404, description = "no such case the caller may see", body = gridwork_protocol::sync::ErrorBody),
        (status = 409, description = "the step is not one the case's status or the caller's role allows", body = gridwork_protocol::sync::ErrorBody),
        (status = 422, description = "a field is invalid: the error names it", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn case_step(
    State(state): State<AppState>,
    ConsoleCaller(who): ConsoleCaller,
    CaseId(id): CaseId,
    Body(request): Body<gridwork_protocol::cases::StepRequest>,
) -> Result<Json<gridwork_protocol::cases::CaseView>, AppError> {
    let storage = state.storage.clone();
    let now = state.now_ms();
    Ok(Json(blocking(move || storage.take_step(&who, id, request, now)).await?))
}

/// Enters a case at the console; it is received into the flow.
///
/// Who: centre staff or an administrator.
#[utoipa::path(
    post,
    path = "/api/v1/cases",
    tag = "cases",
    request_body = gridwork_protocol::cases::NewCase,
    responses(
        (status = 200, description = "the case's id: it is received into the flow", body = Created),
        (status = 422, description = "a field is invalid: the error names it", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn add_case(
    State(state): State<AppState>,
    StaffCaller(who): StaffCaller,
    Body(case): Body<gridwork_protocol::cases::NewCase>,
) -> Result<Json<Created>, AppError> {
    let storage = state.storage.clone();
    let now = state.now_ms();
    let id = blocking(move || storage.add_case(&who, case, now)).await?;
    Ok(Json(Created { id: id.to_string() }))
}

/// The case categories and their time limits.
///
/// Who: any console login (centre staff, a department's handler, an administrator); each sees only its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/categories",
    tag = "cases",
    responses(
        (status = 200, description = "the case categories with their time limits", body = Vec<gridwork_protocol::cases::Category>),
    ),
    security(("session" = [])),
)]
async fn categories(
    State(state): State<AppState>,
    _who: ConsoleCaller,
) -> Result<Json<Vec<gridwork_protocol::cases::Category>>, AppError> {
    let storage = state.storage.clone();
    Ok(Json(blocking(move || storage.categories()).await?))
}

/// Changes a case category: its names, time limits and department.
///
/// Who: an administrator (a session token, not a device's).
#[utoipa::path(
    put,
    path = "/api/v1/admin/categories/{code}",
    tag = "admin",
    params(("code" = String, Path, description = "the category's code")),
    request_body = gridwork_protocol::cases::Category,
    responses(
        (status = 200, description = "the category as it now is", body = gridwork_protocol::cases::Category),
        (status = 404, description = "no such category", body = gridwork_protocol::sync::ErrorBody),
        (status = 422, description = "a field is invalid: the error names it", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn update_category(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    Path(code): Path<String>,
    Body(mut category): Body<gridwork_protocol::cases::Category>,
) -> Result<Json<gridwork_protocol::cases::Category>, AppError> {
    category.code = code;
    let storage = state.storage.clone();
    let now = state.now_ms();
    Ok(Json(blocking(move || storage.update_category(&admin, category, now)).await?))
}

/// A year in the path, its mistakes answered in JSON.
fn year_of(text: &str) -> Result<i32, AppError> {
    text.parse()
        .ok()
        .filter(|y| (1900..=2200).contains(y))
        .ok_or_else(|| AppError::not_found(format!("`{text}` is not a year"), format!("`{text}`不是年份")))
}

/// A year's holidays and make-up working days.
///
/// Who: any console login (centre staff, a department's handler, an administrator); each sees only its part of the grid tree.
#[utoipa::path(
    get,
    path = "/api/v1/calendar/{year}",
    tag = "cases",
    params(("year" = i32, Path, description = "a year, 1900 to 2200")),
    responses(
        (status = 200, description = "the year's holidays and make-up working days", body = gridwork_protocol::cases::CalendarYear),
        (status = 404, description = "no such year", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn calendar_year(
    State(state): State<AppState>,
    _who: ConsoleCaller,
    Path(year): Path<String>,
) -> Result<Json<gridwork_protocol::cases::CalendarYear>, AppError> {
    let year = year_of(&year)?;
    let storage = state.storage.clone();
    Ok(Json(blocking(move || storage.calendar_year(year)).await?))
}

/// Replaces a year's calendar; open cases' deadlines are recounted.
///
/// Who: an administrator (a session token, not a device's).
#[utoipa::path(
    put,
    path = "/api/v1/admin/calendar/{year}",
    tag = "admin",
    params(("year" = i32, Path, description = "a year, 1900 to 2200")),
    request_body = gridwork_protocol::cases::CalendarYear,
    responses(
        (status = 200, description = "the year is replaced and open cases' deadlines recounted: `{\"year\", \"recounted\"}`", body = Object),
        (status = 404, description = "no such year", body = gridwork_protocol::sync::ErrorBody),
        (status = 422, description = "a field is invalid: the error names it", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn replace_calendar_year(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    Path(year): Path<String>,
    Body(mut entered): Body<gridwork_protocol::cases::CalendarYear>,
) -> Result<Json<serde_json::Value>, AppError> {
    entered.year = year_of(&year)?;
    let storage = state.storage.clone();
    let now = state.now_ms();
    let recounted = blocking(move || storage.replace_calendar_year(&admin, entered, now)).await?;
    Ok(Json(serde_json::json!({"year": year, "recounted": recounted})))
}

fn no_parked(id: u64) -> AppError {
    AppError::not_found(format!("there is no parked change {id}"), format!("没有编号为{id}的被拒修改"))
}

/// A numeric id in the path, its mistakes answered in JSON like any other.
#[derive(Debug)]
struct NumericId(u64);

impl<S: Send + Sync> FromRequestParts<S> for NumericId {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match Path::<u64>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(NumericId(id)),
            Err(_) => Err(AppError::malformed("the id in the path is not a whole number")),
        }
    }
}

/// One parked change, with its values.
///
/// Who: an administrator, or centre staff (those given part of the grid
/// tree: the refusals of their grids).
#[utoipa::path(
    get,
    path = "/api/v1/admin/parked/{id}",
    tag = "console",
    params(("id" = u64, Path, description = "the parked change's number")),
    responses(
        (status = 200, description = "one parked change with its values", body = ParkedChange),
        (status = 404, description = "no such parked change", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn parked_one(
    State(state): State<AppState>,
    StaffCaller(staff): StaffCaller,
    NumericId(id): NumericId,
) -> Result<Json<ParkedChange>, AppError> {
    let storage = state.storage.clone();
    let parked = blocking(move || storage.parked_one(&staff, id)).await?.ok_or_else(|| no_parked(id))?;
    Ok(Json(parked))
}

/// Dismisses a parked change once reviewed.
///
/// Who: an administrator, or centre staff (those given part of the grid
/// tree: the refusals of their grids).
#[utoipa::path(
    post,
    path = "/api/v1/admin/parked/{id}/dismiss",
    tag = "console",
    params(("id" = u64, Path, description = "the parked change's number")),
    responses(
        (status = 200, description = "the parked change is dismissed", body = Dismissed),
        (status = 404, description = "no such parked change", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn dismiss_parked(
    State(state): State<AppState>,
    StaffCaller(staff): StaffCaller,
    NumericId(id): NumericId,
) -> Result<Json<Dismissed>, AppError> {
    let storage = state.storage.clone();
    let now = state.now_ms();
    if !blocking(move || storage.dismiss_parked(&staff, id, now)).await? {
        return Err(no_parked(id));
    }
    Ok(Json(Dismissed { dismissed: id }))
}

/// Applies a parked change by hand: the fields kept (the device's values
/// or corrections) are written to its record as the server, as the push
/// would have, and the parked change is removed, in one transaction.
///
/// Who: an administrator, or centre staff (those given part of the grid
/// tree: the refusals of their grids).
#[utoipa::path(
    post,
    path = "/api/v1/admin/parked/{id}/apply",
    tag = "console",
    params(("id" = u64, Path, description = "the parked change's number")),
    request_body = ApplyParked,
    responses(
        (status = 200, description = "the change is applied and no longer parked", body = AppliedParked),
        (status = 404, description = "no such parked change", body = gridwork_protocol::sync::ErrorBody),
        (status = 409, description = "the record has been deleted since", body = gridwork_protocol::sync::ErrorBody),
        (status = 422, description = "a field the change did not carry, or a value the record refuses", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("session" = [])),
)]
async fn apply_parked(
    State(state): State<AppState>,
    StaffCaller(staff): StaffCaller,
    NumericId(id): NumericId,
    Body(apply): Body<ApplyParked>,
) -> Result<Json<AppliedParked>, AppError> {
    let storage = state.storage.clone();
    let now = state.now_ms();
    let applied = blocking(move || storage.apply_parked(&staff, id, apply.values, now)).await?;
    Ok(Json(applied.ok_or_else(|| no_parked(id))?))
}

/// Lists the users.
///
/// Who: an administrator (a session token, not a device's).
#[utoipa::path(
    get,
    path = "/api/v1/admin/users",
    tag = "admin",
    responses(
        (status = 200, description = "every user", body = Vec<UserInfo>),
    ),
    security(("session" = [])),
)]
async fn users(State(state): State<AppState>, _admin: AdminCaller) -> Result<Json<Vec<UserInfo>>, AppError> {
    let storage = state.storage.clone();
    let users = blocking(move || storage.users()).await?;
    Ok(Json(users))
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/enroll", post(enroll))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/sync/push", post(push))
        .route("/sync/pull", post(pull))
        .route("/attachments/{sha256}", axum::routing::put(attachments::upload).get(attachments::download))
        .route("/attachments/{sha256}/status", get(attachments::status))
        .route("/admin/grids", post(add_grid))
        .route("/admin/grids/{code}", axum::routing::put(update_grid))
        .route("/admin/users", post(add_user).get(users))
        .route("/admin/enrollment-codes", post(enrollment_code))
        .route("/admin/devices", get(devices))
        .route("/admin/devices/export", get(export_devices))
        .route("/admin/users/export", get(export_users))
        .route("/admin/conflicts/export", get(export_conflicts))
        .route("/admin/parked/export", get(export_parked))
        .route("/admin/devices/{id}/revoke", post(revoke))
        .route("/admin/integration-keys", post(issue_integration_key).get(integration_keys))
        .route("/admin/integration-keys/{id}/revoke", post(revoke_integration_key))
        .route("/admin/conflicts", get(conflicts))
        .route("/admin/conflicts/settle", post(settle_conflict))
        .route("/me", get(me))
        .route("/schema", get(schema))
        .route("/grids", get(grids))
        .route("/stats", get(stats))
        .route("/supervisions", get(supervisions))
        .route("/admin/parked", get(parked))
        .route("/admin/parked/{id}", get(parked_one))
        .route("/admin/parked/{id}/dismiss", post(dismiss_parked))
        .route("/admin/parked/{id}/apply", post(apply_parked))
        .route("/admin/departments", post(add_department))
        .route("/departments", get(departments))
        .route("/categories", get(categories))
        .route("/admin/categories/{code}", axum::routing::put(update_category))
        .route("/calendar/{year}", get(calendar_year))
        .route("/admin/calendar/{year}", axum::routing::put(replace_calendar_year))
        .route("/cases", get(cases).post(add_case))
        .route("/cases/export", get(export_cases))
        .route("/grids/export", get(export_grids))
        .route("/cases/{id}", get(case))
        .route("/records", get(records))
        .route("/records/export", get(export_records))
        .route("/activity/export", get(export_activity))
        .route("/activity/period", get(activity_period))
        .route("/activity/period/export", get(export_activity_period))
        .route("/records/{id}", get(record))
        .route("/activity", get(activity))
        .route("/cases/{id}/steps", post(case_step))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(require_protocol));
    Router::new()
        .route("/api/v1/health", get(health))
        .nest("/api/v1", api)
        // For city systems, in GeoReport v2's terms (see `open311.rs`).
        .nest("/open311/v2", open311::router())
        // The API's description and Swagger UI (see `openapi.rs`).
        .merge(openapi::router())
        .fallback(console_or_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(time_limit))
        // Failures are logged where they are understood (internal errors in
        // `error.rs`); a refused flood must not flood the log as well.
        .layer(tower_http::trace::TraceLayer::new_for_http().on_failure(()))
        .with_state(state)
}
