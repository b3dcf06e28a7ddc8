//! The register that holds one field of one record, and its merge.
//!
//! A register is a **version vector**, its *context* (everything the
//! register has seen, joined), and the **versions** nobody has overwritten
//! knowingly: usually one. Each version is a value with its *dot*: the writer
//! and the writer's counter for this field. When writes were truly
//! concurrent there are several versions, and:
//!
//! - the **winner**, the value everyone shows, is the version with the
//!   highest `(HLC, writer device)`;
//! - the others are the **losers**: concurrent overwrites kept for the
//!   centre to review, never dropped silently;
//! - a new write is stamped with the whole context plus one, so a write made
//!   after seeing the register has seen every version in it and replaces
//!   them all. That is how a conflict is settled: by an ordinary write.
//!
//! Merging two registers keeps a version if the other side has not seen it
//! (its dot is outside the other's context) or holds it too, and joins the
//! contexts. This is the dotted version vector set of Riak and the
//! multi-value register of the CRDT literature: merge is commutative,
//! associative and idempotent, and replicas that received the same writes,
//! in any order, any number of times, hold the same register, losers
//! included. A version that another write had seen never wins, whatever its
//! timestamp; HLCs only order versions that are truly concurrent.
//!
//! Each version keeps only its dot, not a vector of its own: a dot inside a
//! context means the context's owner saw that write (and, through it,
//! everything its writer had seen), so one vector per register suffices.
//!
//! This module does not decide whether a write is allowed (the store and the
//! server do) nor read any clock (callers pass HLCs in).

use gridwork_domain::DeviceId;
use serde::{Deserialize, Serialize};
use smallvec::{SmallVec, smallvec};

use crate::hlc::Hlc;
use crate::vv::VersionVector;

/// One written value of a field, named by its dot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Version<V> {
    pub value: V,
    /// The device that wrote it.
    pub writer: DeviceId,
    /// The writer's count of its writes of this field, this one included.
    pub counter: u32,
    pub hlc: Hlc,
}

impl<V> Version<V> {
    /// The write's unique name: (writer, the writer's counter for this field).
    pub fn dot(&self) -> (DeviceId, u32) {
        (self.writer, self.counter)
    }

    /// The order among concurrent versions: later HLC wins, then the higher
    /// device number.
    fn rank(&self) -> (Hlc, DeviceId, u32) {
        (self.hlc, self.writer, self.counter)
    }

    pub fn map<W>(self, f: impl FnOnce(V) -> W) -> Version<W> {
        Version { value: f(self.value), writer: self.writer, counter: self.counter, hlc: self.hlc }
    }
}

/// What a merge did to the register it merged into.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// Versions taken from the other register.
    pub added: usize,
    /// Versions of this register dropped because the other had seen them.
    pub dropped: usize,
    /// Whether the context grew.
    pub context_grew: bool,
}

impl Merged {
    /// Whether the register changed.
    pub fn changed(self) -> bool {
        self.added > 0 || self.dropped > 0 || self.context_grew
    }
}

/// A register that breaks the rules, received from outside.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("a register has at least one version")]
    Empty,
    #[error("version by device {writer} has counter {counter} but the register's vector says {in_context}")]
    CounterMismatch { writer: DeviceId, counter: u32, in_context: u32 },
    #[error("device {0} has two versions in one register")]
    DuplicateWriter(DeviceId),
}

/// The state of one field: its context and its versions, winner first, then
/// the losers from the highest rank down.
#[derive(Clone, Debug, PartialEq)]
pub struct Register<V> {
    context: VersionVector,
    versions: SmallVec<[Version<V>; 1]>,
}

impl<V> Register<V> {
    /// The first write of a field nobody has written.
    pub fn first_write(value: V, writer: DeviceId, hlc: Hlc) -> Self {
        let mut context = VersionVector::new();
        let counter = context.increment(writer);
        Register { context, versions: smallvec![Version { value, writer, counter, hlc }] }
    }

    /// Builds a register from a context and versions in any order, checking
    /// that every version is the latest of its writer in the context and
    /// that no writer appears twice.
    pub fn from_parts(
        context: VersionVector,
        versions: impl IntoIterator<Item = Version<V>>,
    ) -> Result<Self, Malformed> {
        let mut versions: SmallVec<[Version<V>; 1]> = versions.into_iter().collect();
        if versions.is_empty() {
            return Err(Malformed::Empty);
        }
        for version in &versions {
            let in_context = context.get(version.writer);
            if version.counter == 0 || version.counter != in_context {
                return Err(Malformed::CounterMismatch {
                    writer: version.writer,
                    counter: version.counter,
                    in_context,
                });
            }
        }
        versions.sort_unstable_by_key(|v| std::cmp::Reverse(v.rank()));
        if let Some(pair) = versions.windows(2).find(|w| w[0].writer == w[1].writer) {
            return Err(Malformed::DuplicateWriter(pair[0].writer));
        }
        Ok(Register { context, versions })
    }

    pub fn winner(&self) -> &Version<V> {
        &self.versions[0]
    }

    pub fn value(&self) -> &V {
        &self.versions[0].value
    }

    /// Concurrent versions that lost to the winner, highest rank first.
    pub fn losers(&self) -> &[Version<V>] {
        &self.versions[1..]
    }

    pub fn versions(&self) -> &[Version<V>] {
        &self.versions
    }

    pub fn versions_mut(&mut self) -> &mut [Version<V>] {
        &mut self.versions
    }

    pub fn in_conflict(&self) -> bool {
        self.versions.len() > 1
    }

    /// Everything this register has seen.
    pub fn context(&self) -> &VersionVector {
        &self.context
    }

    /// Whether the register has seen the write named by `dot`.
    pub fn has_seen(&self, dot: (DeviceId, u32)) -> bool {
        self.context.covers(dot)
    }

    /// A device other than `pusher` whose write this register, pushed by
    /// `pusher`, claims to have seen while the receiver has not (`seen`: the
    /// receiver's context for the field, `None` if it has none). A device
    /// learns of others' writes only through the receiver, so an honest one
    /// never does this.
    pub fn claims_unseen(&self, seen: Option<&VersionVector>, pusher: DeviceId) -> Option<DeviceId> {
        self.context
            .iter()
            .find(|&(device, counter)| {
                device != pusher && seen.is_none_or(|seen| !seen.covers((device, counter)))
            })
            .map(|(device, _)| device)
    }

    /// Whether this register, pushed by `pusher`, shows that `pusher` forgot
    /// writes of its own the receiver holds (its context counts fewer than
    /// `seen`), or names one of them (the receiver's `winner`) with another
    /// value or stamp: the pusher's database went back in time.
    pub fn forgets_or_clashes(&self, seen: &VersionVector, winner: &Version<V>, pusher: DeviceId) -> bool
    where
        V: PartialEq,
    {
        let forgot = self.context.get(pusher) < seen.get(pusher);
        let clashes = winner.writer == pusher
            && self
                .versions
                .iter()
                .any(|v| v.dot() == winner.dot() && (v.value != winner.value || v.hlc != winner.hlc));
        forgot || clashes
    }

    /// A local write by `writer` at `hlc` (which the caller has ticked past
    /// every HLC it has seen). It has seen every version in the register,
    /// settling any conflict, and becomes the only version.
    pub fn write(&mut self, value: V, writer: DeviceId, hlc: Hlc) -> &Version<V> {
        let counter = self.context.increment(writer);
        self.versions = smallvec![Version { value, writer, counter, hlc }];
        &self.versions[0]
    }

    /// Merges another replica's register for the same field into this one.
    pub fn merge(&mut self, other: Register<V>) -> Merged {
        let mut merged = Merged::default();
        let before = self.versions.len();
        let other_context = &other.context;
        let other_dots: SmallVec<[(DeviceId, u32); 4]> = other.versions.iter().map(Version::dot).collect();
        // Ours stay unless the other side has seen them and let them go.
        self.versions.retain(|v| !other_context.covers(v.dot()) || other_dots.contains(&v.dot()));
        merged.dropped = before - self.versions.len();
        // Theirs come in unless we had seen them already.
        for version in other.versions {
            if !self.context.covers(version.dot()) {
                let at = self.versions.partition_point(|v| v.rank() > version.rank());
                self.versions.insert(at, version);
                merged.added += 1;
            }
        }
        if !self.context.dominates(other_context) {
            self.context.join(other_context);
            merged.context_grew = true;
        }
        merged
    }

    /// The same register with its values transformed.
    pub fn map<W>(self, mut f: impl FnMut(V) -> W) -> Register<W> {
        Register {
            context: self.context,
            versions: self.versions.into_iter().map(|v| v.map(&mut f)).collect(),
        }
    }

    pub fn into_parts(self) -> (VersionVector, SmallVec<[Version<V>; 1]>) {
        (self.context, self.versions)
    }
}

/// A register's versions as read: at most [`crate::vv::MAX_ENTRIES`].
struct Versions<V>(Vec<Version<V>>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Versions<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::vv::bounded_seq(deserializer).map(Versions)
    }
}

#[derive(Serialize, Deserialize)]
struct Parts<C, S> {
    context: C,
    versions: S,
}

/// A register travels as `{"context": [[device, counter], ...], "versions": [...]}`.
impl<V: Serialize> Serialize for Register<V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Parts { context: &self.context, versions: self.versions.as_slice() }.serialize(serializer)
    }
}

/// A received register is checked ([`Register::from_parts`]).
impl<'de, V: Deserialize<'de>> Deserialize<'de> for Register<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let parts = Parts::<VersionVector, Versions<V>>::deserialize(deserializer)?;
        Register::from_parts(parts.context, parts.versions.0).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: DeviceId = DeviceId(1);
    const B: DeviceId = DeviceId(2);
    const C: DeviceId = DeviceId(3);

    fn hlc(ms: u64) -> Hlc {
        Hlc::new(ms, 0)
    }

    fn merged<V: Clone>(a: &Register<V>, b: &Register<V>) -> Register<V> {
        let mut out = a.clone();
        out.merge(b.clone());
        out
    }

    #[test]
    fn a_write_that_saw_another_wins_even_with_an_older_timestamp() {
        let mut on_a = Register::first_write("old", A, hlc(1_000_000));
        // B receives A's write, and B's clock is far behind.
        let mut on_b = on_a.clone();
        on_b.write("new", B, hlc(10));
        let outcome = on_a.merge(on_b);
        assert_eq!((outcome.added, outcome.dropped), (1, 1));
        assert_eq!(*on_a.value(), "new");
        assert!(!on_a.in_conflict());
    }

    #[test]
    fn concurrent_writes_keep_the_loser_and_pick_the_later_hlc() {
        let base = Register::first_write("base", A, hlc(1));
        let mut on_a = base.clone();
        let mut on_b = base.clone();
        on_a.write("from A", A, hlc(20));
        on_b.write("from B", B, hlc(10));
        let ab = merged(&on_a, &on_b);
        assert_eq!(ab, merged(&on_b, &on_a));
        assert_eq!(*ab.value(), "from A");
        assert_eq!(ab.losers().len(), 1);
        assert_eq!(ab.losers()[0].value, "from B");
        assert_eq!((ab.context().get(A), ab.context().get(B)), (2, 1));
    }

    #[test]
    fn equal_timestamps_are_settled_by_the_device_number() {
        let on_a = Register::first_write("a", A, hlc(5));
        let on_c = Register::first_write("c", C, hlc(5));
        assert_eq!(*merged(&on_a, &on_c).value(), "c");
    }

    #[test]
    fn settling_is_a_write_that_has_seen_both_sides() {
        let a = Register::first_write("a", A, hlc(5));
        let mut reg = merged(&a, &Register::first_write("b", B, hlc(6)));
        assert!(reg.in_conflict());
        reg.write("settled", DeviceId::SERVER, hlc(7));
        assert!(!reg.in_conflict());
        // A late copy of either side changes nothing.
        assert!(!reg.merge(a).changed());
        assert_eq!(*reg.value(), "settled");
    }

    #[test]
    fn merging_a_copy_changes_nothing() {
        let mut reg = merged(&Register::first_write("a", A, hlc(5)), &Register::first_write("b", B, hlc(6)));
        let copy = reg.clone();
        assert!(!reg.merge(copy.clone()).changed());
        assert_eq!(reg, copy);
    }

    #[test]
    fn malformed_registers_are_refused() {
        let vv = VersionVector::from_entries([(A, 2)]);
        let v = |writer, counter| Version { value: 1, writer, counter, hlc: hlc(1) };
        assert_eq!(Register::<i32>::from_parts(vv.clone(), []), Err(Malformed::Empty));
        assert!(matches!(
            Register::from_parts(vv.clone(), [v(A, 1)]),
            Err(Malformed::CounterMismatch { .. })
        ));
        assert!(matches!(
            Register::from_parts(vv.clone(), [v(B, 1)]),
            Err(Malformed::CounterMismatch { .. })
        ));
        assert_eq!(Register::from_parts(vv.clone(), [v(A, 2), v(A, 2)]), Err(Malformed::DuplicateWriter(A)));
        assert!(Register::from_parts(vv, [v(A, 2)]).is_ok());
    }
}
