//! What the server needs to serve devices their part of the city: the grid
//! tree below a set of grids, the changes of a scope after a cursor (with
//! the records that moved out of it), and a dry run of a pushed record to
//! decide whether its device may write it.
//!
//! Who may see which grids is the server's decision; this module only
//! answers questions about the data.

use gridwork_domain::{DeviceId, Kind, RecordId};
use gridwork_protocol::RecordChanges;

use crate::remote::{PageLimit, field_states};
use crate::{Error, Store};
use crate::{paging, record};

/// Where a pull stands: the puller has every change up to `since`; the
/// pages of the pull in progress have gone up to `after` (at least `since`).
/// When the last page is in, both move to its end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PullPosition {
    pub since: u64,
    pub after: u64,
}

impl PullPosition {
    pub fn start(since: u64) -> PullPosition {
        PullPosition { since, after: since }
    }
}

/// A page of changes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScopedChanges {
    pub records: Vec<RecordChanges>,
    /// Records that moved from a grid of the scope to one outside it.
    pub removed: Vec<RecordId>,
    /// Where this page ends: the next page starts after it; when there is
    /// no next page (`more` false), the puller has everything up to it.
    pub next: u64,
    pub more: bool,
    /// Set (and nothing else) when more records changed grid since the
    /// puller's cursor than one page reads: it pulls everything again, from
    /// 0, and drops what it holds that does not come back.
    pub resync: bool,
}

/// The most moves one page reads; beyond, the puller resyncs from 0.
pub const MAX_MOVES_READ: usize = 10_000;

/// What a pushed record would do, worked out without writing anything.
#[derive(Clone, Debug, PartialEq)]
pub struct Preview {
    /// Whether the store has the record already.
    pub exists: bool,
    /// Its grid now (its scope field's value), if it exists.
    pub scope_now: Option<String>,
    /// Its grid once the change is merged.
    pub scope_after: Option<String>,
    /// The first field whose pushed register claims a write by another
    /// device that this store has not seen (a version signed with another
    /// device's number, or a context saying more of another device's writes
    /// were seen than there were), with that device. A device learns of
    /// others' writes only from the server, so a server that never lost
    /// anything has seen every such write.
    pub unvouched: Option<(&'static str, DeviceId)>,
    /// The first field where the pushing device shows it has forgotten
    /// writes of its own that this store holds (its register counts fewer
    /// of them), or wrote something else under the name of one of them. A
    /// device never forgets its own writes: its database was restored from
    /// a copy, or copied to another tablet, and its writes now clash with
    /// ones already here.
    pub diverged: Option<&'static str>,
}

impl Store {
    /// The grids at or below `roots`, following `parent` links between live
    /// grid records.
    pub fn grids_below(&self, roots: &[String]) -> Result<Vec<String>, Error> {
        let roots = serde_json::to_string(roots).expect("strings serialise");
        let mut statement = self.conn.prepare_cached(
            "WITH RECURSIVE below(code) AS (
                 SELECT code FROM grids WHERE code IN (SELECT value FROM json_each(?1)) AND deleted IS NOT 1
                 UNION
                 SELECT g.code FROM grids g JOIN below b ON g.parent = b.code WHERE g.deleted IS NOT 1
             )
             SELECT code FROM below ORDER BY code",
        )?;
        let codes = statement.query_map([roots], |row| row.get(0))?.collect::<Result<_, _>>()?;
        Ok(codes)
    }

    /// The server's change sequence: the last change made.
    pub fn change_seq(&self) -> Result<u64, Error> {
        Ok(self.conn.query_row("SELECT seq FROM replica", [], |row| row.get::<_, i64>(0))? as u64)
    }

    /// Forgets what only a puller whose cursor is below `seq` could need:
    /// the moves at or before `seq`, and the deleted records whose last
    /// change is at or before it (with their losers and conflicts). A
    /// puller at or past `seq` has had all of them; one below must pull
    /// everything again. Returns the moves and the records removed.
    pub fn purge_through(&mut self, seq: u64) -> Result<(usize, usize), Error> {
        let tx = crate::begin(&mut self.conn, rusqlite::TransactionBehavior::Immediate)?;
        let moves = tx.execute("DELETE FROM moves WHERE seq <= ?1", [seq as i64])?;
        let mut records = 0;
        for kind in Kind::ALL {
            let table = kind.def().table;
            let gone = format!("SELECT id FROM {table} WHERE deleted = 1 AND seq <= ?1");
            tx.execute(&format!("DELETE FROM losers WHERE record IN ({gone})"), [seq as i64])?;
            tx.execute(&format!("DELETE FROM conflicts WHERE record IN ({gone})"), [seq as i64])?;
            records +=
                tx.execute(&format!("DELETE FROM {table} WHERE deleted = 1 AND seq <= ?1"), [seq as i64])?;
        }
        tx.commit()?;
        Ok((moves, records))
    }

    /// A page of the changes after `position.since`: the records changed
    /// after `position.after` (where the previous page of this pull ended),
    /// oldest first, at most `max_records`, each with every field changed
    /// after `since`; with the records that moved out of the scope up to the
    /// page's end. Every grid record is everyone's; other records only
    /// those of the grids in `scope` (`None`: every record).
    ///
    /// Fields are chosen by `since`, not by `after`: a record changed at
    /// seq 5 and again at seq 9 lands in the page that reaches 9 and must
    /// still bring its seq-5 change. A record that moved into the scope
    /// after `since`, or any record when `since` is 0, comes whole. Fields
    /// whose only version is `viewer`'s own are left out (the viewer sent
    /// them).
    pub fn changes_in_scope(
        &mut self,
        position: PullPosition,
        scope: Option<&[String]>,
        viewer: Option<DeviceId>,
        page: PageLimit,
    ) -> Result<ScopedChanges, Error> {
        let max_records = page.records;
        let PullPosition { since, after } = position;
        let after = after.max(since);
        let scope_json = scope.map(|s| serde_json::to_string(s).expect("strings serialise"));
        let Store { conn, sql, .. } = self;
        let tx = crate::begin(conn, rusqlite::TransactionBehavior::Deferred)?;
        let head: u64 = tx.query_row("SELECT seq FROM replica", [], |row| row.get::<_, i64>(0))? as u64;
        let mut found: Vec<(u64, Kind, RecordId)> = Vec::new();
        let limit = max_records as i64 + 1;
        for kind in Kind::ALL {
            let def = kind.def();
            let mut rows: Vec<(i64, [u8; 16])> = Vec::new();
            let read = |row: &rusqlite::Row<'_>| Ok((row.get(0)?, row.get(1)?));
            match (&scope_json, kind) {
                (Some(codes), kind) if kind != Kind::Grid => {
                    let query = format!(
                        "SELECT seq, id FROM {} WHERE \"{}\" IN (SELECT value FROM json_each(?1)) AND seq > ?2
                         ORDER BY seq LIMIT ?3",
                        def.table, def.scope_field
                    );
                    let mut statement = tx.prepare_cached(&query)?;
                    for row in statement.query_map((codes, after as i64, limit), read)? {
                        rows.push(row?);
                    }
                }
                _ => {
                    let query =
                        format!("SELECT seq, id FROM {} WHERE seq > ?1 ORDER BY seq LIMIT ?2", def.table);
                    let mut statement = tx.prepare_cached(&query)?;
                    for row in statement.query_map((after as i64, limit), read)? {
                        rows.push(row?);
                    }
                }
            }
            found.extend(rows.into_iter().map(|(seq, id)| (seq as u64, kind, RecordId::from_bytes(id))));
        }
        found.sort_unstable_by_key(|f| f.0);
        let more = found.len() > max_records;
        found.truncate(max_records);

        // Moves since the cursor (see `paging::Moves`). A puller from 0 has
        // nothing to drop and gets every record whole: no moves are read.
        // One far behind, with more moves since its cursor than a page may
        // read, is told to pull everything again instead.
        let no_scope = [];
        let mut moves = paging::Moves::new(scope.unwrap_or(&no_scope), after);
        if let (Some(_), true) = (scope, since > 0) {
            let mut statement = tx.prepare_cached(
                "SELECT seq, record, kind, old_grid, new_grid FROM moves WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let mut rows = statement.query((since as i64, MAX_MOVES_READ as i64 + 1))?;
            let mut read = 0;
            while let Some(row) = rows.next()? {
                read += 1;
                if read > MAX_MOVES_READ {
                    return Ok(paging::resync());
                }
                let (seq, id, kind): (i64, [u8; 16], u8) = (row.get(0)?, row.get(1)?, row.get(2)?);
                let Some(kind) = Kind::from_number(kind) else {
                    return Err(Error::Corrupt(format!("a move of unknown kind {kind}")));
                };
                let (old, new): (String, Option<String>) = (row.get(3)?, row.get(4)?);
                moves.note(seq as u64, kind, RecordId::from_bytes(id), &old, new.as_deref());
            }
        }

        // The records' changes, oldest first, until the page is full.
        let mut page = paging::Page::new(page, more);
        for &(seq, kind, id) in &found {
            let row =
                record::load(&tx, sql, kind, id)?.ok_or_else(|| Error::Corrupt(format!("{id} vanished")))?;
            let whole = since == 0 || moves.moved_in(&id);
            let fields = field_states(&tx, id, kind, &row, |_, field| {
                paging::sends_field(whole, since, field.seq, field.winner.writer, field.losers > 0, viewer)
            })?;
            let change = (!fields.is_empty()).then_some(RecordChanges { id, kind, fields });
            if !page.offer(seq, change) {
                break;
            }
        }
        Ok(page.finish(head, after, moves))
    }

    /// Works out what merging each change would do to its record's grid,
    /// without writing, in one read transaction. Values are checked as
    /// [`Store::apply_remote`] checks them; a record new to the store must
    /// bring its required fields. Each change gets its own answer.
    /// `pusher` is the device whose changes these are (see
    /// [`Preview::unvouched`]).
    pub fn preview(
        &mut self,
        changes: &[RecordChanges],
        pusher: DeviceId,
    ) -> Result<Vec<Result<Preview, Error>>, Error> {
        let Store { conn, sql, .. } = self;
        let tx = crate::begin(conn, rusqlite::TransactionBehavior::Deferred)?;
        let mut previews = Vec::with_capacity(changes.len());
        for change in changes {
            previews.push(match crate::remote::check_batch(std::slice::from_ref(change)) {
                Ok(_) => preview_one(&tx, sql, change, pusher),
                Err(error) => Err(error),
            });
        }
        Ok(previews)
    }
}

fn preview_one(
    tx: &rusqlite::Connection,
    sql: &crate::columns::SqlText,
    change: &RecordChanges,
    pusher: DeviceId,
) -> Result<Preview, Error> {
    let def = change.kind.def();
    // What the store has seen of each pushed field, against what the
    // pushed register says was seen of other devices' writes.
    let unvouched = |row: Option<&record::Row>| {
        change.fields.iter().find_map(|state| {
            let index = def.index_of(&state.field).ok()?;
            let seen = row.and_then(|row| row.fields[index].as_ref()).map(|f| &f.context);
            state.register.claims_unseen(seen, pusher).map(|device| (def.fields[index].name, device))
        })
    };
    let diverged = |row: &record::Row| {
        change.fields.iter().find_map(|state| {
            let index = def.index_of(&state.field).ok()?;
            let stored = row.fields[index].as_ref()?;
            state
                .register
                .forgets_or_clashes(&stored.context, &stored.winner, pusher)
                .then_some(def.fields[index].name)
        })
    };
    let scope_index = def.scope_index();
    let incoming =
        |i: usize| change.fields.iter().find(|f| def.index_of(&f.field).ok() == Some(i)).map(|f| &f.register);
    let Some(row) = record::load(tx, sql, change.kind, change.id)? else {
        if let Some(other) = record::kind_of(tx, change.id)? {
            return Err(Error::WrongKind { id: change.id, expected: change.kind, actual: other });
        }
        // A new record: its values are what it brings.
        return Ok(Preview {
            exists: false,
            scope_now: None,
            scope_after: paging::new_record_grid(def, incoming)?,
            unvouched: unvouched(None),
            diverged: None,
        });
    };
    let scope_now = row.value(scope_index).as_text().map(str::to_owned);
    let scope_after = match (incoming(scope_index), row.fields[scope_index].as_ref()) {
        (None, _) => scope_now.clone(),
        (Some(theirs), None) => theirs.value().as_text().map(str::to_owned),
        (Some(theirs), Some(field)) => {
            let stored = record::full_register(tx, change.id, &def.fields[scope_index], field)?;
            paging::merged_grid(&def.fields[scope_index], stored, theirs)?
        }
    };
    let unvouched = unvouched(Some(&row));
    let diverged = diverged(&row);
    Ok(Preview { exists: true, scope_now, scope_after, unvouched, diverged })
}
