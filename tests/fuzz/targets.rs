//! What is fuzzed: each decoder a device's or an attacker's bytes reach,
//! as a function of arbitrary bytes that must return (an error is fine)
//! without panicking, looping or allocating without bound.
//!
//! Shared, as source, by the coverage-guided fuzz targets in
//! `tests/fuzz/fuzz_targets/` (`cargo fuzz run --fuzz-dir tests/fuzz
//! TARGET`) and by the integration tests, which replay every file under
//! `tests/fuzz/regressions/TARGET/` and arbitrary and mutated inputs
//! (`tests/decoders.rs`).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use gridwork_domain::{FieldType, GridCode, Kind, RecordId, formats};
use gridwork_protocol::Encoding;
use gridwork_protocol::sync::{EnrollRequest, PullRequest, PushRequest};
use gridwork_store::{ManualClock, Role, Store};

/// A fuzz target: arbitrary bytes in, nothing out but no panic.
pub type Target = fn(&[u8]);

/// The targets by name: the names of `tests/fuzz/fuzz_targets/*.rs` and of
/// the folders under `tests/fuzz/regressions/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("push_json", push_json),
    ("push_postcard", push_postcard),
    ("small_bodies", small_bodies),
    ("zstd", zstd),
    ("apply", apply),
    ("text", text),
];

/// A push body as JSON, then its shape check.
pub fn push_json(data: &[u8]) {
    if let Ok(push) = Encoding::Json.decode::<PushRequest>(data) {
        let _ = push.check_shape();
    }
}

/// A push body as postcard, then its shape check.
pub fn push_postcard(data: &[u8]) {
    if let Ok(push) = Encoding::Binary.decode::<PushRequest>(data) {
        let _ = push.check_shape();
    }
}

/// Enroll and pull bodies, in both encodings.
pub fn small_bodies(data: &[u8]) {
    for encoding in [Encoding::Json, Encoding::Binary] {
        let _ = encoding.decode::<EnrollRequest>(data);
        let _ = encoding.decode::<PullRequest>(data);
    }
}

/// A zstd frame, decompressed as the server does, within the push limit.
pub fn zstd(data: &[u8]) {
    let mut headers = HeaderMap::new();
    headers.insert("content-encoding", HeaderValue::from_static("zstd"));
    if let Ok(bytes) =
        gridwork_server::wire::decompress(&headers, data, gridwork_server::wire::MAX_DECOMPRESSED)
    {
        push_postcard(&bytes);
    }
}

/// A push decoded and applied to a server's store, as a push that passed
/// its checks would be: registers, values, merges.
pub fn apply(data: &[u8]) {
    let Ok(push) = Encoding::Binary.decode::<PushRequest>(data) else { return };
    if push.check_shape().is_err() {
        return;
    }
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let mut store = Store::open_in_memory(Role::Server, clock).expect("an in-memory store opens");
    let grid = [("code", "G1".into()), ("name", "网格".into()), ("level", "unit".into())];
    store.put(Kind::Grid, None, &grid).expect("a grid");
    if let Ok(previews) = store.preview(&push.records, gridwork_domain::DeviceId(7)) {
        let valid: Vec<_> = push
            .records
            .into_iter()
            .zip(previews)
            .filter(|(_, p)| p.is_ok())
            .map(|(change, _)| change)
            .collect();
        let _ = store.apply_remote(valid);
    }
}

/// Every text a person or device types that is parsed: ids, grid codes,
/// ID-card numbers, phones, dates, and each field type's parser.
pub fn text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = text.parse::<RecordId>();
    let _ = GridCode::parse(&text);
    let _ = formats::parse_id_number(&text);
    let _ = formats::normalize_phone(&text);
    let _ = formats::parse_date(&text);
    let _ = formats::parse_date_time(&text);
    let _ = formats::check_sha256(&text);
    for kind in Kind::ALL {
        for field in kind.def().fields {
            let _ = field.ty.parse_text(field.name, &text);
        }
    }
    let _ = FieldType::Text { max: 50 }.check("name", text.into_owned().into());
}
