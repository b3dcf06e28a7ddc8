//! The handlers' interface to the server's data: every question the HTTP
//! layer asks, in its terms, and nothing about how it is answered.
//!
//! [`crate::core::Core`] answers it, keeping the rules, over any
//! [`crate::backend::Backend`]. Handlers call these methods on a blocking
//! thread. A method that writes does so in one transaction of the backend
//! (a login, a push with its acknowledgement, audit and parking); one that
//! reads sees one snapshot.

use gridwork_domain::{DeviceId, RecordId};

use serde::Serialize;

use crate::backend::BackendError;
pub use gridwork_protocol::admin::AppliedParked;
pub use gridwork_protocol::admin::{
    AttachmentStatus, Conflict, ConsoleSession, DeviceInfo, EnrollmentCode, IntegrationKey,
    IssuedIntegrationKey, NewGrid, NewIntegrationKey, NewUser, ParkedChange, ParkedOverflow, ParkedPage,
    ParkedSummary, Role, UserInfo,
};
pub use gridwork_protocol::cases::{
    CalendarYear, CaseFilter, CasePage, CaseView, Category, Department, NewCase, StepRequest, Supervision,
};
use gridwork_protocol::codes::ErrorCode;
pub use gridwork_protocol::console::{CaseStats, GridChange, GridInfo, Me, SettleConflict, Settled};
pub use gridwork_protocol::registry::{
    ActivityDay, ActivityFilter, ActivityPeriod, ActivityPeriodFilter, RecordFilter, RecordPage, RecordView,
    WorkerPeriod,
};
use gridwork_protocol::sync::{EnrollResponse, PullRequest, PullResponse, PushRequest, PushResponse};

/// What storage can fail with, in terms the HTTP layer maps to answers.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what exists (a name taken, a server
    /// already initialised).
    #[error("{0}")]
    Conflict(String),
    /// Something the caller named is missing (`NotFound`) or taken
    /// (`Conflict`), said in both languages.
    #[error("{en}")]
    Said { code: ErrorCode, en: String, zh: String },
    /// Input that breaks a rule, naming the field.
    #[error(transparent)]
    Invalid(#[from] gridwork_domain::ValidationError),
    /// A request no honest client sends (see `PushRequest::check_shape`).
    #[error("{0}")]
    Malformed(String),
    #[error("the enrollment code is unknown, already used or expired")]
    BadEnrollmentCode,
    #[error("the user name or password is wrong")]
    BadLogin,
    /// The answer to a push of several records would be too large: the
    /// device sends fewer at once.
    #[error(
        "the answer to this push of {records} records would be larger than the server sends at once (refused records come back whole): send fewer records at a time; nothing was applied"
    )]
    AnswerTooLarge { records: usize },
    /// An uploader would hold more unfinished uploads than its quota.
    #[error(
        "unfinished uploads may hold at most {} MiB in {} uploads per device; this one holds {held} declaring {declared} bytes, and a new one of {wanted} bytes would pass that: finish the uploads in progress (they resume where they stopped) or wait until unfinished ones expire",
        .quota.bytes >> 20, .quota.count
    )]
    UploadQuota { held: u64, declared: u64, wanted: u64, quota: UploadQuota },
    /// A device would pass what it may send in a day.
    #[error(
        "this device has sent {used} bytes of {what} today and may send {budget} a day; this would add {wanted}: it can send it in {wait_secs} s, at 00:00 UTC (smaller pieces may fit before); everything it holds stays on it meanwhile. If it truly needs more, the centre can raise the server's daily budget"
    )]
    DeviceQuota { what: &'static str, used: u64, wanted: u64, budget: u64, wait_secs: u64 },
    /// The device pushed writes that clash with its own earlier ones.
    #[error(
        "this device's database is older than what the server already has from it (field `{field}` of {kind} {id}): it was restored from a copy or copied to another tablet, so its new edits would clash with earlier ones. Nothing was applied. Enroll this tablet again with a new database; the edits in this one stay in its file"
    )]
    DeviceDiverged { kind: gridwork_domain::Kind, id: gridwork_domain::RecordId, field: &'static str },
    #[error(transparent)]
    Backend(BackendError),
    #[error("{0}")]
    Internal(String),
}

impl From<BackendError> for StorageError {
    fn from(error: BackendError) -> Self {
        match error {
            BackendError::Invalid(invalid) => StorageError::Invalid(invalid),
            other => StorageError::Backend(other),
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// The device a token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceAuth {
    pub id: String,
    pub number: DeviceId,
    pub revoked: bool,
}

/// How long a console session lasts: a working day and then some.
pub const SESSION_MS: u64 = 12 * 60 * 60 * 1000;

/// Who is asking: the holder of a valid token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub user_name: String,
    pub role: Role,
    /// Set when the token is a device's.
    pub device: Option<DeviceAuth>,
    /// Set when an integration key is asking (`user_id` is then the key's
    /// id, `user_name` its name, `role` staff): it sees what a staff
    /// account of its grid would.
    pub key: Option<KeyAuth>,
}

/// What an integration key sees: the part of the grid tree at and below
/// `grid`, as a staff account given that grid; the whole city when `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyAuth {
    pub grid: Option<String>,
}

/// Which cases a city system asks for (`GET /open311/v2/requests.json`),
/// newest received first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportQuery {
    /// Only cases in one of these statuses; `None`: any.
    pub statuses: Option<Vec<String>>,
    /// Only cases of one of these categories; `None`: any.
    pub categories: Option<Vec<String>>,
    /// Only cases received at or after this time.
    pub received_from_ms: Option<u64>,
    /// Only cases received at or before this time.
    pub received_to_ms: Option<u64>,
    pub limit: usize,
}

/// A case as it may be told to a city system: the flow's facts, and of
/// the record only what is not about a person (no reporter, phone,
/// resident concerned, photos, nor who took which step).
#[derive(Clone, Debug, PartialEq)]
pub struct CaseReport {
    pub id: RecordId,
    pub grid: String,
    pub category: String,
    pub status: String,
    /// The department it is with, if dispatched.
    pub department: Option<Department>,
    /// The grid whose centre handles it, and that grid's name.
    pub handling_grid: String,
    pub handling_grid_name: Option<String>,
    pub description: String,
    /// Where it happened, as written (`location`).
    pub location: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub received_at_ms: u64,
    pub updated_at_ms: u64,
    pub due_at_ms: u64,
    /// The note of the latest step of its trail, if that step has one.
    pub latest_note: Option<String>,
}

/// What one device may park of its refused changes (see
/// `docs/sync-protocol.md`, "Refusals").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParkingLimits {
    /// Rows (records) per device; refusals beyond are counted per code.
    pub rows_per_device: u64,
    /// Bytes of refused values per device; beyond, a row keeps the field
    /// names and size only.
    pub bytes_per_device: u64,
}

impl Default for ParkingLimits {
    fn default() -> Self {
        ParkingLimits { rows_per_device: 1000, bytes_per_device: 4 * 1024 * 1024 }
    }
}

/// What one device may send in a day (a UTC day), counted as the weight
/// of the records it pushes (`RecordChanges::weight`, refused ones
/// included) and the declared sizes of the uploads it starts. A worker's
/// day is a few hundred kilobytes of records and a few hundred megabytes of
/// photos; past the budget, pushes and new uploads are refused with 429
/// `device_quota` until the next day, and nothing the device holds is lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailyBudget {
    pub push_bytes: u64,
    pub upload_bytes: u64,
}

impl Default for DailyBudget {
    fn default() -> Self {
        DailyBudget { push_bytes: 16 * 1024 * 1024, upload_bytes: 2 * 1024 * 1024 * 1024 }
    }
}

/// The limits the storage itself keeps (see `server/src/limits.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageLimits {
    pub parking: ParkingLimits,
    pub uploads: UploadQuota,
    pub daily: DailyBudget,
    pub horizon: Horizon,
}

/// How long the server keeps what only a device far behind could need:
/// `moves` (changes of a record's grid) and deleted records. A device
/// whose cursor is older than what was cut pulls everything again (a full,
/// idempotent resync) and drops what does not come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Horizon {
    /// `None`: nothing is cut.
    pub after_ms: Option<u64>,
}

impl Default for Horizon {
    fn default() -> Self {
        // Half a year: a tablet left in a drawer longer pulls everything
        // again when it comes back.
        Horizon { after_ms: Some(180 * 24 * 60 * 60 * 1000) }
    }
}

/// What one cut below the horizon removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    /// Changes at or below this sequence number are cut (0: none yet).
    pub through_seq: u64,
    pub moves: u64,
    pub records: u64,
}

/// What one uploader may hold of unfinished uploads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadQuota {
    /// The sum of the declared sizes of their unfinished uploads.
    pub bytes: u64,
    /// How many unfinished uploads.
    pub count: u64,
}

impl Default for UploadQuota {
    fn default() -> Self {
        // About what a grid worker photographs in a day.
        UploadQuota { bytes: 256 * 1024 * 1024, count: 64 }
    }
}

/// A push's answer, and how long it held the database's writer (what the
/// device is charged in its share of the writer, see `share.rs`).
#[derive(Clone, Debug)]
pub struct Pushed {
    pub answer: PushResponse,
    pub writer_time: std::time::Duration,
}

/// Failed guesses of an address within a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuessCount {
    pub count: u64,
    /// When the oldest of them was.
    pub first_ms: Option<u64>,
    /// The time they were counted at (the database's clock, on
    /// PostgreSQL): the wait is measured from it.
    pub now_ms: u64,
}

/// Everything the HTTP layer needs from the database.
pub trait Storage: Send + Sync + 'static {
    /// The epoch: a new one after every restore from a backup.
    fn epoch(&self) -> String;

    /// The account behind a console session and the grids it sees.
    fn me(&self, who: &Principal) -> Result<Me>;
    /// The grids `who` sees, with their boundaries (handlers: every grid's
    /// name and outline, without boundaries, to name where cases are).
    fn grids(&self, who: &Principal) -> Result<Vec<GridInfo>>;
    /// The dashboard's figures over the cases `who` may see, received at or
    /// after `since_ms`.
    fn case_stats(&self, who: &Principal, since_ms: u64, now_ms: u64) -> Result<CaseStats>;
    /// Keeps one value for a field in conflict, written as the server's
    /// (it has seen every version), so every device takes it; a record
    /// outside the grids `who` reviews is not found.
    fn settle_conflict(&self, who: &Principal, settle: SettleConflict, now_ms: u64) -> Result<Settled>;
    /// Every case category with its deadlines.
    fn categories(&self) -> Result<Vec<Category>>;
    /// Changes a category's names, deadlines and usual department (admins).
    fn update_category(&self, actor: &Principal, category: Category, now_ms: u64) -> Result<Category>;
    /// A year of the holiday calendar.
    fn calendar_year(&self, year: i32) -> Result<CalendarYear>;
    /// Replaces a year of the holiday calendar (admins) and counts the
    /// open cases' deadlines again: how many moved.
    fn replace_calendar_year(&self, actor: &Principal, year: CalendarYear, now_ms: u64) -> Result<usize>;
    /// Every department.
    fn departments(&self) -> Result<Vec<Department>>;
    /// Adds a department (admins).
    fn add_department(&self, actor: &Principal, department: Department, now_ms: u64) -> Result<()>;
    /// A page of the cases `who` may see (centre staff within their grids,
    /// a handler their department's).
    fn cases(&self, who: &Principal, filter: CaseFilter, now_ms: u64) -> Result<CasePage>;
    /// A page of the registry (residents, households, buildings) as `who`
    /// may see it: admins and city-wide staff the city, staff given grids
    /// those and every grid below; anyone else is refused.
    fn records(&self, who: &Principal, filter: RecordFilter) -> Result<RecordPage>;
    /// One record of the registry whole, every version of every field, if
    /// `who` may see it (not found otherwise, whether or not it exists);
    /// the read is written to the audit trail.
    fn record(&self, who: &Principal, id: RecordId, now_ms: u64) -> Result<RecordView>;
    /// A day's patrols and visits (today's in the city's zone when no day
    /// is asked for) in the grids `who` may review, as for [`Self::records`];
    /// anyone else is refused.
    fn activity(&self, who: &Principal, filter: ActivityFilter, now_ms: u64) -> Result<ActivityDay>;
    /// One of a day's lists (patrols or visits), as the day's query reads
    /// it, without routes and at most `max`: its day, the items, and
    /// whether more matched.
    fn activity_list(
        &self,
        who: &Principal,
        filter: ActivityFilter,
        kind: gridwork_domain::Kind,
        max: usize,
        now_ms: u64,
    ) -> Result<(String, Vec<gridwork_protocol::registry::RecordItem>, bool)>;
    /// Each worker's patrols and visits over a span of days (at most 31),
    /// within the caller's grids, the days counted in the city's zone.
    fn activity_period(
        &self,
        who: &Principal,
        filter: ActivityPeriodFilter,
        now_ms: u64,
    ) -> Result<ActivityPeriod>;
    /// One case whole, if `who` may see it.
    fn case(&self, who: &Principal, id: RecordId, now_ms: u64) -> Result<CaseView>;
    /// Takes a step of the flow on a case `who` may see.
    fn take_step(&self, who: &Principal, id: RecordId, request: StepRequest, now_ms: u64)
    -> Result<CaseView>;
    /// The newest supervision notes on open cases `who` may see (a
    /// handler: their department's).
    fn supervisions(&self, who: &Principal, now_ms: u64) -> Result<Vec<Supervision>>;
    /// A case entered at the console (a hotline call): received at once.
    fn add_case(&self, who: &Principal, case: NewCase, now_ms: u64) -> Result<RecordId>;
    /// The cases `who` may see (as [`Storage::cases`] decides) for a city
    /// system: at most `query.limit`, newest received first, without
    /// anything about a person.
    fn case_reports(&self, who: &Principal, query: ReportQuery) -> Result<Vec<CaseReport>>;
    /// One case for a city system, if `who` may see it.
    fn case_report(&self, who: &Principal, id: RecordId) -> Result<CaseReport>;

    /// Issues an integration key (admins): its secret is in the answer
    /// only.
    fn issue_integration_key(
        &self,
        actor: &Principal,
        key: NewIntegrationKey,
        now_ms: u64,
    ) -> Result<IssuedIntegrationKey>;
    /// Every integration key, without secrets.
    fn integration_keys(&self) -> Result<Vec<IntegrationKey>>;
    /// Revokes an integration key (admins): refused from now on.
    fn revoke_integration_key(&self, actor: &Principal, id: &str, now_ms: u64) -> Result<IntegrationKey>;
    /// The holder of a live integration key (given as its secret's
    /// SHA-256 digest), if any.
    fn authenticate_key(&self, secret_digest: [u8; 32]) -> Result<Option<Principal>>;

    /// The holder of a token (given as its SHA-256 digest), if any.
    fn authenticate(&self, token_digest: [u8; 32], now_ms: u64) -> Result<Option<Principal>>;
    /// A console session for a person with a password.
    fn login(&self, name: &str, password: &str, now_ms: u64) -> Result<ConsoleSession>;
    /// Ends the console session with this token (given as its digest);
    /// false if the token is not a live console session.
    fn logout(&self, token_digest: [u8; 32], now_ms: u64) -> Result<bool>;

    fn create_user(&self, actor: &Principal, user: NewUser, now_ms: u64) -> Result<String>;
    fn add_grid(&self, actor: &Principal, grid: NewGrid, now_ms: u64) -> Result<RecordId>;
    /// Renames, moves or re-draws a grid (admins); the grid as it now is.
    fn update_grid(&self, actor: &Principal, code: &str, change: GridChange, now_ms: u64)
    -> Result<GridInfo>;
    fn create_enrollment_code(
        &self,
        actor: &Principal,
        user_id: &str,
        ttl_ms: u64,
        now_ms: u64,
    ) -> Result<EnrollmentCode>;
    /// Trades a code for a new device and its token; a retry of the same
    /// request (`request_id`) gets the same device and a new token.
    fn enroll(
        &self,
        code: &str,
        app_version: &str,
        request_id: Option<&str>,
        now_ms: u64,
    ) -> Result<EnrollResponse>;
    fn devices(&self) -> Result<Vec<DeviceInfo>>;
    fn revoke_device(&self, actor: &Principal, device_id: &str, now_ms: u64) -> Result<()>;

    /// Applies a device's push; records its app version, pending count and
    /// last sync in the same transaction.
    fn push(
        &self,
        device: &Principal,
        request: PushRequest,
        app_version: Option<&str>,
        now_ms: u64,
    ) -> Result<Pushed>;
    fn pull(&self, device: &Principal, request: PullRequest, now_ms: u64) -> Result<PullResponse>;

    /// Fields with concurrent versions waiting for review, of the records
    /// `who` may review (as for [`Self::records`]: admins and city-wide
    /// staff every record's, staff given grids those and below); anyone
    /// else is refused.
    fn conflicts(&self, who: &Principal, limit: usize) -> Result<Vec<Conflict>>;
    /// Changes refused at push time, newest first, a page of summaries
    /// below the id `after`.
    /// Those of the grids `who` reviews (city-wide staff and admins: all,
    /// with the per-device overflow counts).
    fn parked(&self, who: &Principal, after: Option<u64>, limit: usize) -> Result<ParkedPage>;
    /// One parked refusal with its values.
    /// `None` also when it is not of a grid `who` reviews.
    fn parked_one(&self, who: &Principal, id: u64) -> Result<Option<ParkedChange>>;
    /// Removes a parked refusal the centre has reviewed; false if there is
    /// none with this id.
    fn dismiss_parked(&self, actor: &Principal, id: u64, now_ms: u64) -> Result<bool>;
    /// Leaves the audit line of an export by `who` (`action`: what was
    /// exported; `detail`: the filter and how many rows, never values).
    fn note_export(
        &self,
        who: &Principal,
        action: &'static str,
        detail: serde_json::Value,
        now_ms: u64,
    ) -> Result<()>;
    /// Applies a parked refusal by hand: writes `values` (fields the
    /// refused change carried, the device's values or corrections) to its
    /// record as the server, as the push would have (a case takes its
    /// place in the flow), and removes the parked row, in one transaction.
    /// `None` if there is no parked change with this id.
    fn apply_parked(
        &self,
        actor: &Principal,
        id: u64,
        values: std::collections::BTreeMap<String, gridwork_domain::Value>,
        now_ms: u64,
    ) -> Result<Option<AppliedParked>>;
    /// Everyone with an account.
    fn users(&self) -> Result<Vec<UserInfo>>;

    /// Where `uploader`'s upload of the attachment stands: complete if they
    /// hold the file (uploaded all of it), their progress if they are
    /// uploading it, `None` otherwise. Others' uploads are not disclosed.
    fn upload_status(&self, sha256: &str, uploader: &str) -> Result<Option<AttachmentStatus>>;
    /// Starts (or finds) `uploader`'s upload of `size` bytes; a new one
    /// must fit in the uploader's quota of unfinished uploads and daily
    /// budget.
    fn upload_begin(&self, sha256: &str, size: u64, uploader: &str, now_ms: u64) -> Result<AttachmentStatus>;
    fn upload_progress(&self, sha256: &str, uploader: &str, received: u64, now_ms: u64) -> Result<()>;
    /// Unfinished uploads that received nothing since `before_ms`, as
    /// (digest, uploader): candidates for expiry.
    fn stale_uploads(&self, before_ms: u64) -> Result<Vec<(String, String)>>;
    /// Forgets an unfinished upload if it still received nothing since
    /// `before_ms`; true if it did (its file can go).
    fn expire_upload(&self, sha256: &str, uploader: &str, before_ms: u64) -> Result<bool>;
    /// The upload's bytes matched the digest and the file is published:
    /// `uploader` now holds it.
    fn upload_complete(&self, sha256: &str, size: u64, uploader: &str, now_ms: u64) -> Result<()>;
    /// The size of the stored file, if it is stored.
    fn attachment_size(&self, sha256: &str) -> Result<Option<u64>>;
    /// The file of a stored attachment is gone (a database restored without
    /// its photos): forget it, so that devices upload it again.
    fn attachment_lost(&self, sha256: &str) -> Result<()>;
    fn attachment_readable(&self, who: &Principal, sha256: &str) -> Result<bool>;

    /// Failed guesses (`what`: `enrollment`, `login`) from `address`
    /// within the last `window_ms`, counted by every node, by the
    /// database's clock where nodes share one (`now_ms` otherwise).
    fn guesses(&self, what: &str, address: &str, now_ms: u64, window_ms: u64) -> Result<GuessCount>;
    /// Counts an attempt of `address` as a failed guess before it is
    /// tried, unless `limit` failures within `window_ms` are counted
    /// already: then `Err` with the count, and nothing noted. Check and
    /// note are one transaction, serialised per address, so attempts on
    /// several nodes at once cannot slip past the limit; it does not wait
    /// for the writer's turn. Older guesses of the address are forgotten.
    fn reserve_guess(
        &self,
        what: &str,
        address: &str,
        now_ms: u64,
        window_ms: u64,
        limit: u64,
    ) -> Result<std::result::Result<u64, GuessCount>>;
    /// Takes back the guess [`Storage::reserve_guess`] counted as `id` (the
    /// attempt was right, failed for another reason, or was abandoned).
    fn forget_guess(&self, id: u64) -> Result<()>;

    /// Notes where the change sequence stands, and cuts what is older than
    /// the horizon (see [`Horizon`]); run hourly.
    fn purge(&self, now_ms: u64) -> Result<Purged>;
}
