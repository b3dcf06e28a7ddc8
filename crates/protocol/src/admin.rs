//! The bodies of the administration and console API (`/api/v1/admin/…`,
//! `/api/v1/login`, attachments' status): what the server answers and what
//! the `gridwork` CLI and the console send, one definition for both sides.

use gridwork_domain::{DeviceId, Kind, RecordId, Value};
use gridwork_merge::Hlc;
use serde::{Deserialize, Serialize};

use crate::codes::RefusalCode;

/// A person's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Draws grids, creates accounts, hands out and revokes devices.
    Admin,
    /// Centre staff: review and dispatch; the city, or the part of the
    /// grid tree assigned to them.
    Staff,
    /// A grid worker: sees the grids assigned and every grid below them.
    Worker,
    /// A department's handler (职能部门): sees the cases dispatched to the
    /// department, replies and marks them handled.
    Handler,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Staff, Role::Worker, Role::Handler];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::Worker => "worker",
            Role::Handler => "handler",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// `POST /api/v1/login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub name: String,
    pub password: String,
}

/// A console login: its token works until `expires_at_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsoleSession {
    pub token: String,
    pub expires_at_ms: u64,
}

/// `POST /api/v1/logout`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoggedOut {
    pub logged_out: bool,
}

/// `POST /api/v1/admin/users`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    /// Workers: their grids (required). Staff: the part of the tree they
    /// see (none: the whole city).
    #[serde(default)]
    pub grids: Vec<String>,
    pub password: Option<String>,
    /// Handlers: their department's code (required).
    #[serde(default)]
    pub department: Option<String>,
}

/// `POST /api/v1/admin/grids`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewGrid {
    pub code: String,
    pub name: String,
    pub parent: Option<String>,
    /// Inferred from the parent's level when not given.
    pub level: Option<String>,
}

/// What a creation answers: the new thing's id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Created {
    pub id: String,
}

/// `POST /api/v1/admin/enrollment-codes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewEnrollmentCode {
    pub user_id: String,
    /// Minutes the code stays good: 30 by default, 1 to 10,080 (a week).
    pub ttl_minutes: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollmentCode {
    pub code: String,
    pub user_id: String,
    pub expires_at_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Its changes the server refused: parked for review, and those past
    /// what a device may park (counted only).
    #[serde(default)]
    pub refused: u64,
}

/// `POST /api/v1/admin/devices/{id}/revoke`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Revoked {
    pub revoked: String,
}

/// `POST /api/v1/admin/integration-keys`: a key for a city system (the
/// Open311 API, `docs/open311.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewIntegrationKey {
    /// What the key is for, e.g. `12345 hotline`.
    pub name: String,
    /// The code of the grid whose part of the tree the key sees, as a
    /// staff account given `--grid`; none: the whole city.
    #[serde(default)]
    pub grid: Option<String>,
}

/// An integration key as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntegrationKey {
    pub id: String,
    pub name: String,
    pub grid: Option<String>,
    pub created_at_ms: u64,
    /// The admin who issued it.
    pub created_by: String,
    pub revoked_at_ms: Option<u64>,
}

/// A key just issued: its secret, shown this once (the server keeps only
/// its digest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssuedIntegrationKey {
    #[serde(flatten)]
    pub key: IntegrationKey,
    /// `Authorization: Bearer SECRET` on `/open311/v2/…`.
    pub secret: String,
}

/// A person with an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub grids: Vec<String>,
    pub created_at_ms: u64,
    #[serde(default)]
    pub department: Option<String>,
}

/// One version of a field in conflict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::FieldValue))]
    pub value: Value,
    #[cfg_attr(feature = "openapi", schema(value_type = u32))]
    pub writer: DeviceId,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::HlcText))]
    pub hlc: Hlc,
    /// When it was written, by its writer's (corrected) clock: Unix ms.
    pub at_ms: u64,
}

/// A field holding concurrent versions: the value everyone shows and the
/// ones that lost, for review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conflict {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::KindName))]
    pub kind: Kind,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::RecordIdText))]
    pub id: RecordId,
    pub field: String,
    pub winner: VersionInfo,
    pub losers: Vec<VersionInfo>,
}

/// A parked refusal without its values: what a page of the list shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParkedSummary {
    pub id: u64,
    pub at_ms: u64,
    pub device_id: String,
    pub record: String,
    pub kind: String,
    pub code: RefusalCode,
    pub field: Option<String>,
    pub message: String,
    /// The size of the refused values as parked.
    pub bytes: u64,
    /// The grid the refusal belongs to (the record's, or the one the change
    /// names); `null` for refusals parked before grids were kept.
    #[serde(default)]
    pub grid: Option<String>,
}

/// Refusals one device made beyond what it may park, counted per code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParkedOverflow {
    pub device_id: String,
    pub code: RefusalCode,
    pub count: u64,
    pub first_at_ms: u64,
    pub last_at_ms: u64,
}

/// A page of parked refusals, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParkedPage {
    pub items: Vec<ParkedSummary>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<u64>,
    /// Parked rows in all.
    pub total: u64,
    pub overflow: Vec<ParkedOverflow>,
}

/// One parked refusal in full.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParkedChange {
    pub id: u64,
    pub at_ms: u64,
    pub device_id: String,
    pub record: String,
    pub kind: String,
    pub code: RefusalCode,
    pub field: Option<String>,
    pub message: String,
    #[serde(default)]
    pub grid: Option<String>,
    /// The values the refused change would have set, field by field (the
    /// winning value of each pushed register), so the centre can act on
    /// them; `null` when the change was too large to park whole.
    pub values: Option<serde_json::Value>,
    /// When the values were not kept: their size and field names.
    pub truncated: Option<serde_json::Value>,
}

/// `POST /api/v1/admin/parked/{id}/dismiss`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dismissed {
    pub dismissed: u64,
}

/// `POST /api/v1/admin/parked/{id}/apply`: what the centre applies of a
/// refused change, by hand: the fields of the change it keeps, each with
/// the device's value or a correction typed at the console. Fields the
/// change did not carry are not accepted: applying is not a general edit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApplyParked {
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, crate::openapi::FieldValue>))]
    pub values: std::collections::BTreeMap<String, Value>,
}

/// The answer to an apply: the record written and the fields applied; the
/// parked change is gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppliedParked {
    pub applied: u64,
    pub kind: String,
    pub record: String,
    pub fields: Vec<String>,
}

/// How far an attachment has been received
/// (`GET /api/v1/attachments/{sha256}/status`, and each chunk's answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttachmentStatus {
    pub size: u64,
    pub received: u64,
    pub complete: bool,
}

/// The body of a 409 `offset_mismatch` answer to an upload chunk: the error
/// and where the server's copy stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OffsetMismatch {
    pub error: crate::sync::ApiError,
    pub status: AttachmentStatus,
}
