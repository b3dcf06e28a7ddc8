//! The cache of scopes: the grids each person may see records of, asked on
//! every sync and changed only when grids, assignments or roles do.
//!
//! An entry is good for one *generation* of the database: a counter that
//! the database's own triggers move on in every transaction that can change
//! a scope (`migrations/server/0013_scope_generation.sql`). A caller reads
//! the current generation and, on a miss, works the scope out in the same
//! snapshot, so a scope is never filed under a generation it was not read
//! at; an entry worked out from an older snapshot never replaces a newer
//! one. Nothing has to be told to forget, so no forgetting can be missed,
//! and the same holds for several server nodes on one database.
//!
//! It does not read the database: the backend passes the generation and
//! the computation in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::storage::Role;

/// The grid codes a person may see records of, sorted.
pub type Scope = Arc<[String]>;

/// Scopes by person and role, each with the generation it was read at.
#[derive(Debug, Default)]
pub struct ScopeCache {
    entries: Mutex<HashMap<(String, Role), (u64, Scope)>>,
}

/// Entries kept at most; past this the cache starts over (people are
/// thousands, and a scope is a few dozen codes).
const MAX_ENTRIES: usize = 100_000;

impl ScopeCache {
    /// The scope of `user_id` at `generation`: from the cache if it holds
    /// one of that generation, else from `compute`, which must read the
    /// same snapshot `generation` was read from.
    pub fn get_or_compute<E>(
        &self,
        user_id: &str,
        role: Role,
        generation: u64,
        compute: impl FnOnce() -> Result<Vec<String>, E>,
    ) -> Result<Scope, E> {
        let key = (user_id.to_owned(), role);
        if let Some((at, scope)) = self.lock().get(&key)
            && *at == generation
        {
            return Ok(scope.clone());
        }
        let scope: Scope = compute()?.into();
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        match entries.get(&key) {
            // Someone read a newer snapshot meanwhile: theirs stays.
            Some((at, _)) if *at > generation => {}
            _ => {
                entries.insert(key, (generation, scope.clone()));
            }
        }
        Ok(scope)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Role), (u64, Scope)>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(list: &[&str]) -> Vec<String> {
        list.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn a_scope_is_reused_only_at_the_generation_it_was_read_at() {
        let cache = ScopeCache::default();
        let first = cache.get_or_compute::<()>("u", Role::Worker, 1, || Ok(codes(&["A", "B"]))).unwrap();
        assert_eq!(&first[..], codes(&["A", "B"]));
        // Same generation: the computation is not run.
        let again = cache.get_or_compute::<()>("u", Role::Worker, 1, || panic!("recomputed")).unwrap();
        assert_eq!(&again[..], codes(&["A", "B"]));
        // The worker was moved out of B: a new generation, a new scope.
        let moved = cache.get_or_compute::<()>("u", Role::Worker, 2, || Ok(codes(&["A"]))).unwrap();
        assert_eq!(&moved[..], codes(&["A"]));
        // The role is part of the key.
        let staff = cache.get_or_compute::<()>("u", Role::Staff, 2, || Ok(codes(&["A", "B", "C"]))).unwrap();
        assert_eq!(staff.len(), 3);
    }

    /// The race the old cache lost: a lookup reads its snapshot, a writer
    /// commits a change of scope, and the lookup then files what it read.
    /// What it read is filed under the old generation, so the next lookup
    /// (which sees the new generation) works the scope out again.
    #[test]
    fn a_scope_read_before_a_change_is_never_served_after_it() {
        let cache = ScopeCache::default();
        // Read at generation 1 (still listing B); the change commits
        // (generation 2) while this lookup is between reading and filing.
        let stale = cache.get_or_compute::<()>("u", Role::Worker, 1, || Ok(codes(&["A", "B"]))).unwrap();
        assert_eq!(stale.len(), 2);
        let after = cache.get_or_compute::<()>("u", Role::Worker, 2, || Ok(codes(&["A"]))).unwrap();
        assert_eq!(&after[..], codes(&["A"]));
        // A slow lookup from the old snapshot finishing now does not put
        // its scope back over the newer one.
        let slow = cache.get_or_compute::<()>("u", Role::Worker, 1, || Ok(codes(&["A", "B"]))).unwrap();
        assert_eq!(slow.len(), 2, "it answers from its own snapshot");
        let next =
            cache.get_or_compute::<()>("u", Role::Worker, 2, || panic!("newer entry was lost")).unwrap();
        assert_eq!(&next[..], codes(&["A"]));
    }

    #[test]
    fn a_failed_computation_files_nothing() {
        let cache = ScopeCache::default();
        assert!(cache.get_or_compute("u", Role::Worker, 1, || Err("db down")).is_err());
        let scope = cache.get_or_compute::<()>("u", Role::Worker, 1, || Ok(codes(&["A"]))).unwrap();
        assert_eq!(&scope[..], codes(&["A"]));
    }
}
