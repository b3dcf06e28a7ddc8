//! The server's storage interface: every question the HTTP layer asks of
//! the database, and nothing about how it is answered.
//!
//! [`crate::sqlite::SqliteStorage`] answers them with the embedded store; a
//! PostgreSQL implementation for cities that outgrow one machine implements
//! the same trait. Handlers call these methods on a blocking thread; each
//! method is one transaction, or a read of committed data.

use gridwork_domain::{DeviceId, RecordId};
use gridwork_protocol::sync::{EnrollResponse, PullRequest, PullResponse, PushRequest, PushResponse};
use gridwork_store::Conflict;
use serde::{Deserialize, Serialize};

/// What storage can fail with, in terms the HTTP layer maps to answers.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what exists (a name taken, a server
    /// already initialised).
    #[error("{0}")]
    Conflict(String),
    /// Something the caller named is missing (`not_found`) or taken
    /// (`conflict`), said in both languages.
    #[error("{en}")]
    Said { code: &'static str, en: String, zh: String },
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
    /// The device pushed writes that clash with its own earlier ones.
    #[error(
        "this device's database is older than what the server already has from it (field `{field}` of {kind} {id}): it was restored from a copy or copied to another tablet, so its new edits would clash with earlier ones. Nothing was applied. Enroll this tablet again with a new database; the edits in this one stay in its file"
    )]
    DeviceDiverged { kind: gridwork_domain::Kind, id: gridwork_domain::RecordId, field: &'static str },
    #[error(transparent)]
    Store(gridwork_store::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Internal(String),
}

impl From<gridwork_store::Error> for StorageError {
    fn from(error: gridwork_store::Error) -> Self {
        match error.into_validation() {
            Ok(invalid) => StorageError::Invalid(invalid),
            Err(other) => StorageError::Store(other),
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A person's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Draws grids, creates accounts, hands out and revokes devices.
    Admin,
    /// Centre staff: review and dispatch; see the whole city.
    Staff,
    /// A grid worker: sees the grids assigned and every grid below them.
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::Worker => "worker",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        [Role::Admin, Role::Staff, Role::Worker].into_iter().find(|r| r.as_str() == text)
    }
}

/// The device a token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceAuth {
    pub id: String,
    pub number: DeviceId,
    pub revoked: bool,
}

/// How long a console session lasts: a working day and then some.
pub const SESSION_MS: u64 = 12 * 60 * 60 * 1000;

/// A console login: its token works until `expires_at_ms`.
#[derive(Clone, Debug, Serialize)]
pub struct ConsoleSession {
    pub token: String,
    pub expires_at_ms: u64,
}

/// Who is asking: the holder of a valid token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub user_name: String,
    pub role: Role,
    /// Set when the token is a device's.
    pub device: Option<DeviceAuth>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub grids: Vec<String>,
    pub password: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGrid {
    pub code: String,
    pub name: String,
    pub parent: Option<String>,
    /// Inferred from the parent's level when not given.
    pub level: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct EnrollmentCode {
    pub code: String,
    pub user_id: String,
    pub expires_at_ms: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeviceInfo {
    pub id: String,
    pub number: u32,
    pub user_id: String,
    pub user_name: String,
    pub app_version: String,
    pub enrolled_at_ms: u64,
    pub last_seen_ms: Option<u64>,
    pub last_sync_ms: Option<u64>,
    pub pending: u64,
    pub acked_counter: u64,
    pub revoked: bool,
    pub revoked_at_ms: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ParkedChange {
    pub at_ms: u64,
    pub device_id: String,
    pub record: String,
    pub kind: String,
    pub code: String,
    pub field: Option<String>,
    pub message: String,
    /// The values the refused change would have set, field by field (the
    /// winning value of each pushed register), so the centre can act on
    /// them; `null` when the change was too large to park whole.
    pub values: Option<serde_json::Value>,
}

/// How far an attachment has been received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentStatus {
    pub size: u64,
    pub received: u64,
    pub complete: bool,
}

/// Everything the HTTP layer needs from the database.
pub trait Storage: Send + Sync + 'static {
    /// The epoch: a new one after every restore from a backup.
    fn epoch(&self) -> String;

    /// The holder of a token (given as its SHA-256 digest), if any.
    fn authenticate(&self, token_digest: [u8; 32], now_ms: u64) -> Result<Option<Principal>>;
    /// A console session for a person with a password.
    fn login(&self, name: &str, password: &str, now_ms: u64) -> Result<ConsoleSession>;
    /// Ends the console session with this token (given as its digest);
    /// false if the token is not a live console session.
    fn logout(&self, token_digest: [u8; 32], now_ms: u64) -> Result<bool>;

    fn create_user(&self, actor: &Principal, user: NewUser, now_ms: u64) -> Result<String>;
    fn add_grid(&self, actor: &Principal, grid: NewGrid, now_ms: u64) -> Result<RecordId>;
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
    ) -> Result<PushResponse>;
    fn pull(&self, device: &Principal, request: PullRequest, now_ms: u64) -> Result<PullResponse>;

    /// Fields with concurrent versions waiting for review.
    fn conflicts(&self, limit: usize) -> Result<Vec<Conflict>>;
    /// Changes refused at push time.
    fn parked(&self, limit: usize) -> Result<Vec<ParkedChange>>;

    /// Where `uploader`'s upload of the attachment stands: complete if they
    /// hold the file (uploaded all of it), their progress if they are
    /// uploading it, `None` otherwise. Others' uploads are not disclosed.
    fn upload_status(&self, sha256: &str, uploader: &str) -> Result<Option<AttachmentStatus>>;
    /// Starts (or finds) `uploader`'s upload of `size` bytes.
    fn upload_begin(&self, sha256: &str, size: u64, uploader: &str, now_ms: u64) -> Result<AttachmentStatus>;
    fn upload_progress(&self, sha256: &str, uploader: &str, received: u64) -> Result<()>;
    /// The upload's bytes matched the digest and the file is published:
    /// `uploader` now holds it.
    fn upload_complete(&self, sha256: &str, size: u64, uploader: &str, now_ms: u64) -> Result<()>;
    /// The size of the stored file, if it is stored.
    fn attachment_size(&self, sha256: &str) -> Result<Option<u64>>;
    /// The file of a stored attachment is gone (a database restored without
    /// its photos): forget it, so that devices upload it again.
    fn attachment_lost(&self, sha256: &str) -> Result<()>;
    fn attachment_readable(&self, who: &Principal, sha256: &str) -> Result<bool>;
}
