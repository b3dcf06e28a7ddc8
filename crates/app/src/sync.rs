//! Background sync: whenever the server is reachable, push and pull the
//! records, then upload the photos waiting (photos never hold up records).
//! It runs every 30 s, at once when woken (an edit was saved, the worker
//! pressed the button), and backs off up to 5 minutes while the network
//! is down. The UI never waits for it: it hears `sync-state` events.
//!
//! A revocation wipes the device (the client has already removed the
//! database) and its key, and sends `revoked`.

use std::sync::Arc;
use std::time::Duration;

use gridwork_client::{ClientError, Progress};
use gridwork_store::Refused;
use serde::Serialize;

use crate::error::AppError;
use crate::state::{AppState, now_ms};

const EVERY: Duration = Duration::from_secs(30);
const LONGEST_WAIT: Duration = Duration::from_secs(300);

/// What the Sync screen shows.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncState {
    pub running: bool,
    /// Whether the last attempt reached the server.
    pub online: Option<bool>,
    pub last_success_ms: Option<u64>,
    pub last_attempt_ms: Option<u64>,
    pub pending_records: u64,
    pub pending_photos: u64,
    pub last_error: Option<AppError>,
    pub progress: Option<Progress>,
    /// Edits the server refused, without the records' contents (those are
    /// shown on the record itself, to a worker who has unlocked the app).
    pub refused: Vec<Refused>,
    pub conflicts: u64,
    /// Edits held back for tomorrow: the day's budget was sent.
    pub held_back: Option<AppError>,
    /// Why the last photo upload did not finish (records may have synced).
    pub photo_error: Option<AppError>,
}

impl AppState {
    /// The sync state with the device's current counts.
    pub fn sync_state(&self) -> SyncState {
        let mut state = self.sync.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Ok(device) = self.device() {
            let store = device.store();
            if store.session().ok().flatten().is_some() {
                state.pending_records = store.pending_count().unwrap_or(0);
                state.pending_photos = store.photos_pending().unwrap_or(0);
                state.refused = store.refused().unwrap_or_default();
                for refused in &mut state.refused {
                    refused.local = None;
                }
                state.conflicts = store.conflict_count().unwrap_or(0);
                if state.last_success_ms.is_none() {
                    state.last_success_ms = store.session().ok().flatten().and_then(|s| s.last_sync_ms);
                }
            }
        }
        state
    }

    fn update_sync(&self, change: impl FnOnce(&mut SyncState)) {
        change(&mut self.sync.lock().unwrap_or_else(|p| p.into_inner()));
        let state = self.sync_state();
        self.emit("sync-state", serde_json::to_value(&state).unwrap_or_default());
    }

    /// Asks the background sync to run now.
    pub fn wake_sync(&self) {
        self.wake.notify_one();
    }

    /// One sync: records, then photos. Returns whether the server answered.
    pub async fn sync_once(self: &Arc<Self>) -> bool {
        let Ok(device) = self.device() else { return false };
        if device.store().session().ok().flatten().is_none() {
            return false;
        }
        if self.sync.lock().unwrap_or_else(|p| p.into_inner()).running {
            return true;
        }
        self.update_sync(|s| {
            s.running = true;
            s.last_attempt_ms = Some(now_ms());
        });
        let me = self.clone();
        let report = device.sync(move |progress| me.update_sync(|s| s.progress = Some(progress))).await;
        let report = match report {
            Ok(report) => report,
            Err(ClientError::Revoked(_)) => {
                self.revoked();
                return false;
            }
            Err(error) => {
                let online = !error.is_unreachable();
                tracing::info!(%error, "sync did not finish");
                self.update_sync(|s| {
                    s.running = false;
                    s.online = Some(online);
                    s.progress = None;
                    s.last_error = Some(AppError::from(error));
                });
                return online;
            }
        };
        // The records are through: that is a successful sync, whatever
        // happens to the photos after it.
        self.update_sync(|s| {
            s.online = Some(true);
            s.last_success_ms = Some(now_ms());
            s.last_error = None;
            s.held_back = report.held_back.map(|e| AppError::new(e.code.as_str(), e.message, e.message_zh));
        });
        let me = self.clone();
        let photos =
            device.upload_photos(move |progress| me.update_sync(|s| s.progress = Some(progress))).await;
        if let Err(ClientError::Revoked(_)) = photos {
            self.revoked();
            return false;
        }
        self.update_sync(|s| {
            s.running = false;
            s.progress = None;
            s.photo_error = photos.err().map(AppError::from);
        });
        true
    }

    fn revoked(&self) {
        tracing::warn!("this device was revoked: wiping it");
        if let Err(error) = self.start_over() {
            tracing::error!(%error, "wiping after the revocation failed");
        }
        self.emit("revoked", serde_json::Value::Null);
        self.update_sync(|_| {});
    }

    /// Runs for the app's lifetime.
    pub async fn sync_forever(self: Arc<Self>) {
        let mut wait = EVERY;
        loop {
            let answered = self.sync_once().await;
            wait = if answered { EVERY } else { (wait * 2).min(LONGEST_WAIT) };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => wait = EVERY,
            }
        }
    }
}
