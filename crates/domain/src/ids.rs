//! Identifiers: records (UUIDv7), devices (small numbers) and grid codes.
//!
//! This module does not generate ids from the clock: [`RecordId::from_parts`]
//! takes the time and the random bits from the caller, so the domain stays free
//! of IO and tests can make ids deterministically.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Reason, ValidationError};

/// The id of a record: a UUIDv7, so ids sort by creation time and new rows
/// land at the end of the store's B-trees.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RecordId(Uuid);

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let uuid = Uuid::deserialize(deserializer)?;
        if uuid.get_version_num() != 7 {
            return Err(serde::de::Error::custom(format!("{uuid} is {NotARecordId}")));
        }
        Ok(RecordId(uuid))
    }
}

impl RecordId {
    /// Builds a UUIDv7 from a Unix time in milliseconds and 10 random bytes
    /// (of which 74 bits are used).
    pub fn from_parts(unix_ms: u64, random: [u8; 10]) -> Self {
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
        bytes[6..].copy_from_slice(&random);
        bytes[6] = 0x70 | (bytes[6] & 0x0f); // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3f); // RFC 4122 variant
        RecordId(Uuid::from_bytes(bytes))
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        RecordId(Uuid::from_bytes(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// Parses the hyphenated form; `field` names where the text came from,
    /// for the error.
    pub fn parse_for(field: &str, text: &str) -> Result<Self, ValidationError> {
        text.parse().map_err(|_| ValidationError::invalid(field, Reason::RecordId))
    }
}

/// Text that is not a record id: not a UUID, or not a version 7 one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a record id (a UUIDv7)")]
pub struct NotARecordId;

impl FromStr for RecordId {
    type Err = NotARecordId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match Uuid::parse_str(s) {
            Ok(uuid) if uuid.get_version_num() == 7 => Ok(RecordId(uuid)),
            _ => Err(NotARecordId),
        }
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({})", self.0.hyphenated())
    }
}

/// A writer of records: a device (tablet, phone, headless `gridwork`) or the
/// server itself, numbered by the server when the device is enrolled.
///
/// Version vectors hold these numbers, not UUIDs: a number is one to three
/// bytes on disk, which keeps per-field metadata small. Number 0 is the
/// server (writes made at the centre console).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceId(pub u32);

impl DeviceId {
    /// The server's own writes (centre staff, admins, settled conflicts).
    pub const SERVER: DeviceId = DeviceId(0);
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.0)
    }
}

/// The code of a grid (网格编码), e.g. `330702001001` or `330702001001-03`.
///
/// Codes are what people type and what records point at: 1 to 32 characters,
/// ASCII letters, digits and `-`, starting with a letter or digit. Codes of
/// the national division scheme (统计用区划代码) fit, as do local suffixes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GridCode(String);

impl GridCode {
    pub const MAX_LEN: usize = 32;

    pub fn parse(text: &str) -> Result<Self, Reason> {
        let ok_len = !text.is_empty() && text.len() <= Self::MAX_LEN;
        let ok_first = text.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        let ok_rest = text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok_len && ok_first && ok_rest { Ok(GridCode(text.to_owned())) } else { Err(Reason::GridCode) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for GridCode {
    type Error = ValidationError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        GridCode::parse(&value).map_err(|reason| ValidationError::invalid("grid", reason))
    }
}

impl From<GridCode> for String {
    fn from(code: GridCode) -> String {
        code.0
    }
}

impl fmt::Display for GridCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for GridCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GridCode({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_version_7_and_sort_by_time() {
        let early = RecordId::from_parts(1_700_000_000_000, [0xff; 10]);
        let late = RecordId::from_parts(1_700_000_000_001, [0x00; 10]);
        assert_eq!(early.as_uuid().get_version_num(), 7);
        assert_eq!(late.as_uuid().get_version_num(), 7);
        assert!(early < late);
        let text = early.to_string();
        assert_eq!(text.parse::<RecordId>().unwrap(), early);
        assert_eq!(serde_json::from_str::<RecordId>(&format!("\"{text}\"")).unwrap(), early);
        // The nil UUID and a version 4 one are not record ids, as text or
        // on the wire.
        for other in ["00000000-0000-0000-0000-000000000000", "9b2e4f3a-1c5d-4e6f-8a7b-0c1d2e3f4a5b"] {
            assert_eq!(other.parse::<RecordId>(), Err(NotARecordId));
            assert!(serde_json::from_str::<RecordId>(&format!("\"{other}\"")).is_err());
        }
    }

    #[test]
    fn grid_codes_accept_division_codes_and_refuse_the_rest() {
        assert!(GridCode::parse("330702001001").is_ok());
        assert!(GridCode::parse("JH-01-a").is_ok());
        assert_eq!(GridCode::parse(""), Err(Reason::GridCode));
        assert_eq!(GridCode::parse("-01"), Err(Reason::GridCode));
        assert_eq!(GridCode::parse("网格1"), Err(Reason::GridCode));
        assert_eq!(GridCode::parse(&"1".repeat(33)), Err(Reason::GridCode));
    }
}
