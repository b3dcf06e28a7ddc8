//! Version vectors: for one field, how many writes of each device a version
//! has seen.
//!
//! A vector holds only the devices that wrote the field, and the counters
//! count writes *of that field* (a device's third write of a resident's
//! phone is counter 3), so a typical field's vector is one or two small
//! entries. Entries are kept sorted by device, so comparing and joining two
//! vectors is one linear walk, even for a field written by a hundred devices.

use std::cmp::Ordering;
use std::fmt;

use gridwork_domain::DeviceId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::SmallVec;

/// How two versions of a field relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Causality {
    Equal,
    /// The left one was seen by the right one.
    Before,
    /// The left one saw the right one.
    After,
    /// Neither saw the other.
    Concurrent,
}

/// Device → number of that device's writes of this field seen. Zero entries
/// are never stored.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct VersionVector(SmallVec<[(DeviceId, u32); 2]>);

impl VersionVector {
    pub fn new() -> Self {
        VersionVector::default()
    }

    /// Builds a vector from entries in any order; zero counters are dropped
    /// and a device given twice keeps its larger counter.
    pub fn from_entries(entries: impl IntoIterator<Item = (DeviceId, u32)>) -> Self {
        // Sorted once, not inserted one by one: entries in reverse order
        // would otherwise cost a shift each.
        let mut entries: SmallVec<[(DeviceId, u32); 2]> = entries.into_iter().filter(|e| e.1 > 0).collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        entries.dedup_by_key(|e| e.0);
        VersionVector(entries)
    }

    pub fn get(&self, device: DeviceId) -> u32 {
        match self.0.binary_search_by_key(&device, |e| e.0) {
            Ok(i) => self.0[i].1,
            Err(_) => 0,
        }
    }

    /// Sets `device`'s counter to at least `counter`.
    pub fn raise(&mut self, device: DeviceId, counter: u32) {
        if counter == 0 {
            return;
        }
        match self.0.binary_search_by_key(&device, |e| e.0) {
            Ok(i) => self.0[i].1 = self.0[i].1.max(counter),
            Err(i) => self.0.insert(i, (device, counter)),
        }
    }

    /// Counts one more write by `device` and returns its counter.
    pub fn increment(&mut self, device: DeviceId) -> u32 {
        let next = self.get(device) + 1;
        self.raise(device, next);
        next
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (DeviceId, u32)> + '_ {
        self.0.iter().copied()
    }

    /// Whether the write named by `dot` (device, counter) has been seen.
    pub fn covers(&self, (device, counter): (DeviceId, u32)) -> bool {
        self.get(device) >= counter
    }

    /// Whether `self` has seen everything `other` has (`self ≥ other`).
    pub fn dominates(&self, other: &VersionVector) -> bool {
        if other.0.len() <= 4 {
            // A write's vector is short: look its entries up.
            return other.0.iter().all(|&(device, counter)| self.get(device) >= counter);
        }
        matches!(self.compare(other), Causality::Equal | Causality::After)
    }

    pub fn compare(&self, other: &VersionVector) -> Causality {
        let (mut ahead, mut behind) = (false, false);
        let (mut a, mut b) = (self.0.iter().peekable(), other.0.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(_), None) => {
                    ahead = true;
                    break;
                }
                (None, Some(_)) => {
                    behind = true;
                    break;
                }
                (Some(&&(da, ca)), Some(&&(db, cb))) => match da.cmp(&db) {
                    Ordering::Less => {
                        ahead = true;
                        a.next();
                    }
                    Ordering::Greater => {
                        behind = true;
                        b.next();
                    }
                    Ordering::Equal => {
                        ahead |= ca > cb;
                        behind |= ca < cb;
                        a.next();
                        b.next();
                    }
                },
            }
            if ahead && behind {
                break;
            }
        }
        match (ahead, behind) {
            (false, false) => Causality::Equal,
            (true, false) => Causality::After,
            (false, true) => Causality::Before,
            (true, true) => Causality::Concurrent,
        }
    }

    /// The pointwise maximum: everything either has seen.
    pub fn join(&mut self, other: &VersionVector) {
        if other.0.len() <= 2 {
            // A write's vector is usually one or two entries: raise in place.
            for &(device, counter) in &other.0 {
                self.raise(device, counter);
            }
            return;
        }
        let mut joined = SmallVec::with_capacity(self.0.len().max(other.0.len()));
        let (mut a, mut b) = (self.0.iter().peekable(), other.0.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(_), None) => *a.next().expect("peeked"),
                (None, Some(_)) => *b.next().expect("peeked"),
                (Some(&&(da, ca)), Some(&&(db, cb))) => match da.cmp(&db) {
                    Ordering::Less => *a.next().expect("peeked"),
                    Ordering::Greater => *b.next().expect("peeked"),
                    Ordering::Equal => {
                        a.next();
                        b.next();
                        (da, ca.max(cb))
                    }
                },
            };
            joined.push(next);
        }
        self.0 = joined;
    }
}

impl fmt::Debug for VersionVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (device, counter)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{device}:{counter}")?;
        }
        f.write_str("}")
    }
}

/// On the wire a vector is an array of `[device, counter]` pairs.
impl Serialize for VersionVector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|(d, c)| (d.0, c)))
    }
}

/// The most entries a vector (and so a register's versions) may have when
/// read from the wire: far more devices than ever write one field, far
/// fewer than would let a small request cost much to read.
pub const MAX_ENTRIES: usize = 10_000;

/// Reads a sequence of at most [`MAX_ENTRIES`] items, refusing longer ones
/// while reading.
pub(crate) fn bounded_seq<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    struct Bounded<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Bounded<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "a list of at most {MAX_ENTRIES} entries")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
            while let Some(item) = seq.next_element()? {
                if items.len() == MAX_ENTRIES {
                    return Err(serde::de::Error::custom(format!("more than {MAX_ENTRIES} entries")));
                }
                items.push(item);
            }
            Ok(items)
        }
    }
    deserializer.deserialize_seq(Bounded(std::marker::PhantomData))
}

impl<'de> Deserialize<'de> for VersionVector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pairs: Vec<(u32, u32)> = bounded_seq(deserializer)?;
        Ok(VersionVector::from_entries(pairs.into_iter().map(|(d, c)| (DeviceId(d), c))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vv(entries: &[(u32, u32)]) -> VersionVector {
        VersionVector::from_entries(entries.iter().map(|&(d, c)| (DeviceId(d), c)))
    }

    #[test]
    fn vectors_are_built_sorted_keeping_the_largest_counter_and_read_with_a_bound() {
        let built = vv(&[(3, 1), (1, 2), (3, 5), (2, 0), (1, 1)]);
        assert_eq!(built.iter().collect::<Vec<_>>(), vec![(DeviceId(1), 2), (DeviceId(3), 5)]);
        let reversed: Vec<(u32, u32)> = (1..=MAX_ENTRIES as u32).rev().map(|d| (d, 1)).collect();
        let read: VersionVector = serde_json::from_str(&serde_json::to_string(&reversed).unwrap()).unwrap();
        assert_eq!(read.len(), MAX_ENTRIES);
        assert_eq!(read.iter().next(), Some((DeviceId(1), 1)));
        let too_many: Vec<(u32, u32)> = (1..=MAX_ENTRIES as u32 + 1).map(|d| (d, 1)).collect();
        let error =
            serde_json::from_str::<VersionVector>(&serde_json::to_string(&too_many).unwrap()).unwrap_err();
        assert!(error.to_string().contains("more than 10000 entries"), "{error}");
    }

    #[test]
    fn compare_covers_the_four_cases() {
        assert_eq!(vv(&[(1, 2)]).compare(&vv(&[(1, 2)])), Causality::Equal);
        assert_eq!(vv(&[(1, 1)]).compare(&vv(&[(1, 2)])), Causality::Before);
        assert_eq!(vv(&[(1, 2), (3, 1)]).compare(&vv(&[(1, 2)])), Causality::After);
        assert_eq!(vv(&[(1, 2)]).compare(&vv(&[(3, 1)])), Causality::Concurrent);
        assert_eq!(vv(&[]).compare(&vv(&[(3, 1)])), Causality::Before);
    }

    fn arb_vv() -> impl Strategy<Value = VersionVector> {
        prop::collection::vec((0u32..8, 0u32..4), 0..6)
            .prop_map(|e| VersionVector::from_entries(e.into_iter().map(|(d, c)| (DeviceId(d), c))))
    }

    proptest! {
        #[test]
        fn compare_agrees_with_the_pointwise_definition(a in arb_vv(), b in arb_vv()) {
            let ge = (0..8).all(|d| a.get(DeviceId(d)) >= b.get(DeviceId(d)));
            let le = (0..8).all(|d| a.get(DeviceId(d)) <= b.get(DeviceId(d)));
            let expected = match (ge, le) {
                (true, true) => Causality::Equal,
                (true, false) => Causality::After,
                (false, true) => Causality::Before,
                (false, false) => Causality::Concurrent,
            };
            prop_assert_eq!(a.compare(&b), expected);
        }

        #[test]
        fn join_is_the_least_upper_bound(a in arb_vv(), b in arb_vv(), c in arb_vv()) {
            let mut ab = a.clone();
            ab.join(&b);
            prop_assert!(ab.dominates(&a) && ab.dominates(&b));
            for d in 0..8 {
                prop_assert_eq!(ab.get(DeviceId(d)), a.get(DeviceId(d)).max(b.get(DeviceId(d))));
            }
            let mut ba = b.clone();
            ba.join(&a);
            prop_assert_eq!(&ab, &ba);
            let mut ab_c = ab.clone();
            ab_c.join(&c);
            let mut bc = b.clone();
            bc.join(&c);
            let mut a_bc = a.clone();
            a_bc.join(&bc);
            prop_assert_eq!(ab_c, a_bc);
            // Sorted, no zeros: the representation is canonical.
            let entries: Vec<_> = ab.iter().collect();
            prop_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
            prop_assert!(entries.iter().all(|e| e.1 > 0));
        }
    }
}
