//! The app's state across commands: where its files are, the key vault,
//! the open device (store and sync client) once the key has opened it,
//! whether the PIN has unlocked it, and the background sync's state.
//!
//! Opening follows one rule: a database is only ever opened with the key
//! that was made for it. No key yet and no database: a key is made. A
//! database whose key cannot be read or does not open it: the app says so
//! and touches nothing (phase `key_error`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use gridwork_client::Device;
use serde::Serialize;

use crate::error::AppError;
use crate::pin;
use crate::sync::SyncState;
use crate::vault::{KeyStore, Vault};

/// The app locks itself after this long without the worker using it.
pub const IDLE_LOCK: Duration = Duration::from_secs(5 * 60);

/// The database's file name in the app data directory.
pub const DATABASE: &str = "gridwork.db";

/// Sends an event to the UI (Tauri's `emit` in the app, a recorder in tests).
pub type Emitter = Box<dyn Fn(&str, serde_json::Value) + Send + Sync>;

/// Where the app is: what the UI shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    KeyError,
    Enroll,
    SetPin,
    Locked,
    Ready,
}

/// What `app_status` answers.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub phase: Phase,
    pub user_name: Option<String>,
    pub server: Option<String>,
    pub device_number: Option<u32>,
    pub scope: Vec<String>,
    pub key_store: Option<KeyStore>,
    pub retry_at_ms: Option<u64>,
    pub error: Option<AppError>,
    /// The server address to offer on the enroll screen
    /// (`GRIDWORK_SERVER`, which `scripts/run` sets).
    pub default_server: Option<String>,
}

#[derive(Debug)]
enum Opened {
    Device(Arc<Device>),
    KeyError(AppError),
}

pub struct AppState {
    db: PathBuf,
    vault: Vault,
    opened: Mutex<Opened>,
    unlocked: AtomicBool,
    /// When the worker last did something in the app (Unix ms).
    last_use_ms: AtomicU64,
    idle_lock_ms: AtomicU64,
    pub(crate) sync: Mutex<SyncState>,
    pub(crate) wake: tokio::sync::Notify,
    /// One PIN try at a time: the lock-out check, the (slow) hash check and
    /// the count of wrong guesses happen under it, so that PINs tried in
    /// parallel cannot all slip past the lock-out.
    pub(crate) pin_turn: tokio::sync::Mutex<()>,
    /// One photo decoded at a time (see `photos`).
    pub(crate) photo_turn: tokio::sync::Mutex<()>,
    emitter: OnceLock<Emitter>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("db", &self.db).field("vault", &self.vault).finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AppState {
    /// Opens (or creates) the device database in `data_dir`, its key kept by
    /// `vault`.
    pub fn open(data_dir: &Path, vault: Vault) -> AppState {
        let db = data_dir.join(DATABASE);
        let opened = match open_device(data_dir, &db, &vault) {
            Ok(device) => Opened::Device(Arc::new(device)),
            Err(error) => {
                tracing::error!(%error, "the database could not be opened");
                Opened::KeyError(error)
            }
        };
        AppState {
            db,
            vault,
            opened: Mutex::new(opened),
            unlocked: AtomicBool::new(false),
            last_use_ms: AtomicU64::new(0),
            idle_lock_ms: AtomicU64::new(IDLE_LOCK.as_millis() as u64),
            sync: Mutex::new(SyncState::default()),
            wake: tokio::sync::Notify::new(),
            pin_turn: tokio::sync::Mutex::new(()),
            photo_turn: tokio::sync::Mutex::new(()),
            emitter: OnceLock::new(),
        }
    }

    pub fn database_path(&self) -> &Path {
        &self.db
    }

    pub fn set_emitter(&self, emitter: Emitter) {
        let _ = self.emitter.set(emitter);
    }

    pub fn emit(&self, event: &str, payload: serde_json::Value) {
        if let Some(emit) = self.emitter.get() {
            emit(event, payload);
        }
    }

    /// The open device, whatever the phase (the sync loop's view).
    pub fn device(&self) -> Result<Arc<Device>, AppError> {
        match &*lock(&self.opened) {
            Opened::Device(device) => Ok(device.clone()),
            Opened::KeyError(error) => Err(error.clone()),
        }
    }

    /// The device, for something the worker does that needs the app
    /// unlocked (and so enrolled, with a PIN). Past [`IDLE_LOCK`] without
    /// use, the app locks itself first.
    pub fn ready(&self) -> Result<Arc<Device>, AppError> {
        let device = self.watching()?;
        self.last_use_ms.store(now_ms(), Ordering::SeqCst);
        Ok(device)
    }

    /// [`AppState::ready`] for what the screen asks on its own (the sync
    /// state it shows), which does not count as the worker using the app.
    pub fn watching(&self) -> Result<Arc<Device>, AppError> {
        let device = self.device()?;
        if device.store().session()?.is_none() {
            return Err(AppError::not_enrolled());
        }
        let idle = now_ms().saturating_sub(self.last_use_ms.load(Ordering::SeqCst));
        if idle > self.idle_lock_ms.load(Ordering::SeqCst) && self.unlocked.swap(false, Ordering::SeqCst) {
            tracing::info!(idle_ms = idle, "locked after a while unused");
        }
        if !self.unlocked.load(Ordering::SeqCst) {
            return Err(AppError::locked());
        }
        Ok(device)
    }

    pub fn set_unlocked(&self, unlocked: bool) {
        if unlocked {
            self.last_use_ms.store(now_ms(), Ordering::SeqCst);
        }
        self.unlocked.store(unlocked, Ordering::SeqCst);
    }

    /// How long the app may stay unused before it locks itself.
    pub fn set_idle_lock(&self, after: Duration) {
        self.idle_lock_ms.store(after.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn status(&self) -> Result<Status, AppError> {
        let key_store = self.vault.store();
        let device = match self.device() {
            Ok(device) => device,
            Err(error) => {
                return Ok(Status {
                    phase: Phase::KeyError,
                    user_name: None,
                    server: None,
                    device_number: None,
                    scope: Vec::new(),
                    key_store,
                    retry_at_ms: None,
                    error: Some(error),
                    default_server: default_server(),
                });
            }
        };
        let store = device.store();
        let session = store.session()?;
        let now = now_ms();
        let retry_at_ms = pin::locked_until(&store, now)?;
        let phase = if session.is_none() {
            Phase::Enroll
        } else if !pin::is_set(&store)? {
            Phase::SetPin
        } else if !self.unlocked.load(Ordering::SeqCst) {
            Phase::Locked
        } else {
            Phase::Ready
        };
        Ok(Status {
            phase,
            user_name: session.as_ref().map(|s| s.user_name.clone()),
            server: session.as_ref().map(|s| s.server.clone()),
            device_number: store.device_id()?.map(|d| d.0),
            scope: session.map(|s| s.scope).unwrap_or_default(),
            key_store,
            retry_at_ms,
            error: None,
            default_server: default_server(),
        })
    }

    /// Tries a PIN: refused while locked out; a wrong one counted (and
    /// answered with what the worker may do), a right one unlocks. One try
    /// at a time, so that PINs tried in parallel cannot slip past the
    /// lock-out.
    pub async fn unlock(&self, pin: String) -> Result<Status, AppError> {
        let _turn = self.pin_turn.lock().await;
        let device = self.device()?;
        let now = now_ms;
        let stored = {
            let store = device.store();
            if let Some(retry_at) = pin::locked_until(&store, now())? {
                return Err(pin::locked_out(retry_at, now()));
            }
            pin::stored(&store)?
        };
        let Some(hash) = stored else {
            return Err(AppError::new("wrong_phase", "no PIN is set yet", "尚未设置密码"));
        };
        let right = tauri::async_runtime::spawn_blocking(move || pin::verify(&hash, &pin))
            .await
            .map_err(AppError::internal)?;
        pin::note(&mut device.store(), right, now())?;
        self.set_unlocked(true);
        self.wake_sync();
        self.status()
    }

    /// After a revocation the client has wiped the database: forget its
    /// key, start a new empty database under a new key, lock.
    pub fn start_over(&self) -> Result<(), AppError> {
        self.set_unlocked(false);
        let mut opened = lock(&self.opened);
        *lock(&self.sync) = SyncState::default();
        // Close the old store before its files and key go; until a new
        // one is open, nothing can be recorded.
        *opened = Opened::KeyError(wipe_failed("the data is being removed"));
        if let Err(error) = gridwork_store::Store::wipe(&self.db) {
            *opened = Opened::KeyError(wipe_failed(&error.to_string()));
            return Err(error.into());
        }
        // The database is gone: its key protects nothing any more. If it
        // cannot be forgotten, a new one replaces it all the same.
        if let Err(error) = self.vault.delete() {
            tracing::error!(%error, "the revoked database's key could not be removed");
        }
        let data_dir = self.db.parent().unwrap_or(Path::new("."));
        *opened = match open_device(data_dir, &self.db, &self.vault) {
            Ok(device) => Opened::Device(Arc::new(device)),
            Err(error) => Opened::KeyError(error),
        };
        Ok(())
    }
}

/// The device was revoked but its files could not all be removed.
fn wipe_failed(detail: &str) -> AppError {
    AppError::new(
        "wipe_failed",
        format!(
            "this tablet was revoked by the centre, but its records could not all be removed ({detail}): hand it to the centre's IT staff"
        ),
        format!("本平板已被中心停用,但本机数据未能全部清除({detail}):请交给中心技术人员处理"),
    )
}

/// The time now (Unix ms), by the tablet's clock.
pub(crate) fn now_ms() -> u64 {
    gridwork_store::Clock::now_ms(&gridwork_store::SystemClock)
}

fn default_server() -> Option<String> {
    std::env::var("GRIDWORK_SERVER").ok().filter(|s| !s.trim().is_empty())
}

fn open_device(data_dir: &Path, db: &Path, vault: &Vault) -> Result<Device, AppError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| AppError::internal(format!("{}: {e}", data_dir.display())))?;
    let key = match vault.load()? {
        Some(key) => key,
        None if db.exists() => {
            return Err(AppError::new(
                "key_missing",
                "this tablet's records are encrypted but no key for them was ever kept here; the records are kept, untouched: ask the centre's IT staff",
                "本机数据已加密,但找不到对应的密钥;数据原样保留,请联系中心技术人员",
            ));
        }
        None => vault.create()?.0,
    };
    Device::open_with(db, Some(key)).map_err(|error| match error {
        gridwork_client::ClientError::Store(gridwork_store::Error::Locked) => AppError::new(
            "key_wrong",
            "the key kept for this tablet does not open its records; the records are kept, untouched: ask the centre's IT staff",
            "保存的密钥无法打开本机数据;数据原样保留,请联系中心技术人员",
        ),
        other => AppError::from(other),
    })
}
