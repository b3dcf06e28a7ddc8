//! Changes that travel: applying a batch received from another replica,
//! and producing what this replica sends (a device's outbox, the server's
//! changes since a cursor).
//!
//! A batch is all or nothing: every version is checked before the
//! transaction writes anything, and the first bad one refuses the batch with
//! an error naming its position, its record and its field.

use std::collections::HashMap;

use gridwork_domain::{DeviceId, Kind, RecordId, ValidationError, Value};
use gridwork_merge::{Hlc, Merged, Register};
use gridwork_protocol::{FieldState, RecordChanges};
use rusqlite::{OptionalExtension, TransactionBehavior};

use crate::meta::FieldRegister;
use crate::record::{self, Row};
use crate::{Error, Replica, Role, Store};

/// What applying a batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Records the batch named.
    pub records: usize,
    /// Versions received.
    pub versions: usize,
    /// Field registers that changed.
    pub changed_fields: usize,
    /// Versions that arrived concurrent with what the store held.
    pub concurrent: usize,
    /// Records created by the batch.
    pub created: usize,
}

/// What a device has to push: its own latest version of every field edited
/// since the last acknowledgement, and the highest edit counter included.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outgoing {
    pub up_to_counter: u64,
    pub records: Vec<RecordChanges>,
}

/// A checked change: which record, which field (index), which versions.
struct Checked<'a> {
    index: usize,
    id: RecordId,
    kind: Kind,
    fields: Vec<(usize, &'a Register<Value>)>,
}

fn in_batch(index: usize, id: RecordId, error: impl Into<Error>) -> Error {
    Error::InBatch { index, id, source: Box::new(error.into()) }
}

/// Checks every version of every change: known field, well-formed version,
/// valid value in its canonical form.
fn check_batch(batch: &[RecordChanges]) -> Result<Vec<Checked<'_>>, Error> {
    let mut checked = Vec::with_capacity(batch.len());
    for (index, change) in batch.iter().enumerate() {
        let def = change.kind.def();
        let mut fields = Vec::with_capacity(change.fields.len());
        for FieldState { field, register } in &change.fields {
            let i = def.index_of(field).map_err(|e| in_batch(index, change.id, e))?;
            let ty = &def.fields[i].ty;
            for version in register.versions() {
                if !version.is_well_formed() || version.hlc == Hlc::ZERO {
                    let reason =
                        format!("a version of field `{field}` by device {} is malformed", version.writer);
                    return Err(in_batch(index, change.id, Error::Corrupt(reason)));
                }
                let canonical =
                    ty.check(field, version.value.clone()).map_err(|e| in_batch(index, change.id, e))?;
                if canonical != version.value {
                    let e = ValidationError::invalid(
                        field,
                        gridwork_domain::Reason::Disagrees { other: "its canonical form" },
                    );
                    return Err(in_batch(index, change.id, e));
                }
            }
            fields.push((i, register));
        }
        checked.push(Checked { index, id: change.id, kind: change.kind, fields });
    }
    Ok(checked)
}

impl Store {
    /// Applies changes received from another replica, in one transaction.
    /// Records are merged field by field; a record new to this store must
    /// carry its required fields (its grid first of all).
    pub fn apply_remote(&mut self, batch: &[RecordChanges]) -> Result<ApplyReport, Error> {
        let checked = check_batch(batch)?;
        // Each record is read and written once per batch, however many
        // changes name it.
        let mut order: Vec<RecordId> = Vec::new();
        let mut by_record: HashMap<RecordId, Vec<&Checked<'_>>> = HashMap::with_capacity(checked.len());
        for change in &checked {
            by_record
                .entry(change.id)
                .or_insert_with(|| {
                    order.push(change.id);
                    Vec::new()
                })
                .push(change);
        }

        let Store { conn, sql, role, .. } = self;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut replica = Replica::load(&tx)?;
        let mut report = ApplyReport { records: order.len(), ..ApplyReport::default() };
        let mut max_hlc = Hlc::ZERO;
        for id in order {
            let changes = &by_record[&id];
            let first = changes[0];
            if let Some(other) = changes.iter().find(|c| c.kind != first.kind) {
                let e = Error::WrongKind { id, expected: first.kind, actual: other.kind };
                return Err(in_batch(other.index, id, e));
            }
            let kind = first.kind;
            let def = kind.def();
            let existing = record::load(&tx, sql, kind, id)?;
            let is_new = existing.is_none();
            let mut row = existing.unwrap_or_else(|| Row::new(def));
            let was_in_conflict = record::conflict_mask(&row);
            let mut changed = 0u64;
            for change in changes {
                for &(i, register) in &change.fields {
                    for version in register.versions() {
                        report.versions += 1;
                        max_hlc = max_hlc.max(version.hlc);
                        let outcome = match &mut row.fields[i] {
                            Some(field) => field.register.merge_version(version.clone()),
                            empty @ None => {
                                let register = Register::new(version.clone());
                                *empty = Some(FieldRegister { seq: 0, register });
                                Merged::Superseded
                            }
                        };
                        if outcome.changed() {
                            changed |= 1 << i;
                        }
                        if matches!(outcome, Merged::Concurrent { .. }) {
                            report.concurrent += 1;
                        }
                    }
                }
            }
            if changed == 0 {
                continue;
            }
            if is_new {
                if let Some(missing) =
                    def.fields.iter().enumerate().find(|(i, f)| f.required && row.value(*i).is_null())
                {
                    let e = ValidationError::required(missing.1.name);
                    return Err(in_batch(first.index, id, e));
                }
                report.created += 1;
            }
            if *role == Role::Server {
                replica.seq += 1;
                row.seq = replica.seq;
                for i in (0..def.fields.len()).filter(|i| changed & (1 << i) != 0) {
                    row.fields[i].as_mut().expect("changed fields have registers").seq = replica.seq;
                }
            }
            report.changed_fields += changed.count_ones() as usize;
            record::save(&tx, sql, kind, id, &mut row, changed)?;
            record::note_conflicts(&tx, kind, id, &row, changed, was_in_conflict)?;
        }
        replica.hlc = replica.hlc.observe(max_hlc);
        replica.save(&tx)?;
        tx.commit()?;
        Ok(report)
    }

    /// What this device has to push: up to `max_records` records from the
    /// outbox, oldest edit first, each with this device's own latest version
    /// of every field edited since the last acknowledgement.
    pub fn outgoing(&mut self, max_records: usize) -> Result<Outgoing, Error> {
        let device = self.writer()?;
        let Store { conn, sql, .. } = self;
        let tx = conn.transaction()?;
        let pending: Vec<(Vec<u8>, u8, i64, i64)> = tx
            .prepare_cached("SELECT record, kind, counter, fields FROM outbox ORDER BY counter LIMIT ?1")?
            .query_map([max_records as i64], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))?
            .collect::<Result<_, _>>()?;
        let mut out = Outgoing::default();
        for (record_bytes, kind_number, counter, tags) in pending {
            let id = RecordId::from_bytes(
                record_bytes.try_into().map_err(|_| Error::Corrupt("outbox record id".into()))?,
            );
            let kind = Kind::from_number(kind_number)
                .ok_or_else(|| Error::Corrupt(format!("outbox kind {kind_number}")))?;
            out.up_to_counter = out.up_to_counter.max(counter as u64);
            let Some(row) = record::load(&tx, sql, kind, id)? else { continue };
            let fields = own_versions(kind, &row, tags as u64, device);
            if !fields.is_empty() {
                out.records.push(RecordChanges { id, kind, fields });
            }
        }
        Ok(out)
    }

    /// The server acknowledged every edit up to `counter`: they leave the
    /// outbox. Returns how many records left it.
    pub fn acknowledge(&mut self, counter: u64) -> Result<usize, Error> {
        Ok(self.conn.execute("DELETE FROM outbox WHERE counter <= ?1", [counter as i64])?)
    }

    /// How many records have edits the server has not acknowledged.
    pub fn pending_count(&self) -> Result<u64, Error> {
        Ok(self.conn.query_row("SELECT count(*) FROM outbox", [], |row| row.get::<_, i64>(0))? as u64)
    }

    /// The server's changes after `cursor`, oldest first, at most
    /// `max_records` records: each record with the registers of the fields
    /// that changed after the cursor. Returns the changes and the cursor to
    /// ask from next time (unchanged when there is nothing new).
    pub fn changes_since(
        &mut self,
        cursor: u64,
        max_records: usize,
    ) -> Result<(Vec<RecordChanges>, u64), Error> {
        let Store { conn, sql, .. } = self;
        let tx = conn.transaction()?;
        // The next `max_records` sequence numbers across all kinds.
        let mut found: Vec<(u64, Kind, RecordId)> = Vec::new();
        for kind in Kind::ALL {
            let query =
                format!("SELECT seq, id FROM {} WHERE seq > ?1 ORDER BY seq LIMIT ?2", kind.def().table);
            let mut statement = tx.prepare_cached(&query)?;
            let rows = statement.query_map((cursor as i64, max_records as i64), |row| {
                Ok((row.get::<_, i64>(0)? as u64, row.get::<_, Vec<u8>>(1)?))
            })?;
            for row in rows {
                let (seq, id) = row?;
                let id: [u8; 16] = id.try_into().map_err(|_| Error::Corrupt("record id".into()))?;
                found.push((seq, kind, RecordId::from_bytes(id)));
            }
        }
        found.sort_unstable_by_key(|f| f.0);
        found.truncate(max_records);
        let mut next = cursor;
        let mut changes = Vec::with_capacity(found.len());
        for (seq, kind, id) in found {
            let row =
                record::load(&tx, sql, kind, id)?.ok_or_else(|| Error::Corrupt(format!("{id} vanished")))?;
            let fields = kind
                .def()
                .fields
                .iter()
                .zip(&row.fields)
                .filter_map(|(def, field)| {
                    let field = field.as_ref().filter(|f| f.seq > cursor)?;
                    Some(FieldState { field: def.name.to_owned(), register: field.register.clone() })
                })
                .collect();
            changes.push(RecordChanges { id, kind, fields });
            next = seq;
        }
        Ok((changes, next))
    }

    /// The records and fields whose registers this store holds, whole: what a
    /// replica sends to bring another up to date without a server (the demo
    /// and tests use it).
    pub fn export(&mut self, kind: Kind, id: RecordId) -> Result<Option<RecordChanges>, Error> {
        let Store { conn, sql, .. } = self;
        let tx = conn.transaction()?;
        let Some(row) = record::load(&tx, sql, kind, id)? else { return Ok(None) };
        let fields = kind
            .def()
            .fields
            .iter()
            .zip(&row.fields)
            .filter_map(|(def, field)| {
                let field = field.as_ref()?;
                Some(FieldState { field: def.name.to_owned(), register: field.register.clone() })
            })
            .collect();
        Ok(Some(RecordChanges { id, kind, fields }))
    }

    /// The ids of every record of a kind, deleted ones included.
    pub fn ids(&self, kind: Kind) -> Result<Vec<RecordId>, Error> {
        let query = format!("SELECT id FROM {} ORDER BY id", kind.def().table);
        let mut statement = self.conn.prepare_cached(&query)?;
        let ids: Vec<RecordId> = statement
            .query_map([], |row| row.get::<_, [u8; 16]>(0))?
            .map(|id| id.map(RecordId::from_bytes))
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Whether a record exists, and of which kind.
    pub fn kind_of(&self, id: RecordId) -> Result<Option<Kind>, Error> {
        for kind in Kind::ALL {
            let query = format!("SELECT 1 FROM {} WHERE id = ?1", kind.def().table);
            if self.conn.prepare_cached(&query)?.query_row([id.as_bytes()], |_| Ok(())).optional()?.is_some()
            {
                return Ok(Some(kind));
            }
        }
        Ok(None)
    }
}

/// The device's own latest version of each field whose tag bit is set.
fn own_versions(kind: Kind, row: &Row, tags: u64, device: DeviceId) -> Vec<FieldState> {
    kind.def()
        .fields
        .iter()
        .zip(&row.fields)
        .filter(|(def, _)| tags & (1 << def.tag) != 0)
        .filter_map(|(def, field)| {
            let own = field.as_ref()?.register.versions().iter().find(|v| v.writer == device)?;
            Some(FieldState { field: def.name.to_owned(), register: Register::new(own.clone()) })
        })
        .collect()
}
