//! Copying the write-ahead log back into the database file on a thread of
//! its own, so that a worker's edit never waits for a checkpoint.
//!
//! SQLite's default is to checkpoint inside the commit that crosses 1,000
//! pages of log: that commit takes ten times longer than the others. A
//! program that runs for long (the app, the server) opens its store with
//! `auto_checkpoint: false` and keeps a [`Checkpointer`] alive beside it.
//!
//! A passive checkpoint never blocks anyone, but the log only starts over
//! from its beginning when no reader is using it, which a busy server's
//! readers may never allow: the log file would grow for ever. So a program
//! with readers that never stop (the server) holds its readers back for a
//! moment once the log passes [`WAL_LIMIT`] and calls
//! [`crate::Store::truncate_log`] from its writer: what is left is copied
//! and the log starts over. (This thread cannot do it: it can stop neither
//! the readers nor a busy writer.)

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::Error;

/// The size past which the log is copied back whole and truncated.
pub const WAL_LIMIT: u64 = 64 * 1024 * 1024;

/// A background thread that checkpoints a database every interval; it stops
/// when dropped.
#[derive(Debug)]
pub struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    failed: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path` every `every`.
    pub fn spawn(path: &Path, every: Duration) -> Result<Checkpointer, Error> {
        Checkpointer::spawn_keyed(path, every, None)
    }

    /// [`Checkpointer::spawn`] for an encrypted database.
    pub fn spawn_keyed(
        path: &Path,
        every: Duration,
        key: Option<&crate::DatabaseKey>,
    ) -> Result<Checkpointer, Error> {
        let conn = Connection::open(path)?;
        conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
        if let Some(key) = key {
            key.unlock(&conn)?;
        }
        conn.busy_timeout(Duration::from_secs(5))?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let failed = Arc::new(AtomicBool::new(false));
        let (thread_stop, thread_failed) = (stop.clone(), failed.clone());
        let thread = std::thread::Builder::new()
            .name("gridwork-checkpoint".into())
            .spawn(move || {
                let (lock, wake) = &*thread_stop;
                let mut stopped = lock.lock().expect("checkpoint lock");
                while !*stopped {
                    // PASSIVE: copy what no reader needs, never block writers.
                    if conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).is_err() {
                        thread_failed.store(true, Ordering::Relaxed);
                    }
                    stopped = wake.wait_timeout(stopped, every).expect("checkpoint lock").0;
                }
            })
            .map_err(|e| Error::Corrupt(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer { stop, failed, thread: Some(thread) })
    }

    /// Whether a checkpoint has failed since the start (the log then grows
    /// until one succeeds; nothing is lost).
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().expect("checkpoint lock") = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Durability, Options, Role, Store, SystemClock};
    use gridwork_domain::Kind;
    use std::sync::RwLock;

    #[test]
    fn the_log_stays_bounded_while_readers_never_stop_if_the_writer_holds_them_back_to_truncate_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.db");
        let options =
            Options { durability: Durability::Normal, cache_mib: 8, auto_checkpoint: false, key: None };
        let mut store = Store::open_with(&path, Role::Server, Arc::new(SystemClock), options).unwrap();
        let _checkpointer = Checkpointer::spawn(&path, Duration::from_millis(20)).unwrap();
        // Two readers taking turns so that a read is always open, as a
        // server's pulls are; each read takes the gate the writer can close.
        let (stop, gate) = (Arc::new(AtomicBool::new(false)), Arc::new(RwLock::new(())));
        let readers: Vec<_> = (0..2)
            .map(|i| {
                let (path, stop, gate) = (path.clone(), stop.clone(), gate.clone());
                std::thread::spawn(move || {
                    let conn = Connection::open(&path).unwrap();
                    std::thread::sleep(Duration::from_millis(3 * i));
                    while !stop.load(Ordering::Relaxed) {
                        let _open = gate.read().unwrap();
                        conn.execute_batch("BEGIN").unwrap();
                        let _: i64 =
                            conn.query_row("SELECT count(*) FROM residents", [], |r| r.get(0)).unwrap();
                        std::thread::sleep(Duration::from_millis(6));
                        conn.execute_batch("COMMIT").unwrap();
                    }
                })
            })
            .collect();
        store
            .put(
                Kind::Grid,
                None,
                &[("code", "G1".into()), ("name", "网格".into()), ("level", "unit".into())],
            )
            .unwrap();
        let notes = "记".repeat(2000);
        let limit = 1024 * 1024;
        let (mut largest, mut truncated) = (0, 0);
        for i in 0..1500 {
            let fields = [
                ("grid", "G1".into()),
                ("name", format!("居民{i}").into()),
                ("notes", notes.as_str().into()),
            ];
            store.put(Kind::Resident, None, &fields).unwrap();
            largest = largest.max(store.log_size());
            if store.log_size() > limit {
                let _closed = gate.write().unwrap();
                assert!(store.truncate_log().unwrap(), "with the readers held back the log starts over");
                assert_eq!(store.log_size(), 0);
                truncated += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        for reader in readers {
            reader.join().unwrap();
        }
        // 1,500 records of 6 kB each went through the log: several times
        // the limit, which it never passed by much.
        assert!(truncated >= 3, "truncated {truncated} times");
        assert!(largest < 2 * limit, "the log reached {largest} bytes with a limit of {limit}");
    }
}
