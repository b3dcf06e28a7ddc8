//! Copying the write-ahead log back into the database file on a thread of
//! its own, so that a worker's edit never waits for a checkpoint.
//!
//! SQLite's default is to checkpoint inside the commit that crosses 1,000
//! pages of log: that commit takes ten times longer than the others. A
//! program that runs for long (the app, the server) opens its store with
//! `auto_checkpoint: false` and keeps a [`Checkpointer`] alive beside it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::Error;

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
        let conn = Connection::open(path)?;
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
