//! Local edits: what a worker types on the device (or centre staff at the
//! console, on the server). One edit is one transaction.

use gridwork_domain::{FieldType, Kind, Reason, Record, RecordId, ValidationError, Value, apply_edit};
use gridwork_merge::Register;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::record::{self, Row};
use crate::{Error, Replica, Role, Store};

impl Store {
    /// Creates or updates a record: `id` `None` creates one with a new id; an
    /// id that does not exist yet creates the record under that id.
    ///
    /// Every field and then the whole record are validated, the grid and
    /// other referenced records must exist, and nothing is written unless all
    /// of that holds. Fields whose value does not change are not rewritten.
    /// Returns the record's id.
    pub fn put(
        &mut self,
        kind: Kind,
        id: Option<RecordId>,
        changes: &[(&str, Value)],
    ) -> Result<RecordId, Error> {
        self.put_with(kind, id, changes, |_, _| Ok::<(), Error>(()))
    }

    /// [`Store::put`], running `also` in the same transaction before it
    /// commits (the server writes its audit trail this way). Not run when
    /// the edit changes nothing.
    pub fn put_with<E: From<Error>>(
        &mut self,
        kind: Kind,
        id: Option<RecordId>,
        changes: &[(&str, Value)],
        also: impl FnOnce(&rusqlite::Connection, RecordId) -> Result<(), E>,
    ) -> Result<RecordId, E> {
        match self.put_in(kind, id, changes, also) {
            Ok(Ok(id)) => Ok(id),
            Ok(Err(hook)) => Err(hook),
            Err(store) => Err(store.into()),
        }
    }

    fn put_in<E>(
        &mut self,
        kind: Kind,
        id: Option<RecordId>,
        changes: &[(&str, Value)],
        also: impl FnOnce(&rusqlite::Connection, RecordId) -> Result<(), E>,
    ) -> Result<Result<RecordId, E>, Error> {
        let writer = self.writer()?;
        if kind == Kind::Grid && self.role == Role::Device {
            return Err(Error::GridsAreTheCentres);
        }
        let now = self.clock.now_ms();
        let id = id.unwrap_or_else(|| self.new_record_id());
        let Store { conn, sql, role, .. } = self;
        let tx = crate::begin(conn, TransactionBehavior::Immediate)?;
        let (mut row, new) = match record::load(&tx, sql, kind, id)? {
            Some(row) => (row, false),
            None => {
                refuse_id_of_other_kind(&tx, kind, id)?;
                (Row::new(kind.def()), true)
            }
        };
        let mut draft = Record { id, kind, values: row.values() };
        let mut changed = apply_edit(&mut draft, changes.iter().map(|(name, value)| (*name, value.clone())))?;
        if *role == Role::Server {
            // The centre writing a field in conflict settles it, even with
            // the value that is winning: the write has seen every version.
            settles_conflicts(kind, &row, changes, &mut changed);
        }
        if changed.is_empty() {
            return Ok(Ok(id));
        }
        // Rules that need today's date, read from this replica's clock.
        let latest = gridwork_domain::latest_date(now);
        for &i in &changed {
            let field = &kind.def().fields[i];
            gridwork_domain::check_not_in_future(kind, field.name, &draft.values[i], latest)?;
        }
        if new && *role == Role::Device {
            check_in_scope(&tx, draft.values[kind.def().scope_index()].as_text())?;
        }
        check_references(&tx, &draft, &changed)?;

        let mut replica = Replica::load(&tx)?;
        replica.hlc = replica.hlc.tick(now);
        let scope_index = kind.def().scope_index();
        let scope_before = row.value(scope_index).as_text().map(str::to_owned);
        if *role == Role::Server {
            replica.seq += 1;
            row.seq = replica.seq;
        }
        let mut mask = 0u64;
        for &i in &changed {
            let value = std::mem::take(&mut draft.values[i]);
            let field_def = &kind.def().fields[i];
            match &mut row.fields[i] {
                Some(field) => record::write_field(&tx, id, field_def, field, value, writer, replica.hlc)?,
                empty @ None => {
                    let register = Register::first_write(value, writer, replica.hlc);
                    // A first write has no losers to store.
                    *empty = Some(
                        record::new_field(&mut crate::losers::Pending::default(), id, field_def, register).0,
                    );
                }
            }
            if let Some(field) = &mut row.fields[i] {
                field.seq = row.seq;
            }
            mask |= 1 << i;
        }
        record::save(&tx, sql, kind, id, &mut row, mask, mask)?;
        if let (Role::Server, Some(old)) = (*role, &scope_before) {
            record::note_move(&tx, kind, id, replica.seq, old, row.value(scope_index))?;
        }
        if *role == Role::Device {
            replica.counter += 1;
            let tags = changed.iter().fold(0i64, |bits, &i| bits | 1 << kind.def().fields[i].tag);
            record::queue(&tx, kind, id, replica.counter, tags)?;
        }
        replica.save(&tx)?;
        if let Err(hook) = also(&tx, id) {
            return Ok(Err(hook)); // dropping `tx` rolls everything back
        }
        tx.commit()?;
        Ok(Ok(id))
    }

    /// Deletes a record: sets its `deleted` field. The record's registers stay
    /// so that later changes merge; queries leave it out.
    pub fn delete(&mut self, kind: Kind, id: RecordId) -> Result<(), Error> {
        if self.get(kind, id)?.is_none() {
            return Err(Error::NotFound { kind, id });
        }
        self.put(kind, Some(id), &[("deleted", Value::Bool(true))])?;
        Ok(())
    }
}

/// Refuses a new record outside the grids the server last said this device
/// has (the server would refuse it at the next sync). A device not yet
/// told its grids checks nothing here.
fn check_in_scope(tx: &Connection, grid: Option<&str>) -> Result<(), Error> {
    let scope: Option<String> = tx.query_row("SELECT scope FROM session", [], |row| row.get(0)).optional()?;
    let scope: Vec<String> = scope.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    match grid {
        Some(grid) if !scope.is_empty() && !scope.iter().any(|g| g == grid) => {
            let mut named = scope.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            if scope.len() > 5 {
                named.push_str(&format!(", … {} in all", scope.len()));
            }
            Err(Error::OutOfScope { grid: grid.to_owned(), scope: named })
        }
        _ => Ok(()),
    }
}

/// Refuses to create a record under an id another kind already uses.
fn refuse_id_of_other_kind(tx: &Connection, kind: Kind, id: RecordId) -> Result<(), Error> {
    match record::kind_of(tx, id)? {
        Some(other) if other != kind => Err(Error::WrongKind { id, expected: kind, actual: other }),
        _ => Ok(()),
    }
}

/// The record's grid (and a grid's parent) must be a grid this store has,
/// and every reference must point at a live record of the right kind.
fn check_references(tx: &Connection, draft: &Record, changed: &[usize]) -> Result<(), Error> {
    let def = draft.kind.def();
    for &i in changed {
        let field = &def.fields[i];
        let Some(text) = draft.values[i].as_text() else { continue };
        let missing = match field.ty {
            // A grid's own code is what is being created, not a reference.
            FieldType::GridCode if draft.kind == Kind::Grid && field.name == def.scope_field => None,
            FieldType::GridCode => {
                let found = tx
                    .prepare_cached("SELECT 1 FROM grids WHERE code = ?1 AND deleted IS NOT 1")?
                    .query_row([text], |_| Ok(()))
                    .optional()?;
                found.is_none().then(|| Reason::NoSuchGrid { code: text.to_owned() })
            }
            FieldType::Ref { kind } => {
                let id = RecordId::parse_for(field.name, text)?;
                let sql = format!("SELECT 1 FROM {} WHERE id = ?1 AND deleted IS NOT 1", kind.def().table);
                let found = tx.prepare_cached(&sql)?.query_row([id.as_bytes()], |_| Ok(())).optional()?;
                found.is_none().then(|| Reason::NoSuchRecord { kind: kind.as_str(), id: text.to_owned() })
            }
            _ => None,
        };
        if let Some(reason) = missing {
            return Err(ValidationError::invalid(field.name, reason).into());
        }
    }
    Ok(())
}

/// Adds to `changed` the fields written that hold concurrent versions.
fn settles_conflicts(kind: Kind, row: &Row, changes: &[(&str, Value)], changed: &mut Vec<usize>) {
    for (name, _) in changes {
        let Some(i) = kind.def().fields.iter().position(|f| f.name == *name) else { continue };
        if row.fields[i].as_ref().is_some_and(|f| f.losers > 0) && !changed.contains(&i) {
            changed.push(i);
        }
    }
    changed.sort_unstable();
}
