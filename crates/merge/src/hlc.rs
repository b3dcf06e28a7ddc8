//! Hybrid logical clocks: wall-clock milliseconds with a logical counter, so
//! that timestamps follow real time when clocks are right and still never go
//! backwards on a device, nor behind anything the device has seen.
//!
//! The clock is read by the caller and passed in as `now_ms`; this module
//! never reads it. An HLC decides only between truly concurrent writes:
//! causality is the version vectors' job (see [`crate::register`]), so a
//! device whose clock is a year behind still overwrites what it has seen.
//!
//! # The rule for wrong clocks
//! A device whose clock runs ahead would win every concurrent write until real
//! time catches up. The server bounds that: it refuses a change whose HLC is
//! more than [`MAX_AHEAD_MS`] ahead of its own clock ([`check_not_ahead`]).
//! The device is told the server's time, corrects its clock offset and
//! re-stamps the refused changes, which no one else has seen yet, so nothing
//! the worker typed is lost. A clock that runs behind needs no rule: the HLC
//! carries the device past every timestamp it has seen.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How far ahead of the server's clock a change's timestamp may be.
/// Ten minutes covers ordinary drift and time-zone mistakes are far beyond it.
pub const MAX_AHEAD_MS: u64 = 10 * 60 * 1000;

const LOGICAL_BITS: u32 = 16;
const LOGICAL_MASK: u64 = (1 << LOGICAL_BITS) - 1;

/// A hybrid logical clock timestamp: 48 bits of Unix milliseconds (until the
/// year 10889) and a 16-bit logical counter, ordered as one `u64`.
///
/// In JSON it is the `u64` as a decimal string: a JavaScript number cannot
/// hold it exactly. In binary formats it is the `u64`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hlc(u64);

impl Serialize for Hlc {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(&self.0)
        } else {
            serializer.serialize_u64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Hlc {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
            text.parse()
                .map(Hlc)
                .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a timestamp")))
        } else {
            u64::deserialize(deserializer).map(Hlc)
        }
    }
}

impl Hlc {
    pub const ZERO: Hlc = Hlc(0);

    pub fn new(physical_ms: u64, logical: u16) -> Hlc {
        Hlc((physical_ms << LOGICAL_BITS) | u64::from(logical))
    }

    pub fn from_u64(raw: u64) -> Hlc {
        Hlc(raw)
    }

    pub fn as_u64(self) -> u64 {
        self.0
    }

    pub fn physical_ms(self) -> u64 {
        self.0 >> LOGICAL_BITS
    }

    pub fn logical(self) -> u16 {
        (self.0 & LOGICAL_MASK) as u16
    }

    /// The timestamp for a new local write at wall time `now_ms`: the wall
    /// time if it is ahead of everything seen, otherwise one logical step past
    /// the latest timestamp seen. Always greater than `self` (but for the
    /// very top of the range, where it stays).
    pub fn tick(self, now_ms: u64) -> Hlc {
        if now_ms > self.physical_ms() {
            Hlc::new(now_ms, 0)
        } else {
            // The logical counter overflowing carries into the milliseconds:
            // still strictly greater, and only after 65,536 writes in one ms.
            // At the very top of the range it stays put rather than wrap to
            // the bottom; receivers refuse timestamps far ahead of their
            // clocks, so no honest history gets there.
            Hlc(self.0.saturating_add(1))
        }
    }

    /// The clock after seeing a remote timestamp: the later of the two, so
    /// the next [`Hlc::tick`] is past both.
    pub fn observe(self, remote: Hlc) -> Hlc {
        self.max(remote)
    }
}

impl fmt::Debug for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hlc({}.{})", self.physical_ms(), self.logical())
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.physical_ms(), self.logical())
    }
}

/// A timestamp too far ahead of the receiver's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "timestamp {hlc} is {ahead_ms} ms ahead of the server clock ({now_ms}); at most {max_ahead_ms} ms is allowed"
)]
pub struct ClockAhead {
    pub hlc: Hlc,
    pub now_ms: u64,
    pub ahead_ms: u64,
    pub max_ahead_ms: u64,
}

/// Refuses a timestamp more than `max_ahead_ms` ahead of `now_ms`.
pub fn check_not_ahead(hlc: Hlc, now_ms: u64, max_ahead_ms: u64) -> Result<(), ClockAhead> {
    let ahead_ms = hlc.physical_ms().saturating_sub(now_ms);
    if ahead_ms > max_ahead_ms { Err(ClockAhead { hlc, now_ms, ahead_ms, max_ahead_ms }) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tick_follows_the_wall_clock_when_it_moves_forward() {
        let t = Hlc::new(1_000, 5).tick(2_000);
        assert_eq!((t.physical_ms(), t.logical()), (2_000, 0));
    }

    #[test]
    fn tick_counts_logically_when_the_wall_clock_is_behind() {
        // A device whose clock is a year behind what it has seen.
        let seen = Hlc::new(1_700_000_000_000, 0);
        let year_ms = 365 * 24 * 3600 * 1000;
        let t = seen.tick(1_700_000_000_000 - year_ms);
        assert!(t > seen);
        assert_eq!((t.physical_ms(), t.logical()), (1_700_000_000_000, 1));
    }

    #[test]
    fn the_logical_counter_carries_into_milliseconds() {
        let t = Hlc::new(7, u16::MAX).tick(0);
        assert_eq!((t.physical_ms(), t.logical()), (8, 0));
    }

    #[test]
    fn timestamps_too_far_ahead_are_refused() {
        let now = 1_700_000_000_000;
        assert!(check_not_ahead(Hlc::new(now + MAX_AHEAD_MS, 9), now, MAX_AHEAD_MS).is_ok());
        assert!(check_not_ahead(Hlc::new(now - 86_400_000, 0), now, MAX_AHEAD_MS).is_ok());
        let err = check_not_ahead(Hlc::new(now + MAX_AHEAD_MS + 1, 0), now, MAX_AHEAD_MS).unwrap_err();
        assert_eq!(err.ahead_ms, MAX_AHEAD_MS + 1);
        assert!(err.to_string().contains("ahead of the server clock"));
    }

    proptest! {
        #[test]
        fn tick_and_observe_never_go_backwards(
            start in 0u64..1 << 40, events in prop::collection::vec((0u64..1 << 40, any::<bool>(), 0u64..1 << 40), 1..50)
        ) {
            let mut clock = Hlc::new(start, 0);
            for (now, remote_event, remote) in events {
                let before = clock;
                if remote_event {
                    let remote = Hlc::new(remote, 3);
                    clock = clock.observe(remote);
                    prop_assert!(clock >= remote && clock >= before);
                } else {
                    clock = clock.tick(now);
                    prop_assert!(clock > before);
                    prop_assert!(clock.physical_ms() >= now.min(before.physical_ms()));
                }
            }
        }
    }
}
