//! The register that holds one field of one record, and its merge.
//!
//! A register keeps the *frontier* of the field's history: the versions no
//! other version has seen. Usually that is one version. When writes were
//! truly concurrent, it is several, and:
//!
//! - the **winner**, the value everyone shows, is the version with the
//!   highest `(HLC, writer device)`;
//! - the others are the **losers**: concurrent overwrites kept for the
//!   centre to review, never dropped silently;
//! - the register's **context**, the join of all their vectors, is what a new
//!   write is stamped after, so a write made after seeing the register
//!   dominates every version in it and is the register's only version. That
//!   is how a conflict is settled: by an ordinary write.
//!
//! Merging is "union, then keep what nothing else dominates". That is a
//! join on a semilattice, so it is commutative, associative and idempotent,
//! and every replica that has received the same versions, in any order, any
//! number of times, holds the same register, losers included. The winner is
//! chosen from the frontier; a version that is dominated never wins,
//! whatever its timestamp.
//!
//! This module does not decide whether a write is allowed (the store and the
//! server do) nor read any clock (callers pass HLCs in).

use std::cmp::Ordering;

use gridwork_domain::DeviceId;
use serde::{Deserialize, Serialize};
use smallvec::{SmallVec, smallvec};

use crate::hlc::Hlc;
use crate::vv::{Causality, VersionVector};

/// One written value of a field, with what its writer had seen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Version<V> {
    pub value: V,
    /// The device that wrote it.
    pub writer: DeviceId,
    pub hlc: Hlc,
    /// The writer's count of its writes of this field, and every other
    /// device's count it had seen. `vv.get(writer)` is this write's own
    /// counter, so `(writer, vv.get(writer))` names the write uniquely.
    pub vv: VersionVector,
}

impl<V> Version<V> {
    /// The write's unique name: (writer, the writer's counter for this field).
    pub fn dot(&self) -> (DeviceId, u32) {
        (self.writer, self.vv.get(self.writer))
    }

    /// The order among concurrent versions: later HLC wins, then the higher
    /// device number, then (only for malformed duplicates) the counter.
    fn rank(&self) -> (Hlc, DeviceId, u32) {
        (self.hlc, self.writer, self.vv.get(self.writer))
    }

    /// A version is well-formed when its vector counts its own write.
    pub fn is_well_formed(&self) -> bool {
        self.vv.get(self.writer) > 0
    }
}

/// What merging one version into a register did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merged {
    /// The register already held this version.
    Duplicate,
    /// The register held a version that had seen this one: nothing changed.
    Obsolete,
    /// The version replaced everything it had seen and is the only version.
    Superseded,
    /// The version was concurrent with at least one version the register
    /// kept: the register is in conflict. `won` tells whether the new version
    /// is now the winner.
    Concurrent { won: bool },
}

impl Merged {
    /// Whether the register changed.
    pub fn changed(self) -> bool {
        !matches!(self, Merged::Duplicate | Merged::Obsolete)
    }
}

/// The state of one field: its frontier of versions, winner first, then the
/// losers from the highest rank down.
#[derive(Clone, Debug, PartialEq)]
pub struct Register<V> {
    versions: SmallVec<[Version<V>; 1]>,
}

impl<V: Clone> Register<V> {
    /// A register holding a single version.
    pub fn new(version: Version<V>) -> Self {
        Register { versions: smallvec![version] }
    }

    /// The first write of a field nobody has written.
    pub fn first_write(value: V, writer: DeviceId, hlc: Hlc) -> Self {
        let mut vv = VersionVector::new();
        vv.increment(writer);
        Register::new(Version { value, writer, hlc, vv })
    }

    /// Rebuilds a register from stored versions (any order). Versions that
    /// another one dominates are dropped, so the result is a valid frontier.
    pub fn from_versions(versions: impl IntoIterator<Item = Version<V>>) -> Option<Self> {
        let mut iter = versions.into_iter();
        let mut register = Register::new(iter.next()?);
        for version in iter {
            register.merge_version(version);
        }
        Some(register)
    }

    /// Rebuilds a register from versions this program stored from a
    /// register: a frontier, winner first. Nothing is re-compared, so loading
    /// a field with many concurrent versions stays linear; feed untrusted
    /// input through [`Register::from_versions`] instead.
    pub fn from_frontier(versions: Vec<Version<V>>) -> Option<Self> {
        if versions.is_empty() {
            return None;
        }
        debug_assert!(
            versions.windows(2).all(|w| w[0].rank() > w[1].rank()),
            "stored versions are in rank order"
        );
        Some(Register { versions: SmallVec::from_vec(versions) })
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

    pub fn into_versions(self) -> impl Iterator<Item = Version<V>> {
        self.versions.into_iter()
    }

    pub fn in_conflict(&self) -> bool {
        self.versions.len() > 1
    }

    /// Everything this register's versions have seen: what a new write is
    /// stamped after.
    pub fn context(&self) -> VersionVector {
        let mut context = self.versions[0].vv.clone();
        for loser in self.losers() {
            context.join(&loser.vv);
        }
        context
    }

    /// A local write by `writer` at `hlc` (which the caller has ticked past
    /// every HLC it has seen). It dominates every version in the register,
    /// settling any conflict, and becomes the only version.
    pub fn write(&mut self, value: V, writer: DeviceId, hlc: Hlc) -> &Version<V> {
        let mut vv = self.context();
        vv.increment(writer);
        self.versions = smallvec![Version { value, writer, hlc, vv }];
        &self.versions[0]
    }

    /// Merges one version in.
    pub fn merge_version(&mut self, incoming: Version<V>) -> Merged {
        let mut dominated = SmallVec::<[usize; 2]>::new();
        for (i, present) in self.versions.iter().enumerate() {
            match present.vv.compare(&incoming.vv) {
                Causality::Equal => return Merged::Duplicate,
                Causality::After => return Merged::Obsolete,
                Causality::Before => dominated.push(i),
                Causality::Concurrent => {}
            }
        }
        if dominated.len() == self.versions.len() {
            self.versions = smallvec![incoming];
            return Merged::Superseded;
        }
        for i in dominated.into_iter().rev() {
            self.versions.remove(i);
        }
        let position = self
            .versions
            .iter()
            .position(|v| incoming.rank().cmp(&v.rank()) == Ordering::Greater)
            .unwrap_or(self.versions.len());
        self.versions.insert(position, incoming);
        Merged::Concurrent { won: position == 0 }
    }

    /// Merges every version of `other` in. Returns whether `self` changed.
    pub fn merge(&mut self, other: &Register<V>) -> bool {
        let mut changed = false;
        for version in other.versions() {
            changed |= self.merge_version(version.clone()).changed();
        }
        changed
    }
}

/// A register travels as the list of its versions.
impl<V: Serialize> Serialize for Register<V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.versions.iter())
    }
}

/// Received versions are merged one by one, so a list that is not a frontier
/// (a version that another one dominates) still yields a valid register.
impl<'de, V: Deserialize<'de> + Clone> Deserialize<'de> for Register<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let versions = Vec::<Version<V>>::deserialize(deserializer)?;
        if let Some(bad) = versions.iter().find(|v| !v.is_well_formed()) {
            return Err(serde::de::Error::custom(format!(
                "version by device {} does not count its own write in its vector",
                bad.writer
            )));
        }
        Register::from_versions(versions)
            .ok_or_else(|| serde::de::Error::custom("a register has at least one version"))
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

    #[test]
    fn a_write_that_saw_another_wins_even_with_an_older_timestamp() {
        let mut on_a = Register::first_write("old", A, hlc(1_000_000));
        // B receives A's write, and B's clock is far behind: its write still
        // carries A's write in its vector.
        let mut on_b = on_a.clone();
        let written = on_b.write("new", B, hlc(10)).clone();
        assert_eq!(on_a.merge_version(written), Merged::Superseded);
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
        let mut ab = on_a.clone();
        ab.merge(&on_b);
        let mut ba = on_b.clone();
        ba.merge(&on_a);
        assert_eq!(ab, ba);
        assert_eq!(*ab.value(), "from A");
        assert_eq!(ab.losers().len(), 1);
        assert_eq!(ab.losers()[0].value, "from B");
        assert_eq!(ab.context().get(A), 2);
        assert_eq!(ab.context().get(B), 1);
    }

    #[test]
    fn equal_timestamps_are_settled_by_the_device_number() {
        let mut on_a = Register::first_write("a", A, hlc(5));
        let on_c = Register::first_write("c", C, hlc(5));
        assert_eq!(on_a.merge_version(on_c.winner().clone()), Merged::Concurrent { won: true });
        assert_eq!(*on_a.value(), "c");
    }

    #[test]
    fn settling_is_a_write_that_dominates_both_sides() {
        let mut reg = Register::first_write("a", A, hlc(5));
        reg.merge(&Register::first_write("b", B, hlc(6)));
        assert!(reg.in_conflict());
        reg.write("settled", DeviceId::SERVER, hlc(7));
        assert!(!reg.in_conflict());
        // Late copies of either side change nothing.
        assert_eq!(
            reg.merge_version(Register::first_write("a", A, hlc(5)).winner().clone()),
            Merged::Obsolete
        );
        assert_eq!(*reg.value(), "settled");
    }

    #[test]
    fn a_duplicate_is_recognised() {
        let mut reg = Register::first_write("a", A, hlc(5));
        let copy = reg.winner().clone();
        assert_eq!(reg.merge_version(copy), Merged::Duplicate);
    }
}
