//! What travels between replicas: the changed fields of records, each field
//! as the versions of its register, and the two encodings they travel in,
//! JSON (readable, for debugging and the console) and a compact binary form
//! (postcard: varints, no field names but ours).
//!
//! This crate does no IO: it turns values into bytes and back. Sending them
//! is the client's and the server's business; applying them is the store's.

pub mod sync;

use gridwork_domain::{Kind, RecordId, Value};
use gridwork_merge::Register;
use serde::{Deserialize, Serialize};

/// One field's state as sent: its register, `{"context": [[device,
/// counter], ...], "versions": [{"value", "writer", "counter", "hlc"}, ...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldState {
    /// The field's name in the record kind's schema.
    pub field: String,
    pub register: Register<Value>,
}

/// The changed fields of one record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordChanges {
    pub id: RecordId,
    pub kind: Kind,
    pub fields: Vec<FieldState>,
}

impl RecordChanges {
    /// How many field versions the changes carry.
    pub fn version_count(&self) -> usize {
        self.fields.iter().map(|f| f.register.versions().len()).sum()
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

    pub fn decode<'a, T: Deserialize<'a>>(self, bytes: &'a [u8]) -> Result<T, DecodeError> {
        Ok(match self {
            Encoding::Json => serde_json::from_slice(bytes)?,
            Encoding::Binary => postcard::from_bytes(bytes)?,
        })
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
