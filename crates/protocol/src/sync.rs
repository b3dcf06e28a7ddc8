//! The messages of the sync protocol (see `docs/sync-protocol.md`): enroll,
//! push, pull, and the errors a server answers with.
//!
//! Every request names the protocol version in the [`PROTOCOL_HEADER`];
//! bodies are JSON or postcard ([`BINARY_CONTENT_TYPE`]), optionally
//! compressed with zstd (`Content-Encoding: zstd`).

use gridwork_domain::{DeviceId, Kind, RecordId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::RecordChanges;
pub use crate::codes::{ErrorCode, RefusalCode};

/// The protocol this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The oldest protocol a server of this build still answers.
pub const OLDEST_PROTOCOL_VERSION: u32 = 1;
/// The header every request carries, with the protocol version as value.
pub const PROTOCOL_HEADER: &str = "x-gridwork-protocol";
/// The header a device names its app version in.
pub const APP_VERSION_HEADER: &str = "x-gridwork-app-version";
/// The content type of postcard bodies.
pub const BINARY_CONTENT_TYPE: &str = "application/x-gridwork+postcard";

/// A device trades a one-time enrollment code for its identity and token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollRequest {
    pub code: String,
    pub app_version: String,
    /// A random value the device draws once per enrollment and sends with
    /// every retry of it: if the server committed an enrollment but its
    /// answer was lost, the retry with the same code and the same value gets
    /// the same device a fresh token instead of "code already used". The
    /// server keeps only its digest.
    #[serde(default)]
    pub request_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollResponse {
    /// The device's id in the registry.
    pub device_id: String,
    /// The number the device writes with in version vectors.
    #[cfg_attr(feature = "openapi", schema(value_type = u32))]
    pub device_number: DeviceId,
    /// The bearer token for every later request. Shown once.
    pub token: String,
    pub user_id: String,
    pub user_name: String,
    pub epoch: String,
    pub server_time_ms: u64,
    /// The device's scope (grid codes), and its hash as pulls give it.
    pub scope: Vec<String>,
    pub scope_hash: String,
    /// The grid records of the scope, without their boundaries: the device
    /// can record in its grids at once, before its first sync.
    pub grids: Vec<RecordChanges>,
}

/// A batch of the device's edits: every outbox entry up to `up_to_counter`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushRequest {
    pub up_to_counter: u64,
    /// Records still waiting on the device after this batch, for the
    /// device registry.
    pub pending: u64,
    pub records: Vec<RecordChanges>,
}

/// The most records one push may carry.
pub const MAX_PUSH_RECORDS: usize = 1000;

/// The largest decompressed push body a server takes.
pub const MAX_PUSH_BYTES: usize = 8 * 1024 * 1024;

/// What a device aims for per push (its records' encoded size): half of
/// [`MAX_PUSH_BYTES`], so a page of whole records always fits with room for
/// the request around them, and the largest legal record fits alone (see
/// `largest_legal_record_fits_in_a_push`).
pub const PUSH_PAGE_BYTES: usize = MAX_PUSH_BYTES / 2;

/// What a server aims for per pull page, counted by
/// [`RecordChanges::weight`]; a page holds at least one record.
pub const PULL_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// The largest `up_to_counter` or `pending` a push may name: 2^53, more edits
/// than a device makes in a thousand lifetimes, and exact in every JSON
/// reader. Anything above is a mistake that would only hurt the device later.
pub const MAX_COUNTER: u64 = 1 << 53;

/// The largest per-field write counter a pushed register may carry (a
/// device's count of its writes of one field): 2^30, a write a second for
/// 34 years. Far below `u32::MAX`, so counting on never overflows.
pub const MAX_FIELD_COUNTER: u32 = 1 << 30;

/// The longest field name a push may carry: every real one is far shorter.
pub const MAX_FIELD_NAME: usize = 64;

/// Why a push is refused as a whole before any record is looked at.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// Something no honest client sends (a record twice, too many records).
    #[error("{0}")]
    Malformed(String),
    /// A number beyond what any device reaches, named by its field.
    #[error("`{field}` is {value}, above the largest allowed, {max}")]
    OutOfRange { field: String, value: u64, max: u64 },
}

impl PushRequest {
    /// What the server checks before looking at any record: at most
    /// [`MAX_PUSH_RECORDS`] records, each once, each field of a record at
    /// most once and with a name of at most [`MAX_FIELD_NAME`] bytes;
    /// counters within [`MAX_COUNTER`] and [`MAX_FIELD_COUNTER`]. An honest
    /// device never sends anything else, so a push that does is refused as
    /// a whole, and nothing is applied.
    pub fn check_shape(&self) -> Result<(), ShapeError> {
        let malformed = |m: String| Err(ShapeError::Malformed(m));
        for (field, value) in [("up_to_counter", self.up_to_counter), ("pending", self.pending)] {
            if value > MAX_COUNTER {
                return Err(ShapeError::OutOfRange { field: field.into(), value, max: MAX_COUNTER });
            }
        }
        if self.records.len() > MAX_PUSH_RECORDS {
            return malformed(format!(
                "{} records in one push; at most {MAX_PUSH_RECORDS}",
                self.records.len()
            ));
        }
        let mut ids = std::collections::HashSet::with_capacity(self.records.len());
        for change in &self.records {
            if !ids.insert(change.id) {
                return malformed(format!("record {} appears twice in one push", change.id));
            }
            let kind_fields = change.kind.def().fields.len();
            if change.fields.len() > kind_fields {
                return malformed(format!(
                    "record {} has {} fields; a {} has {kind_fields}",
                    change.id,
                    change.fields.len(),
                    change.kind
                ));
            }
            let mut names = std::collections::HashSet::with_capacity(change.fields.len());
            for state in &change.fields {
                if state.field.len() > MAX_FIELD_NAME {
                    return malformed(format!(
                        "a field name of {} bytes in record {}; at most {MAX_FIELD_NAME}",
                        state.field.len(),
                        change.id
                    ));
                }
                if !names.insert(state.field.as_str()) {
                    return malformed(format!(
                        "field `{}` appears twice in record {}",
                        state.field, change.id
                    ));
                }
                let counters = state.register.context().iter().map(|(_, c)| c);
                if let Some(too_far) = counters.filter(|c| *c > MAX_FIELD_COUNTER).max() {
                    return Err(ShapeError::OutOfRange {
                        field: format!("{}.counter", state.field),
                        value: u64::from(too_far),
                        max: u64::from(MAX_FIELD_COUNTER),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Why the server refused one record of a push. The rest of the push is
/// applied; the refused change is parked for the centre to see.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rejection {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::RecordIdText))]
    pub id: RecordId,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::KindName))]
    pub kind: Kind,
    pub code: RefusalCode,
    pub field: Option<String>,
    pub message: String,
    pub message_zh: String,
    /// What the server holds of the record, when the device may see it:
    /// the device rolls the refused fields back to it. `None` when the
    /// server has no such record or the device may not see it: the device
    /// drops it.
    pub server_state: Option<RecordChanges>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    /// Every edit up to this counter is durable on the server (or parked).
    pub acked_up_to: u64,
    pub applied: usize,
    pub rejected: Vec<Rejection>,
    pub epoch: String,
    pub server_time_ms: u64,
}

/// Asks for a page of the changes in the device's scope after `cursor`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullRequest {
    /// The device has every change up to here.
    pub cursor: u64,
    /// Where the previous page of this pull ended (`cursor` on the first
    /// page). Records come from after it; their fields from after `cursor`.
    pub after: u64,
    /// At most this many records per page.
    pub limit: u32,
    /// The scope the device holds, as [`scope_hash`] gave it; the server
    /// sends its scope back when they differ.
    pub scope_hash: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullResponse {
    pub records: Vec<RecordChanges>,
    /// Records that left the device's scope (moved to another grid): the
    /// device drops them.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::openapi::RecordIdText>))]
    pub removed: Vec<RecordId>,
    /// Where this page ends: the next page's `after`, or, when `more` is
    /// false, the device's new `cursor`.
    pub next_cursor: u64,
    /// Whether another page follows.
    pub more: bool,
    /// The device's scope (grid codes), sent when the device's hash differs
    /// from the server's. The device drops what lies outside it and, if it
    /// grew, pulls again from cursor 0.
    pub scope: Option<Vec<String>>,
    pub scope_hash: String,
    pub epoch: String,
    pub server_time_ms: u64,
    /// Set when the device is too far behind to catch up page by page
    /// (more records changed grid since its cursor than a page reads): it
    /// pulls everything again from cursor 0, and drops the records it holds
    /// that do not come back. The page carries nothing else.
    #[serde(default)]
    pub resync: bool,
}

/// The body of every error answer: `{"error": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ApiError,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    /// Stable, for programs.
    pub code: ErrorCode,
    pub message: String,
    pub message_zh: String,
}

/// A stable digest of a scope (sorted grid codes), to compare scopes
/// without sending them.
pub fn scope_hash(codes: &[String]) -> String {
    let mut sorted: Vec<&str> = codes.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let mut hasher = Sha256::new();
    for code in sorted {
        hasher.update(code.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The text of an enrollment QR code: `gridwork://enroll?server=URL&code=CODE`.
pub fn enrollment_payload(server: &str, code: &str) -> String {
    format!("gridwork://enroll?server={server}&code={code}")
}

/// The server and code an enrollment QR code carries, or `None` when the
/// text is not one (a code typed by hand, say).
pub fn parse_enrollment_payload(text: &str) -> Option<(String, String)> {
    let query = text.trim().strip_prefix("gridwork://enroll?")?;
    let (mut server, mut code) = (None, None);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("server", value)) if !value.is_empty() => server = Some(value.to_owned()),
            Some(("code", value)) if !value.is_empty() => code = Some(value.to_owned()),
            _ => {}
        }
    }
    Some((server?, code?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_hashes_ignore_order_and_tell_scopes_apart() {
        let a = vec!["G1".to_owned(), "G2".to_owned()];
        let b = vec!["G2".to_owned(), "G1".to_owned()];
        let c = vec!["G1".to_owned(), "G3".to_owned()];
        let d = vec!["G1G2".to_owned()];
        assert_eq!(scope_hash(&a), scope_hash(&b));
        assert_ne!(scope_hash(&a), scope_hash(&c));
        assert_ne!(scope_hash(&a), scope_hash(&d));
    }

    #[test]
    fn an_enrollment_payload_reads_back_and_other_text_is_not_one() {
        let payload = enrollment_payload("http://10.0.0.2:8080", "WE30-TEYE");
        assert_eq!(
            parse_enrollment_payload(&format!(" {payload}\n")),
            Some(("http://10.0.0.2:8080".into(), "WE30-TEYE".into()))
        );
        assert_eq!(parse_enrollment_payload("WE30-TEYE"), None);
        assert_eq!(parse_enrollment_payload("gridwork://enroll?code=WE30-TEYE"), None);
        assert_eq!(parse_enrollment_payload("gridwork://enroll?server=&code=X"), None);
    }
}
