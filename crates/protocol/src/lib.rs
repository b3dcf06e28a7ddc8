//! What travels between replicas: the changed fields of records, each field
//! as the versions of its register, and the two encodings they travel in,
//! JSON (readable, for debugging and the console) and a compact binary form
//! (postcard: varints, no field names but ours).
//!
//! This crate does no IO: it turns values into bytes and back. Sending them
//! is the client's and the server's business; applying them is the store's.

pub mod admin;
pub mod cases;
pub mod codes;
pub mod console;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod registry;
pub mod schema;
pub mod sync;

use gridwork_domain::{Kind, RecordId, Value};
use gridwork_merge::Register;
use serde::{Deserialize, Serialize};

/// One field's state as sent: its register, `{"context": [[device,
/// counter], ...], "versions": [{"value", "writer", "counter", "hlc"}, ...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldState {
    /// The field's name in the record kind's schema.
    pub field: String,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::RegisterShape))]
    pub register: Register<Value>,
}

/// The changed fields of one record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordChanges {
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::RecordIdText))]
    pub id: RecordId,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::KindName))]
    pub kind: Kind,
    pub fields: Vec<FieldState>,
}

impl RecordChanges {
    /// How many field versions the changes carry.
    pub fn version_count(&self) -> usize {
        self.fields.iter().map(|f| f.register.versions().len()).sum()
    }

    /// A quick estimate of the bytes the changes take on the wire, for
    /// sizing pages: the values' payload plus a fixed allowance per record,
    /// field, version and vector entry (about what JSON spends on names and
    /// numbers). Not exact: use [`Encoding::encoded_len`] where it must be.
    pub fn weight(&self) -> usize {
        64 + self
            .fields
            .iter()
            .map(|f| {
                32 + f.field.len()
                    + 24 * f.register.context().len()
                    + f.register.versions().iter().map(|v| 64 + v.value.payload_len()).sum::<usize>()
            })
            .sum::<usize>()
    }
}

/// A payload that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("malformed binary payload: {0}")]
    Binary(#[from] postcard::Error),
}

/// The wire encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Binary,
}

impl Encoding {
    pub fn encode<T: Serialize>(self, value: &T) -> Vec<u8> {
        match self {
            Encoding::Json => serde_json::to_vec(value).expect("wire types serialise to JSON"),
            Encoding::Binary => postcard::to_stdvec(value).expect("wire types serialise to postcard"),
        }
    }

    /// The exact length of `value` encoded, without building the bytes.
    pub fn encoded_len<T: Serialize>(self, value: &T) -> usize {
        let mut counter = Counter(0);
        match self {
            Encoding::Json => {
                serde_json::to_writer(&mut counter, value).expect("wire types serialise to JSON")
            }
            Encoding::Binary => {
                postcard::to_io(value, &mut counter).expect("wire types serialise to postcard");
            }
        }
        counter.0
    }

    pub fn decode<'a, T: Deserialize<'a>>(self, bytes: &'a [u8]) -> Result<T, DecodeError> {
        Ok(match self {
            Encoding::Json => serde_json::from_slice(bytes)?,
            Encoding::Binary => postcard::from_bytes(bytes)?,
        })
    }
}

/// A writer that only counts.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwork_domain::DeviceId;
    use gridwork_merge::Hlc;
    use proptest::prelude::*;

    fn arb_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            (-1e9f64..1e9).prop_map(Value::Float),
            ".{0,12}".prop_map(Value::Text),
            prop::collection::vec("[a-z_]{1,8}", 0..4).prop_map(Value::List),
        ]
    }

    fn arb_changes() -> impl Strategy<Value = RecordChanges> {
        let field = ("[a-z_]{1,10}", prop::collection::vec((arb_value(), 0u32..5, 0u64..1 << 50), 1..4))
            .prop_map(|(field, writes)| {
                let mut writes = writes.into_iter();
                let (value, device, ms) = writes.next().unwrap();
                let mut register = Register::first_write(value, DeviceId(device), Hlc::new(ms, 0));
                for (value, device, ms) in writes {
                    register.merge(Register::first_write(value, DeviceId(device + 10), Hlc::new(ms, 1)));
                }
                FieldState { field, register }
            });
        (
            any::<[u8; 10]>(),
            any::<u64>(),
            prop::sample::select(Kind::ALL.to_vec()),
            prop::collection::vec(field, 0..5),
        )
            .prop_map(|(random, ms, kind, fields)| RecordChanges {
                id: RecordId::from_parts(ms >> 20, random),
                kind,
                fields,
            })
    }

    proptest! {
        #[test]
        fn both_encodings_round_trip(changes in prop::collection::vec(arb_changes(), 0..4)) {
            for encoding in [Encoding::Json, Encoding::Binary] {
                let bytes = encoding.encode(&changes);
                let back: Vec<RecordChanges> = encoding.decode(&bytes).unwrap();
                prop_assert_eq!(&back, &changes);
                prop_assert_eq!(encoding.encoded_len(&changes), bytes.len());
            }
        }
    }

    /// The largest record a device can legally hold, of each kind a device
    /// writes: every field at its longest in the costliest characters (four
    /// bytes each in UTF-8; JSON escapes cost at most two), every list full,
    /// and each field in conflict among `versions` tablets.
    fn largest_legal_record(kind: Kind, versions: u32) -> RecordChanges {
        use gridwork_domain::FieldType;
        let value = |ty: &FieldType, n: u32| match ty {
            FieldType::Text { max } => Value::Text("\u{1F600}".repeat(*max)),
            FieldType::Int { max, .. } => Value::Int(*max),
            FieldType::Float { max, .. } => Value::Float(*max - 0.123_456_789_012_3),
            FieldType::Bool => Value::Bool(true),
            FieldType::Date => Value::Text("2026-11-27".into()),
            FieldType::DateTime => Value::Text("2026-11-27T08:30:00.123+08:00".into()),
            FieldType::Choice { choices } => {
                Value::Text(choices.iter().map(|c| c.code).max_by_key(|c| c.len()).unwrap().into())
            }
            FieldType::Tags { choices } => Value::List(choices.iter().map(|c| c.code.to_owned()).collect()),
            FieldType::IdNumber => Value::Text("11010519491231002X".into()),
            FieldType::Phone => Value::Text("0571-88001234".into()),
            FieldType::GridCode => Value::Text(format!("G{n:031}")),
            FieldType::Ref { .. } => Value::Text("0190d6a0-0000-7000-8000-000000000000".into()),
            FieldType::Attachments => {
                Value::List((0..gridwork_domain::MAX_LIST_ITEMS).map(|i| format!("{i:064x}")).collect())
            }
        };
        let fields = kind
            .def()
            .fields
            .iter()
            .map(|def| {
                let mut register = Register::first_write(
                    value(&def.ty, 0),
                    DeviceId(u32::MAX - 1),
                    Hlc::new(u64::MAX >> 17, 1),
                );
                for n in 1..versions {
                    register.merge(Register::first_write(
                        value(&def.ty, n),
                        DeviceId(u32::MAX - 1 - n),
                        Hlc::new(u64::MAX >> 17, 1),
                    ));
                }
                FieldState { field: def.name.to_owned(), register }
            })
            .collect();
        RecordChanges { id: RecordId::from_parts(u64::MAX >> 17, [0xff; 10]), kind, fields }
    }

    #[test]
    fn largest_legal_record_fits_in_a_push() {
        use crate::sync::{MAX_COUNTER, MAX_PUSH_BYTES, PUSH_PAGE_BYTES, PushRequest};
        for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Grid) {
            // Alone, with one version per field (what a device pushes of its
            // own edits), it fits in a page; in conflict among eight tablets,
            // it still fits in a push.
            for (versions, limit) in [(1, PUSH_PAGE_BYTES), (8, MAX_PUSH_BYTES)] {
                let request = PushRequest {
                    up_to_counter: MAX_COUNTER,
                    pending: MAX_COUNTER,
                    records: vec![largest_legal_record(kind, versions)],
                };
                for encoding in [Encoding::Json, Encoding::Binary] {
                    let len = encoding.encoded_len(&request);
                    assert!(
                        len <= limit,
                        "{kind} with {versions} versions: {len} bytes in {encoding:?}, over {limit}"
                    );
                }
                // The estimate pages are sized by is in the right range.
                let weight = request.records[0].weight();
                let exact = Encoding::Json.encoded_len(&request.records[0]);
                assert!(weight * 2 >= exact && weight <= exact * 2, "{kind}: weight {weight}, JSON {exact}");
            }
        }
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        assert!(Encoding::Json.decode::<Vec<RecordChanges>>(b"[{\"id\": 3}]").is_err());
        assert!(Encoding::Binary.decode::<Vec<RecordChanges>>(&[0xff, 0xff, 0x01]).is_err());
        // A version whose write is not in the register's vector is refused.
        let bad = r#"[{"id":"0190d6a0-0000-7000-8000-000000000000","kind":"resident","fields":[
            {"field":"name","register":{"context":[[4,1]],"versions":[{"value":"x","writer":3,"counter":1,"hlc":"1"}]}}]}]"#;
        let err = Encoding::Json.decode::<Vec<RecordChanges>>(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("has counter 1 but the register's vector says 0"), "{err}");
    }
}
