//! Turns: one at a time per key (a device pushing, an upload being
//! written), for any number of keys. A key's lock lives only while someone
//! holds or waits for it, so the map holds only the work in progress.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Turns by key.
#[derive(Clone, Debug, Default)]
pub struct Turns(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl Turns {
    /// Waits for the turn of `key`.
    pub async fn take(&self, key: String) -> Turn {
        let lock = self.0.lock().unwrap_or_else(|p| p.into_inner()).entry(key.clone()).or_default().clone();
        let guard = Some(lock.lock_owned().await);
        Turn { turns: self.clone(), key, guard }
    }
}

/// A turn; when it ends and nobody waits, its key's lock is forgotten.
#[derive(Debug)]
pub struct Turn {
    turns: Turns,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.turns.0.lock().unwrap_or_else(|p| p.into_inner());
        if locks.get(&self.key).is_some_and(|lock| Arc::strong_count(lock) == 1) {
            locks.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_are_forgotten_once_nobody_holds_or_waits_for_them() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let turns = Turns::default();
            let first = turns.take("a.device".into()).await;
            // A second taker of the same key waits for the first.
            let waiting = tokio::spawn({
                let turns = turns.clone();
                async move { turns.take("a.device".into()).await }
            });
            tokio::task::yield_now().await;
            assert!(!waiting.is_finished(), "the second taker waits");
            drop(first);
            assert_eq!(turns.0.lock().unwrap().len(), 1, "kept while someone waits");
            let second = waiting.await.unwrap();
            drop(second);
            assert!(turns.0.lock().unwrap().is_empty(), "forgotten when done");
        });
    }
}
