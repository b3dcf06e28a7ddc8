//! The `meta` blob of a record row: every written field's register (its
//! versions' writers, HLCs and version vectors, and the values of
//! concurrent losers) and the server sequence of its last change.
//!
//! The winning value of each register is not in the blob: it is the field's
//! column, read back by [`crate::columns::from_sql`]. The blob is postcard
//! (varints), with HLCs as 8 fixed bytes; a field written once by one device
//! costs about 15 bytes.

use gridwork_domain::{DeviceId, KindDef, Value};
use gridwork_merge::{Hlc, Register, Version, VersionVector};
use serde::{Deserialize, Serialize};

use crate::Error;

/// A field's register and the server sequence of its last change (0 on
/// devices).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldRegister {
    pub seq: u64,
    pub register: Register<Value>,
}

#[derive(Serialize)]
struct FieldOut<'a> {
    tag: u8,
    seq: u64,
    versions: Vec<VersionOut<'a>>,
}

#[derive(Serialize)]
struct VersionOut<'a> {
    writer: u32,
    #[serde(with = "postcard::fixint::le")]
    hlc: u64,
    vv: &'a VersionVector,
    /// `None` for the winner, whose value is in its column.
    value: Option<&'a Value>,
}

#[derive(Deserialize)]
struct FieldIn {
    tag: u8,
    seq: u64,
    versions: Vec<VersionIn>,
}

#[derive(Deserialize)]
struct VersionIn {
    writer: u32,
    #[serde(with = "postcard::fixint::le")]
    hlc: u64,
    vv: VersionVector,
    value: Option<Value>,
}

/// Encodes the registers of a record's fields (aligned with `def.fields`).
pub(crate) fn encode(def: &KindDef, fields: &[Option<FieldRegister>]) -> Vec<u8> {
    let out: Vec<FieldOut<'_>> = def
        .fields
        .iter()
        .zip(fields)
        .filter_map(|(field, stored)| {
            let stored = stored.as_ref()?;
            let versions = stored
                .register
                .versions()
                .iter()
                .enumerate()
                .map(|(i, v)| VersionOut {
                    writer: v.writer.0,
                    hlc: v.hlc.as_u64(),
                    vv: &v.vv,
                    value: (i > 0).then_some(&v.value),
                })
                .collect();
            Some(FieldOut { tag: field.tag, seq: stored.seq, versions })
        })
        .collect();
    postcard::to_stdvec(&out).expect("metadata serialises")
}

/// Decodes a record's registers; `columns` holds the winners' values, which
/// are moved into the registers.
pub(crate) fn decode(
    def: &KindDef,
    bytes: &[u8],
    columns: &mut [Value],
) -> Result<Vec<Option<FieldRegister>>, Error> {
    let stored: Vec<FieldIn> =
        postcard::from_bytes(bytes).map_err(|e| Error::Corrupt(format!("record metadata: {e}")))?;
    let mut fields: Vec<Option<FieldRegister>> = vec![None; def.fields.len()];
    for field in stored {
        let (index, _) = def.by_tag(field.tag).ok_or_else(|| {
            Error::Corrupt(format!("{} metadata names unknown field tag {}", def.kind, field.tag))
        })?;
        let mut versions = Vec::with_capacity(field.versions.len());
        for (i, v) in field.versions.into_iter().enumerate() {
            let value = match (i, v.value) {
                (0, _) => std::mem::take(&mut columns[index]),
                (_, Some(value)) => value,
                (_, None) => {
                    return Err(Error::Corrupt(format!("a loser of field tag {} has no value", field.tag)));
                }
            };
            versions.push(Version { value, writer: DeviceId(v.writer), hlc: Hlc::from_u64(v.hlc), vv: v.vv });
        }
        let register = Register::from_frontier(versions)
            .ok_or_else(|| Error::Corrupt(format!("field tag {} has no versions", field.tag)))?;
        fields[index] = Some(FieldRegister { seq: field.seq, register });
    }
    Ok(fields)
}
