//! The rules of a pull's page and of a pushed record's dry run, without a
//! database: what a page sends of each record, where it ends, which moves
//! between grids concern the puller, and what a new or re-gridded record
//! becomes. The embedded store (`scope.rs`) and the server's PostgreSQL
//! backend read their rows each their own way and hand them to these, so
//! both answer alike.
//!
//! Reading rows, and deciding who may see which grids, are not here.

use std::collections::BTreeSet;

use gridwork_domain::{DeviceId, FieldDef, Kind, KindDef, Reason, RecordId, ValidationError, Value};
use gridwork_merge::Register;
use gridwork_protocol::RecordChanges;

use crate::remote::PageLimit;
use crate::scope::ScopedChanges;

/// Whether a pull sends a field: every field of a record that comes whole
/// (a first pull, or a record that moved into the scope); otherwise what
/// changed after the cursor `since`, except the puller's own write that
/// nobody contested (it has it already).
pub fn sends_field(
    whole: bool,
    since: u64,
    field_seq: u64,
    winner: DeviceId,
    contested: bool,
    viewer: Option<DeviceId>,
) -> bool {
    let echo = Some(winner) == viewer && !contested;
    whole || field_seq > since && !echo
}

/// The moves between grids read since a puller's cursor, sorted into the
/// records that left its scope and those that came into it.
#[derive(Debug)]
pub struct Moves<'a> {
    scope: BTreeSet<&'a str>,
    after: u64,
    out: BTreeSet<(u64, RecordId)>,
    into: BTreeSet<RecordId>,
}

impl<'a> Moves<'a> {
    /// For a puller of `scope` whose pull has gone up to `after`.
    pub fn new(scope: &'a [String], after: u64) -> Self {
        Moves {
            scope: scope.iter().map(String::as_str).collect(),
            after,
            out: BTreeSet::new(),
            into: BTreeSet::new(),
        }
    }

    /// Notes the move, at `seq`, of record `id` from grid `old` to `new`
    /// (none: deleted). A grid moving in the tree concerns nobody: every
    /// device has every grid. A record leaving the scope is dropped by the
    /// puller if the move falls after the pull's position; one coming in
    /// at any time after the cursor comes whole (the puller cannot have
    /// it).
    pub fn note(&mut self, seq: u64, kind: Kind, id: RecordId, old: &str, new: Option<&str>) {
        if kind == Kind::Grid {
            return;
        }
        let was_in = self.scope.contains(old);
        let is_in = new.is_some_and(|n| self.scope.contains(n));
        if was_in && !is_in && seq > self.after {
            self.out.insert((seq, id));
        } else if is_in && !was_in {
            self.into.insert(id);
        }
    }

    /// Whether the record came into the scope since the cursor.
    pub fn moved_in(&self, id: &RecordId) -> bool {
        self.into.contains(id)
    }
}

/// A page of changes being filled, oldest first, until it holds what it
/// may: `limit.records` records read, and `limit.bytes` of weight (one
/// record at least, however heavy).
#[derive(Debug)]
pub struct Page {
    limit: PageLimit,
    records: Vec<RecordChanges>,
    weight: usize,
    /// The sequence number of the last record the page went past.
    last: Option<u64>,
    more: bool,
}

impl Page {
    /// `more_rows`: the query found more records than `limit.records`.
    pub fn new(limit: PageLimit, more_rows: bool) -> Self {
        Page { limit, records: Vec::new(), weight: 0, last: None, more: more_rows }
    }

    /// Offers the record changed at `seq`, with what the puller gets of it
    /// (`None`: nothing, the page goes past it). False when it no longer
    /// fits: the page is full, it ends before this record.
    pub fn offer(&mut self, seq: u64, change: Option<RecordChanges>) -> bool {
        if let Some(change) = change {
            let own = change.weight();
            if !self.records.is_empty() && self.weight + own > self.limit.bytes {
                self.more = true;
                return false;
            }
            self.weight += own;
            self.records.push(change);
        }
        self.last = Some(seq);
        true
    }

    /// The page: it ends at its last record when there is more, otherwise
    /// at `head` (where the database's sequence stands), never before
    /// `after`; the records that left the scope up to there, each once.
    pub fn finish(self, head: u64, after: u64, moves: Moves<'_>) -> ScopedChanges {
        let next = match (self.more, self.last) {
            (true, Some(seq)) => seq,
            (true, None) => after,
            (false, _) => head.max(after),
        };
        let removed: BTreeSet<RecordId> =
            moves.out.into_iter().filter(|(seq, _)| *seq <= next).map(|(_, id)| id).collect();
        ScopedChanges {
            records: self.records,
            removed: removed.into_iter().collect(),
            next,
            more: self.more,
            resync: false,
        }
    }
}

/// A puller too far behind in moves: it pulls everything again.
pub fn resync() -> ScopedChanges {
    ScopedChanges { resync: true, ..ScopedChanges::default() }
}

/// A pushed record new to the database: its required fields must come
/// with it; its grid is what it brings. `incoming` gives the pushed
/// register of a field, by index.
pub fn new_record_grid<'r>(
    def: &KindDef,
    incoming: impl Fn(usize) -> Option<&'r Register<Value>>,
) -> Result<Option<String>, ValidationError> {
    let value = |i: usize| incoming(i).map(|r| r.value().clone()).unwrap_or(Value::Null);
    if let Some((_, missing)) = def.fields.iter().enumerate().find(|(i, f)| f.required && value(*i).is_null())
    {
        return Err(ValidationError::required(missing.name));
    }
    Ok(value(def.scope_index()).as_text().map(str::to_owned))
}

/// A stored record's grid once the pushed scope register `theirs` is
/// merged into the stored one. A register that would leave no version
/// (a forged one) is refused, not read.
pub fn merged_grid(
    scope_field: &FieldDef,
    mut stored: Register<Value>,
    theirs: &Register<Value>,
) -> Result<Option<String>, ValidationError> {
    stored.merge(theirs.clone());
    if stored.versions().is_empty() {
        return Err(ValidationError::invalid(
            scope_field.name,
            Reason::Disagrees { other: "the versions the server holds" },
        ));
    }
    Ok(stored.value().as_text().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwork_protocol::FieldState;

    fn id(n: u8) -> RecordId {
        RecordId::from_bytes([n; 16])
    }

    fn change(n: u8, bytes: usize) -> RecordChanges {
        let register = Register::first_write(
            Value::Text("x".repeat(bytes)),
            DeviceId(1),
            gridwork_merge::Hlc::new(1, 0),
        );
        RecordChanges {
            id: id(n),
            kind: Kind::Resident,
            fields: vec![FieldState { field: "name".into(), register }],
        }
    }

    #[test]
    fn a_page_ends_at_its_last_record_when_full_and_at_the_head_otherwise() {
        // Room for two records of 100 characters and a half.
        let one = change(1, 100).weight();
        let limit = PageLimit { records: 10, bytes: 2 * one + one / 2 };
        let scope = vec!["C1".to_owned()];
        let mut page = Page::new(limit, false);
        assert!(page.offer(5, Some(change(1, 100))));
        assert!(page.offer(7, None), "a record with nothing to send is gone past");
        assert!(page.offer(9, Some(change(2, 100))));
        assert!(!page.offer(12, Some(change(3, 100))));
        let full = page.finish(40, 3, Moves::new(&scope, 3));
        assert_eq!((full.records.len(), full.next, full.more), (2, 9, true));
        // One record heavier than the page still goes, alone.
        let mut page = Page::new(limit, false);
        assert!(page.offer(5, Some(change(1, 10 * limit.bytes))));
        assert!(!page.offer(6, Some(change(2, 1))));
        assert_eq!(page.finish(40, 3, Moves::new(&scope, 3)).next, 5);
        // Everything fitted: up to the head, never back before `after`.
        let mut page = Page::new(limit, false);
        page.offer(5, Some(change(1, 10)));
        assert_eq!(page.finish(40, 3, Moves::new(&scope, 3)).next, 40);
        assert_eq!(Page::new(limit, false).finish(2, 3, Moves::new(&scope, 3)).next, 3);
        // More rows than read but nothing offered: the page stays where it was.
        assert_eq!(Page::new(limit, true).finish(40, 3, Moves::new(&scope, 3)).next, 3);
    }

    #[test]
    fn moves_out_after_the_position_are_dropped_once_and_moves_in_come_whole() {
        let scope = vec!["C1".to_owned(), "C2".to_owned()];
        let mut moves = Moves::new(&scope, 10);
        moves.note(8, Kind::Resident, id(1), "C1", Some("C9")); // before the position: sent already
        moves.note(12, Kind::Resident, id(2), "C1", Some("C9"));
        moves.note(14, Kind::Resident, id(2), "C9", Some("C1"));
        moves.note(16, Kind::Resident, id(2), "C1", None);
        moves.note(13, Kind::Resident, id(3), "C9", Some("C2"));
        moves.note(15, Kind::Resident, id(4), "C1", Some("C2")); // within the scope
        moves.note(17, Kind::Grid, id(5), "C1", Some("C9")); // grids go everywhere
        moves.note(30, Kind::Resident, id(6), "C2", Some("C9")); // after the page's end
        assert!(moves.moved_in(&id(2)) && moves.moved_in(&id(3)) && !moves.moved_in(&id(4)));
        let page = Page::new(PageLimit::records(10), false).finish(20, 10, moves);
        assert_eq!(page.removed, vec![id(2)], "each record once, and none past the page's end");
    }

    #[test]
    fn the_pullers_own_uncontested_writes_are_not_sent_back() {
        let (me, other) = (DeviceId(7), DeviceId(8));
        assert!(!sends_field(false, 10, 12, me, false, Some(me)));
        assert!(sends_field(false, 10, 12, me, true, Some(me)), "contested: the puller needs the loser");
        assert!(sends_field(false, 10, 12, other, false, Some(me)));
        assert!(!sends_field(false, 10, 9, other, false, Some(me)), "older than the cursor");
        assert!(sends_field(true, 10, 9, me, false, Some(me)), "a record that comes whole");
        assert!(sends_field(false, 10, 12, me, false, None), "a console sees everything");
    }
}
