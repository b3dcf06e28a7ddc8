//! Reading and writing one record row with its registers, inside a
//! transaction. Everything else in the store goes through here.
//!
//! A field is stored as its register's context and winner (in the row) and
//! its concurrent losers (rows of `losers`, not loaded unless needed).
//! [`merge_field`] merges a received register into that layout with work
//! proportional to the received register, not to the number of losers kept,
//! so a field with a hundred conflicting versions costs little more to
//! touch than one with none. It follows the merge of
//! [`gridwork_merge::Register::merge`] exactly; the store's property tests
//! check the two against each other.

use gridwork_domain::{DeviceId, FieldDef, Kind, KindDef, RecordId, Value};
use gridwork_merge::{Hlc, Register, Version, VersionVector};
use rusqlite::{Connection, OptionalExtension, params_from_iter, types::Value as SqlValue};
use smallvec::SmallVec;

use crate::Error;
use crate::columns::{self, LEADING, SqlText};
use crate::{losers, meta};

/// A stored field: its register's context and winner, how many losers it
/// keeps in `losers`, and the server sequence of its last change (0 on
/// devices).
#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub seq: u64,
    pub context: VersionVector,
    pub winner: Version<Value>,
    pub losers: u32,
}

/// A record as stored: its row id, last change sequence, and each field
/// (`None` for fields never written).
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub rowid: Option<i64>,
    pub seq: u64,
    pub fields: Vec<Option<Field>>,
    /// Each field's loser count when loaded or last saved.
    saved_losers: Vec<u32>,
}

impl Row {
    pub fn new(def: &KindDef) -> Row {
        Row {
            rowid: None,
            seq: 0,
            fields: vec![None; def.fields.len()],
            saved_losers: vec![0; def.fields.len()],
        }
    }

    pub fn value(&self, index: usize) -> &Value {
        const NULL: &Value = &Value::Null;
        self.fields[index].as_ref().map_or(NULL, |f| &f.winner.value)
    }

    pub fn values(&self) -> Vec<Value> {
        (0..self.fields.len()).map(|i| self.value(i).clone()).collect()
    }
}

fn rank(v: &Version<Value>) -> (Hlc, DeviceId, u32) {
    (v.hlc, v.writer, v.counter)
}

/// What merging into a field did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FieldMerge {
    pub changed: bool,
    /// Received versions kept beside others as concurrent.
    pub new_losers: usize,
}

/// Loads a record by id.
pub(crate) fn load(tx: &Connection, sql: &SqlText, kind: Kind, id: RecordId) -> Result<Option<Row>, Error> {
    let def = kind.def();
    let mut statement = tx.prepare_cached(&sql.select_by_id[&kind])?;
    let row = statement
        .query_row([id.as_bytes()], |row| {
            let rowid: i64 = row.get(0)?;
            let seq: i64 = row.get(1)?;
            let meta: Vec<u8> = row.get(2)?;
            let mut values = Vec::with_capacity(def.fields.len());
            for (i, field) in def.fields.iter().enumerate() {
                values.push(columns::from_sql(&field.ty, field.name, row.get_ref(LEADING + i)?));
            }
            Ok((rowid, seq, meta, values))
        })
        .optional()?;
    let Some((rowid, seq, meta_bytes, values)) = row else { return Ok(None) };
    let values = values.into_iter().collect::<Result<Vec<_>, _>>()?;
    let fields = meta::decode(def, &meta_bytes, values)?;
    let saved_losers = fields.iter().map(|f| f.as_ref().map_or(0, |f| f.losers)).collect();
    Ok(Some(Row { rowid: Some(rowid), seq: seq as u64, fields, saved_losers }))
}

/// Writes a record: inserts it if new, otherwise updates its metadata and
/// the columns whose value changed (bit i of `values` = field i). `touched`
/// has a bit for every field whose register changed.
pub(crate) fn save(
    tx: &Connection,
    sql: &mut SqlText,
    kind: Kind,
    id: RecordId,
    row: &mut Row,
    touched: u64,
    values: u64,
) -> Result<(), Error> {
    let def = kind.def();
    let changed = values;
    for (i, field_def) in def.fields.iter().enumerate().filter(|(i, _)| touched & (1 << i) != 0) {
        let now = row.fields[i].as_ref().map_or(0, |f| f.losers);
        match (row.saved_losers[i], now) {
            (0, 1..) => {
                tx.prepare_cached("INSERT OR IGNORE INTO conflicts (record, tag, kind) VALUES (?1, ?2, ?3)")?
                    .execute((id.as_bytes(), field_def.tag, kind.number()))?;
            }
            (1.., 0) => {
                tx.prepare_cached("DELETE FROM conflicts WHERE record = ?1 AND tag = ?2")?
                    .execute((id.as_bytes(), field_def.tag))?;
            }
            _ => {}
        }
        row.saved_losers[i] = now;
    }
    let meta = meta::encode(def, &row.fields);
    match row.rowid {
        None => {
            let mut params: Vec<SqlValue> = Vec::with_capacity(LEADING + def.fields.len());
            params.push(SqlValue::Blob(id.as_bytes().to_vec()));
            params.push(SqlValue::Integer(row.seq as i64));
            params.push(SqlValue::Blob(meta));
            for (i, field) in def.fields.iter().enumerate() {
                params.push(columns::to_sql(&field.ty, row.value(i)));
            }
            tx.prepare_cached(&sql.insert[&kind])?.execute(params_from_iter(params))?;
            row.rowid = Some(tx.last_insert_rowid());
        }
        Some(rowid) => {
            let mut params: Vec<SqlValue> = Vec::with_capacity(3 + changed.count_ones() as usize);
            params.push(SqlValue::Integer(row.seq as i64));
            params.push(SqlValue::Blob(meta));
            for (i, field) in def.fields.iter().enumerate().filter(|(i, _)| changed & (1 << i) != 0) {
                params.push(columns::to_sql(&field.ty, row.value(i)));
            }
            params.push(SqlValue::Integer(rowid));
            tx.prepare_cached(sql.update(def, changed))?.execute(params_from_iter(params))?;
        }
    }
    Ok(())
}

/// Stores a version as a loser of a field, at the end of the batch.
fn push_loser(pending: &mut losers::Pending, id: RecordId, def: &FieldDef, v: Version<Value>) {
    pending.push(v.writer, id, losers::Entry { tag: def.tag, hlc: v.hlc.as_u64(), value: v.value });
}

/// A writer's loser of a field, if it has one there.
fn read_loser(
    tx: &Connection,
    id: RecordId,
    def: &FieldDef,
    field: &Field,
    writer: DeviceId,
) -> Result<Option<Version<Value>>, Error> {
    Ok(losers::get(tx, writer, id, def.tag)?.map(|(hlc, value)| Version {
        writer,
        counter: field.context.get(writer),
        hlc,
        value,
    }))
}

/// The field's losers: one per writer of its context but the winner's.
fn stored_losers(
    tx: &Connection,
    id: RecordId,
    def: &FieldDef,
    field: &Field,
) -> Result<Vec<Version<Value>>, Error> {
    let mut found = Vec::with_capacity(field.losers as usize);
    if field.losers > 0 {
        for (writer, _) in field.context.iter().filter(|(w, _)| *w != field.winner.writer) {
            found.extend(read_loser(tx, id, def, field, writer)?);
        }
    }
    if found.len() != field.losers as usize {
        return Err(Error::Corrupt(format!("field {} of {id}: loser count does not match", def.name)));
    }
    Ok(found)
}

/// A field of a record this store did not have: the received register's
/// winner goes in the row, its losers in `losers`.
pub(crate) fn new_field(
    new_losers: &mut losers::Pending,
    id: RecordId,
    def: &FieldDef,
    incoming: Register<Value>,
) -> (Field, usize) {
    let (context, versions) = incoming.into_parts();
    let mut versions = versions.into_iter();
    let winner = versions.next().expect("a register has at least one version");
    let mut losers = 0;
    for loser in versions {
        push_loser(new_losers, id, def, loser);
        losers += 1;
    }
    (Field { seq: 0, context, winner, losers }, losers as usize)
}

/// A local write: it has seen every version of the field, so it is the only
/// one left.
pub(crate) fn write_field(
    tx: &Connection,
    id: RecordId,
    def: &FieldDef,
    field: &mut Field,
    value: Value,
    writer: DeviceId,
    hlc: Hlc,
) -> Result<(), Error> {
    if field.losers > 0 {
        for (loser, _) in field.context.iter().filter(|(w, _)| *w != field.winner.writer) {
            losers::remove(tx, loser, id, def.tag)?;
        }
        field.losers = 0;
    }
    let counter = field.context.increment(writer);
    field.winner = Version { value, writer, counter, hlc };
    Ok(())
}

/// Merges a received register into a stored field: versions of ours the
/// other side has seen and not kept go, versions of theirs we have not seen
/// come in, the contexts join, and the highest-ranked version wins.
pub(crate) fn merge_field(
    tx: &Connection,
    new_losers: &mut losers::Pending,
    id: RecordId,
    def: &FieldDef,
    field: &mut Field,
    incoming: Register<Value>,
) -> Result<FieldMerge, Error> {
    let (their_context, their_versions) = incoming.into_parts();
    let their_dots: SmallVec<[(DeviceId, u32); 4]> = their_versions.iter().map(Version::dot).collect();
    let mut out = FieldMerge::default();

    // Our losers that they have seen and let go. Our version by a writer has
    // the counter our context gives that writer.
    if field.losers > 0 {
        for (writer, theirs) in their_context.iter().filter(|(w, _)| *w != field.winner.writer) {
            let ours = field.context.get(writer);
            let seen_and_let_go = ours > 0 && theirs >= ours && !their_dots.contains(&(writer, ours));
            if seen_and_let_go && losers::remove(tx, writer, id, def.tag)? {
                field.losers -= 1;
                out.changed = true;
            }
        }
    }
    let winner_kept = !their_context.covers(field.winner.dot()) || their_dots.contains(&field.winner.dot());

    // Their versions we have not seen, best first.
    let mut fresh: Vec<Version<Value>> =
        their_versions.into_iter().filter(|v| !field.context.covers(v.dot())).collect();
    fresh.sort_unstable_by_key(|v| std::cmp::Reverse(rank(v)));
    if !field.context.dominates(&their_context) {
        field.context.join(&their_context);
        out.changed = true;
    }

    let mut fresh = fresh.into_iter().peekable();
    if !winner_kept {
        out.changed = true;
        let best_stored = stored_losers(tx, id, def, field)?.into_iter().max_by_key(rank);
        let stored_wins = match (&best_stored, fresh.peek()) {
            (Some(stored), Some(theirs)) => rank(stored) > rank(theirs),
            (Some(_), None) => true,
            (None, _) => false,
        };
        field.winner = if stored_wins {
            let stored = best_stored.expect("stored_wins implies a stored loser");
            if losers::remove(tx, stored.writer, id, def.tag)? {
                field.losers -= 1;
            }
            stored
        } else {
            fresh
                .next()
                .ok_or_else(|| Error::Corrupt(format!("field {} of {id} merged to no version", def.name)))?
        };
    } else if fresh.peek().is_some_and(|theirs| rank(theirs) > rank(&field.winner)) {
        let theirs = fresh.next().expect("peeked");
        let demoted = std::mem::replace(&mut field.winner, theirs);
        push_loser(new_losers, id, def, demoted);
        field.losers += 1;
        out.changed = true;
        out.new_losers += 1;
    }
    for loser in fresh {
        push_loser(new_losers, id, def, loser);
        field.losers += 1;
        out.changed = true;
        out.new_losers += 1;
    }
    Ok(out)
}

/// A field's whole register, losers read from `losers`.
pub(crate) fn full_register(
    tx: &Connection,
    id: RecordId,
    def: &FieldDef,
    field: &Field,
) -> Result<Register<Value>, Error> {
    let mut versions = vec![field.winner.clone()];
    versions.extend(stored_losers(tx, id, def, field)?);
    let register = Register::from_parts(field.context.clone(), versions)
        .map_err(|e| Error::Corrupt(format!("field {} of {id}: {e}", def.name)))?;
    if register.winner().dot() != field.winner.dot() {
        return Err(Error::Corrupt(format!("field {} of {id}: a loser outranks the winner", def.name)));
    }
    Ok(register)
}

/// On the server: a record's grid changed, so devices that saw the old grid
/// and not the new one must drop it.
pub(crate) fn note_move(
    tx: &Connection,
    kind: Kind,
    id: RecordId,
    seq: u64,
    old: &str,
    new: &Value,
) -> Result<(), Error> {
    if new.as_text() != Some(old) {
        tx.prepare_cached("INSERT OR REPLACE INTO moves (seq, record, kind, old_grid, new_grid) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute((seq as i64, id.as_bytes(), kind.number(), old, new.as_text()))?;
    }
    Ok(())
}

/// The kind of the record with this id, if any table has it.
pub(crate) fn kind_of(conn: &rusqlite::Connection, id: RecordId) -> Result<Option<Kind>, Error> {
    for kind in Kind::ALL {
        let query = format!("SELECT 1 FROM {} WHERE id = ?1", kind.def().table);
        if conn.prepare_cached(&query)?.query_row([id.as_bytes()], |_| Ok(())).optional()?.is_some() {
            return Ok(Some(kind));
        }
    }
    Ok(None)
}

/// Queues a device's edit of a record's fields (bits of their tags) in the
/// outbox under a new counter, adding to what is already queued for it.
pub(crate) fn queue(tx: &Connection, kind: Kind, id: RecordId, counter: u64, tags: i64) -> Result<(), Error> {
    tx.prepare_cached(
        "INSERT INTO outbox (record, kind, counter, fields) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (record) DO UPDATE SET counter = excluded.counter, fields = fields | excluded.fields",
    )?
    .execute((id.as_bytes(), kind.number(), counter as i64, tags))?;
    Ok(())
}
