//! The `losers` table: the values of concurrent losers, one row per writer
//! and record, holding that writer's losing versions of the record's fields
//! as a small postcard blob of (field tag, HLC, value).
//!
//! A device's edit usually touches several fields of a record at once, and
//! when it loses, it loses in all of them together: one row instead of one
//! per field. Every lookup knows the writer (from the field's context) and
//! the record, so the key `(writer, record)` serves them all, and the losers
//! one batch leaves land side by side in the B-tree.
//!
//! The versions' counters are not stored: a loser's counter is its field's
//! context entry for the writer (see [`crate::record`]).

use gridwork_domain::{DeviceId, RecordId, Value};
use gridwork_merge::Hlc;
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::Error;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub tag: u8,
    #[serde(with = "postcard::fixint::le")]
    pub hlc: u64,
    pub value: Value,
}

fn decode(bytes: &[u8]) -> Result<Vec<Entry>, Error> {
    postcard::from_bytes(bytes).map_err(|e| Error::Corrupt(format!("losers row: {e}")))
}

fn encode(entries: &[Entry]) -> Vec<u8> {
    postcard::to_stdvec(entries).expect("losers serialise")
}

fn read(tx: &Connection, writer: DeviceId, id: RecordId) -> Result<Option<Vec<Entry>>, Error> {
    let bytes: Option<Vec<u8>> = tx
        .prepare_cached("SELECT entries FROM losers WHERE writer = ?1 AND record = ?2")?
        .query_row((writer.0, id.as_bytes()), |row| row.get(0))
        .optional()?;
    bytes.map(|b| decode(&b)).transpose()
}

fn write(tx: &Connection, writer: DeviceId, id: RecordId, entries: &[Entry]) -> Result<(), Error> {
    if entries.is_empty() {
        tx.prepare_cached("DELETE FROM losers WHERE writer = ?1 AND record = ?2")?
            .execute((writer.0, id.as_bytes()))?;
    } else {
        tx.prepare_cached("INSERT OR REPLACE INTO losers (writer, record, entries) VALUES (?1, ?2, ?3)")?
            .execute((writer.0, id.as_bytes(), encode(entries)))?;
    }
    Ok(())
}

/// A writer's losing version of one field of a record: its HLC and value.
pub(crate) fn get(
    tx: &Connection,
    writer: DeviceId,
    id: RecordId,
    tag: u8,
) -> Result<Option<(Hlc, Value)>, Error> {
    Ok(read(tx, writer, id)?
        .and_then(|entries| entries.into_iter().find(|e| e.tag == tag))
        .map(|e| (Hlc::from_u64(e.hlc), e.value)))
}

/// Removes a writer's losing version of one field; returns whether there
/// was one.
pub(crate) fn remove(tx: &Connection, writer: DeviceId, id: RecordId, tag: u8) -> Result<bool, Error> {
    let Some(mut entries) = read(tx, writer, id)? else { return Ok(false) };
    let before = entries.len();
    entries.retain(|e| e.tag != tag);
    if entries.len() == before {
        return Ok(false);
    }
    write(tx, writer, id, &entries)?;
    Ok(true)
}

/// Losers to store, gathered over a batch and written at its end, grouped
/// by row and in key order. A batch merges each field once, so nothing reads
/// them before they are written.
#[derive(Debug, Default)]
pub(crate) struct Pending(Vec<(DeviceId, RecordId, Entry)>);

impl Pending {
    pub fn push(&mut self, writer: DeviceId, id: RecordId, entry: Entry) {
        self.0.push((writer, id, entry));
    }

    pub fn write(mut self, tx: &Connection) -> Result<(), Error> {
        self.0.sort_unstable_by_key(|(writer, id, entry)| (*writer, *id, entry.tag));
        let mut pending = self.0.into_iter().peekable();
        while let Some((writer, id, entry)) = pending.next() {
            let mut group = vec![entry];
            while let Some((_, _, next)) = pending.next_if(|(w, r, _)| (*w, *r) == (writer, id)) {
                group.push(next);
            }
            let inserted = tx
                .prepare_cached("INSERT OR IGNORE INTO losers (writer, record, entries) VALUES (?1, ?2, ?3)")?
                .execute((writer.0, id.as_bytes(), encode(&group)))?;
            if inserted == 0 {
                // The writer already loses in other fields of this record.
                let mut entries = read(tx, writer, id)?.unwrap_or_default();
                entries.retain(|e| group.iter().all(|g| g.tag != e.tag));
                entries.extend(group);
                entries.sort_unstable_by_key(|e| e.tag);
                write(tx, writer, id, &entries)?;
            }
        }
        Ok(())
    }
}
