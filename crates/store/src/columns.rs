//! How field values sit in SQL columns, and the SQL text for each kind's
//! table: the select list, the insert, and updates of chosen columns.
//!
//! The mapping is lossless for every value that passed validation, which is
//! what lets a register's winning value live only in its column.

use std::collections::HashMap;

use gridwork_domain::{FieldType, Kind, KindDef, RecordId, Value};
use rusqlite::types::{Value as SqlValue, ValueRef};

use crate::Error;

/// The column value for a field value.
pub(crate) fn to_sql(ty: &FieldType, value: &Value) -> SqlValue {
    match (ty, value) {
        (_, Value::Null) => SqlValue::Null,
        (FieldType::Ref { .. }, Value::Text(text)) => match text.parse::<RecordId>() {
            Ok(id) => SqlValue::Blob(id.as_bytes().to_vec()),
            // Unreachable for validated values; kept as text rather than lost.
            Err(_) => SqlValue::Text(text.clone()),
        },
        (_, Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
        (_, Value::Int(n)) => SqlValue::Integer(*n),
        (_, Value::Float(x)) => SqlValue::Real(*x),
        (_, Value::Text(text)) => SqlValue::Text(text.clone()),
        (_, Value::List(items)) => SqlValue::Text(serde_json::to_string(items).expect("strings serialise")),
    }
}

/// The field value for a column value.
pub(crate) fn from_sql(ty: &FieldType, field: &str, raw: ValueRef<'_>) -> Result<Value, Error> {
    let corrupt = |what: &str| Error::Corrupt(format!("column `{field}` holds {what}"));
    Ok(match (ty, raw) {
        (_, ValueRef::Null) => Value::Null,
        (FieldType::Ref { .. }, ValueRef::Blob(bytes)) => {
            let bytes: [u8; 16] = bytes.try_into().map_err(|_| corrupt("a blob that is not an id"))?;
            Value::Text(RecordId::from_bytes(bytes).to_string())
        }
        (FieldType::Bool, ValueRef::Integer(n)) => Value::Bool(n != 0),
        (FieldType::Tags { .. } | FieldType::Attachments, ValueRef::Text(text)) => {
            Value::List(serde_json::from_slice(text).map_err(|_| corrupt("a list that is not JSON"))?)
        }
        (_, ValueRef::Integer(n)) => Value::Int(n),
        (_, ValueRef::Real(x)) => Value::Float(x),
        (_, ValueRef::Text(text)) => {
            Value::Text(String::from_utf8(text.to_vec()).map_err(|_| corrupt("text that is not UTF-8"))?)
        }
        (_, ValueRef::Blob(_)) => return Err(corrupt("an unexpected blob")),
    })
}

/// Columns `select_by_id` reads before the fields: `rowid, seq, meta`.
pub(crate) const LEADING: usize = 3;

/// SQL text per kind, built once.
#[derive(Debug)]
pub(crate) struct SqlText {
    /// `SELECT rowid, seq, meta, <fields> FROM <table> WHERE id = ?1`
    pub select_by_id: HashMap<Kind, String>,
    /// `SELECT id, <fields> FROM <table>`: a record's values, for queries.
    pub select_records: HashMap<Kind, String>,
    pub insert: HashMap<Kind, String>,
    /// Updates by (kind, bit mask of the changed field indices).
    updates: HashMap<(Kind, u64), String>,
}

impl SqlText {
    pub fn new() -> Self {
        let mut select_by_id = HashMap::new();
        let mut select_records = HashMap::new();
        let mut insert = HashMap::new();
        for kind in Kind::ALL {
            let def = kind.def();
            let columns: Vec<&str> = def.fields.iter().map(|f| f.name).collect();
            let list = quoted(&columns);
            select_by_id
                .insert(kind, format!("SELECT rowid, seq, meta, {list} FROM {} WHERE id = ?1", def.table));
            select_records.insert(kind, format!("SELECT id, {list} FROM {}", def.table));
            let params: Vec<String> = (1..=columns.len() + 3).map(|i| format!("?{i}")).collect();
            insert.insert(
                kind,
                format!("INSERT INTO {} (id, seq, meta, {list}) VALUES ({})", def.table, params.join(", ")),
            );
        }
        SqlText { select_by_id, select_records, insert, updates: HashMap::new() }
    }

    /// `UPDATE <table> SET seq = ?1, meta = ?2, <changed> = ?3... WHERE rowid = ?N`
    pub fn update(&mut self, def: &KindDef, changed: u64) -> &str {
        self.updates.entry((def.kind, changed)).or_insert_with(|| {
            let mut sets = vec!["seq = ?1".to_owned(), "meta = ?2".to_owned()];
            let changed_fields = def.fields.iter().enumerate().filter(|(i, _)| changed & (1 << i) != 0);
            for (_, field) in changed_fields {
                sets.push(format!("\"{}\" = ?{}", field.name, sets.len() + 1));
            }
            format!("UPDATE {} SET {} WHERE rowid = ?{}", def.table, sets.join(", "), sets.len() + 1)
        })
    }
}

fn quoted(columns: &[&str]) -> String {
    columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ")
}
