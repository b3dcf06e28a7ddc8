//! The `meta` blob of a record row: for every written field, the server
//! sequence of its last change, its register's context (a version vector),
//! its winner's writer and HLC, and how many concurrent losers it keeps.
//!
//! Values are not in the blob. The winner's value is the field's column; the
//! losers (dot, HLC, value) are rows of the `losers` table, so a record with
//! many conflicting versions is not rewritten whole on every change.
//! Contexts are stored once per record and shared by the fields that have
//! the same one: the fields of a record are usually written together.
//!
//! The blob is postcard (varints), with HLCs as 8 fixed bytes: a field
//! written once by one device costs about 14 bytes.

use gridwork_domain::{DeviceId, KindDef, Value};
use gridwork_merge::{Hlc, Version, VersionVector};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::record::Field;

#[derive(Serialize, Deserialize)]
struct Meta {
    /// Distinct contexts, referred to by index.
    contexts: Vec<VersionVector>,
    fields: Vec<MetaField>,
}

#[derive(Serialize, Deserialize)]
struct MetaField {
    tag: u8,
    seq: u64,
    context: u32,
    /// The winner's writer; its counter is the context's entry for it.
    writer: u32,
    #[serde(with = "postcard::fixint::le")]
    hlc: u64,
    losers: u32,
}

/// Encodes a record's fields (aligned with `def.fields`).
pub(crate) fn encode(def: &KindDef, fields: &[Option<Field>]) -> Vec<u8> {
    let mut meta = Meta { contexts: Vec::new(), fields: Vec::new() };
    for (field_def, field) in def.fields.iter().zip(fields) {
        let Some(field) = field else { continue };
        let context = match meta.contexts.iter().position(|c| *c == field.context) {
            Some(i) => i,
            None => {
                meta.contexts.push(field.context.clone());
                meta.contexts.len() - 1
            }
        };
        meta.fields.push(MetaField {
            tag: field_def.tag,
            seq: field.seq,
            context: context as u32,
            writer: field.winner.writer.0,
            hlc: field.winner.hlc.as_u64(),
            losers: field.losers,
        });
    }
    postcard::to_stdvec(&meta).expect("metadata serialises")
}

/// Decodes a record's fields; `winners` holds the columns' values, which
/// become the winners' values.
pub(crate) fn decode(def: &KindDef, bytes: &[u8], winners: Vec<Value>) -> Result<Vec<Option<Field>>, Error> {
    let meta: Meta =
        postcard::from_bytes(bytes).map_err(|e| Error::Corrupt(format!("record metadata: {e}")))?;
    let mut winners: Vec<Option<Value>> = winners.into_iter().map(Some).collect();
    let mut fields: Vec<Option<Field>> = vec![None; def.fields.len()];
    for stored in meta.fields {
        let corrupt = |what: &str| Error::Corrupt(format!("{} field tag {}: {what}", def.kind, stored.tag));
        let (index, _) = def.by_tag(stored.tag).ok_or_else(|| corrupt("unknown tag"))?;
        let context =
            meta.contexts.get(stored.context as usize).ok_or_else(|| corrupt("no such context"))?.clone();
        let writer = DeviceId(stored.writer);
        let counter = context.get(writer);
        if counter == 0 {
            return Err(corrupt("the winner's write is not in the context"));
        }
        let value = winners[index].take().ok_or_else(|| corrupt("stored twice"))?;
        let winner = Version { value, writer, counter, hlc: Hlc::from_u64(stored.hlc) };
        fields[index] = Some(Field { seq: stored.seq, context, winner, losers: stored.losers });
    }
    Ok(fields)
}
