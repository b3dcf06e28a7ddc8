//! A device's sync decisions, without IO: what to do with each answer the
//! server gives, as plain values the sync loop in `lib.rs` carries out
//! against the store and the network.
//!
//! Everything a sync decides is here, and tested on its own: re-stamp once
//! after `clock_ahead` and roll back every other refusal; send fewer
//! records after a 413 and after a 429 `device_quota`, down to one record,
//! then hold back (the budget) or stop (a record the server never takes);
//! start over when the server's epoch changed (a restore); pull everything
//! again when told to resync, when its scope grew, or once when a pulled
//! change cannot be placed; stop on `device_diverged`; wipe on revocation;
//! take a 401 as "the server does not know this device".
//!
//! What it does not do: read or write the store, send requests, read a
//! clock. The loop asks the store what to send, sends it, and reports the
//! outcome here.

use std::collections::BTreeSet;

use gridwork_domain::RecordId;
use gridwork_protocol::codes::{ErrorCode, RefusalCode};
use gridwork_protocol::sync::{PullResponse, PushResponse, Rejection};
use gridwork_store::PageLimit;

/// What to do when a request fails with an error answer, whatever phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// The device was revoked: wipe its data and stop.
    Wipe,
    /// The server does not know this device's token: stop; it must enroll
    /// again.
    Unknown,
    /// Stop with the error (`device_diverged` among them: nothing was
    /// applied and nothing may be sent again from this database).
    Stop,
}

/// How a sync takes an error answer that is not particular to a phase.
pub fn on_error(status: u16, code: &ErrorCode) -> OnError {
    match (status, code) {
        (_, ErrorCode::DeviceRevoked) => OnError::Wipe,
        (401, _) => OnError::Unknown,
        _ => OnError::Stop,
    }
}

/// The push phase: pages of the outbox until it is empty.
#[derive(Debug)]
pub struct Push {
    full: PageLimit,
    page: PageLimit,
    epoch: String,
    /// Records already re-stamped in this phase: a second `clock_ahead`
    /// for one of them is rolled back like any refusal.
    restamped: BTreeSet<RecordId>,
}

/// What to do after the server refused a whole push page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnPushRefused {
    /// Send the same edits again in smaller pages ([`Push::page`]).
    SendFewer,
    /// One record alone is larger than the server takes: stop, keeping it
    /// and every later edit.
    RecordTooLarge,
    /// The day's budget is spent even for one record: the rest waits for
    /// tomorrow; go on to pull.
    HoldBack,
    /// Anything else: see [`on_error`].
    Other(OnError),
}

/// What to do with a push's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnPushAnswer {
    /// The server was restored from a backup (its epoch changed): queue
    /// everything again under the new epoch and push from the start.
    Restored { epoch: String },
    /// Record the acknowledgement, then take each refusal as
    /// [`Push::refusal`] says.
    Acknowledge { up_to: u64 },
}

/// What to do with one refused record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnRefusal {
    /// Stamp the device's own versions again with the corrected clock and
    /// queue them under a new counter; if the store had something to
    /// re-stamp, the page is sent again ([`Push::next`] with `again`).
    Restamp,
    /// Delete the device's copy (apply the server's state if it came) and
    /// keep the refusal in the list of refused edits.
    RollBack,
}

impl Push {
    /// A push phase sending pages of `full` at most, under `epoch`.
    pub fn new(full: PageLimit, epoch: &str) -> Push {
        Push { full, page: full, epoch: epoch.to_owned(), restamped: BTreeSet::new() }
    }

    /// How much to take from the outbox for the next request.
    pub fn page(&self) -> PageLimit {
        self.page
    }

    /// The server refused a page of `sent` records as a whole.
    pub fn refused(&mut self, status: u16, code: &ErrorCode, sent: usize) -> OnPushRefused {
        let smaller = |page: PageLimit, full: PageLimit| PageLimit {
            records: (sent / 2).max(1),
            bytes: page.bytes.min(full.bytes) / 2,
        };
        match (status, code) {
            // Too large for this server: half as many, down to one record,
            // which always fits unless the server's limit was lowered.
            (413, _) if sent > 1 => {
                self.page = smaller(self.page, self.full);
                OnPushRefused::SendFewer
            }
            (413, _) => OnPushRefused::RecordTooLarge,
            // The day's budget: a smaller page may still fit.
            (429, ErrorCode::DeviceQuota) if sent > 1 => {
                self.page = smaller(self.page, self.full);
                OnPushRefused::SendFewer
            }
            (429, ErrorCode::DeviceQuota) => OnPushRefused::HoldBack,
            _ => OnPushRefused::Other(on_error(status, code)),
        }
    }

    /// An answer arrived: the page size goes back to full, and a new epoch
    /// means a restore.
    pub fn answered(&mut self, answer: &PushResponse) -> OnPushAnswer {
        self.page = self.full;
        if answer.epoch != self.epoch {
            self.epoch = answer.epoch.clone();
            return OnPushAnswer::Restored { epoch: answer.epoch.clone() };
        }
        OnPushAnswer::Acknowledge { up_to: answer.acked_up_to }
    }

    /// One refused record: re-stamped once after `clock_ahead` (the clock
    /// was corrected from this very answer), rolled back otherwise.
    pub fn refusal(&mut self, rejection: &Rejection) -> OnRefusal {
        if rejection.code == RefusalCode::ClockAhead && self.restamped.insert(rejection.id) {
            OnRefusal::Restamp
        } else {
            OnRefusal::RollBack
        }
    }

    /// Whether to ask the outbox for another page: after a page that sent
    /// something, or one whose refusals were re-stamped (`again`). A page
    /// that was empty and re-stamped nothing ends the phase (the first
    /// page is sent even when empty: it tells the server the device's
    /// pending count and last sync).
    pub fn next(&self, sent_nothing: bool, again: bool) -> bool {
        !sent_nothing || again
    }
}

/// The pull phase: pages of changes until the server says there are no
/// more.
#[derive(Debug)]
pub struct Pull {
    epoch: String,
    /// Whether this phase already started over because a pulled change
    /// could not be placed: a second time is an error.
    restarted: bool,
}

/// Where the device's pull stands, as its store holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held<'a> {
    pub cursor: u64,
    pub scope: &'a [String],
}

/// What to do with a pulled page, before applying its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnPage {
    /// The server was restored: queue everything again under `epoch`, and
    /// sync again from the push.
    Restored { epoch: String },
    /// Too far behind: pull everything from cursor 0 and drop what does not
    /// come back (a sweep); ask again.
    Sweep,
    /// Apply the page.
    Apply {
        /// The scope changed: set it (dropping what left) before anything
        /// else.
        scope: Option<Vec<String>>,
        /// The scope grew while the device held a cursor: the new grids'
        /// records are older than it, so the cursor goes back to 0 and the
        /// page is asked for again instead of applied.
        restart_from_zero: bool,
    },
}

/// What to do when applying a pulled page failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnApplyFailed {
    /// A change to a record this device lacks: pull everything again, once.
    Sweep,
    /// Stop with the error.
    Stop,
}

/// Where the pull goes after a page was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterPage {
    /// Ask for the page after `after`.
    More { after: u64 },
    /// The pull is done: the cursor is `cursor`; a sweep in progress ends
    /// (what did not come back is dropped).
    Done { cursor: u64 },
}

impl Pull {
    pub fn new(epoch: &str) -> Pull {
        Pull { epoch: epoch.to_owned(), restarted: false }
    }

    /// A page arrived for a device that holds `held`.
    pub fn page(&mut self, page: &PullResponse, held: Held<'_>) -> OnPage {
        if page.epoch != self.epoch {
            return OnPage::Restored { epoch: page.epoch.clone() };
        }
        if page.resync {
            return OnPage::Sweep;
        }
        let Some(scope) = &page.scope else { return OnPage::Apply { scope: None, restart_from_zero: false } };
        let old: BTreeSet<&String> = held.scope.iter().collect();
        let grew = scope.iter().any(|grid| !old.contains(grid));
        OnPage::Apply { scope: Some(scope.clone()), restart_from_zero: grew && held.cursor != 0 }
    }

    /// Applying the page failed; `unplaceable` when the store said a
    /// change could not be placed (a validation error: a change to a record
    /// it lacks).
    pub fn apply_failed(&mut self, unplaceable: bool) -> OnApplyFailed {
        if unplaceable && !self.restarted {
            self.restarted = true;
            OnApplyFailed::Sweep
        } else {
            OnApplyFailed::Stop
        }
    }

    /// The page was applied.
    pub fn applied(&self, page: &PullResponse) -> AfterPage {
        if page.more {
            AfterPage::More { after: page.next_cursor }
        } else {
            AfterPage::Done { cursor: page.next_cursor }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwork_domain::Kind;

    const FULL: PageLimit = PageLimit { records: 1000, bytes: 4 << 20 };

    fn rejection(code: RefusalCode, n: u8) -> Rejection {
        Rejection {
            id: RecordId::from_bytes([n; 16]),
            kind: Kind::Resident,
            code,
            field: None,
            message: String::new(),
            message_zh: String::new(),
            server_state: None,
        }
    }

    fn answer(epoch: &str) -> PushResponse {
        PushResponse { acked_up_to: 7, applied: 1, rejected: vec![], epoch: epoch.into(), server_time_ms: 0 }
    }

    fn page(epoch: &str) -> PullResponse {
        PullResponse {
            records: vec![],
            removed: vec![],
            next_cursor: 42,
            more: false,
            scope: None,
            scope_hash: String::new(),
            epoch: epoch.into(),
            server_time_ms: 0,
            resync: false,
        }
    }

    #[test]
    fn a_clock_ahead_refusal_is_restamped_once_per_record_then_rolled_back() {
        let mut push = Push::new(FULL, "e");
        let first = rejection(RefusalCode::ClockAhead, 1);
        assert_eq!(push.refusal(&first), OnRefusal::Restamp);
        assert_eq!(
            push.refusal(&rejection(RefusalCode::ClockAhead, 2)),
            OnRefusal::Restamp,
            "another record"
        );
        assert_eq!(push.refusal(&first), OnRefusal::RollBack, "the same record a second time");
        for code in [RefusalCode::OutOfScope, RefusalCode::Invalid, RefusalCode::Forbidden] {
            assert_eq!(push.refusal(&rejection(code, 3)), OnRefusal::RollBack);
        }
        // A code from a newer server is rolled back, never re-stamped.
        assert_eq!(push.refusal(&rejection(RefusalCode::Other("new".into()), 4)), OnRefusal::RollBack);
        // A new phase may re-stamp it again.
        assert_eq!(Push::new(FULL, "e").refusal(&first), OnRefusal::Restamp);
    }

    #[test]
    fn a_push_too_large_is_halved_down_to_one_record_and_the_page_grows_back_after_an_answer() {
        let mut push = Push::new(FULL, "e");
        assert_eq!(push.refused(413, &ErrorCode::TooLarge, 1000), OnPushRefused::SendFewer);
        assert_eq!(push.page(), PageLimit { records: 500, bytes: 2 << 20 });
        assert_eq!(push.refused(413, &ErrorCode::TooLarge, 500), OnPushRefused::SendFewer);
        assert_eq!(push.page().records, 250);
        assert_eq!(push.refused(413, &ErrorCode::TooLarge, 3), OnPushRefused::SendFewer);
        assert_eq!(push.page().records, 1);
        assert_eq!(push.refused(413, &ErrorCode::TooLarge, 1), OnPushRefused::RecordTooLarge);
        assert_eq!(push.answered(&answer("e")), OnPushAnswer::Acknowledge { up_to: 7 });
        assert_eq!(push.page(), FULL);
    }

    #[test]
    fn past_the_days_budget_fewer_records_are_tried_then_the_rest_is_held_back() {
        let mut push = Push::new(FULL, "e");
        assert_eq!(push.refused(429, &ErrorCode::DeviceQuota, 8), OnPushRefused::SendFewer);
        assert_eq!(push.page().records, 4);
        assert_eq!(push.refused(429, &ErrorCode::DeviceQuota, 1), OnPushRefused::HoldBack);
        // Another 429 (too many attempts) is not the budget.
        assert_eq!(push.refused(429, &ErrorCode::TooManyAttempts, 8), OnPushRefused::Other(OnError::Stop));
    }

    #[test]
    fn revocation_wipes_divergence_stops_and_an_unknown_token_says_so() {
        let mut push = Push::new(FULL, "e");
        assert_eq!(push.refused(403, &ErrorCode::DeviceRevoked, 5), OnPushRefused::Other(OnError::Wipe));
        assert_eq!(push.refused(409, &ErrorCode::DeviceDiverged, 5), OnPushRefused::Other(OnError::Stop));
        assert_eq!(push.refused(401, &ErrorCode::Unauthorized, 5), OnPushRefused::Other(OnError::Unknown));
        assert_eq!(on_error(403, &ErrorCode::DeviceRevoked), OnError::Wipe);
        assert_eq!(on_error(500, &ErrorCode::Internal), OnError::Stop);
    }

    #[test]
    fn a_new_epoch_restarts_the_push_under_it() {
        let mut push = Push::new(FULL, "old");
        assert_eq!(push.answered(&answer("new")), OnPushAnswer::Restored { epoch: "new".into() });
        assert_eq!(push.answered(&answer("new")), OnPushAnswer::Acknowledge { up_to: 7 });
    }

    #[test]
    fn the_push_goes_on_while_pages_carry_something_or_were_restamped() {
        let push = Push::new(FULL, "e");
        assert!(push.next(false, false));
        assert!(push.next(true, true));
        assert!(!push.next(true, false));
    }

    #[test]
    fn a_pull_restarts_on_a_new_epoch_and_sweeps_when_told_to_resync() {
        let held = Held { cursor: 10, scope: &[] };
        let mut pull = Pull::new("e");
        assert_eq!(pull.page(&page("f"), held.clone()), OnPage::Restored { epoch: "f".into() });
        let mut resync = page("e");
        resync.resync = true;
        assert_eq!(pull.page(&resync, held.clone()), OnPage::Sweep);
        assert_eq!(pull.page(&page("e"), held), OnPage::Apply { scope: None, restart_from_zero: false });
    }

    #[test]
    fn a_scope_that_grew_restarts_from_cursor_zero_and_one_that_shrank_does_not() {
        let held_scope = ["A".to_owned(), "B".to_owned()];
        let mut pull = Pull::new("e");
        let mut grew = page("e");
        grew.scope = Some(vec!["A".into(), "B".into(), "C".into()]);
        assert_eq!(
            pull.page(&grew, Held { cursor: 10, scope: &held_scope }),
            OnPage::Apply { scope: Some(vec!["A".into(), "B".into(), "C".into()]), restart_from_zero: true }
        );
        // At cursor 0 everything comes anyway.
        assert_eq!(
            pull.page(&grew, Held { cursor: 0, scope: &held_scope }),
            OnPage::Apply { scope: Some(vec!["A".into(), "B".into(), "C".into()]), restart_from_zero: false }
        );
        let mut shrank = page("e");
        shrank.scope = Some(vec!["A".into()]);
        assert_eq!(
            pull.page(&shrank, Held { cursor: 10, scope: &held_scope }),
            OnPage::Apply { scope: Some(vec!["A".into()]), restart_from_zero: false }
        );
    }

    #[test]
    fn an_unplaceable_change_sweeps_once_then_stops() {
        let mut pull = Pull::new("e");
        assert_eq!(pull.apply_failed(false), OnApplyFailed::Stop);
        assert_eq!(pull.apply_failed(true), OnApplyFailed::Sweep);
        assert_eq!(pull.apply_failed(true), OnApplyFailed::Stop);
    }

    #[test]
    fn a_page_with_more_continues_after_it_and_the_last_sets_the_cursor() {
        let pull = Pull::new("e");
        let mut more = page("e");
        more.more = true;
        assert_eq!(pull.applied(&more), AfterPage::More { after: 42 });
        assert_eq!(pull.applied(&page("e")), AfterPage::Done { cursor: 42 });
    }
}
