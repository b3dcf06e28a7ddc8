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
pub struct EnrollResponse {
    /// The device's id in the registry.
    pub device_id: String,
    /// The number the device writes with in version vectors.
    pub device_number: DeviceId,
    /// The bearer token for every later request. Shown once.
    pub token: String,
    pub user_id: String,
    pub user_name: String,
    pub epoch: String,
    pub server_time_ms: u64,
}

/// A batch of the device's edits: every outbox entry up to `up_to_counter`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    pub up_to_counter: u64,
    /// Records still waiting on the device after this batch, for the
    /// device registry.
    pub pending: u64,
    pub records: Vec<RecordChanges>,
}

/// The most records one push may carry.
pub const MAX_PUSH_RECORDS: usize = 1000;

impl PushRequest {
    /// What the server checks before looking at any record: at most
    /// [`MAX_PUSH_RECORDS`] records, each once, each field of a record at
    /// most once. An honest device never sends anything else, so a push that
    /// does is malformed as a whole. Returns what is wrong.
    pub fn check_shape(&self) -> Result<(), String> {
        if self.records.len() > MAX_PUSH_RECORDS {
            return Err(format!("{} records in one push; at most {MAX_PUSH_RECORDS}", self.records.len()));
        }
        let mut ids = std::collections::HashSet::with_capacity(self.records.len());
        for change in &self.records {
            if !ids.insert(change.id) {
                return Err(format!("record {} appears twice in one push", change.id));
            }
            let kind_fields = change.kind.def().fields.len();
            if change.fields.len() > kind_fields {
                return Err(format!(
                    "record {} has {} fields; a {} has {kind_fields}",
                    change.id,
                    change.fields.len(),
                    change.kind
                ));
            }
            let mut names = std::collections::HashSet::with_capacity(change.fields.len());
            if let Some(twice) = change.fields.iter().find(|f| !names.insert(f.field.as_str())) {
                return Err(format!("field `{}` appears twice in record {}", twice.field, change.id));
            }
        }
        Ok(())
    }
}

/// Why the server refused one record of a push. The rest of the push is
/// applied; the refused change is parked for the centre to see.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    pub id: RecordId,
    pub kind: Kind,
    /// `out_of_scope`, `invalid`, `clock_ahead`, `forbidden`.
    pub code: String,
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
pub struct PullResponse {
    pub records: Vec<RecordChanges>,
    /// Records that left the device's scope (moved to another grid): the
    /// device drops them.
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
}

/// The body of every error answer: `{"error": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ApiError,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// Stable, for programs: `unauthorized`, `device_revoked`,
    /// `protocol_unsupported`, `malformed`, `too_large`, `invalid`, ...
    pub code: String,
    pub message: String,
    pub message_zh: String,
}

/// The error code that tells a device to wipe its local data.
pub const DEVICE_REVOKED: &str = "device_revoked";

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
}
