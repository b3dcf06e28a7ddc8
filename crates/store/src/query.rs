//! Reading records back: by id, by grid, residents by name / ID number /
//! phone prefix, the fields in conflict, and what the metadata costs.
//!
//! Queries read the plain columns through their indexes; they never decode
//! registers, except [`Store::conflicts`], [`Store::registers`] and
//! [`Store::storage_stats`], which are about the registers.

use gridwork_domain::{Kind, Record, RecordId, ValidationError, Value};
use rusqlite::{Row as SqlRow, ToSql};
use serde::Serialize;

use crate::columns;
use crate::record;
use crate::{Error, Store};

/// Which records of a kind to list.
#[derive(Clone, Debug)]
pub struct ListQuery {
    /// Only records of this grid (by the kind's scope field).
    pub grid: Option<String>,
    /// Only records whose reference field (`building`, `household`,
    /// `resident`) names this record.
    pub refers: Option<(&'static str, RecordId)>,
    pub include_deleted: bool,
    /// Records with ids after this one (ids grow with creation time), for
    /// paging.
    pub after: Option<RecordId>,
    pub limit: usize,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery { grid: None, refers: None, include_deleted: false, after: None, limit: 1000 }
    }
}

/// A search of residents; every criterion given must match. Texts match as
/// prefixes.
#[derive(Clone, Debug, Default)]
pub struct ResidentSearch {
    pub name: Option<String>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub building: Option<RecordId>,
    pub household: Option<RecordId>,
    pub limit: usize,
}

pub use gridwork_protocol::admin::{Conflict, VersionInfo};

/// A field's register as stored, every value at hand.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredField {
    pub field: &'static str,
    /// The server's change sequence of the field's last change (0 on devices).
    pub seq: u64,
    pub register: gridwork_merge::Register<Value>,
}

/// What a kind's records cost on disk, split between values and metadata.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StorageStats {
    pub records: u64,
    /// Fields that have a register (were ever written).
    pub fields: u64,
    /// Bytes of the `meta` blobs: vectors, HLCs, writers, losers' values.
    pub meta_bytes: u64,
    /// Bytes of the winning values (text length, 8 per number).
    pub value_bytes: u64,
    /// Concurrent losers kept for review, and the bytes of their values.
    pub losers: u64,
    pub loser_value_bytes: u64,
}

/// The upper bound of a prefix range: every text starting with `prefix`
/// sorts below `prefix` followed by the last Unicode scalar.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

impl Store {
    /// A record by id, deleted or not; `None` if this store has no such
    /// record of this kind.
    pub fn get(&self, kind: Kind, id: RecordId) -> Result<Option<Record>, Error> {
        let sql = format!("{} WHERE id = ?1", self.sql.select_records[&kind]);
        let mut records = self.query_records(kind, &sql, &[&id.as_bytes().as_slice()])?;
        Ok(records.pop())
    }

    /// Records of a kind, oldest first.
    pub fn list(&self, kind: Kind, query: &ListQuery) -> Result<Vec<Record>, Error> {
        let def = kind.def();
        let mut sql = format!("{} WHERE 1", self.sql.select_records[&kind]);
        let mut params: Vec<Box<dyn ToSql>> = Vec::new();
        if let Some(grid) = &query.grid {
            params.push(Box::new(grid.clone()));
            sql += &format!(" AND \"{}\" = ?{}", def.scope_field, params.len());
        }
        if let Some((field, id)) = query.refers {
            let f = def.field(field)?;
            if !matches!(f.ty, gridwork_domain::FieldType::Ref { .. }) {
                return Err(
                    ValidationError::UnknownField { kind: kind.as_str(), field: field.to_owned() }.into()
                );
            }
            params.push(Box::new(id.as_bytes().to_vec()));
            sql += &format!(" AND \"{field}\" = ?{}", params.len());
        }
        if !query.include_deleted {
            sql += " AND deleted IS NOT 1";
        }
        if let Some(after) = query.after {
            params.push(Box::new(after.as_bytes().to_vec()));
            sql += &format!(" AND id > ?{}", params.len());
        }
        params.push(Box::new(query.limit as i64));
        sql += &format!(" ORDER BY id LIMIT ?{}", params.len());
        let refs: Vec<&dyn ToSql> = params.iter().map(|p| p.as_ref()).collect();
        self.query_records(kind, &sql, &refs)
    }

    /// Residents matching every criterion given, by name.
    pub fn search_residents(&self, search: &ResidentSearch) -> Result<Vec<Record>, Error> {
        let mut sql = format!("{} WHERE deleted IS NOT 1", self.sql.select_records[&Kind::Resident]);
        let mut params: Vec<Box<dyn ToSql>> = Vec::new();
        for (column, prefix) in
            [("name", &search.name), ("id_number", &search.id_number), ("phone", &search.phone)]
        {
            if let Some(prefix) = prefix {
                let prefix = if column == "id_number" { prefix.to_ascii_uppercase() } else { prefix.clone() };
                params.push(Box::new(prefix_end(&prefix)));
                params.push(Box::new(prefix));
                sql += &format!(" AND {column} >= ?{} AND {column} < ?{}", params.len(), params.len() - 1);
            }
        }
        for (column, id) in [("building", search.building), ("household", search.household)] {
            if let Some(id) = id {
                params.push(Box::new(id.as_bytes().to_vec()));
                sql += &format!(" AND {column} = ?{}", params.len());
            }
        }
        params.push(Box::new(if search.limit == 0 { 50 } else { search.limit } as i64));
        sql += &format!(" ORDER BY name LIMIT ?{}", params.len());
        let refs: Vec<&dyn ToSql> = params.iter().map(|p| p.as_ref()).collect();
        self.query_records(Kind::Resident, &sql, &refs)
    }

    /// Residents as a worker types in one search box: a name prefix, or,
    /// when the text is digits (an `X` may end an ID number), the start of
    /// an ID number or of a phone number. At most `limit`, by name.
    pub fn find_residents(&self, text: &str, limit: usize) -> Result<Vec<Record>, Error> {
        let text = text.trim();
        let limit = limit.clamp(1, 500);
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let digits = text.trim_end_matches(['x', 'X']);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let by_id = self.search_residents(&ResidentSearch {
                id_number: Some(text.to_owned()),
                limit,
                ..Default::default()
            })?;
            let mut found = by_id;
            if digits.len() == text.len() && text.len() <= 11 {
                let by_phone = self.search_residents(&ResidentSearch {
                    phone: Some(text.to_owned()),
                    limit,
                    ..Default::default()
                })?;
                for resident in by_phone {
                    if !found.iter().any(|r| r.id == resident.id) {
                        found.push(resident);
                    }
                }
                found.sort_by(|a, b| name_of(a).cmp(name_of(b)).then(a.id.cmp(&b.id)));
                found.truncate(limit);
            }
            return Ok(found);
        }
        self.search_residents(&ResidentSearch { name: Some(text.to_owned()), limit, ..Default::default() })
    }

    fn query_records(&self, kind: Kind, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Record>, Error> {
        let def = kind.def();
        let mut statement = self.conn.prepare_cached(sql)?;
        let mut rows = statement.query(params)?;
        let mut records = Vec::new();
        while let Some(row) = rows.next()? {
            records.push(record_from_row(kind, def, row)?);
        }
        Ok(records)
    }

    /// How many fields are in conflict (cheap: no register is decoded).
    pub fn conflict_count(&self) -> Result<u64, Error> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM conflicts")?
            .query_row([], |row| row.get::<_, i64>(0))? as u64)
    }

    /// Every field in conflict, at most `limit`.
    pub fn conflicts(&mut self, limit: usize) -> Result<Vec<Conflict>, Error> {
        self.conflicts_in(None, limit)
    }

    /// The fields in conflict of the records whose scope field (a record's
    /// grid, a grid's code) is one of `grids` (every record's with
    /// `None`), at most `limit`, in the order of (record, field).
    pub fn conflicts_in(&mut self, grids: Option<&[String]>, limit: usize) -> Result<Vec<Conflict>, Error> {
        let fields: Vec<([u8; 16], u8, u8)> = match grids {
            None => self
                .conn
                .prepare_cached("SELECT record, tag, kind FROM conflicts ORDER BY record, tag LIMIT ?1")?
                .query_map([limit as i64], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<Result<_, _>>()?,
            Some(grids) => {
                // Each kind's conflicts joined to its table by id, kept
                // when the record's scope field is one of the grids.
                let scoped = Kind::ALL
                    .iter()
                    .map(|kind| {
                        let def = kind.def();
                        format!(
                            "SELECT c.record, c.tag, c.kind FROM conflicts c JOIN {table} t ON t.id = c.record
                             WHERE c.kind = {number} AND t.{scope} IN (SELECT value FROM json_each(?1))",
                            table = def.table,
                            number = kind.number(),
                            scope = def.scope_field,
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" UNION ALL ");
                let grids = serde_json::to_string(grids).expect("strings serialise");
                self.conn
                    .prepare_cached(&format!("SELECT * FROM ({scoped}) ORDER BY record, tag LIMIT ?2"))?
                    .query_map(rusqlite::params![grids, limit as i64], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })?
                    .collect::<Result<_, _>>()?
            }
        };
        let mut conflicts = Vec::with_capacity(fields.len());
        for (id, tag, kind_number) in fields {
            let id = RecordId::from_bytes(id);
            let kind = Kind::from_number(kind_number)
                .ok_or_else(|| Error::Corrupt(format!("kind {kind_number}")))?;
            let stored = self
                .registers(kind, id)?
                .and_then(|fields| {
                    fields.into_iter().find(|f| kind.def().field(f.field).is_ok_and(|d| d.tag == tag))
                })
                .ok_or_else(|| Error::Corrupt(format!("loser of {kind} {id} tag {tag} without its field")))?;
            let info = |v: &gridwork_merge::Version<Value>| VersionInfo {
                value: v.value.clone(),
                writer: v.writer,
                hlc: v.hlc,
                at_ms: v.hlc.physical_ms(),
            };
            conflicts.push(Conflict {
                kind,
                id,
                field: stored.field.to_owned(),
                winner: info(stored.register.winner()),
                losers: stored.register.losers().iter().map(info).collect(),
            });
        }
        Ok(conflicts)
    }

    /// A record's registers, field by field (only the fields ever written).
    pub fn registers(&mut self, kind: Kind, id: RecordId) -> Result<Option<Vec<StoredField>>, Error> {
        let tx = crate::begin(&mut self.conn, rusqlite::TransactionBehavior::Deferred)?;
        let Some(row) = record::load(&tx, &self.sql, kind, id)? else { return Ok(None) };
        let mut fields = Vec::new();
        for (def, field) in kind.def().fields.iter().zip(&row.fields) {
            if let Some(field) = field {
                let register = record::full_register(&tx, id, def, field)?;
                fields.push(StoredField { field: def.name, seq: field.seq, register });
            }
        }
        Ok(Some(fields))
    }

    /// Bytes of metadata against bytes of values for one kind.
    pub fn storage_stats(&mut self, kind: Kind) -> Result<StorageStats, Error> {
        let ids = self.ids(kind)?;
        let mut stats = StorageStats::default();
        let select = format!("SELECT length(meta) FROM {} WHERE id = ?1", kind.def().table);
        for id in ids {
            stats.records += 1;
            stats.meta_bytes +=
                self.conn.prepare_cached(&select)?.query_row([id.as_bytes()], |row| row.get::<_, i64>(0))?
                    as u64;
            for field in self.registers(kind, id)?.unwrap_or_default() {
                stats.fields += 1;
                stats.value_bytes += field.register.value().payload_len() as u64;
                for loser in field.register.losers() {
                    stats.losers += 1;
                    stats.loser_value_bytes += loser.value.payload_len() as u64;
                }
            }
        }
        Ok(stats)
    }
}

fn record_from_row(kind: Kind, def: &gridwork_domain::KindDef, row: &SqlRow<'_>) -> Result<Record, Error> {
    let id: [u8; 16] = row.get(0)?;
    let mut values = Vec::with_capacity(def.fields.len());
    for (i, field) in def.fields.iter().enumerate() {
        values.push(columns::from_sql(&field.ty, field.name, row.get_ref(1 + i)?)?);
    }
    Ok(Record { id: RecordId::from_bytes(id), kind, values })
}

fn name_of(resident: &Record) -> &str {
    resident.get("name").and_then(Value::as_text).unwrap_or("")
}
