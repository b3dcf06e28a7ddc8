//! The data-access interface a database implements for the server: what
//! the rules in [`crate::core`] read and write, and nothing they decide.
//!
//! A backend answers questions ("who holds this token digest?", "what is
//! stored of these records?") and carries out writes it is handed ("insert
//! this token", "merge these registers", "park this refusal"). It never
//! decides who may do what, which refusal a change gets, how much a device
//! may park, or what the audit trail says: those live once, in the core.
//! It speaks only the types of this module, the protocol's and the
//! domain's; no database type crosses it.
//!
//! **Atomicity.** Everything one [`Backend::write`] closure does is one
//! transaction: committed when it returns `Ok`, rolled back when it returns
//! `Err` (a refusal found half-way changes nothing). Within it, what the
//! closure reads is not changed by any other writer before it commits: the
//! embedded SQLite backend holds the database's single writer for the
//! closure; a backend with concurrent writers must lock what it reads (the
//! device's row for a push, the registers it merges) so the same holds.
//! [`Backend::read`] sees one snapshot of committed data.
//!
//! The server's change sequence (`seq`, what pull cursors count) is handed
//! out by [`Writes::apply`] and [`Writes::put_record`]; a backend must make
//! every change with a sequence number at or below a pulled cursor visible
//! before that cursor can be read (see `docs/sync-protocol.md`, "Cursors
//! and concurrent writers").

use gridwork_domain::{DeviceId, Kind, RecordId, ValidationError, Value};
use gridwork_protocol::RecordChanges;
use gridwork_protocol::admin::{Conflict, DeviceInfo, IntegrationKey, ParkedPage, Role, UserInfo};
pub use gridwork_protocol::cases::{CalendarDay, Category, Department};

/// What a backend can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The database failed (lost connection, full disk, a constraint): for
    /// the log, not for the caller.
    #[error("database error: {0}")]
    Database(String),
    /// What the database holds cannot be read back (a bug, or an edit by
    /// hand).
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    /// A change breaks a rule of the records, naming the field (a batch is
    /// validated whole before anything of it is written).
    #[error(transparent)]
    Invalid(ValidationError),
}

pub type Result<T, E = BackendError> = std::result::Result<T, E>;

/// Why one pushed change cannot be previewed.
#[derive(Debug)]
pub enum ChangeError {
    /// It breaks a rule of the records.
    Invalid(ValidationError),
    /// Its id belongs to a record of another kind.
    WrongKind { actual: Kind },
}

/// What a pushed record would do, worked out without writing anything.
#[derive(Clone, Debug, PartialEq)]
pub struct Preview {
    /// Whether the record is stored already.
    pub exists: bool,
    /// Its grid now (its scope field's value), if it exists.
    pub scope_now: Option<String>,
    /// Its grid once the change is merged.
    pub scope_after: Option<String>,
    /// The first field whose pushed register claims a write by another
    /// device that is not stored (a version signed with another device's
    /// number, or a context saying more of another device's writes were
    /// seen than there were), with that device.
    pub unvouched: Option<(&'static str, DeviceId)>,
    /// The first field where the pushing device shows it forgot writes of
    /// its own that are stored (its register counts fewer of them), or
    /// wrote something else under the name of one of them.
    pub diverged: Option<&'static str>,
}

/// Where a pull stands: the puller has every change up to `since`; the
/// pages of the pull in progress have gone up to `after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PullPosition {
    pub since: u64,
    pub after: u64,
}

/// How much one page may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLimit {
    pub records: usize,
    pub bytes: usize,
}

/// A page of the changes of a scope.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangesPage {
    pub records: Vec<RecordChanges>,
    /// Records that moved from a grid of the scope to one outside it.
    pub removed: Vec<RecordId>,
    pub next: u64,
    pub more: bool,
    /// The puller is too far behind in moves: it pulls everything again.
    pub resync: bool,
}

/// A case's place in the flow, as stored (`case_flow`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseFlowRow {
    pub case_id: RecordId,
    pub grid: String,
    pub handling_grid: String,
    pub category: String,
    pub status: String,
    pub department: Option<String>,
    pub received_at_ms: u64,
    pub due_at_ms: u64,
    pub on_site_due_at_ms: Option<u64>,
    pub handled_at_ms: Option<u64>,
    pub closed_at_ms: Option<u64>,
    pub handled_in_grid: bool,
    pub satisfaction: Option<String>,
    pub updated_at_ms: u64,
}

/// One step of a case's trail, as stored (`case_steps`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseStepRow {
    pub case_id: RecordId,
    pub at_ms: u64,
    pub step: String,
    pub user_id: Option<String>,
    pub device_id: Option<String>,
    pub from_status: Option<String>,
    pub to_status: String,
    pub department: Option<String>,
    pub note: Option<String>,
}

/// The holiday calendar as stored: its days (`YYYY-MM-DD`, `holiday` or
/// `workday`) and the years entered.
pub type CalendarRows = (Vec<(String, String)>, Vec<i32>);

/// Which cases a page lists, newest received first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseQuery {
    /// Only cases whose grid or handling grid is one of these (a scoped
    /// staff member's); `None`: every grid.
    pub grids: Option<Vec<String>>,
    pub department: Option<String>,
    /// Only cases in one of these statuses; `None`: any.
    pub statuses: Option<Vec<String>>,
    /// Only cases of one of these categories; `None`: any.
    pub categories: Option<Vec<String>>,
    /// Only cases still open (reported, accepted, dispatched, returned).
    pub open_only: bool,
    /// Only cases due before this time.
    pub due_before_ms: Option<u64>,
    /// Only cases received at or after this time.
    pub received_from_ms: Option<u64>,
    /// Only cases received at or before this time.
    pub received_to_ms: Option<u64>,
    /// Continue after this (received_at_ms, case id).
    pub after: Option<(u64, RecordId)>,
    pub limit: usize,
}

/// Which records of the registry a page lists: live (not deleted)
/// records of one kind in `grids`, in the order of (grid, id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordQuery {
    /// A resident, household or building.
    pub kind: Kind,
    /// The grids to list, sorted, none twice (already narrowed to what the
    /// caller may see).
    pub grids: Vec<String>,
    /// A prefix of any of the kind's [`search_columns`] (as typed, trimmed).
    pub search: Option<String>,
    /// Only records whose `tags` holds this code.
    pub tag: Option<String>,
    /// Only residents of this `residence_type`.
    pub residence: Option<String>,
    /// Continue after this (grid, id).
    pub after: Option<(String, RecordId)>,
    pub limit: usize,
}

/// A patrol or a visit as a day's list finds it: its id, its time as
/// written (`started_at`, `visited_at`: [`activity_time`]) and the worker
/// it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityRow {
    pub id: RecordId,
    pub at: String,
    pub worker: Option<String>,
}

/// The field a patrol or a visit is placed in a day by: when the patrol
/// started, when the visit was made. Indexed with the grid on both
/// backends.
pub fn activity_time(kind: Kind) -> &'static str {
    match kind {
        Kind::Patrol => "started_at",
        Kind::Visit => "visited_at",
        other => unreachable!("{other:?} is not a patrol or a visit"),
    }
}

/// The columns a registry search matches by prefix, per kind: what a
/// clerk types (a name, an ID-card number, a phone, an address). Each is
/// indexed on both backends.
pub fn search_columns(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Resident => &["name", "id_number", "phone"],
        Kind::Household => &["head", "address", "phone"],
        Kind::Building => &["name", "address"],
        _ => &[],
    }
}

/// Past this many records matching a search's prefix (counted along the
/// prefix indexes, no further), a page is found grid by grid with the
/// prefix as a filter, as a list without search is: the matches are dense
/// enough that a page is met after reading a few thousand records, where
/// sorting every match by (grid, id) would read them all (a surname
/// matches 5% of a city).
pub const DENSE_SEARCH: usize = 10_000;

/// The upper bound of a prefix range: every text starting with `prefix`
/// is at or above `prefix` and below this, byte-wise (SQLite's `BINARY`,
/// PostgreSQL's `C` collation).
pub fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// A device and its worker, as the registry names a version's writer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceOwner {
    pub device_id: String,
    pub user_id: String,
    pub user_name: String,
}

/// The holder of a token, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenHolder {
    pub user_id: String,
    pub user_name: String,
    pub role: Role,
    /// The device the token was given to, with whether it was revoked.
    pub device: Option<(String, DeviceId, bool)>,
    /// Whether the token itself was revoked (a console session ended, a
    /// lost enrollment answer's token replaced).
    pub token_revoked: bool,
}

/// A person's account as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// argon2id in PHC form, for those who log in at the console.
    pub password_hash: Option<String>,
    /// A handler's department.
    pub department: Option<String>,
}

/// A token to store: only its digest is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewToken {
    pub digest: [u8; 32],
    pub user_id: String,
    pub device_id: Option<String>,
    pub created_at_ms: u64,
    /// `None`: until revoked (device and admin tokens).
    pub expires_at_ms: Option<u64>,
}

/// A live enrollment code, found by its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeHolder {
    pub user_id: String,
    pub user_name: String,
    pub role: Role,
    /// Set when the code was used by an enrollment with the same request id
    /// within ten minutes whose device has neither synced nor been revoked:
    /// its answer was lost, and this is its retry.
    pub retried_device: Option<String>,
}

/// A line of the audit trail.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub at_ms: u64,
    pub user_id: Option<String>,
    pub device_id: Option<String>,
    pub action: &'static str,
    pub record: Option<(Kind, RecordId)>,
    pub detail: serde_json::Value,
}

/// A refused change to park, as the core decided to keep it.
#[derive(Clone, Debug, PartialEq)]
pub struct ParkedRow {
    pub at_ms: u64,
    pub device_id: String,
    pub record: RecordId,
    pub kind: Kind,
    pub code: String,
    pub field: Option<String>,
    pub message: String,
    /// The refused change as JSON, or a summary of it.
    pub payload: String,
    /// The grid it belongs to: the record's on the server when refused, or
    /// else the one the change names (`None` for rows from before).
    pub grid: Option<String>,
}

/// One parked refusal with its payload.
#[derive(Clone, Debug, PartialEq)]
pub struct ParkedFull {
    pub row: ParkedRow,
    pub id: u64,
}

/// Where one uploader's upload of one attachment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadRow {
    pub size: u64,
    pub received: u64,
}

/// Cases counted together for the dashboard: those of one grid, category,
/// status and department received since a time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseTallyRow {
    pub grid: String,
    pub category: String,
    pub status: String,
    pub department: Option<String>,
    pub total: u64,
    /// Open and past their deadline.
    pub overdue: u64,
    /// Open, not overdue, due within a day.
    pub due_soon: u64,
    /// Closed (or visited) by their deadline.
    pub closed_on_time: u64,
    pub handled_in_grid: u64,
    /// Handled ones, and the sum of their milliseconds from receipt.
    pub handled: u64,
    pub handle_ms: u64,
    /// Closed ones with a handled time, and the sum of their milliseconds
    /// from handled to closed.
    pub closed_after_handling: u64,
    pub close_ms: u64,
}

/// The cases one worker reported in one grid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReporterTallyRow {
    pub user_id: String,
    pub user_name: String,
    pub grid: String,
    pub total: u64,
    pub closed: u64,
    pub handled_in_grid: u64,
}

/// Reading: every question the core asks of the data.
pub trait Reads {
    /// A case category with its limits.
    fn category(&mut self, code: &str) -> Result<Option<Category>>;
    /// Every case category, by code.
    fn categories(&mut self) -> Result<Vec<Category>>;
    /// A year of the holiday calendar: its source if entered, its days.
    fn calendar_year(&mut self, year: i32) -> Result<(Option<String>, Vec<CalendarDay>)>;
    /// The holiday calendar: its days (`YYYY-MM-DD`, `holiday` or
    /// `workday`) and the years entered.
    fn calendar(&mut self) -> Result<CalendarRows>;
    /// A case's place in the flow, if the server received it.
    fn case_flow(&mut self, id: RecordId) -> Result<Option<CaseFlowRow>>;
    /// The newest supervision notes (督办) on open cases, newest first,
    /// of one department's cases and/or those in (or handled by) `grids`.
    fn supervised(
        &mut self,
        department: Option<&str>,
        grids: Option<&[String]>,
        limit: usize,
    ) -> Result<Vec<(u64, CaseStepRow)>>;
    /// A case's trail, oldest first, each step with its id.
    fn case_steps(&mut self, id: RecordId) -> Result<Vec<(u64, CaseStepRow)>>;
    /// A page of cases (see [`CaseQuery`]).
    fn case_page(&mut self, query: &CaseQuery) -> Result<Vec<CaseFlowRow>>;
    /// A page of the registry (see [`RecordQuery`]): each record's grid
    /// and id, at most `query.limit`.
    fn record_page(&mut self, query: &RecordQuery) -> Result<Vec<(String, RecordId)>>;
    /// The live patrols or visits (`kind`) of `grids` whose
    /// [`activity_time`] as written sorts in [`from`, `to`) (naming
    /// `worker`, trimmed, when one is given), at most `limit`, in the order
    /// of that time as written.
    fn activity_rows(
        &mut self,
        kind: Kind,
        grids: &[String],
        from: &str,
        to: &str,
        worker: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ActivityRow>>;
    /// The device numbered `number`, with its worker.
    fn device_owner(&mut self, number: u32) -> Result<Option<DeviceOwner>>;
    /// A live grid's parent: `None` if there is no such grid, `Some(None)`
    /// for a grid at the top.
    fn grid_parent(&mut self, code: &str) -> Result<Option<Option<String>>>;
    /// A department by its code.
    fn department(&mut self, code: &str) -> Result<Option<Department>>;
    /// Every department, by code.
    fn departments(&mut self) -> Result<Vec<Department>>;
    /// A value of the server's own settings (`epoch`, `restored_at_ms`).
    fn meta(&mut self, key: &str) -> Result<Option<String>>;
    /// The scope generation: moves on with every change of grids,
    /// assignments or roles, in the transaction that makes it.
    fn scope_generation(&mut self) -> Result<u64>;
    /// The grids assigned to a person.
    fn assigned_grids(&mut self, user_id: &str) -> Result<Vec<String>>;
    /// The live grids at or below `roots`, sorted.
    fn grids_below(&mut self, roots: &[String]) -> Result<Vec<String>>;
    /// Every live grid's code, sorted.
    fn live_grids(&mut self) -> Result<Vec<String>>;
    /// A live grid's level, if the grid exists.
    fn grid_level(&mut self, code: &str) -> Result<Option<String>>;
    /// A live grid's record, without its boundary.
    fn grid_outline(&mut self, code: &str) -> Result<Option<RecordChanges>>;
    /// Every live grid's record, whole.
    fn grid_records(&mut self) -> Result<Vec<RecordChanges>>;
    /// The cases received at or after `since_ms`, counted by grid,
    /// category, status and department (overdue and due soon as of
    /// `now_ms`).
    fn case_tally(&mut self, since_ms: u64, now_ms: u64) -> Result<Vec<CaseTallyRow>>;
    /// The cases received at or after `since_ms`, counted by the worker
    /// who reported them (workers' accounts only) and grid.
    fn reporter_tally(&mut self, since_ms: u64) -> Result<Vec<ReporterTallyRow>>;

    /// The holder of the token with this digest, unless it expired.
    fn token_holder(&mut self, digest: &[u8; 32], now_ms: u64) -> Result<Option<TokenHolder>>;
    /// The integration key whose secret has this digest, revoked or not.
    fn integration_key_by_digest(&mut self, digest: &[u8; 32]) -> Result<Option<IntegrationKey>>;
    /// An integration key by its id.
    fn integration_key(&mut self, id: &str) -> Result<Option<IntegrationKey>>;
    /// Every integration key, oldest first.
    fn integration_keys(&mut self) -> Result<Vec<IntegrationKey>>;
    fn user_by_name(&mut self, name: &str) -> Result<Option<UserRow>>;
    fn user(&mut self, id: &str) -> Result<Option<UserRow>>;
    fn users(&mut self) -> Result<Vec<UserInfo>>;
    /// The live enrollment code with this digest (or a retry of its use
    /// with this request digest, see [`CodeHolder::retried_device`]).
    fn enrollment_code(
        &mut self,
        digest: &[u8; 32],
        request_digest: Option<&[u8; 32]>,
        now_ms: u64,
    ) -> Result<Option<CodeHolder>>;
    fn device_number(&mut self, device_id: &str) -> Result<Option<DeviceId>>;
    /// The number a new device gets: above every number given and above
    /// the floor a restore sets.
    fn next_device_number(&mut self) -> Result<u32>;
    fn devices(&mut self) -> Result<Vec<DeviceInfo>>;
    /// The highest edit counter of the device acknowledged so far.
    fn acked_counter(&mut self, device_id: &str) -> Result<u64>;
    /// What a device has sent on a (UTC) day: record bytes, upload bytes.
    fn usage(&mut self, device_id: &str, day: u64) -> Result<(u64, u64)>;

    /// What each change would do; a change that cannot be previewed gets
    /// its reason.
    fn preview(
        &mut self,
        changes: &[RecordChanges],
        pusher: DeviceId,
    ) -> Result<Vec<std::result::Result<Preview, ChangeError>>>;
    /// The server's change sequence: the last change made.
    fn change_seq(&mut self) -> Result<u64>;
    /// The change sequence as noted at the latest mark at or before
    /// `at_ms` (see [`Writes::mark_seq`]).
    fn seq_marked_by(&mut self, at_ms: u64) -> Result<Option<u64>>;
    /// The kind of the stored record with this id.
    fn kind_of(&mut self, id: RecordId) -> Result<Option<Kind>>;
    /// The grid of a stored record (its scope field), if it has one.
    fn grid_of(&mut self, kind: Kind, id: RecordId) -> Result<Option<String>>;
    /// A stored record whole, every register.
    fn export(&mut self, kind: Kind, id: RecordId) -> Result<Option<RecordChanges>>;
    /// A page of the changes after `position`: records of the grids in
    /// `scope` and every grid record, each with the fields changed after
    /// `position.since` (whole when it moved into the scope), leaving out
    /// fields whose only version is `viewer`'s; and the records that moved
    /// out of the scope.
    fn changes(
        &mut self,
        position: PullPosition,
        scope: &[String],
        viewer: Option<DeviceId>,
        limit: PageLimit,
    ) -> Result<ChangesPage>;
    /// Fields with concurrent versions, at most `limit`, of the records
    /// whose scope field (a record's grid, a grid's code) is one of
    /// `grids` (any record's with `None`).
    fn conflicts(&mut self, grids: Option<&[String]>, limit: usize) -> Result<Vec<Conflict>>;

    fn attachment_stored(&mut self, sha256: &str) -> Result<Option<u64>>;
    /// Whether `holder` (a device id or a user id) uploaded all of it.
    fn attachment_held(&mut self, sha256: &str, holder: &str) -> Result<bool>;
    /// Whether a live case lists the photo: in `grid`, or anywhere.
    fn photo_listed(&mut self, sha256: &str, grid: Option<&str>) -> Result<bool>;
    fn upload(&mut self, sha256: &str, uploader: &str) -> Result<Option<UploadRow>>;
    /// An uploader's unfinished uploads other than `except`: how many, and
    /// their declared bytes.
    fn uploads_held(&mut self, uploader: &str, except: &str) -> Result<(u64, u64)>;
    /// Unfinished uploads idle since before `before_ms`, at most 10,000.
    fn stale_uploads(&mut self, before_ms: u64) -> Result<Vec<(String, String)>>;

    /// Failed guesses (`what`: `enrollment`, `login`) from `address` since
    /// `since_ms`: how many, and when the first of them was.
    fn guesses(&mut self, what: &str, address: &str, since_ms: u64) -> Result<(u64, Option<u64>)>;
    /// The database's own clock, where several nodes share the database:
    /// what windows counted across nodes are measured by, so that a node
    /// whose clock is off cannot shorten them. `None`: the caller's clock
    /// is the only one (the embedded database).
    fn clock_ms(&mut self) -> Result<Option<u64>> {
        Ok(None)
    }

    /// A page of parked refusals, newest first, below the id `after`.
    /// A page of parked refusals below `after`, newest first: of `grids`
    /// only when given (then without the per-device overflow counts, which
    /// belong to no grid).
    fn parked_page(
        &mut self,
        after: Option<u64>,
        limit: usize,
        grids: Option<&[String]>,
    ) -> Result<ParkedPage>;
    fn parked(&mut self, id: u64) -> Result<Option<ParkedFull>>;
    /// What a device has parked: rows and payload bytes.
    fn parked_usage(&mut self, device_id: &str) -> Result<(u64, u64)>;
    /// The payload bytes of the device's parked row for a record, if any.
    fn parked_bytes(&mut self, device_id: &str, record: RecordId) -> Result<Option<u64>>;
}

/// Writing, inside one [`Backend::write`].
pub trait Writes: Reads {
    /// Replaces a category's names, limits and department.
    fn update_category(&mut self, row: &Category) -> Result<()>;
    /// Replaces a year of the holiday calendar, and marks it entered.
    fn replace_calendar_year(&mut self, year: i32, source: &str, days: &[CalendarDay]) -> Result<()>;
    /// Writes a case's place in the flow (new, or replacing the old).
    fn save_case_flow(&mut self, row: &CaseFlowRow) -> Result<()>;
    /// Appends a step to a case's trail.
    fn add_case_step(&mut self, row: &CaseStepRow) -> Result<()>;
    /// Adds a department; false (and nothing written) if the code is taken.
    fn insert_department(&mut self, department: &Department, now_ms: u64) -> Result<bool>;
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()>;
    /// Adds an account; false (and nothing written) if the name is taken.
    fn insert_user(&mut self, user: &UserRow, created_at_ms: u64) -> Result<bool>;
    fn assign_grid(&mut self, user_id: &str, grid: &str) -> Result<()>;
    fn insert_token(&mut self, token: &NewToken) -> Result<()>;
    /// Adds an integration key, kept as the digest of its secret.
    fn insert_integration_key(&mut self, key: &IntegrationKey, digest: &[u8; 32]) -> Result<()>;
    /// Marks a key revoked at `now_ms` (kept if it was already); false if
    /// there is no such key.
    fn revoke_integration_key(&mut self, id: &str, now_ms: u64) -> Result<bool>;
    /// Forgets console sessions that ended (expired or logged out).
    fn forget_ended_sessions(&mut self, now_ms: u64) -> Result<()>;
    /// Ends all but a person's newest `keep` console sessions; how many.
    fn end_oldest_sessions(&mut self, user_id: &str, keep: usize, now_ms: u64) -> Result<u64>;
    /// Ends the live console session with this digest: its person's id.
    fn end_session(&mut self, digest: &[u8; 32], now_ms: u64) -> Result<Option<String>>;
    fn insert_enrollment_code(
        &mut self,
        digest: &[u8; 32],
        user_id: &str,
        now_ms: u64,
        expires_at_ms: u64,
    ) -> Result<()>;
    fn use_enrollment_code(
        &mut self,
        digest: &[u8; 32],
        device_id: &str,
        request_digest: Option<&[u8; 32]>,
        now_ms: u64,
    ) -> Result<()>;
    fn insert_device(
        &mut self,
        id: &str,
        number: u32,
        user_id: &str,
        app_version: &str,
        now_ms: u64,
    ) -> Result<()>;
    /// Revokes the device's tokens (the device stays as it was).
    fn revoke_tokens(&mut self, device_id: &str, now_ms: u64) -> Result<()>;
    /// Revokes a device and its tokens; false if there is no such device.
    fn revoke_device(&mut self, device_id: &str, now_ms: u64) -> Result<bool>;

    /// An edit made by the server itself (writer number 0), validated as a
    /// local edit: a new record when `id` is `None`. A field written that
    /// holds concurrent versions is settled, even when the value written is
    /// the one winning: the server's write has seen them all.
    fn put_record(&mut self, kind: Kind, id: Option<RecordId>, fields: &[(&str, Value)]) -> Result<RecordId>;
    /// Notes that the change sequence had reached `seq` at `at_ms`.
    fn mark_seq(&mut self, at_ms: u64, seq: u64) -> Result<()>;
    /// Forgets marks older than `at_ms`.
    fn forget_marks_before(&mut self, at_ms: u64) -> Result<()>;
    /// Removes the moves at or before `seq` and the deleted records whose
    /// last change is at or before it; how many of each.
    fn purge_through(&mut self, seq: u64) -> Result<(u64, u64)>;
    /// Merges the changes into what is stored; how many records changed.
    fn apply(&mut self, changes: Vec<RecordChanges>) -> Result<usize>;
    /// A push was taken: the device's acknowledged counter (raised to
    /// `acked`, never lowered), pending count, last sync and app version.
    fn note_push(
        &mut self,
        device_id: &str,
        acked: u64,
        pending: u64,
        now_ms: u64,
        app_version: Option<&str>,
    ) -> Result<()>;
    fn audit(&mut self, entry: &AuditEntry) -> Result<()>;
    /// Several lines of the trail at once (a push's).
    fn audit_many(&mut self, entries: &[AuditEntry]) -> Result<()> {
        entries.iter().try_for_each(|entry| self.audit(entry))
    }
    /// Adds to what a device sent on a day.
    fn spend(&mut self, device_id: &str, day: u64, push_bytes: u64, upload_bytes: u64) -> Result<()>;

    /// Parks a refusal as the device's row for its record, replacing the
    /// one there was (so that it shows as the newest).
    fn park(&mut self, row: &ParkedRow) -> Result<()>;
    /// Counts a refusal the device could not park.
    fn count_overflow(&mut self, device_id: &str, code: &str, now_ms: u64) -> Result<()>;
    /// Removes a parked refusal; it as it was, if there was one.
    fn dismiss_parked(&mut self, id: u64) -> Result<Option<ParkedRow>>;
    /// The record moved to `grid`: its parked refusals belong there now.
    fn repark(&mut self, record: RecordId, grid: Option<&str>) -> Result<()>;

    /// Notes a failed guess of `address` at `at_ms`, and forgets its
    /// guesses before `forget_before_ms`; the new row's id.
    fn note_guess(&mut self, what: &str, address: &str, at_ms: u64, forget_before_ms: u64) -> Result<u64>;
    /// Removes the guess noted as `id`, if it is still there.
    fn forget_guess(&mut self, id: u64) -> Result<()>;
    /// Forgets every address's guesses before `before_ms` (the hourly
    /// clean-up; each address's own old ones go as it guesses again).
    fn forget_guesses_before(&mut self, before_ms: u64) -> Result<()>;
    /// Holds `key` until the transaction ends, against other transactions
    /// holding it: how [`Backend::note`] transactions that count and then
    /// write serialise where there is no single writer. A no-op where
    /// every write is serialised already.
    fn lock_key(&mut self, _key: &str) -> Result<()> {
        Ok(())
    }

    /// Starts (or restarts at 0 with `size`) an upload.
    fn begin_upload(&mut self, sha256: &str, uploader: &str, size: u64, now_ms: u64) -> Result<()>;
    fn upload_progress(&mut self, sha256: &str, uploader: &str, received: u64, now_ms: u64) -> Result<()>;
    /// Forgets an upload idle since before `before_ms`; true if it did.
    fn expire_upload(&mut self, sha256: &str, uploader: &str, before_ms: u64) -> Result<bool>;
    /// The upload's bytes matched: the attachment is stored and the
    /// uploader holds it.
    fn complete_upload(&mut self, sha256: &str, size: u64, uploader: &str, now_ms: u64) -> Result<()>;
    /// The attachment's file is gone: it is no longer stored or held.
    fn forget_attachment(&mut self, sha256: &str) -> Result<()>;
}

/// A database the server runs on.
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// Reads committed data, one snapshot for the whole of `f`.
    fn read<R>(
        &self,
        f: impl FnOnce(&mut dyn Reads) -> Result<R, crate::storage::StorageError>,
    ) -> Result<R, crate::storage::StorageError>;
    /// One transaction (see the module's docs): committed if `f` returns
    /// `Ok`, rolled back otherwise.
    fn write<R>(
        &self,
        f: impl FnOnce(&mut dyn Writes) -> Result<R, crate::storage::StorageError>,
    ) -> Result<R, crate::storage::StorageError>;
    /// One transaction of bookkeeping beside the records, which `f` must
    /// keep to: it writes no record, register, grid or anything else that
    /// takes a change sequence number, and each of its updates is right
    /// whatever order it commits in beside other writers (a device's
    /// last sync, its acknowledged counter only ever raised). On a backend
    /// with one writer's turn for the whole cluster (PostgreSQL) it does
    /// not wait for that turn, so devices that only report in do not queue
    /// behind pushes; elsewhere it is [`Backend::write`].
    fn note<R>(
        &self,
        f: impl FnOnce(&mut dyn Writes) -> Result<R, crate::storage::StorageError>,
    ) -> Result<R, crate::storage::StorageError> {
        self.write(f)
    }
}
