//! Reading and writing one record row with its registers, inside a
//! transaction. Everything else in the store goes through here.

use gridwork_domain::{Kind, KindDef, RecordId, Value};
use rusqlite::{OptionalExtension, Transaction, params_from_iter, types::Value as SqlValue};

use crate::Error;
use crate::columns::{self, LEADING, SqlText};
use crate::meta::{self, FieldRegister};

/// A record as stored: its row id, last change sequence, and each field's
/// register (`None` for fields never written).
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub rowid: Option<i64>,
    pub seq: u64,
    pub fields: Vec<Option<FieldRegister>>,
}

impl Row {
    pub fn new(def: &KindDef) -> Row {
        Row { rowid: None, seq: 0, fields: vec![None; def.fields.len()] }
    }

    pub fn value(&self, index: usize) -> &Value {
        const NULL: &Value = &Value::Null;
        self.fields[index].as_ref().map_or(NULL, |f| f.register.value())
    }

    pub fn values(&self) -> Vec<Value> {
        (0..self.fields.len()).map(|i| self.value(i).clone()).collect()
    }

    pub fn in_conflict(&self, index: usize) -> bool {
        self.fields[index].as_ref().is_some_and(|f| f.register.in_conflict())
    }
}

/// Loads a record by id.
pub(crate) fn load(
    tx: &Transaction<'_>,
    sql: &SqlText,
    kind: Kind,
    id: RecordId,
) -> Result<Option<Row>, Error> {
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
    let mut values = values.into_iter().collect::<Result<Vec<_>, _>>()?;
    let fields = meta::decode(def, &meta_bytes, &mut values)?;
    Ok(Some(Row { rowid: Some(rowid), seq: seq as u64, fields }))
}

/// Writes a record: inserts it if new, otherwise updates the columns whose
/// bit is set in `changed` (bit i = field i), with its metadata.
pub(crate) fn save(
    tx: &Transaction<'_>,
    sql: &mut SqlText,
    kind: Kind,
    id: RecordId,
    row: &mut Row,
    changed: u64,
) -> Result<(), Error> {
    let def = kind.def();
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

/// Keeps the `conflicts` table in step with the registers whose conflict
/// state may have changed (bits of `touched`).
pub(crate) fn note_conflicts(
    tx: &Transaction<'_>,
    kind: Kind,
    id: RecordId,
    row: &Row,
    touched: u64,
    was_in_conflict: u64,
) -> Result<(), Error> {
    let def = kind.def();
    for (i, field) in def.fields.iter().enumerate().filter(|(i, _)| touched & (1 << i) != 0) {
        let now = row.in_conflict(i);
        let before = was_in_conflict & (1 << i) != 0;
        if now && !before {
            tx.prepare_cached("INSERT OR IGNORE INTO conflicts (record, tag, kind) VALUES (?1, ?2, ?3)")?
                .execute((id.as_bytes(), field.tag, kind.number()))?;
        } else if before && !now {
            tx.prepare_cached("DELETE FROM conflicts WHERE record = ?1 AND tag = ?2")?
                .execute((id.as_bytes(), field.tag))?;
        }
    }
    Ok(())
}

/// The bit mask of the fields currently in conflict.
pub(crate) fn conflict_mask(row: &Row) -> u64 {
    (0..row.fields.len()).filter(|&i| row.in_conflict(i)).fold(0, |mask, i| mask | 1 << i)
}
