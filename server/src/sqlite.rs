//! The embedded-SQLite implementation of [`Storage`]: the records through
//! the store crate, accounts and devices in SQL beside them, all in one
//! database file in the data directory.
//!
//! One writer connection (behind a mutex: SQLite has one writer anyway) and
//! a few readers, which see committed data only (WAL), so pulls never wait
//! for pushes. A background thread checkpoints the log.

use gridwork_protocol::codes::{ErrorCode, RefusalCode};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use gridwork_domain::{DeviceId, Kind, Reason, RecordId, ValidationError, Value};
use gridwork_merge::{MAX_AHEAD_MS, check_not_ahead};
use gridwork_protocol::RecordChanges;
use gridwork_protocol::sync::{
    EnrollResponse, PullRequest, PullResponse, PushRequest, PushResponse, Rejection, ShapeError, scope_hash,
};
use gridwork_store::{
    Checkpointer, Conflict, Durability, Options, PageLimit, Preview, PullPosition, Role as StoreRole, Store,
    SystemClock, WAL_LIMIT,
};
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::scopes::{Scope, ScopeCache};
use crate::storage::{
    AttachmentStatus, ConsoleSession, DailyBudget, DeviceAuth, DeviceInfo, EnrollmentCode, NewGrid, NewUser,
    ParkedChange, ParkedOverflow, ParkedPage, ParkedSummary, ParkingLimits, Principal, Pushed, Result, Role,
    SESSION_MS, Storage, StorageError, StorageLimits, UserInfo,
};

const READERS: usize = 4;

/// The digest tokens and codes are stored as.
pub fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new bearer token: 256 random bits.
fn new_token() -> String {
    format!("gw_{}", hex(&random::<32>()))
}

/// Crockford's base32, without the letters people misread.
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new enrollment code: 40 random bits as `XXXX-XXXX`.
fn new_enrollment_code() -> String {
    let bits = random::<5>().iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    let chars: String =
        (0..8).rev().map(|i| CODE_ALPHABET[((bits >> (i * 5)) & 31) as usize] as char).collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

/// A typed code as stored: uppercase, separators gone, look-alikes mapped.
fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Console sessions one person may hold at once.
const MAX_SESSIONS: usize = 20;

/// The length of a password, in characters.
const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 1024;

/// What a login with an unknown name is checked against, so that it costs
/// what a wrong password costs.
static STAND_IN_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("stand-in for a user who does not exist").expect("hashes"));

fn hash_password(password: &str) -> Result<String> {
    let hash: PasswordHash = Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &random::<16>())
        .map_err(|e| StorageError::Internal(format!("password hash: {e}")))?;
    Ok(hash.to_string())
}

fn audit(
    tx: &rusqlite::Connection,
    at_ms: u64,
    actor: Option<&Principal>,
    action: &str,
    record: Option<(Kind, RecordId)>,
    detail: &serde_json::Value,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO audit (at_ms, user_id, device_id, action, record, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        at_ms as i64,
        actor.map(|a| a.user_id.as_str()),
        actor.and_then(|a| a.device.as_ref()).map(|d| d.id.as_str()),
        action,
        record.map(|(_, id)| id.as_bytes().to_vec()),
        record.map(|(kind, _)| kind.number()),
        detail.to_string(),
    ])?;
    Ok(())
}

/// The next level down the grid tree.
fn level_below(level: &str) -> &'static str {
    match level {
        "city" => "district",
        "district" => "street",
        "street" => "community",
        "community" => "unit",
        _ => "micro",
    }
}

pub struct SqliteStorage {
    writer: Mutex<Store>,
    readers: Vec<Mutex<Store>>,
    next_reader: AtomicUsize,
    epoch: String,
    /// When the database was last restored from a backup, if ever.
    restored_at_ms: Option<u64>,
    scopes: ScopeCache,
    limits: StorageLimits,
    _checkpointer: Checkpointer,
}

/// The most a push's answer may weigh (its refused records sent back whole,
/// `RecordChanges::weight`) unless it carries a single record.
const MAX_PUSH_ANSWER: usize = gridwork_protocol::sync::MAX_PUSH_BYTES;

/// The largest refused change parked whole; a larger one is parked as its
/// size and field names.
const MAX_PARKED_PAYLOAD: usize = 64 * 1024;

/// How long after a restore the server accepts other devices' writes it has
/// not seen from a device (see [`Preview::unvouched`]): the restore may have
/// lost them, and devices send everything again when they notice it.
pub const RESTORE_GRACE_MS: u64 = 7 * 24 * 60 * 60 * 1000;

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage").field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

fn open_store(path: &Path) -> Result<Store> {
    let options = Options { durability: Durability::Full, cache_mib: 64, auto_checkpoint: false, key: None };
    Ok(Store::open_with(path, StoreRole::Server, Arc::new(SystemClock), options)?)
}

fn meta(store: &Store, key: &str) -> Result<Option<String>> {
    Ok(store
        .connection()
        .query_row("SELECT value FROM server_meta WHERE key = ?1", [key], |row| row.get(0))
        .optional()?)
}

impl SqliteStorage {
    /// Creates the database with its epoch and the first admin, whose token
    /// is returned (and shown once). Refuses a database already set up.
    pub fn init(path: &Path, now_ms: u64) -> Result<String> {
        let mut store = open_store(path)?;
        if meta(&store, "epoch")?.is_some() {
            return Err(StorageError::Conflict(format!(
                "{} is already initialised; its admin token was printed when it was",
                path.display()
            )));
        }
        let token = new_token();
        let tx = store.connection_mut().transaction()?;
        tx.execute("INSERT INTO server_meta (key, value) VALUES ('epoch', ?1)", [hex(&random::<16>())])?;
        let admin = new_id();
        tx.execute(
            "INSERT INTO users (id, name, role, created_at_ms) VALUES (?1, 'admin', 'admin', ?2)",
            params![admin, now_ms as i64],
        )?;
        tx.execute(
            "INSERT INTO tokens (hash, user_id, created_at_ms) VALUES (?1, ?2, ?3)",
            params![digest(&token).to_vec(), admin, now_ms as i64],
        )?;
        audit(&tx, now_ms, None, "init", None, &serde_json::json!({"admin": admin}))?;
        tx.commit()?;
        Ok(token)
    }

    /// Gives the database a new epoch: what a restore from a backup does, so
    /// that devices notice and send again what it may have lost. New device
    /// numbers start well above the backup's, since devices enrolled after
    /// the backup keep theirs (room is left for 100,000 of them).
    pub fn renew_epoch(path: &Path, now_ms: u64) -> Result<String> {
        let mut store = open_store(path)?;
        let epoch = hex(&random::<16>());
        let tx = store.connection_mut().transaction()?;
        let updated = tx.execute("UPDATE server_meta SET value = ?1 WHERE key = 'epoch'", [&epoch])?;
        if updated == 0 {
            return Err(StorageError::NotFound(format!(
                "{} is not an initialised Gridwork database",
                path.display()
            )));
        }
        tx.execute(
            "INSERT INTO server_meta (key, value)
             SELECT 'device_number_floor', coalesce((SELECT max(number) FROM devices), 0) + 100001 WHERE true
             ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER) + 100000, CAST(excluded.value AS INTEGER))",
            [],
        )?;
        tx.execute(
            "INSERT INTO server_meta (key, value) VALUES ('restored_at_ms', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [now_ms.to_string()],
        )?;
        tx.commit()?;
        Ok(epoch)
    }

    /// Opens an initialised database.
    pub fn open(path: &Path) -> Result<SqliteStorage> {
        if !path.exists() {
            return Err(StorageError::NotFound(format!(
                "{} does not exist: run `gridwork-server init --data DIR` first",
                path.display()
            )));
        }
        let writer = open_store(path)?;
        let epoch = meta(&writer, "epoch")?.ok_or_else(|| {
            StorageError::NotFound(format!(
                "{} is not initialised: run `gridwork-server init` first",
                path.display()
            ))
        })?;
        let restored_at_ms = meta(&writer, "restored_at_ms")?.and_then(|v| v.parse().ok());
        let readers = (0..READERS).map(|_| open_store(path).map(Mutex::new)).collect::<Result<_>>()?;
        let checkpointer = Checkpointer::spawn(path, Duration::from_millis(500))?;
        Ok(SqliteStorage {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            epoch,
            restored_at_ms,
            scopes: ScopeCache::default(),
            limits: StorageLimits::default(),
            _checkpointer: checkpointer,
        })
    }

    /// What one device may park (see [`park`]), hold of unfinished
    /// uploads, and send in a day.
    pub fn set_limits(&mut self, limits: StorageLimits) {
        self.limits = limits;
    }

    /// Runs `f` on the writer's store: for loading demo data.
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut self.writer())
    }

    fn writer(&self) -> MutexGuard<'_, Store> {
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn reader(&self) -> MutexGuard<'_, Store> {
        // Take a free reader if there is one, else wait for the next in turn.
        for reader in &self.readers {
            if let Ok(guard) = reader.try_lock() {
                return guard;
            }
        }
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        self.readers[i].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Truncates the write-ahead log once it passes [`WAL_LIMIT`], from the
    /// writer and with every reader held back for the moment it takes (the
    /// reads in progress finish first): readers that never all stop would
    /// otherwise keep the log from ever starting over. See
    /// `gridwork_store::Checkpointer`.
    fn keep_log_bounded(&self, writer: &Store) {
        if writer.log_size() <= WAL_LIMIT {
            return;
        }
        let _held_back: Vec<_> =
            self.readers.iter().map(|r| r.lock().unwrap_or_else(|poisoned| poisoned.into_inner())).collect();
        match writer.truncate_log() {
            Ok(true) => tracing::debug!("write-ahead log truncated"),
            Ok(false) => {
                tracing::warn!(bytes = writer.log_size(), "write-ahead log still busy; truncated later")
            }
            Err(error) => tracing::warn!(%error, "truncating the write-ahead log failed"),
        }
    }

    /// The grids a user may see records of, from the cache when the
    /// database's scope generation has not moved since it was worked out
    /// (see `crate::scopes`). The generation and a scope worked out afresh
    /// come from one read transaction.
    fn scope_of(&self, store: &Store, user_id: &str, role: Role) -> Result<Scope> {
        let tx = store.connection().unchecked_transaction()?;
        let generation: i64 =
            tx.prepare_cached("SELECT value FROM scope_generation")?.query_row([], |row| row.get(0))?;
        self.scopes.get_or_compute(user_id, role, generation as u64, || -> Result<Vec<String>> {
            if role == Role::Worker {
                let mut statement = tx.prepare_cached("SELECT grid FROM user_grids WHERE user_id = ?1")?;
                let roots: Vec<String> =
                    statement.query_map([user_id], |row| row.get(0))?.collect::<Result<_, _>>()?;
                Ok(store.grids_below(&roots)?)
            } else {
                let mut statement =
                    tx.prepare_cached("SELECT code FROM grids WHERE deleted IS NOT 1 ORDER BY code")?;
                let codes = statement.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?;
                Ok(codes)
            }
        })
    }

    fn grid_exists(store: &Store, code: &str) -> Result<bool> {
        Ok(store
            .connection()
            .prepare_cached("SELECT 1 FROM grids WHERE code = ?1 AND deleted IS NOT 1")?
            .query_row([code], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

/// Why a pushed record is refused.
struct Refusal {
    code: RefusalCode,
    field: Option<String>,
    message: String,
    message_zh: String,
}

impl Refusal {
    fn new(code: RefusalCode, field: Option<String>, message: String, message_zh: String) -> Refusal {
        Refusal { code, field, message, message_zh }
    }

    fn invalid(invalid: &ValidationError) -> Refusal {
        Refusal::new(
            RefusalCode::Invalid,
            invalid.field().map(str::to_owned),
            invalid.to_string(),
            invalid.zh(),
        )
    }
}

/// Whether `grid` is one of `scope`'s (sorted) codes.
fn in_scope(scope: &[String], grid: Option<&str>) -> bool {
    grid.is_some_and(|grid| scope.binary_search_by(|code| code.as_str().cmp(grid)).is_ok())
}

/// What a push has found out about its listed photos, so each distinct
/// digest is looked up once per push.
type PhotoChecks = HashMap<String, bool>;

/// Why a pushed record is refused, if it is, decided before anything is
/// written.
///
/// Scope comes first, for every kind and whatever is wrong with the change:
/// a record that exists outside the device's grids (as any kind), or a new
/// one placed outside them, is refused as `out_of_scope` and nothing else,
/// so the answer tells nothing about it.
#[allow(clippy::too_many_arguments)]
fn refusal(
    store: &Store,
    who: &Principal,
    change: &RecordChanges,
    preview: std::result::Result<Preview, gridwork_store::Error>,
    scope: &[String],
    vouch_for_others: bool,
    photos: &mut PhotoChecks,
    now_ms: u64,
) -> Result<Option<Refusal>> {
    let device = who.device.as_ref().expect("push checked that a device is asking").number;
    let out_of_scope = || {
        Some(Refusal::new(
            RefusalCode::OutOfScope,
            Some(change.kind.def().scope_field.to_owned()),
            format!(
                "{} {} is not (or no longer) in this device's grids: it may have moved to another grid; the edit is kept for the centre",
                change.kind, change.id
            ),
            format!(
                "{}记录{}不在(或已不在)本设备负责的网格内,可能已迁往其他网格;此修改已交中心处理",
                change.kind.def().label.zh,
                change.id
            ),
        ))
    };
    // Where the record is now, if it exists, as whatever kind: the preview
    // knows when it worked out; otherwise it is looked up.
    let stored_kind = match &preview {
        Ok(preview) => preview.exists.then_some(change.kind),
        Err(gridwork_store::Error::WrongKind { actual, .. }) => Some(*actual),
        Err(_) => store.kind_of(change.id)?,
    };
    let stored_grid = match (&preview, stored_kind) {
        (Ok(preview), Some(_)) => preview.scope_now.clone(),
        (_, Some(kind)) => store.get(kind, change.id)?.and_then(|r| r.scope().map(str::to_owned)),
        (_, None) => None,
    };
    let outside = match stored_kind {
        Some(_) => !in_scope(scope, stored_grid.as_deref()),
        None => {
            let scope_field = change.kind.def().scope_field;
            change
                .fields
                .iter()
                .find(|f| f.field == scope_field)
                .is_some_and(|f| !in_scope(scope, f.register.value().as_text()))
        }
    };
    if outside {
        return Ok(out_of_scope());
    }
    if change.kind == Kind::Grid {
        return Ok(Some(Refusal::new(
            RefusalCode::Forbidden,
            None,
            "grids are drawn by admins, not changed from devices".into(),
            "网格由管理员划分,设备不能修改".into(),
        )));
    }
    if stored_kind.is_some_and(|kind| kind != change.kind) {
        return Ok(Some(Refusal::new(
            RefusalCode::Invalid,
            None,
            format!("record {} already exists as another kind", change.id),
            format!("记录{}已作为其他类型存在", change.id),
        )));
    }
    let preview = match preview {
        Ok(preview) => preview,
        Err(error) => {
            return match error.into_validation() {
                Ok(invalid) => Ok(Some(Refusal::invalid(&invalid))),
                Err(other) => Err(other.into()),
            };
        }
    };
    if !in_scope(scope, preview.scope_after.as_deref()) && !preview.exists {
        return Ok(out_of_scope());
    }
    // Checked after scope, so that a record the device may no longer see
    // is refused as that (and rolled back) rather than re-stamped. Every
    // timestamp is checked, not only the device's own: a version
    // signed with another number and stamped far ahead would otherwise
    // drag every clock that sees it into the future.
    for state in &change.fields {
        for version in state.register.versions() {
            if let Err(ahead) = check_not_ahead(version.hlc, now_ms, MAX_AHEAD_MS) {
                return Ok(Some(if version.writer == device {
                    Refusal::new(
                        RefusalCode::ClockAhead,
                        Some(state.field.clone()),
                        ahead.to_string(),
                        format!("设备时钟比服务器快{}秒,请校准时间", ahead.ahead_ms / 1000),
                    )
                } else {
                    Refusal::new(
                        RefusalCode::Forbidden,
                        Some(state.field.clone()),
                        format!(
                            "a version of `{}` written by device {} is {ahead}",
                            state.field, version.writer.0
                        ),
                        format!("字段{}中设备{}写入的版本时间超前于服务器", state.field, version.writer.0),
                    )
                }));
            }
        }
    }
    // Birth dates that have not happened yet, by the server's clock (with
    // the tolerance clocks get), in what the device wrote itself.
    let latest = gridwork_domain::latest_date(now_ms + MAX_AHEAD_MS);
    for state in &change.fields {
        for version in state.register.versions().iter().filter(|v| v.writer == device) {
            if let Err(invalid) =
                gridwork_domain::check_not_in_future(change.kind, &state.field, &version.value, latest)
            {
                return Ok(Some(Refusal::invalid(&invalid)));
            }
        }
    }
    // Listing a stored photo on a case makes it readable to the case's
    // grid, so a device may list only photos it may read already (or that
    // are not stored yet: it uploads them itself). Each distinct digest is
    // looked up once per push, by index.
    for state in change.fields.iter().filter(|f| change.kind == Kind::Case && f.field == "attachments") {
        // Versions of others the server holds were checked when they came;
        // after a restore it cannot tell which it holds, so all are checked.
        for version in state.register.versions().iter().filter(|v| v.writer == device || !vouch_for_others) {
            for sha256 in version.value.as_list().unwrap_or_default() {
                let refused = match photos.get(sha256) {
                    Some(refused) => *refused,
                    None => {
                        let refused = stored_but_unreadable(store, who, scope, sha256)?;
                        photos.insert(sha256.clone(), refused);
                        refused
                    }
                };
                if refused {
                    return Ok(Some(Refusal::new(
                        RefusalCode::Forbidden,
                        Some(state.field.clone()),
                        format!("attachment {sha256} is not one this device uploaded or may see"),
                        format!("附件{sha256}不是本设备上传或可查看的附件"),
                    )));
                }
            }
        }
    }
    if let Some((field, writer)) = preview.unvouched
        && vouch_for_others
    {
        return Ok(Some(Refusal::new(
            RefusalCode::Forbidden,
            Some(field.to_owned()),
            format!(
                "`{field}` claims a write by device {} that the server has not seen; a device hands on only writes it got from the server",
                writer.0
            ),
            format!("字段{field}含有服务器未见过的设备{}的修改", writer.0),
        )));
    }
    // An existing record may move to any grid that exists (a resident
    // moving away); the device drops it afterwards.
    if let Some(after) = &preview.scope_after
        && !scope.contains(after)
        && !SqliteStorage::grid_exists(store, after)?
    {
        let invalid = ValidationError::invalid(
            change.kind.def().scope_field,
            Reason::NoSuchGrid { code: after.clone() },
        );
        return Ok(Some(Refusal::invalid(&invalid)));
    }
    Ok(None)
}

/// What a device spends of its day.
#[derive(Clone, Copy, Debug)]
enum Spending {
    /// The weight of the records of a push.
    Push(u64),
    /// The declared size of a new upload.
    Upload(u64),
}

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// Refuses `spending` if it would take `device` past its day's budget.
fn check_budget(
    conn: &rusqlite::Connection,
    device: &str,
    now_ms: u64,
    spending: Spending,
    budget: &DailyBudget,
) -> Result<()> {
    let day = (now_ms / DAY_MS) as i64;
    let (push, upload): (u64, u64) = conn
        .prepare_cached(
            "SELECT push_bytes, upload_bytes FROM device_usage WHERE device_id = ?1 AND day = ?2",
        )?
        .query_row(params![device, day], |row| {
            Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64))
        })
        .optional()?
        .unwrap_or((0, 0));
    let (what, used, wanted, limit) = match spending {
        Spending::Push(bytes) => ("records", push, bytes, budget.push_bytes),
        Spending::Upload(bytes) => ("photos", upload, bytes, budget.upload_bytes),
    };
    if used + wanted > limit {
        let wait_secs = (DAY_MS - now_ms % DAY_MS).div_ceil(1000);
        return Err(StorageError::DeviceQuota { what, used, wanted, budget: limit, wait_secs });
    }
    Ok(())
}

/// Checks and records `spending` in the transaction that does it.
fn spend(
    tx: &rusqlite::Transaction<'_>,
    device: &str,
    now_ms: u64,
    spending: Spending,
    budget: &DailyBudget,
) -> Result<()> {
    check_budget(tx, device, now_ms, spending, budget)?;
    let (push, upload) = match spending {
        Spending::Push(bytes) => (bytes, 0),
        Spending::Upload(bytes) => (0, bytes),
    };
    tx.prepare_cached(
        "INSERT INTO device_usage (device_id, day, push_bytes, upload_bytes) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (device_id, day) DO UPDATE SET push_bytes = push_bytes + excluded.push_bytes,
             upload_bytes = upload_bytes + excluded.upload_bytes",
    )?
    .execute(params![device, (now_ms / DAY_MS) as i64, push as i64, upload as i64])?;
    Ok(())
}

/// The grid records of `scope`, without their boundaries (the largest
/// field, and not needed to record in a grid): what a device enrolls with.
fn grid_outlines(store: &mut Store, scope: &[String]) -> Result<Vec<RecordChanges>> {
    let mut outlines = Vec::with_capacity(scope.len());
    for code in scope {
        let id: Option<[u8; 16]> = store
            .connection()
            .prepare_cached("SELECT id FROM grids WHERE code = ?1 AND deleted IS NOT 1")?
            .query_row([code], |row| row.get(0))
            .optional()?;
        let Some(id) = id else { continue };
        if let Some(mut grid) = store.export(Kind::Grid, RecordId::from_bytes(id))? {
            grid.fields.retain(|f| f.field != "boundary");
            outlines.push(grid);
        }
    }
    Ok(outlines)
}

/// A refused change to park: record, kind, code, field, message, payload.
type ToPark = (RecordId, Kind, RefusalCode, Option<String>, String, String);

/// Parks refused changes for the centre, within what one device may park:
/// one row per device and record (the latest refusal), at most
/// `rows_per_device` rows and `bytes_per_device` bytes of payload per
/// device. Beyond the bytes, a row keeps the field names and size, not the
/// values; beyond the rows, refusals are only counted, per code.
fn park(
    tx: &rusqlite::Transaction<'_>,
    limits: &ParkingLimits,
    device_id: &str,
    now_ms: u64,
    items: &[ToPark],
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let (mut rows, mut bytes): (u64, u64) = tx.query_row(
        "SELECT count(*), coalesce(sum(bytes), 0) FROM parked WHERE device_id = ?1",
        [device_id],
        |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
    )?;
    for (id, kind, code, field, message, payload) in items {
        let existing: Option<u64> = tx
            .prepare_cached("SELECT bytes FROM parked WHERE device_id = ?1 AND record = ?2")?
            .query_row(params![device_id, id.as_bytes().to_vec()], |row| row.get::<_, i64>(0))
            .optional()?
            .map(|b| b as u64);
        if existing.is_none() && rows >= limits.rows_per_device {
            tx.prepare_cached(
                "INSERT INTO parked_overflow (device_id, code, count, first_at_ms, last_at_ms) VALUES (?1, ?2, 1, ?3, ?3)
                 ON CONFLICT (device_id, code) DO UPDATE SET count = count + 1, last_at_ms = excluded.last_at_ms",
            )?
            .execute(params![device_id, code.as_str(), now_ms as i64])?;
            continue;
        }
        let room = limits.bytes_per_device.saturating_sub(bytes - existing.unwrap_or(0));
        let payload = if payload.len() as u64 <= room {
            payload.clone()
        } else {
            let change = serde_json::from_str::<RecordChanges>(payload).ok();
            let fields: Vec<&str> =
                change.iter().flat_map(|c| c.fields.iter().map(|f| f.field.as_str())).collect();
            payload_summary(payload.len(), &fields)
        };
        // A new row, so that the list, newest first, shows it as the newest.
        if existing.is_some() {
            tx.prepare_cached("DELETE FROM parked WHERE device_id = ?1 AND record = ?2")?
                .execute(params![device_id, id.as_bytes().to_vec()])?;
        }
        tx.prepare_cached(
            "INSERT INTO parked (at_ms, device_id, record, kind, code, field, message, payload, bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            now_ms as i64,
            device_id,
            id.as_bytes().to_vec(),
            kind.number(),
            code.as_str(),
            field,
            message,
            payload,
            payload.len() as i64
        ])?;
        bytes = bytes - existing.unwrap_or(0) + payload.len() as u64;
        rows += u64::from(existing.is_none());
    }
    Ok(())
}

/// What is kept of a refused change too large to park whole: its size and
/// field names.
fn payload_summary(bytes: usize, fields: &[&str]) -> String {
    serde_json::json!({"truncated": true, "bytes": bytes, "fields": fields}).to_string()
}

impl Storage for SqliteStorage {
    fn epoch(&self) -> String {
        self.epoch.clone()
    }

    fn authenticate(&self, token_digest: [u8; 32], now_ms: u64) -> Result<Option<Principal>> {
        let store = self.reader();
        let row = store
            .connection()
            .prepare_cached(
                "SELECT u.id, u.name, u.role, t.device_id, d.number, d.revoked_at_ms, t.revoked_at_ms
                 FROM tokens t JOIN users u ON u.id = t.user_id LEFT JOIN devices d ON d.id = t.device_id
                 WHERE t.hash = ?1 AND (t.expires_at_ms IS NULL OR t.expires_at_ms > ?2)",
            )?
            .query_row(params![token_digest.to_vec(), now_ms as i64], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<u32>>(4)?,
                    row.get::<_, Option<i64>>(5)?,
                    row.get::<_, Option<i64>>(6)?,
                ))
            })
            .optional()?;
        let Some((user_id, user_name, role, device_id, number, device_revoked, token_revoked)) = row else {
            return Ok(None);
        };
        let role =
            Role::parse(&role).ok_or_else(|| StorageError::Internal(format!("unknown role {role}")))?;
        let device = match (device_id, number) {
            (Some(id), Some(number)) => {
                Some(DeviceAuth { id, number: DeviceId(number), revoked: device_revoked.is_some() })
            }
            _ => None,
        };
        if token_revoked.is_some() && device.as_ref().is_none_or(|d| !d.revoked) {
            return Ok(None);
        }
        Ok(Some(Principal { user_id, user_name, role, device }))
    }

    fn login(&self, name: &str, password: &str, now_ms: u64) -> Result<ConsoleSession> {
        let found: Option<(String, String, String, Option<String>)> = self
            .reader()
            .connection()
            .query_row("SELECT id, name, role, password_hash FROM users WHERE name = ?1", [name], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .optional()?;
        // Verified without holding any connection (argon2 takes tens of
        // milliseconds), and against a stand-in when there is no such user
        // or no password, so the answer takes as long either way.
        if password.chars().count() > MAX_PASSWORD {
            // No account has such a password: refused without hashing it.
            return Err(StorageError::BadLogin);
        }
        let (user, stored) = match found {
            Some((id, name, role, Some(hash))) => (Some((id, name, role)), hash),
            _ => (None, STAND_IN_HASH.clone()),
        };
        let parsed =
            PasswordHash::new(&stored).map_err(|e| StorageError::Internal(format!("stored hash: {e}")))?;
        let verified = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        let (Some((user_id, user_name, role)), true) = (user, verified) else {
            return Err(StorageError::BadLogin);
        };
        let token = new_token();
        let expires_at_ms = now_ms + SESSION_MS;
        let mut store = self.writer();
        let tx = store.connection_mut().transaction()?;
        tx.execute(
            "INSERT INTO tokens (hash, user_id, created_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![digest(&token).to_vec(), user_id, now_ms as i64, expires_at_ms as i64],
        )?;
        let role =
            Role::parse(&role).ok_or_else(|| StorageError::Internal(format!("unknown role {role}")))?;
        let actor = Principal { user_id, user_name, role, device: None };
        // Sessions that ended are forgotten, and a person keeps at most
        // MAX_SESSIONS at once: logging in again ends the oldest.
        tx.execute(
            "DELETE FROM tokens WHERE device_id IS NULL AND expires_at_ms IS NOT NULL
               AND (expires_at_ms <= ?1 OR revoked_at_ms IS NOT NULL)",
            [now_ms as i64],
        )?;
        let ended = tx.execute(
            "UPDATE tokens SET revoked_at_ms = ?1
             WHERE user_id = ?2 AND device_id IS NULL AND expires_at_ms IS NOT NULL AND hash NOT IN (
                 SELECT hash FROM tokens WHERE user_id = ?2 AND device_id IS NULL AND expires_at_ms IS NOT NULL
                 ORDER BY created_at_ms DESC, rowid DESC LIMIT ?3)",
            params![now_ms as i64, actor.user_id, MAX_SESSIONS as i64],
        )?;
        audit(
            &tx,
            now_ms,
            Some(&actor),
            "login",
            None,
            &serde_json::json!({"expires_at_ms": expires_at_ms, "ended_oldest": ended}),
        )?;
        tx.commit()?;
        Ok(ConsoleSession { token, expires_at_ms })
    }

    fn logout(&self, token_digest: [u8; 32], now_ms: u64) -> Result<bool> {
        let mut store = self.writer();
        let tx = store.connection_mut().transaction()?;
        let user_id: Option<String> = tx
            .query_row(
                "UPDATE tokens SET revoked_at_ms = ?1
                 WHERE hash = ?2 AND device_id IS NULL AND expires_at_ms > ?1 AND revoked_at_ms IS NULL
                 RETURNING user_id",
                params![now_ms as i64, token_digest.to_vec()],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(user_id) = &user_id {
            let (user_name, role): (String, String) =
                tx.query_row("SELECT name, role FROM users WHERE id = ?1", [user_id], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?;
            let role =
                Role::parse(&role).ok_or_else(|| StorageError::Internal(format!("unknown role {role}")))?;
            let actor = Principal { user_id: user_id.clone(), user_name, role, device: None };
            audit(&tx, now_ms, Some(&actor), "logout", None, &serde_json::json!({}))?;
        }
        tx.commit()?;
        Ok(user_id.is_some())
    }

    fn create_user(&self, actor: &Principal, user: NewUser, now_ms: u64) -> Result<String> {
        // A name is one line of text like any other: no control characters,
        // nothing that reorders what is shown around it.
        let name = user.name.trim();
        if name.is_empty() {
            return Err(ValidationError::invalid("name", Reason::Empty).into());
        }
        gridwork_domain::FieldType::Text { max: 50 }.check("name", Value::Text(name.to_owned()))?;
        if user.role == Role::Worker && user.grids.is_empty() {
            return Err(ValidationError::required("grid").into());
        }
        if user.role != Role::Worker && !user.grids.is_empty() {
            // Staff and admins see every grid; a grid given them means a
            // mistake about who this is.
            return Err(ValidationError::invalid("grid", Reason::Disagrees { other: "role" }).into());
        }
        if let Some(password) = &user.password
            && !(MIN_PASSWORD..=MAX_PASSWORD).contains(&password.chars().count())
        {
            return Err(ValidationError::invalid(
                "password",
                Reason::OutOfRange { min: MIN_PASSWORD as i64, max: MAX_PASSWORD as i64 },
            )
            .into());
        }
        let password_hash = user.password.as_deref().map(hash_password).transpose()?;
        let mut store = self.writer();
        for grid in &user.grids {
            if !SqliteStorage::grid_exists(&store, grid)? {
                return Err(
                    ValidationError::invalid("grid", Reason::NoSuchGrid { code: grid.clone() }).into()
                );
            }
        }
        let id = new_id();
        let tx = store.connection_mut().transaction()?;
        let inserted = tx.execute(
            "INSERT INTO users (id, name, role, password_hash, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (name) DO NOTHING",
            params![id, name, user.role.as_str(), password_hash, now_ms as i64],
        )?;
        if inserted == 0 {
            return Err(StorageError::Said {
                code: ErrorCode::Conflict,
                en: format!("a user named `{name}` exists already"),
                zh: format!("已有名为`{name}`的用户"),
            });
        }
        for grid in &user.grids {
            tx.execute(
                "INSERT OR IGNORE INTO user_grids (user_id, grid) VALUES (?1, ?2)",
                params![id, grid],
            )?;
        }
        audit(
            &tx,
            now_ms,
            Some(actor),
            "user_add",
            None,
            &serde_json::json!({"id": id, "name": name, "role": user.role, "grids": user.grids}),
        )?;
        tx.commit()?;
        Ok(id)
    }

    fn add_grid(&self, actor: &Principal, grid: NewGrid, now_ms: u64) -> Result<RecordId> {
        let mut store = self.writer();
        if SqliteStorage::grid_exists(&store, grid.code.trim())? {
            return Err(StorageError::Said {
                code: ErrorCode::Conflict,
                en: format!("a grid with code `{}` exists already", grid.code.trim()),
                zh: format!("编码为`{}`的网格已存在", grid.code.trim()),
            });
        }
        let level = match (&grid.level, &grid.parent) {
            (Some(level), _) => level.clone(),
            (None, None) => "city".to_owned(),
            (None, Some(parent)) => {
                let parent_level: Option<String> = store
                    .connection()
                    .query_row(
                        "SELECT level FROM grids WHERE code = ?1 AND deleted IS NOT 1",
                        [parent],
                        |row| row.get(0),
                    )
                    .optional()?;
                let parent_level = parent_level.ok_or_else(|| {
                    ValidationError::invalid("parent", Reason::NoSuchGrid { code: parent.clone() })
                })?;
                level_below(&parent_level).to_owned()
            }
        };
        let mut fields: Vec<(&str, Value)> = vec![
            ("code", grid.code.as_str().into()),
            ("name", grid.name.as_str().into()),
            ("level", level.into()),
        ];
        if let Some(parent) = &grid.parent {
            fields.push(("parent", parent.as_str().into()));
        }
        let detail = serde_json::json!({"code": grid.code, "name": grid.name, "parent": grid.parent});
        let actor = actor.clone();
        let id = store.put_with(Kind::Grid, None, &fields, move |tx, id| {
            audit(tx, now_ms, Some(&actor), "grid_add", Some((Kind::Grid, id)), &detail)
        })?;
        Ok(id)
    }

    fn create_enrollment_code(
        &self,
        actor: &Principal,
        user_id: &str,
        ttl_ms: u64,
        now_ms: u64,
    ) -> Result<EnrollmentCode> {
        let mut store = self.writer();
        let exists = store
            .connection()
            .query_row("SELECT 1 FROM users WHERE id = ?1", [user_id], |_| Ok(()))
            .optional()?
            .is_some();
        if !exists {
            return Err(StorageError::Said {
                code: ErrorCode::NotFound,
                en: format!("there is no user with id {user_id}"),
                zh: format!("没有编号为{user_id}的用户"),
            });
        }
        let code = new_enrollment_code();
        let expires_at_ms = now_ms + ttl_ms;
        let tx = store.connection_mut().transaction()?;
        tx.execute(
            "INSERT INTO enrollment_codes (hash, user_id, created_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![digest(&normalize_code(&code)).to_vec(), user_id, now_ms as i64, expires_at_ms as i64],
        )?;
        audit(
            &tx,
            now_ms,
            Some(actor),
            "enroll_code",
            None,
            &serde_json::json!({"user": user_id, "expires_at_ms": expires_at_ms}),
        )?;
        tx.commit()?;
        Ok(EnrollmentCode { code, user_id: user_id.to_owned(), expires_at_ms })
    }

    fn enroll(
        &self,
        code: &str,
        app_version: &str,
        request_id: Option<&str>,
        now_ms: u64,
    ) -> Result<EnrollResponse> {
        let mut store = self.writer();
        let tx = store.connection_mut().transaction()?;
        let hash = digest(&normalize_code(code)).to_vec();
        let request_hash = request_id.filter(|id| !id.is_empty()).map(|id| digest(id).to_vec());
        let found: Option<(String, String, String, Option<String>)> = tx
            .query_row(
                "SELECT c.user_id, u.name, u.role, c.device_id FROM enrollment_codes c JOIN users u ON u.id = c.user_id
                 WHERE c.hash = ?1 AND c.expires_at_ms > ?2
                   AND (c.used_at_ms IS NULL
                        -- A retry of the enrollment that used the code (its
                        -- answer was lost): same request id, within ten
                        -- minutes, and the device has neither pushed nor
                        -- been revoked since.
                        OR (?3 IS NOT NULL AND c.request_hash = ?3 AND c.used_at_ms > ?2 - 600000 AND EXISTS (
                              SELECT 1 FROM devices d WHERE d.id = c.device_id
                                AND d.last_sync_ms IS NULL AND d.revoked_at_ms IS NULL)))",
                params![hash, now_ms as i64, request_hash],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()?;
        let Some((user_id, user_name, role, retried)) = found else {
            return Err(StorageError::BadEnrollmentCode);
        };
        let role =
            Role::parse(&role).ok_or_else(|| StorageError::Internal(format!("unknown role {role}")))?;
        let is_retry = retried.is_some();
        let (device_id, number) = match retried {
            Some(device_id) => {
                // The earlier answer never arrived, so neither did its token.
                tx.execute(
                    "UPDATE tokens SET revoked_at_ms = ?1 WHERE device_id = ?2 AND revoked_at_ms IS NULL",
                    params![now_ms as i64, device_id],
                )?;
                let number: u32 =
                    tx.query_row("SELECT number FROM devices WHERE id = ?1", [&device_id], |row| row.get(0))?;
                (device_id, number)
            }
            None => {
                let device_id = new_id();
                // Above every number in the registry and above the floor a
                // restore sets (devices enrolled after the backup kept theirs).
                let number: u32 = tx.query_row(
                    "SELECT max(coalesce((SELECT max(number) FROM devices), 0) + 1,
                                coalesce((SELECT CAST(value AS INTEGER) FROM server_meta WHERE key = 'device_number_floor'), 1))",
                    [],
                    |row| row.get(0),
                )?;
                tx.execute(
                    "INSERT INTO devices (id, number, user_id, app_version, enrolled_at_ms, last_seen_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                    params![device_id, number, user_id, app_version, now_ms as i64],
                )?;
                tx.execute(
                    "UPDATE enrollment_codes SET used_at_ms = ?1, device_id = ?2, request_hash = ?3 WHERE hash = ?4",
                    params![now_ms as i64, device_id, request_hash, hash],
                )?;
                (device_id, number)
            }
        };
        let token = new_token();
        tx.execute(
            "INSERT INTO tokens (hash, user_id, device_id, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![digest(&token).to_vec(), user_id, device_id, now_ms as i64],
        )?;
        let actor = Principal {
            user_id: user_id.clone(),
            user_name: user_name.clone(),
            role,
            device: Some(DeviceAuth { id: device_id.clone(), number: DeviceId(number), revoked: false }),
        };
        audit(
            &tx,
            now_ms,
            Some(&actor),
            if is_retry { "enroll_retry" } else { "enroll" },
            None,
            &serde_json::json!({"device": device_id, "number": number}),
        )?;
        tx.commit()?;
        // The grids the device may record in come with its identity, so
        // that it can record at once, before (or without) a first sync:
        // their codes, names and levels (boundaries come with the sync).
        let scope = self.scope_of(&store, &user_id, role)?;
        let grids = grid_outlines(&mut store, &scope)?;
        Ok(EnrollResponse {
            device_id,
            device_number: DeviceId(number),
            token,
            user_id,
            user_name,
            epoch: self.epoch.clone(),
            server_time_ms: now_ms,
            scope_hash: scope_hash(&scope),
            scope: scope.to_vec(),
            grids,
        })
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>> {
        let store = self.reader();
        let mut statement = store.connection().prepare(
            "SELECT d.id, d.number, d.user_id, u.name, d.app_version, d.enrolled_at_ms, d.last_seen_ms, d.last_sync_ms,
                    d.pending, d.acked_counter, d.revoked_at_ms
             FROM devices d JOIN users u ON u.id = d.user_id ORDER BY d.number",
        )?;
        let devices = statement
            .query_map([], |row| {
                let revoked_at_ms = row.get::<_, Option<i64>>(10)?.map(|v| v as u64);
                Ok(DeviceInfo {
                    id: row.get(0)?,
                    number: row.get(1)?,
                    user_id: row.get(2)?,
                    user_name: row.get(3)?,
                    app_version: row.get(4)?,
                    enrolled_at_ms: row.get::<_, i64>(5)? as u64,
                    last_seen_ms: row.get::<_, Option<i64>>(6)?.map(|v| v as u64),
                    last_sync_ms: row.get::<_, Option<i64>>(7)?.map(|v| v as u64),
                    pending: row.get::<_, i64>(8)? as u64,
                    acked_counter: row.get::<_, i64>(9)? as u64,
                    revoked: revoked_at_ms.is_some(),
                    revoked_at_ms,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(devices)
    }

    fn revoke_device(&self, actor: &Principal, device_id: &str, now_ms: u64) -> Result<()> {
        let mut store = self.writer();
        let tx = store.connection_mut().transaction()?;
        let updated = tx.execute(
            "UPDATE devices SET revoked_at_ms = coalesce(revoked_at_ms, ?1) WHERE id = ?2",
            params![now_ms as i64, device_id],
        )?;
        if updated == 0 {
            return Err(StorageError::Said {
                code: ErrorCode::NotFound,
                en: format!("there is no device with id {device_id}"),
                zh: format!("没有编号为{device_id}的设备"),
            });
        }
        tx.execute(
            "UPDATE tokens SET revoked_at_ms = coalesce(revoked_at_ms, ?1) WHERE device_id = ?2",
            params![now_ms as i64, device_id],
        )?;
        audit(&tx, now_ms, Some(actor), "device_revoke", None, &serde_json::json!({"device": device_id}))?;
        tx.commit()?;
        Ok(())
    }

    fn push(
        &self,
        principal: &Principal,
        request: PushRequest,
        app_version: Option<&str>,
        now_ms: u64,
    ) -> Result<Pushed> {
        let device = principal
            .device
            .as_ref()
            .ok_or_else(|| StorageError::Internal("push without a device".into()))?;
        let mut store = self.writer();
        let held_since = std::time::Instant::now();
        let acked: u64 = store.connection().query_row(
            "SELECT acked_counter FROM devices WHERE id = ?1",
            [&device.id],
            |row| row.get::<_, i64>(0),
        )? as u64;
        // A retry of a push already applied (its answer was lost) is worked
        // through again: merging is idempotent, so what was applied changes
        // nothing, and the refusals come back, which the device needs to
        // roll back. It is audited as a replay; refusals are not parked
        // twice.
        request.check_shape().map_err(|error| match error {
            ShapeError::Malformed(message) => StorageError::Malformed(message),
            ShapeError::OutOfRange { field, max, .. } => {
                ValidationError::invalid(&field, Reason::OutOfRange { min: 0, max: max as i64 }).into()
            }
        })?;
        let replay = request.up_to_counter <= acked && !request.records.is_empty();
        // What the device sends counts against its day, refused or not; a
        // push past the day's budget changes nothing.
        let weight: u64 = request.records.iter().map(|r| r.weight() as u64).sum();
        if weight > 0 {
            check_budget(store.connection(), &device.id, now_ms, Spending::Push(weight), &self.limits.daily)?;
        }
        let scope = self.scope_of(&store, &principal.user_id, principal.role)?;
        let mut photos = PhotoChecks::new();
        let (records, mut answer_weight) = (request.records.len(), 0usize);
        let mut accepted = Vec::with_capacity(request.records.len());
        let mut rejected = Vec::new();
        let mut parked = Vec::new();
        // After a restore the server may have lost writes that devices had
        // already passed on to each other, so for a while it cannot vouch.
        let vouch_for_others =
            self.restored_at_ms.is_none_or(|at| now_ms.saturating_sub(at) > RESTORE_GRACE_MS);
        let previews = store.preview(&request.records, device.number)?;
        // A device whose database went back in time is stopped before
        // anything is applied: its writes reuse names of earlier ones.
        for (change, preview) in request.records.iter().zip(&previews) {
            // While the server cannot vouch for what devices relay (after a
            // restore), what it holds of a device may be another's claim.
            if let Ok(Preview { diverged: Some(field), exists: true, scope_now, .. }) = preview
                && vouch_for_others
                && in_scope(&scope, scope_now.as_deref())
            {
                return Err(StorageError::DeviceDiverged { kind: change.kind, id: change.id, field });
            }
        }
        for (change, preview) in request.records.into_iter().zip(previews) {
            let verdict =
                refusal(&store, principal, &change, preview, &scope, vouch_for_others, &mut photos, now_ms)?;
            match verdict {
                None => accepted.push(change),
                Some(Refusal { code, field, message, message_zh }) => {
                    // What the server holds goes back only if the device may
                    // see it: whatever the refusal, never a record of
                    // another grid.
                    let visible =
                        store.get(change.kind, change.id)?.is_some_and(|r| in_scope(&scope, r.scope()));
                    let server_state = if visible { store.export(change.kind, change.id)? } else { None };
                    // The answer carries each refused record the device may
                    // see whole: a push of many small changes to large
                    // records could make it huge. Past the bound the device
                    // is told to send fewer records at once; one always fits.
                    answer_weight +=
                        message.len() + message_zh.len() + server_state.as_ref().map_or(0, |s| s.weight());
                    if answer_weight > MAX_PUSH_ANSWER && records > 1 {
                        return Err(StorageError::AnswerTooLarge { records });
                    }
                    let mut payload = serde_json::to_string(&change).expect("changes serialise");
                    if payload.len() > MAX_PARKED_PAYLOAD {
                        // Kept for the centre to read, not to fill the disk.
                        let fields: Vec<&str> = change.fields.iter().map(|f| f.field.as_str()).collect();
                        payload = payload_summary(payload.len(), &fields);
                    }
                    parked.push((
                        change.id,
                        change.kind,
                        code.clone(),
                        field.clone(),
                        message.clone(),
                        payload,
                    ));
                    rejected.push(Rejection {
                        id: change.id,
                        kind: change.kind,
                        code,
                        field,
                        message,
                        message_zh,
                        server_state,
                    });
                }
            }
        }
        let audits: Vec<(Kind, RecordId, Vec<String>)> = accepted
            .iter()
            .map(|c| (c.kind, c.id, c.fields.iter().map(|f| f.field.clone()).collect()))
            .collect();
        let device_id = device.id.clone();
        let principal = principal.clone();
        let (parking, daily) = (self.limits.parking, self.limits.daily);
        let up_to = request.up_to_counter.max(acked);
        let report = store.apply_remote_with(accepted, |tx, _report| -> Result<()> {
            tx.execute(
                "UPDATE devices SET acked_counter = ?1, pending = ?2, last_sync_ms = ?3, last_seen_ms = ?3,
                     app_version = coalesce(?5, app_version) WHERE id = ?4",
                params![up_to as i64, request.pending as i64, now_ms as i64, device_id, app_version],
            )?;
            // A replay is audited too, as such: what it applied was applied
            // before, unless the device lied about its counter, and either
            // way the trail shows it.
            for (kind, id, fields) in &audits {
                audit(
                    tx,
                    now_ms,
                    Some(&principal),
                    if replay { "push_replay" } else { "push" },
                    Some((*kind, *id)),
                    &serde_json::json!({"fields": fields}),
                )?;
            }
            if weight > 0 {
                spend(tx, &device_id, now_ms, Spending::Push(weight), &daily)?;
            }
            // A replay's refusals replace what the first time parked.
            park(tx, &parking, &device_id, now_ms, &parked)
        })?;
        self.keep_log_bounded(&store);
        let writer_time = held_since.elapsed();
        drop(store);
        Ok(Pushed {
            answer: PushResponse {
                acked_up_to: up_to,
                applied: report.changed_records,
                rejected,
                epoch: self.epoch.clone(),
                server_time_ms: now_ms,
            },
            writer_time,
        })
    }

    fn pull(&self, principal: &Principal, request: PullRequest, now_ms: u64) -> Result<PullResponse> {
        let mut store = self.reader();
        let scope = self.scope_of(&store, &principal.user_id, principal.role)?;
        let hash = scope_hash(&scope);
        let limit = request.limit.clamp(1, 5000) as usize;
        let viewer = principal.device.as_ref().map(|d| d.number);
        // The grid tree itself is organisation, not personal data: every
        // device gets all of it, to name places and where a resident moves.
        let position = PullPosition { since: request.cursor, after: request.after };
        let page_limit = PageLimit { records: limit, bytes: gridwork_protocol::sync::PULL_PAGE_BYTES };
        let page = store.changes_in_scope(position, Some(&scope), viewer, page_limit)?;
        Ok(PullResponse {
            records: page.records,
            removed: page.removed,
            next_cursor: page.next,
            more: page.more,
            scope: (request.scope_hash != hash).then(|| scope.to_vec()),
            scope_hash: hash,
            epoch: self.epoch.clone(),
            server_time_ms: now_ms,
            resync: page.resync,
        })
    }

    fn conflicts(&self, limit: usize) -> Result<Vec<Conflict>> {
        Ok(self.reader().conflicts(limit)?)
    }

    fn parked(&self, after: Option<u64>, limit: usize) -> Result<ParkedPage> {
        let store = self.reader();
        let conn = store.connection();
        let after = after.map_or(i64::MAX, |a| a.min(i64::MAX as u64) as i64);
        let mut items: Vec<ParkedSummary> = conn
            .prepare_cached(
                "SELECT id, at_ms, device_id, record, kind, code, field, message, bytes FROM parked
                 WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
            )?
            .query_map(params![after, limit as i64 + 1], |row| {
                Ok(ParkedSummary {
                    id: row.get::<_, i64>(0)? as u64,
                    at_ms: row.get::<_, i64>(1)? as u64,
                    device_id: row.get(2)?,
                    record: RecordId::from_bytes(row.get(3)?).to_string(),
                    kind: Kind::from_number(row.get(4)?).map_or("unknown", Kind::as_str).to_owned(),
                    code: RefusalCode::parse(&row.get::<_, String>(5)?),
                    field: row.get(6)?,
                    message: row.get(7)?,
                    bytes: row.get::<_, i64>(8)? as u64,
                })
            })?
            .collect::<Result<_, _>>()?;
        let next = (items.len() > limit).then(|| {
            items.truncate(limit);
            items.last().map_or(0, |i| i.id)
        });
        let total = conn.query_row("SELECT count(*) FROM parked", [], |row| row.get::<_, i64>(0))? as u64;
        let overflow = conn
            .prepare_cached(
                "SELECT device_id, code, count, first_at_ms, last_at_ms FROM parked_overflow ORDER BY last_at_ms DESC",
            )?
            .query_map([], |row| {
                Ok(ParkedOverflow {
                    device_id: row.get(0)?,
                    code: RefusalCode::parse(&row.get::<_, String>(1)?),
                    count: row.get::<_, i64>(2)? as u64,
                    first_at_ms: row.get::<_, i64>(3)? as u64,
                    last_at_ms: row.get::<_, i64>(4)? as u64,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(ParkedPage { items, next, total, overflow })
    }

    fn parked_one(&self, id: u64) -> Result<Option<ParkedChange>> {
        let store = self.reader();
        let found = store
            .connection()
            .query_row(
                "SELECT at_ms, device_id, record, kind, code, field, message, payload FROM parked WHERE id = ?1",
                [id as i64],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)? as u64,
                        row.get::<_, String>(1)?,
                        RecordId::from_bytes(row.get(2)?),
                        row.get::<_, u8>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, Option<String>>(5)?,
                        row.get::<_, String>(6)?,
                        row.get::<_, String>(7)?,
                    ))
                },
            )
            .optional()?;
        let Some((at_ms, device_id, record, kind, code, field, message, payload)) = found else {
            return Ok(None);
        };
        let (values, truncated) = match serde_json::from_str::<RecordChanges>(&payload) {
            Ok(change) => {
                let values: serde_json::Map<String, serde_json::Value> = change
                    .fields
                    .iter()
                    .map(|f| {
                        (f.field.clone(), serde_json::to_value(f.register.value()).expect("values serialise"))
                    })
                    .collect();
                (Some(values.into()), None)
            }
            Err(_) => (None, serde_json::from_str(&payload).ok()),
        };
        Ok(Some(ParkedChange {
            id,
            at_ms,
            device_id,
            record: record.to_string(),
            kind: Kind::from_number(kind).map_or("unknown", Kind::as_str).to_owned(),
            code: RefusalCode::parse(&code),
            field,
            message,
            values,
            truncated,
        }))
    }

    fn dismiss_parked(&self, actor: &Principal, id: u64, now_ms: u64) -> Result<bool> {
        let mut store = self.writer();
        let tx = store.connection_mut().transaction()?;
        let gone: Option<(String, Vec<u8>, u8, String)> = tx
            .query_row(
                "DELETE FROM parked WHERE id = ?1 RETURNING device_id, record, kind, code",
                [id as i64],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()?;
        let Some((device_id, record, kind, code)) = gone else { return Ok(false) };
        let record = RecordId::from_bytes(
            record.try_into().map_err(|_| StorageError::Internal("parked record id".into()))?,
        );
        let kind = Kind::from_number(kind).ok_or_else(|| StorageError::Internal("parked kind".into()))?;
        audit(
            &tx,
            now_ms,
            Some(actor),
            "parked_dismiss",
            Some((kind, record)),
            &serde_json::json!({"parked": id, "device": device_id, "code": code}),
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn users(&self) -> Result<Vec<UserInfo>> {
        let store = self.reader();
        let conn = store.connection();
        let mut grids: HashMap<String, Vec<String>> = HashMap::new();
        for row in conn
            .prepare_cached("SELECT user_id, grid FROM user_grids ORDER BY grid")?
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?
        {
            let (user, grid) = row?;
            grids.entry(user).or_default().push(grid);
        }
        let users = conn
            .prepare_cached("SELECT id, name, role, created_at_ms FROM users ORDER BY created_at_ms, name")?
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })?
            .map(|row| {
                let (id, name, role, created_at_ms) = row?;
                let role = Role::parse(&role)
                    .ok_or_else(|| StorageError::Internal(format!("unknown role {role}")))?;
                Ok(UserInfo {
                    grids: grids.remove(&id).unwrap_or_default(),
                    id,
                    name,
                    role,
                    created_at_ms: created_at_ms as u64,
                })
            })
            .collect::<Result<_>>()?;
        Ok(users)
    }

    fn upload_status(&self, sha256: &str, uploader: &str) -> Result<Option<AttachmentStatus>> {
        let store = self.reader();
        let held: Option<i64> = store
            .connection()
            .query_row(
                "SELECT a.size FROM attachments a JOIN attachment_holders h ON h.sha256 = a.sha256
                 WHERE a.sha256 = ?1 AND h.holder = ?2",
                [sha256, uploader],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(size) = held {
            return Ok(Some(AttachmentStatus { size: size as u64, received: size as u64, complete: true }));
        }
        Ok(store
            .connection()
            .query_row(
                "SELECT size, received FROM attachment_uploads WHERE sha256 = ?1 AND uploader = ?2",
                [sha256, uploader],
                |row| {
                    Ok(AttachmentStatus {
                        size: row.get::<_, i64>(0)? as u64,
                        received: row.get::<_, i64>(1)? as u64,
                        complete: false,
                    })
                },
            )
            .optional()?)
    }

    fn upload_begin(&self, sha256: &str, size: u64, uploader: &str, now_ms: u64) -> Result<AttachmentStatus> {
        let quota = &self.limits.uploads;
        if let Some(status) = self.upload_status(sha256, uploader)?
            && (status.complete || status.size == size)
        {
            if status.size != size {
                return Err(ValidationError::invalid(
                    "size",
                    Reason::Disagrees { other: "the stored attachment" },
                )
                .into());
            }
            return Ok(status);
        }
        let mut store = self.writer();
        let tx = store.connection_mut().transaction()?;
        // A new upload, or one restarted with another size: it must fit
        // beside the uploader's other unfinished ones.
        let (held, declared): (u64, u64) = tx.query_row(
            "SELECT count(*), coalesce(sum(size), 0) FROM attachment_uploads WHERE uploader = ?1 AND sha256 != ?2",
            [uploader, sha256],
            |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
        )?;
        if held + 1 > quota.count || declared + size > quota.bytes {
            return Err(StorageError::UploadQuota { held, declared, wanted: size, quota: *quota });
        }
        spend(&tx, uploader, now_ms, Spending::Upload(size), &self.limits.daily)?;
        tx.execute(
            "INSERT INTO attachment_uploads (sha256, uploader, size, received, created_at_ms, active_at_ms)
             VALUES (?1, ?2, ?3, 0, ?4, ?4)
             ON CONFLICT (sha256, uploader) DO UPDATE SET size = excluded.size, received = 0, active_at_ms = excluded.active_at_ms",
            params![sha256, uploader, size as i64, now_ms as i64],
        )?;
        tx.commit()?;
        Ok(AttachmentStatus { size, received: 0, complete: false })
    }

    fn upload_progress(&self, sha256: &str, uploader: &str, received: u64, now_ms: u64) -> Result<()> {
        let store = self.writer();
        store.connection().execute(
            "UPDATE attachment_uploads SET received = ?1, active_at_ms = ?4 WHERE sha256 = ?2 AND uploader = ?3",
            params![received as i64, sha256, uploader, now_ms as i64],
        )?;
        Ok(())
    }

    fn stale_uploads(&self, before_ms: u64) -> Result<Vec<(String, String)>> {
        let store = self.reader();
        let stale = store
            .connection()
            .prepare_cached(
                "SELECT sha256, uploader FROM attachment_uploads WHERE active_at_ms < ?1 LIMIT 10000",
            )?
            .query_map([before_ms as i64], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(stale)
    }

    fn expire_upload(&self, sha256: &str, uploader: &str, before_ms: u64) -> Result<bool> {
        let store = self.writer();
        let gone = store.connection().execute(
            "DELETE FROM attachment_uploads WHERE sha256 = ?1 AND uploader = ?2 AND active_at_ms < ?3",
            params![sha256, uploader, before_ms as i64],
        )?;
        Ok(gone > 0)
    }

    fn upload_complete(&self, sha256: &str, size: u64, uploader: &str, now_ms: u64) -> Result<()> {
        let mut store = self.writer();
        let tx = store.connection_mut().transaction()?;
        tx.execute(
            "DELETE FROM attachment_uploads WHERE sha256 = ?1 AND uploader = ?2",
            params![sha256, uploader],
        )?;
        tx.execute(
            "INSERT INTO attachments (sha256, size, uploaded_by, created_at_ms)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (sha256) DO NOTHING",
            params![sha256, size as i64, uploader, now_ms as i64],
        )?;
        tx.execute(
            "INSERT INTO attachment_holders (sha256, holder, at_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (sha256, holder) DO NOTHING",
            params![sha256, uploader, now_ms as i64],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn attachment_size(&self, sha256: &str) -> Result<Option<u64>> {
        let store = self.reader();
        Ok(store
            .connection()
            .query_row("SELECT size FROM attachments WHERE sha256 = ?1", [sha256], |row| row.get::<_, i64>(0))
            .optional()?
            .map(|size| size as u64))
    }

    fn attachment_lost(&self, sha256: &str) -> Result<()> {
        let mut store = self.writer();
        let tx = store.connection_mut().transaction()?;
        tx.execute("DELETE FROM attachment_holders WHERE sha256 = ?1", [sha256])?;
        tx.execute("DELETE FROM attachments WHERE sha256 = ?1", [sha256])?;
        tracing::warn!(sha256, "attachment file missing; forgotten so that devices upload it again");
        tx.commit()?;
        Ok(())
    }

    fn attachment_readable(&self, who: &Principal, sha256: &str) -> Result<bool> {
        let store = self.reader();
        let scope = self.scope_of(&store, &who.user_id, who.role)?;
        readable(&store, who, &scope[..], sha256)
    }
}

/// Whether `who`, seeing `scope`, may read the stored attachment: they
/// hold it (uploaded all of it), or a live case of their scope lists it.
/// Index lookups only (`attachment_holders`, `case_photos`): one per grid of
/// a worker's scope at most, however many cases list the photo.
fn readable(store: &Store, who: &Principal, scope: &[String], sha256: &str) -> Result<bool> {
    let me = who.device.as_ref().map_or(who.user_id.as_str(), |d| d.id.as_str());
    let conn = store.connection();
    let held = conn
        .prepare_cached(
            "SELECT 1 FROM attachments a JOIN attachment_holders h ON h.sha256 = a.sha256
             WHERE a.sha256 = ?1 AND h.holder = ?2",
        )?
        .query_row([sha256, me], |_| Ok(()))
        .optional()?
        .is_some();
    if held {
        return Ok(true);
    }
    if !attachment_stored(store, sha256)? {
        return Ok(false);
    }
    if who.role != Role::Worker {
        // Staff and admins see every grid.
        return Ok(conn
            .prepare_cached("SELECT 1 FROM case_photos WHERE sha256 = ?1 LIMIT 1")?
            .query_row([sha256], |_| Ok(()))
            .optional()?
            .is_some());
    }
    let mut listed =
        conn.prepare_cached("SELECT 1 FROM case_photos WHERE sha256 = ?1 AND grid = ?2 LIMIT 1")?;
    for grid in scope {
        if listed.query_row([sha256, grid.as_str()], |_| Ok(())).optional()?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

fn attachment_stored(store: &Store, sha256: &str) -> Result<bool> {
    Ok(store
        .connection()
        .prepare_cached("SELECT 1 FROM attachments WHERE sha256 = ?1")?
        .query_row([sha256], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Whether a stored attachment exists that `who` may not read: what a
/// pushed case may not list (listing it would let them read it).
fn stored_but_unreadable(store: &Store, who: &Principal, scope: &[String], sha256: &str) -> Result<bool> {
    Ok(attachment_stored(store, sha256)? && !readable(store, who, scope, sha256)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_sessions_end_after_twelve_hours_or_at_logout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gridwork.db");
        let t0 = 1_800_000_000_000;
        let admin_token = SqliteStorage::init(&path, t0).unwrap();
        let storage = SqliteStorage::open(&path).unwrap();
        let admin = storage.authenticate(digest(&admin_token), t0).unwrap().expect("the admin");
        let staff = NewUser {
            name: "值班员".into(),
            role: Role::Staff,
            grids: vec![],
            password: Some("correct horse".into()),
        };
        storage.create_user(&admin, staff, t0).unwrap();

        assert!(matches!(storage.login("值班员", "wrong horse", t0), Err(StorageError::BadLogin)));
        assert!(matches!(storage.login("无此人", "correct horse", t0), Err(StorageError::BadLogin)));
        let session = storage.login("值班员", "correct horse", t0).unwrap();
        assert_eq!(session.expires_at_ms, t0 + SESSION_MS);
        let token = digest(&session.token);
        let who = storage.authenticate(token, t0 + SESSION_MS - 1).unwrap().expect("still valid");
        assert_eq!((who.user_name.as_str(), who.role), ("值班员", Role::Staff));
        assert_eq!(storage.authenticate(token, t0 + SESSION_MS).unwrap(), None, "expired");
        // The admin token does not expire; it is no session to log out of.
        assert!(storage.authenticate(digest(&admin_token), t0 + 100 * SESSION_MS).unwrap().is_some());
        assert!(!storage.logout(digest(&admin_token), t0).unwrap());

        let second = storage.login("值班员", "correct horse", t0).unwrap();
        assert!(storage.logout(digest(&second.token), t0 + 1).unwrap());
        assert_eq!(storage.authenticate(digest(&second.token), t0 + 2).unwrap(), None, "logged out");
        assert!(!storage.logout(digest(&second.token), t0 + 3).unwrap(), "only once");
    }

    fn audit_rows(storage: &SqliteStorage, action: &str) -> Vec<(Option<String>, Option<String>, String)> {
        storage.with_store(|store| {
            let mut statement = store
                .connection()
                .prepare("SELECT user_id, device_id, detail FROM audit WHERE action = ?1 ORDER BY id")
                .unwrap();
            statement
                .query_map([action], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        })
    }

    /// A scope changes with whatever changes grids or assignments, however
    /// it is written: nothing has to remember to forget the cache.
    #[test]
    fn a_change_of_assignment_reaches_the_scope_without_anyone_forgetting_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gridwork.db");
        let t0 = 1_800_000_000_000;
        let admin_token = SqliteStorage::init(&path, t0).unwrap();
        let storage = SqliteStorage::open(&path).unwrap();
        let admin = storage.authenticate(digest(&admin_token), t0).unwrap().unwrap();
        for code in ["A", "B"] {
            let grid =
                NewGrid { code: code.into(), name: code.into(), parent: None, level: Some("street".into()) };
            storage.add_grid(&admin, grid, t0).unwrap();
        }
        let worker =
            NewUser { name: "w".into(), role: Role::Worker, grids: vec!["A".into()], password: None };
        let worker = storage.create_user(&admin, worker, t0).unwrap();
        let scope = |storage: &SqliteStorage| {
            let reader = storage.reader();
            storage.scope_of(&reader, &worker, Role::Worker).unwrap().to_vec()
        };
        assert_eq!(scope(&storage), ["A"]);
        // Straight into the table, past every method of this module.
        storage.with_store(|store| {
            store
                .connection()
                .execute("INSERT INTO user_grids (user_id, grid) VALUES (?1, 'B')", [&worker])
                .unwrap();
        });
        assert_eq!(scope(&storage), ["A", "B"]);
        storage.with_store(|store| {
            store.connection().execute("DELETE FROM user_grids WHERE grid = 'A'", []).unwrap();
        });
        assert_eq!(scope(&storage), ["B"]);
        // A grid added below B is in the scope at once.
        let below = NewGrid { code: "B1".into(), name: "B1".into(), parent: Some("B".into()), level: None };
        storage.add_grid(&admin, below, t0).unwrap();
        assert_eq!(scope(&storage), ["B", "B1"]);
    }

    /// The trail names who enrolled (with their role) and which device,
    /// and logging out leaves a row like every other action.
    #[test]
    fn enrollment_and_logout_leave_their_actor_in_the_trail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gridwork.db");
        let t0 = 1_800_000_000_000;
        let admin_token = SqliteStorage::init(&path, t0).unwrap();
        let storage = SqliteStorage::open(&path).unwrap();
        let admin = storage.authenticate(digest(&admin_token), t0).unwrap().unwrap();
        let staff = NewUser {
            name: "值班员".into(),
            role: Role::Staff,
            grids: vec![],
            password: Some("correct horse".into()),
        };
        let staff = storage.create_user(&admin, staff, t0).unwrap();
        let code = storage.create_enrollment_code(&admin, &staff, 60_000, t0).unwrap();
        let enrolled = storage.enroll(&code.code, "test", None, t0).unwrap();
        let device = storage.authenticate(digest(&enrolled.token), t0).unwrap().unwrap();
        assert_eq!(device.role, Role::Staff);
        let rows = audit_rows(&storage, "enroll");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0.as_deref(), Some(staff.as_str()));
        assert_eq!(rows[0].1.as_deref(), Some(enrolled.device_id.as_str()), "the device is named");

        let session = storage.login("值班员", "correct horse", t0).unwrap();
        assert!(storage.logout(digest(&session.token), t0 + 1).unwrap());
        let rows = audit_rows(&storage, "logout");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0.as_deref(), Some(staff.as_str()));
        assert_eq!(rows[0].1, None);
    }
}
