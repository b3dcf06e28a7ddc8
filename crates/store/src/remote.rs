//! Changes that travel: applying a batch received from another replica,
//! and producing what this replica sends (a device's outbox, the server's
//! changes since a cursor).
//!
//! A batch is all or nothing: every version is checked before the
//! transaction writes anything, and the first bad one refuses the batch with
//! an error naming its position, its record and its field.

use std::collections::HashMap;

use gridwork_domain::{FieldDef, Kind, Reason, RecordId, ValidationError, Value};
use gridwork_merge::{Hlc, Register};
use gridwork_protocol::{FieldState, RecordChanges};
use rusqlite::TransactionBehavior;

use crate::record::{self, Field, Row};
use crate::{Error, Replica, Role, Store};

/// What applying a batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Records the batch named.
    pub records: usize,
    /// Versions received.
    pub versions: usize,
    /// Records and field registers that changed.
    pub changed_records: usize,
    pub changed_fields: usize,
    /// Versions the batch left kept as concurrent losers (a winner it
    /// outranked included).
    pub new_losers: usize,
    /// Records created by the batch.
    pub created: usize,
}

/// How much one page (of a push or a pull) may hold: at most `records`
/// records, and records weighing at most `bytes` in all
/// ([`RecordChanges::weight`]), except that a page always holds one record
/// however heavy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLimit {
    pub records: usize,
    pub bytes: usize,
}

impl PageLimit {
    /// At most `records` records, whatever their weight.
    pub fn records(records: usize) -> Self {
        PageLimit { records, bytes: usize::MAX }
    }
}

/// What a device has to push: its own latest version of every field edited
/// since the last acknowledgement, and the highest edit counter included.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outgoing {
    pub up_to_counter: u64,
    pub records: Vec<RecordChanges>,
}

fn in_batch(index: usize, id: RecordId, error: impl Into<Error>) -> Error {
    Error::InBatch { index, id, source: Box::new(error.into()) }
}

/// Checks every version of every change (known field, valid value in its
/// canonical form) and returns each change's field indices.
pub fn check_batch(batch: &[RecordChanges]) -> Result<Vec<Vec<usize>>, Error> {
    let mut checked = Vec::with_capacity(batch.len());
    for (index, change) in batch.iter().enumerate() {
        let def = change.kind.def();
        let mut fields = Vec::with_capacity(change.fields.len());
        for FieldState { field, register } in &change.fields {
            let i = def.index_of(field).map_err(|e| in_batch(index, change.id, e))?;
            let (ty, required) = (&def.fields[i].ty, def.fields[i].required);
            for version in register.versions() {
                if version.hlc == Hlc::ZERO {
                    return Err(in_batch(
                        index,
                        change.id,
                        ValidationError::invalid(field, Reason::NoTimestamp),
                    ));
                }
                // A required field is never cleared, by anyone: a record
                // without its grid would belong to no one.
                if required && version.value.is_null() {
                    return Err(in_batch(index, change.id, ValidationError::required(field)));
                }
                let canonical =
                    ty.check(field, version.value.clone()).map_err(|e| in_batch(index, change.id, e))?;
                if canonical != version.value {
                    let e = ValidationError::invalid(
                        field,
                        Reason::NotCanonical { expected: canonical.to_string() },
                    );
                    return Err(in_batch(index, change.id, e));
                }
            }
            fields.push(i);
        }
        checked.push(fields);
    }
    Ok(checked)
}

impl Store {
    /// Applies changes received from another replica, in one transaction.
    /// Records are merged field by field; a record new to this store must
    /// carry its required fields (its grid first of all).
    pub fn apply_remote(&mut self, batch: Vec<RecordChanges>) -> Result<ApplyReport, Error> {
        self.apply_remote_with(batch, |_, _| Ok::<(), Error>(()))
    }

    /// [`Store::apply_remote`], running `also` inside the same transaction
    /// before it commits (the server records who sent the batch and how far
    /// it is acknowledged, atomically with the changes).
    pub fn apply_remote_with<E: From<Error>>(
        &mut self,
        batch: Vec<RecordChanges>,
        also: impl FnOnce(&rusqlite::Connection, &ApplyReport) -> Result<(), E>,
    ) -> Result<ApplyReport, E> {
        match self.apply_batch(batch, also) {
            Ok(Ok(report)) => Ok(report),
            Ok(Err(hook)) => Err(hook),
            Err(store) => Err(store.into()),
        }
    }

    /// The batch is applied and `also` run in one transaction, committed
    /// only if both succeed; `also`'s own error comes back inside `Ok`.
    fn apply_batch<E>(
        &mut self,
        batch: Vec<RecordChanges>,
        also: impl FnOnce(&rusqlite::Connection, &ApplyReport) -> Result<(), E>,
    ) -> Result<Result<ApplyReport, E>, Error> {
        let indices = check_batch(&batch)?;
        // Each record is read and written once per batch, however many
        // changes name it.
        let mut order: Vec<RecordId> = Vec::new();
        let mut by_record: HashMap<RecordId, Vec<(usize, RecordChanges, Vec<usize>)>> =
            HashMap::with_capacity(batch.len());
        for (index, (change, fields)) in batch.into_iter().zip(indices).enumerate() {
            by_record
                .entry(change.id)
                .or_insert_with(|| {
                    order.push(change.id);
                    Vec::new()
                })
                .push((index, change, fields));
        }

        let Store { conn, sql, role, .. } = self;
        let tx = crate::begin(conn, TransactionBehavior::Immediate)?;
        let mut replica = Replica::load(&tx)?;
        let mut report = ApplyReport { records: order.len(), ..ApplyReport::default() };
        let mut max_hlc = Hlc::ZERO;
        let mut new_losers = crate::losers::Pending::default();
        for id in order {
            let changes = by_record.remove(&id).expect("every id in order was grouped");
            let (first_index, kind) = (changes[0].0, changes[0].1.kind);
            if let Some((index, other, _)) = changes.iter().find(|c| c.1.kind != kind) {
                return Err(in_batch(
                    *index,
                    id,
                    Error::WrongKind { id, expected: kind, actual: other.kind },
                ));
            }
            let def = kind.def();
            let existing = record::load(&tx, sql, kind, id)?;
            let is_new = existing.is_none();
            let mut row = existing.unwrap_or_else(|| Row::new(def));
            let scope_before = row.value(def.scope_index()).as_text().map(str::to_owned);
            // Registers for the same field are merged in memory first, so
            // the stored field is merged once per batch.
            let mut incoming: Vec<Option<Register<Value>>> = vec![None; def.fields.len()];
            for (_, change, fields) in changes {
                for (state, i) in change.fields.into_iter().zip(fields) {
                    report.versions += state.register.versions().len();
                    max_hlc = state.register.versions().iter().map(|v| v.hlc).fold(max_hlc, Hlc::max);
                    match &mut incoming[i] {
                        Some(register) => {
                            register.merge(state.register);
                        }
                        empty @ None => *empty = Some(state.register),
                    }
                }
            }
            let (mut changed, mut values_changed) = (0u64, 0u64);
            for (i, register) in incoming.into_iter().enumerate() {
                let Some(register) = register else { continue };
                let field_def = &def.fields[i];
                let before = row.value(i).clone();
                let merged = match &mut row.fields[i] {
                    Some(field) => record::merge_field(&tx, &mut new_losers, id, field_def, field, register)?,
                    empty @ None => {
                        let (field, kept) = record::new_field(&mut new_losers, id, field_def, register);
                        *empty = Some(field);
                        record::FieldMerge { changed: true, new_losers: kept }
                    }
                };
                if merged.changed {
                    changed |= 1 << i;
                }
                if *row.value(i) != before {
                    values_changed |= 1 << i;
                }
                report.new_losers += merged.new_losers;
            }
            if changed == 0 {
                continue;
            }
            if is_new {
                if let Some(missing) =
                    def.fields.iter().enumerate().find(|(i, f)| f.required && row.value(*i).is_null())
                {
                    return Err(in_batch(first_index, id, ValidationError::required(missing.1.name)));
                }
                report.created += 1;
            }
            if *role == Role::Server {
                replica.seq += 1;
                row.seq = replica.seq;
                for i in (0..def.fields.len()).filter(|i| changed & (1 << i) != 0) {
                    row.fields[i].as_mut().expect("changed fields have registers").seq = replica.seq;
                }
                if let Some(old) = &scope_before {
                    record::note_move(&tx, kind, id, replica.seq, old, row.value(def.scope_index()))?;
                }
            }
            report.changed_records += 1;
            report.changed_fields += changed.count_ones() as usize;
            record::save(&tx, sql, kind, id, &mut row, changed, values_changed)?;
        }
        new_losers.write(&tx)?;
        replica.hlc = replica.hlc.observe(max_hlc);
        replica.remote_hlc = replica.remote_hlc.observe(max_hlc);
        replica.save(&tx)?;
        if let Err(hook) = also(&tx, &report) {
            return Ok(Err(hook)); // dropping `tx` rolls everything back
        }
        tx.commit()?;
        Ok(Ok(report))
    }

    /// What this device has to push: from the outbox, oldest edit first, as
    /// many records as fit in `page` (at least one), each with the
    /// registers of the fields edited since the last acknowledgement (whole:
    /// a register sent without some of its versions would tell the receiver
    /// to drop them). `up_to_counter` covers exactly the edits included.
    pub fn outgoing(&mut self, page: PageLimit) -> Result<Outgoing, Error> {
        let Store { conn, sql, .. } = self;
        let tx = crate::begin(conn, TransactionBehavior::Deferred)?;
        let mut pending =
            tx.prepare_cached("SELECT record, kind, counter, fields FROM outbox ORDER BY counter")?;
        let mut rows = pending.query([])?;
        let mut out = Outgoing::default();
        let mut weight = 0usize;
        while let Some(entry) = rows.next()? {
            if out.records.len() >= page.records {
                break;
            }
            let (record_bytes, kind_number, counter, tags): (Vec<u8>, u8, i64, i64) =
                (entry.get(0)?, entry.get(1)?, entry.get(2)?, entry.get(3)?);
            let id = RecordId::from_bytes(
                record_bytes.try_into().map_err(|_| Error::Corrupt("outbox record id".into()))?,
            );
            let kind = Kind::from_number(kind_number)
                .ok_or_else(|| Error::Corrupt(format!("outbox kind {kind_number}")))?;
            let fields = match record::load(&tx, sql, kind, id)? {
                Some(row) => field_states(&tx, id, kind, &row, |def, _| tags & (1 << def.tag) != 0)?,
                None => Vec::new(),
            };
            if !fields.is_empty() {
                let change = RecordChanges { id, kind, fields };
                let own = change.weight();
                if !out.records.is_empty() && weight + own > page.bytes {
                    break;
                }
                weight += own;
                out.records.push(change);
            }
            out.up_to_counter = out.up_to_counter.max(counter as u64);
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

    /// The records and fields whose registers this store holds, whole: what a
    /// replica sends to bring another up to date without a server (the demo
    /// and tests use it).
    pub fn export(&mut self, kind: Kind, id: RecordId) -> Result<Option<RecordChanges>, Error> {
        let Store { conn, sql, .. } = self;
        let tx = crate::begin(conn, TransactionBehavior::Deferred)?;
        let Some(row) = record::load(&tx, sql, kind, id)? else { return Ok(None) };
        let fields = field_states(&tx, id, kind, &row, |_, _| true)?;
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
        record::kind_of(&self.conn, id)
    }
}

/// The whole registers of the fields `wanted` picks, ready to send.
pub(crate) fn field_states(
    tx: &rusqlite::Connection,
    id: RecordId,
    kind: Kind,
    row: &Row,
    wanted: impl Fn(&FieldDef, &Field) -> bool,
) -> Result<Vec<FieldState>, Error> {
    let mut states = Vec::new();
    for (def, field) in kind.def().fields.iter().zip(&row.fields) {
        if let Some(field) = field.as_ref().filter(|f| wanted(def, f)) {
            states.push(FieldState {
                field: def.name.to_owned(),
                register: record::full_register(tx, id, def, field)?,
            });
        }
    }
    Ok(states)
}
