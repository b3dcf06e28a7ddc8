//! The embedded-SQLite backend: the records through the store crate
//! (`gridwork-store`, which merges registers with `gridwork-merge` in its
//! row layout), accounts, devices, tokens, parking, audit and uploads in
//! SQL beside them, all in one database file in the data directory. Data
//! access only: the rules are in [`crate::core`].
//!
//! One writer connection (behind a mutex: SQLite has one writer anyway),
//! which makes each [`Backend::write`] one `BEGIN IMMEDIATE` transaction,
//! and a few readers, each read one snapshot of committed data (WAL), so
//! pulls never wait for pushes. A background thread checkpoints the log;
//! the writer truncates it past [`WAL_LIMIT`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use gridwork_domain::{DeviceId, Kind, RecordId, Value};
use gridwork_protocol::RecordChanges;
use gridwork_protocol::admin::{
    Conflict, DeviceInfo, IntegrationKey, ParkedOverflow, ParkedPage, ParkedSummary, Role, UserInfo,
};
use gridwork_protocol::codes::RefusalCode;
use gridwork_store::{Checkpointer, Durability, Options, Role as StoreRole, Store, SystemClock, WAL_LIMIT};
use rusqlite::{OptionalExtension, params};

use crate::backend::DENSE_SEARCH;
use crate::backend::{
    ActivityRow, Backend, BackendError, CalendarDay, CaseFlowRow, CaseQuery, CaseStepRow, CaseTallyRow,
    Category, ChangeError, ChangesPage, CodeHolder, Department, DeviceOwner, NewToken, PageLimit, ParkedFull,
    ParkedRow, Preview, PullPosition, Reads, RecordQuery, ReporterTallyRow, Result, TokenHolder, UploadRow,
    UserRow, Writes, activity_time, prefix_end, search_columns,
};
use crate::core::Core;
use crate::storage::StorageError;

pub use crate::core::{RESTORE_GRACE_MS, digest};

/// The server on its embedded database.
pub type SqliteStorage = Core<SqliteBackend>;

const READERS: usize = 4;

impl From<rusqlite::Error> for BackendError {
    fn from(error: rusqlite::Error) -> Self {
        BackendError::Database(error.to_string())
    }
}

impl From<gridwork_store::Error> for BackendError {
    fn from(error: gridwork_store::Error) -> Self {
        match error.into_validation() {
            Ok(invalid) => BackendError::Invalid(invalid),
            Err(other) => BackendError::Database(other.to_string()),
        }
    }
}

fn open_store(path: &Path) -> Result<Store> {
    let options = Options { durability: Durability::Full, cache_mib: 64, auto_checkpoint: false, key: None };
    Ok(Store::open_with(path, StoreRole::Server, Arc::new(SystemClock), options)?)
}

fn role(text: &str) -> Result<Role> {
    Role::parse(text).ok_or_else(|| BackendError::Corrupt(format!("unknown role {text}")))
}

fn record_id(bytes: Vec<u8>) -> Result<RecordId> {
    let bytes: [u8; 16] =
        bytes.try_into().map_err(|_| BackendError::Corrupt("a record id is not 16 bytes".into()))?;
    Ok(RecordId::from_bytes(bytes))
}

fn kind(number: u8) -> Result<Kind> {
    Kind::from_number(number).ok_or_else(|| BackendError::Corrupt(format!("unknown kind {number}")))
}

/// The columns [`integration_key_row`] reads.
const INTEGRATION_KEY_COLUMNS: &str = "id, name, grid, created_at_ms, created_by, revoked_at_ms";

fn integration_key_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<IntegrationKey> {
    Ok(IntegrationKey {
        id: row.get(0)?,
        name: row.get(1)?,
        grid: row.get(2)?,
        created_at_ms: row.get::<_, i64>(3)? as u64,
        created_by: row.get(4)?,
        revoked_at_ms: row.get::<_, Option<i64>>(5)?.map(|t| t as u64),
    })
}

/// The embedded database: one writer and a few readers.
pub struct SqliteBackend {
    writer: Mutex<Store>,
    readers: Vec<Mutex<Store>>,
    next_reader: AtomicUsize,
    _checkpointer: Checkpointer,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend").finish_non_exhaustive()
    }
}

impl SqliteBackend {
    /// Opens the database file (creating it, with its migrations applied).
    pub fn open(path: &Path) -> Result<SqliteBackend> {
        let writer = open_store(path)?;
        let readers = (0..READERS).map(|_| open_store(path).map(Mutex::new)).collect::<Result<_>>()?;
        let checkpointer = Checkpointer::spawn(path, Duration::from_millis(500))?;
        Ok(SqliteBackend {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            _checkpointer: checkpointer,
        })
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
}

/// What a closure inside `atomically` fails with.
enum Failed {
    Store(gridwork_store::Error),
    Core(StorageError),
}

impl From<gridwork_store::Error> for Failed {
    fn from(error: gridwork_store::Error) -> Self {
        Failed::Store(error)
    }
}

impl From<Failed> for StorageError {
    fn from(failed: Failed) -> Self {
        match failed {
            Failed::Store(error) => BackendError::from(error).into(),
            Failed::Core(error) => error,
        }
    }
}

impl Backend for SqliteBackend {
    fn read<R>(&self, f: impl FnOnce(&mut dyn Reads) -> Result<R, StorageError>) -> Result<R, StorageError> {
        let mut store = self.reader();
        // One snapshot for the whole read (a deferred transaction takes its
        // snapshot at its first read).
        store.connection().execute_batch("BEGIN").map_err(BackendError::from)?;
        let outcome = f(&mut Tx { store: &mut store });
        if let Err(error) = store.connection().execute_batch("COMMIT") {
            // A read-only transaction ends whatever happens; say why not.
            tracing::warn!(%error, "ending a read failed");
            let _ = store.connection().execute_batch("ROLLBACK");
        }
        outcome
    }

    fn write<R>(
        &self,
        f: impl FnOnce(&mut dyn Writes) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let mut store = self.writer();
        let outcome = store.atomically(|store| f(&mut Tx { store }).map_err(Failed::Core));
        self.keep_log_bounded(&store);
        Ok(outcome?)
    }
}

impl SqliteStorage {
    /// Creates the database with its epoch and the first admin, whose token
    /// is returned (and shown once). Refuses a database already set up.
    pub fn init(path: &Path, now_ms: u64) -> Result<String, StorageError> {
        let backend = SqliteBackend::open(path)?;
        crate::core::init(&backend, &path.display().to_string(), now_ms)
    }

    /// Opens an initialised database.
    pub fn open(path: &Path) -> Result<SqliteStorage, StorageError> {
        if !path.exists() {
            return Err(StorageError::NotFound(format!(
                "{} does not exist: run `gridwork-server init --data DIR` first",
                path.display()
            )));
        }
        Core::new(SqliteBackend::open(path)?, &path.display().to_string())
    }

    /// Gives the database a new epoch: what a restore from a backup does, so
    /// that devices notice and send again what it may have lost. New device
    /// numbers start well above the backup's, since devices enrolled after
    /// the backup keep theirs (room is left for 100,000 of them).
    pub fn renew_epoch(path: &Path, now_ms: u64) -> Result<String, StorageError> {
        crate::core::renew_epoch(&SqliteBackend::open(path)?, &path.display().to_string(), now_ms)
    }

    /// Runs `f` on the writer's store: for loading demo data and for tests.
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut self.backend().writer())
    }
}

/// One read or write on a connection of the store.
struct Tx<'s> {
    store: &'s mut Store,
}

impl Tx<'_> {
    fn conn(&self) -> &rusqlite::Connection {
        self.store.connection()
    }
}

impl Tx<'_> {
    /// Rewrites the `record_tags` rows of these residents or households
    /// from their winning values (none for a deleted one): two statements
    /// for the whole batch (migrations/server/0020_registry.sql says why
    /// not triggers).
    fn retag(&self, kind: Kind, ids: &[RecordId]) -> Result<()> {
        if ids.is_empty() || !matches!(kind, Kind::Resident | Kind::Household) {
            return Ok(());
        }
        let hex: Vec<String> =
            ids.iter().map(|id| id.as_bytes().iter().map(|b| format!("{b:02x}")).collect()).collect();
        let list = serde_json::to_string(&hex).expect("strings serialise");
        let (table, name) = (kind.def().table, kind.as_str());
        self.conn()
            .prepare_cached("DELETE FROM record_tags WHERE id IN (SELECT unhex(value) FROM json_each(?1))")?
            .execute([&list])?;
        self.conn()
            .prepare_cached(&format!(
                "INSERT OR IGNORE INTO record_tags (kind, tag, grid, id)
                 SELECT '{name}', t.value, r.grid, r.id FROM {table} r, json_each(r.tags) t
                 WHERE r.id IN (SELECT unhex(value) FROM json_each(?1))
                   AND r.deleted IS NOT 1 AND r.grid IS NOT NULL AND r.tags IS NOT NULL"
            ))?
            .execute([&list])?;
        Ok(())
    }
}

impl Reads for Tx<'_> {
    fn meta(&mut self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT value FROM server_meta WHERE key = ?1")?
            .query_row([key], |row| row.get(0))
            .optional()?)
    }

    fn scope_generation(&mut self) -> Result<u64> {
        let generation: i64 = self
            .conn()
            .prepare_cached("SELECT value FROM scope_generation")?
            .query_row([], |row| row.get(0))?;
        Ok(generation as u64)
    }

    fn assigned_grids(&mut self, user_id: &str) -> Result<Vec<String>> {
        let mut statement = self.conn().prepare_cached("SELECT grid FROM user_grids WHERE user_id = ?1")?;
        Ok(statement.query_map([user_id], |row| row.get(0))?.collect::<Result<_, _>>()?)
    }

    fn grids_below(&mut self, roots: &[String]) -> Result<Vec<String>> {
        Ok(self.store.grids_below(roots)?)
    }

    fn live_grids(&mut self) -> Result<Vec<String>> {
        let mut statement =
            self.conn().prepare_cached("SELECT code FROM grids WHERE deleted IS NOT 1 ORDER BY code")?;
        Ok(statement.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?)
    }

    fn grid_level(&mut self, code: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT coalesce(level, '') FROM grids WHERE code = ?1 AND deleted IS NOT 1")?
            .query_row([code], |row| row.get(0))
            .optional()?)
    }

    fn grid_outline(&mut self, code: &str) -> Result<Option<RecordChanges>> {
        let id: Option<Vec<u8>> = self
            .conn()
            .prepare_cached("SELECT id FROM grids WHERE code = ?1 AND deleted IS NOT 1")?
            .query_row([code], |row| row.get(0))
            .optional()?;
        let Some(id) = id else { return Ok(None) };
        let mut grid = self.store.export(Kind::Grid, record_id(id)?)?;
        if let Some(grid) = &mut grid {
            grid.fields.retain(|f| f.field != "boundary");
        }
        Ok(grid)
    }

    fn grid_records(&mut self) -> Result<Vec<RecordChanges>> {
        let ids: Vec<Vec<u8>> = self
            .conn()
            .prepare_cached("SELECT id FROM grids WHERE deleted IS NOT 1 ORDER BY code")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let mut grids = Vec::with_capacity(ids.len());
        for id in ids {
            grids.extend(self.store.export(Kind::Grid, record_id(id)?)?);
        }
        Ok(grids)
    }

    fn case_tally(&mut self, since_ms: u64, now_ms: u64) -> Result<Vec<CaseTallyRow>> {
        let sql = "SELECT grid, category, status, department, count(*),
                    sum(CASE WHEN status IN ('reported', 'accepted', 'dispatched', 'returned') AND due_at_ms < ?2 THEN 1 ELSE 0 END),
                    sum(CASE WHEN status IN ('reported', 'accepted', 'dispatched', 'returned') AND due_at_ms >= ?2 AND due_at_ms < ?2 + 86400000 THEN 1 ELSE 0 END),
                    sum(CASE WHEN closed_at_ms IS NOT NULL AND closed_at_ms <= due_at_ms THEN 1 ELSE 0 END),
                    sum(CASE WHEN handled_in_grid THEN 1 ELSE 0 END),
                    sum(CASE WHEN handled_at_ms IS NOT NULL THEN 1 ELSE 0 END),
                    coalesce(sum(handled_at_ms - received_at_ms), 0),
                    sum(CASE WHEN closed_at_ms IS NOT NULL AND handled_at_ms IS NOT NULL THEN 1 ELSE 0 END),
                    coalesce(sum(closed_at_ms - handled_at_ms), 0)
                 FROM case_flow WHERE received_at_ms >= ?1
                 GROUP BY grid, category, status, department";
        let count = |row: &rusqlite::Row<'_>, i: usize| row.get::<_, i64>(i).map(|v| v.max(0) as u64);
        Ok(self
            .conn()
            .prepare_cached(sql)?
            .query_map(params![since_ms as i64, now_ms as i64], |row| {
                Ok(CaseTallyRow {
                    grid: row.get(0)?,
                    category: row.get(1)?,
                    status: row.get(2)?,
                    department: row.get(3)?,
                    total: count(row, 4)?,
                    overdue: count(row, 5)?,
                    due_soon: count(row, 6)?,
                    closed_on_time: count(row, 7)?,
                    handled_in_grid: count(row, 8)?,
                    handled: count(row, 9)?,
                    handle_ms: count(row, 10)?,
                    closed_after_handling: count(row, 11)?,
                    close_ms: count(row, 12)?,
                })
            })?
            .collect::<Result<_, _>>()?)
    }

    fn reporter_tally(&mut self, since_ms: u64) -> Result<Vec<ReporterTallyRow>> {
        let sql = "SELECT s.user_id, u.name, f.grid, count(DISTINCT f.case_id),
                    count(DISTINCT CASE WHEN f.status IN ('closed', 'visited') THEN f.case_id END),
                    count(DISTINCT CASE WHEN f.handled_in_grid THEN f.case_id END)
                 FROM case_flow f
                 CROSS JOIN case_steps s ON s.case_id = f.case_id AND s.step = 'report'
                 JOIN users u ON u.id = s.user_id AND u.role = 'worker'
                 WHERE f.received_at_ms >= ?1
                 GROUP BY s.user_id, u.name, f.grid";
        let count = |row: &rusqlite::Row<'_>, i: usize| row.get::<_, i64>(i).map(|v| v.max(0) as u64);
        Ok(self
            .conn()
            .prepare_cached(sql)?
            .query_map([since_ms as i64], |row| {
                Ok(ReporterTallyRow {
                    user_id: row.get(0)?,
                    user_name: row.get(1)?,
                    grid: row.get(2)?,
                    total: count(row, 3)?,
                    closed: count(row, 4)?,
                    handled_in_grid: count(row, 5)?,
                })
            })?
            .collect::<Result<_, _>>()?)
    }

    fn token_holder(&mut self, digest: &[u8; 32], now_ms: u64) -> Result<Option<TokenHolder>> {
        let row = self
            .conn()
            .prepare_cached(
                "SELECT u.id, u.name, u.role, t.device_id, d.number, d.revoked_at_ms, t.revoked_at_ms
                 FROM tokens t JOIN users u ON u.id = t.user_id LEFT JOIN devices d ON d.id = t.device_id
                 WHERE t.hash = ?1 AND (t.expires_at_ms IS NULL OR t.expires_at_ms > ?2)",
            )?
            .query_row(params![digest.to_vec(), now_ms as i64], |row| {
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
        let Some((user_id, user_name, role_text, device_id, number, device_revoked, token_revoked)) = row
        else {
            return Ok(None);
        };
        let device = match (device_id, number) {
            (Some(id), Some(number)) => Some((id, DeviceId(number), device_revoked.is_some())),
            _ => None,
        };
        Ok(Some(TokenHolder {
            user_id,
            user_name,
            role: role(&role_text)?,
            device,
            token_revoked: token_revoked.is_some(),
        }))
    }

    fn integration_key_by_digest(&mut self, digest: &[u8; 32]) -> Result<Option<IntegrationKey>> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {INTEGRATION_KEY_COLUMNS} FROM integration_keys WHERE hash = ?1"
            ))?
            .query_row([digest.to_vec()], integration_key_row)
            .optional()?)
    }

    fn integration_key(&mut self, id: &str) -> Result<Option<IntegrationKey>> {
        Ok(self
            .conn()
            .prepare_cached(&format!("SELECT {INTEGRATION_KEY_COLUMNS} FROM integration_keys WHERE id = ?1"))?
            .query_row([id], integration_key_row)
            .optional()?)
    }

    fn integration_keys(&mut self) -> Result<Vec<IntegrationKey>> {
        Ok(self
            .conn()
            .prepare_cached(&format!(
                "SELECT {INTEGRATION_KEY_COLUMNS} FROM integration_keys ORDER BY created_at_ms, id"
            ))?
            .query_map([], integration_key_row)?
            .collect::<Result<_, _>>()?)
    }

    fn category(&mut self, code: &str) -> Result<Option<Category>> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT code, name_zh, name_en, on_site_limit, solve_limit, department FROM case_categories WHERE code = ?1",
            )?
            .query_row([code], category_row)
            .optional()?)
    }

    fn categories(&mut self) -> Result<Vec<Category>> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT code, name_zh, name_en, on_site_limit, solve_limit, department FROM case_categories ORDER BY code",
            )?
            .query_map([], category_row)?
            .collect::<Result<_, _>>()?)
    }

    fn calendar_year(&mut self, year: i32) -> Result<(Option<String>, Vec<CalendarDay>)> {
        let conn = self.conn();
        let source = conn
            .prepare_cached("SELECT source FROM calendar_years WHERE year = ?1")?
            .query_row([year], |row| row.get(0))
            .optional()?;
        let days = conn
            .prepare_cached(
                "SELECT day, kind, name_zh, name_en FROM calendar_days WHERE day >= ?1 AND day < ?2 ORDER BY day",
            )?
            .query_map([format!("{year:04}-01-01"), format!("{:04}-01-01", year + 1)], |row| {
                Ok(CalendarDay { day: row.get(0)?, kind: row.get(1)?, name_zh: row.get(2)?, name_en: row.get(3)? })
            })?
            .collect::<Result<_, _>>()?;
        Ok((source, days))
    }

    fn calendar(&mut self) -> Result<crate::backend::CalendarRows> {
        let conn = self.conn();
        let days = conn
            .prepare_cached("SELECT day, kind FROM calendar_days")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let years = conn
            .prepare_cached("SELECT year FROM calendar_years")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok((days, years))
    }

    fn case_flow(&mut self, id: RecordId) -> Result<Option<CaseFlowRow>> {
        let sql = format!("SELECT {CASE_FLOW_COLUMNS} FROM case_flow WHERE case_id = ?1");
        Ok(self.conn().prepare_cached(&sql)?.query_row([id.as_bytes()], case_flow_row).optional()?)
    }

    fn supervised(
        &mut self,
        department: Option<&str>,
        grids: Option<&[String]>,
        limit: usize,
    ) -> Result<Vec<(u64, CaseStepRow)>> {
        let grids = grids.map(|g| serde_json::to_string(g).expect("strings serialise"));
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT s.id, s.case_id, s.at_ms, s.step, s.user_id, s.device_id, s.from_status, s.to_status, s.department, s.note
                 FROM case_steps s JOIN case_flow f ON f.case_id = s.case_id
                 WHERE s.step = 'supervise' AND f.status IN ('reported', 'accepted', 'dispatched', 'returned')
                   AND (?1 IS NULL OR f.department = ?1)
                   AND (?2 IS NULL OR f.grid IN (SELECT value FROM json_each(?2)) OR f.handling_grid IN (SELECT value FROM json_each(?2)))
                 ORDER BY s.id DESC LIMIT ?3",
            )?
            .query_map(params![department, grids, limit as i64], |row| {
                Ok((
                    row.get::<_, i64>(0)? as u64,
                    CaseStepRow {
                        case_id: RecordId::from_bytes(row.get(1)?),
                        at_ms: row.get::<_, i64>(2)? as u64,
                        step: row.get(3)?,
                        user_id: row.get(4)?,
                        device_id: row.get(5)?,
                        from_status: row.get(6)?,
                        to_status: row.get(7)?,
                        department: row.get(8)?,
                        note: row.get(9)?,
                    },
                ))
            })?
            .collect::<Result<_, _>>()?)
    }

    fn case_steps(&mut self, id: RecordId) -> Result<Vec<(u64, CaseStepRow)>> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT id, at_ms, step, user_id, device_id, from_status, to_status, department, note
                 FROM case_steps WHERE case_id = ?1 ORDER BY id",
            )?
            .query_map([id.as_bytes()], |row| {
                Ok((
                    row.get::<_, i64>(0)? as u64,
                    CaseStepRow {
                        case_id: id,
                        at_ms: row.get::<_, i64>(1)? as u64,
                        step: row.get(2)?,
                        user_id: row.get(3)?,
                        device_id: row.get(4)?,
                        from_status: row.get(5)?,
                        to_status: row.get(6)?,
                        department: row.get(7)?,
                        note: row.get(8)?,
                    },
                ))
            })?
            .collect::<Result<_, _>>()?)
    }

    fn case_page(&mut self, query: &CaseQuery) -> Result<Vec<CaseFlowRow>> {
        let mut sql = format!("SELECT {CASE_FLOW_COLUMNS} FROM case_flow WHERE 1 = 1");
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        let mut bind = |value: rusqlite::types::Value| {
            values.push(value);
            values.len()
        };
        if let Some(grids) = &query.grids {
            let n = bind(serde_json::to_string(grids).expect("strings serialise").into());
            sql += &format!(
                " AND (grid IN (SELECT value FROM json_each(?{n})) OR handling_grid IN (SELECT value FROM json_each(?{n})))"
            );
        }
        if let Some(department) = &query.department {
            let n = bind(department.clone().into());
            sql += &format!(" AND department = ?{n}");
        }
        for (column, values) in [("status", &query.statuses), ("category", &query.categories)] {
            if let Some(values) = values {
                let n = bind(serde_json::to_string(values).expect("strings serialise").into());
                sql += &format!(" AND {column} IN (SELECT value FROM json_each(?{n}))");
            }
        }
        if query.open_only {
            sql += " AND status IN ('reported', 'accepted', 'dispatched', 'returned')";
        }
        if let Some(before) = query.due_before_ms {
            let n = bind((before as i64).into());
            sql += &format!(" AND due_at_ms < ?{n}");
        }
        if let Some(from) = query.received_from_ms {
            let n = bind((from as i64).into());
            sql += &format!(" AND received_at_ms >= ?{n}");
        }
        if let Some(to) = query.received_to_ms {
            let n = bind((to.min(i64::MAX as u64) as i64).into());
            sql += &format!(" AND received_at_ms <= ?{n}");
        }
        if let Some((at, id)) = query.after {
            let (a, b) = (bind((at as i64).into()), bind(id.as_bytes().to_vec().into()));
            sql += &format!(" AND (received_at_ms < ?{a} OR (received_at_ms = ?{a} AND case_id < ?{b}))");
        }
        let n = bind((query.limit as i64).into());
        sql += &format!(" ORDER BY received_at_ms DESC, case_id DESC LIMIT ?{n}");
        Ok(self
            .conn()
            .prepare_cached(&sql)?
            .query_map(rusqlite::params_from_iter(values), case_flow_row)?
            .collect::<Result<_, _>>()?)
    }

    fn record_page(&mut self, query: &RecordQuery) -> Result<Vec<(String, RecordId)>> {
        let table = query.kind.def().table;
        let kind = query.kind.as_str();
        let id_of = |row: &rusqlite::Row<'_>| -> rusqlite::Result<(String, Vec<u8>)> {
            Ok((row.get(0)?, row.get(1)?))
        };
        let mut found: Vec<(String, Vec<u8>)> = Vec::new();
        let columns = search_columns(query.kind);
        let dense = match &query.search {
            None => false,
            Some(text) => {
                let mut matches = 0;
                for column in columns {
                    let sql = format!(
                        "SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {column} >= ?1 AND {column} < ?2 LIMIT ?3)"
                    );
                    let counted: i64 = self
                        .conn()
                        .prepare_cached(&sql)?
                        .query_row(params![text, prefix_end(text), DENSE_SEARCH as i64], |row| row.get(0))?;
                    matches += counted as usize;
                }
                matches >= DENSE_SEARCH
            }
        };
        if let Some(text) = query.search.as_ref().filter(|_| !dense) {
            // One query over the prefix indexes: it reads the records
            // matching the prefix, however many grids there are (`+grid`
            // keeps the planner off the grid index, which would read every
            // record of the grids).
            let matches =
                columns.iter().map(|c| format!("({c} >= ?1 AND {c} < ?2)")).collect::<Vec<_>>().join(" OR ");
            let mut sql = format!(
                "SELECT grid, id FROM {table} WHERE ({matches}) AND deleted IS NOT 1
                 AND +grid IN (SELECT value FROM json_each(?3))"
            );
            let mut values: Vec<rusqlite::types::Value> = vec![
                text.clone().into(),
                prefix_end(text).into(),
                serde_json::to_string(&query.grids).expect("strings serialise").into(),
            ];
            if let Some(tag) = &query.tag {
                values.push(tag.clone().into());
                sql +=
                    &format!(" AND EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?{})", values.len());
            }
            if let Some(residence) = &query.residence {
                values.push(residence.clone().into());
                sql += &format!(" AND residence_type = ?{}", values.len());
            }
            if let Some((grid, id)) = &query.after {
                values.push(grid.clone().into());
                values.push(id.as_bytes().to_vec().into());
                let (g, i) = (values.len() - 1, values.len());
                sql += &format!(" AND (grid > ?{g} OR (grid = ?{g} AND id > ?{i}))");
            }
            values.push((query.limit as i64).into());
            sql += &format!(" ORDER BY grid, id LIMIT ?{}", values.len());
            found = self
                .conn()
                .prepare_cached(&sql)?
                .query_map(rusqlite::params_from_iter(values), id_of)?
                .collect::<Result<_, _>>()?;
        } else {
            // One grid at a time along an index ordered by id within it:
            // each step reads what it returns, an empty grid costs a seek.
            // A dense search is a filter on the way.
            let searching = |prefix: &str| match &query.search {
                None => String::new(),
                Some(_) => format!(
                    " AND ({})",
                    columns
                        .iter()
                        .map(|c| format!("({prefix}{c} >= ?6 AND {prefix}{c} < ?7)"))
                        .collect::<Vec<_>>()
                        .join(" OR ")
                ),
            };
            let sql = match (&query.tag, &query.residence) {
                (Some(_), residence) => format!(
                    "SELECT t.grid, t.id FROM record_tags t JOIN {table} r ON r.id = t.id
                     WHERE t.kind = '{kind}' AND t.tag = ?4 AND t.grid = ?1 AND t.id > ?2 AND r.deleted IS NOT 1{}{}
                     ORDER BY t.id LIMIT ?3",
                    if residence.is_some() { " AND r.residence_type = ?5" } else { "" },
                    searching("r.")
                ),
                (None, Some(_)) => format!(
                    "SELECT grid, id FROM {table} WHERE residence_type = ?5 AND grid = ?1 AND id > ?2
                     AND deleted IS NOT 1{} ORDER BY id LIMIT ?3",
                    searching("")
                ),
                (None, None) => format!(
                    "SELECT grid, id FROM {table} WHERE grid = ?1 AND id > ?2 AND deleted IS NOT 1{}
                     ORDER BY id LIMIT ?3",
                    searching("")
                ),
            };
            let mut statement = self.conn().prepare_cached(&sql)?;
            let start = query.after.as_ref().map_or("", |(grid, _)| grid.as_str());
            for grid in query.grids.iter().filter(|g| g.as_str() >= start) {
                let remaining = query.limit - found.len();
                if remaining == 0 {
                    break;
                }
                let after: Vec<u8> = match &query.after {
                    Some((at, id)) if at == grid => id.as_bytes().to_vec(),
                    _ => Vec::new(),
                };
                let mut values: Vec<rusqlite::types::Value> =
                    vec![grid.clone().into(), after.into(), (remaining as i64).into()];
                values.push(query.tag.clone().map_or(rusqlite::types::Value::Null, Into::into));
                values.push(query.residence.clone().map_or(rusqlite::types::Value::Null, Into::into));
                if let Some(text) = &query.search {
                    values.push(text.clone().into());
                    values.push(prefix_end(text).into());
                }
                let count = statement.parameter_count();
                values.truncate(count);
                let rows = statement.query_map(rusqlite::params_from_iter(values), id_of)?;
                for row in rows {
                    found.push(row?);
                }
            }
        }
        found
            .into_iter()
            .map(|(grid, id)| {
                let bytes: [u8; 16] =
                    id.try_into().map_err(|_| BackendError::Corrupt("a record id is not 16 bytes".into()))?;
                Ok((grid, RecordId::from_bytes(bytes)))
            })
            .collect()
    }

    fn activity_rows(
        &mut self,
        kind: Kind,
        grids: &[String],
        from: &str,
        to: &str,
        worker: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ActivityRow>> {
        // Along (grid, time): each grid's day is a range of the index.
        let (table, at) = (kind.def().table, activity_time(kind));
        let sql = format!(
            "SELECT id, {at}, worker FROM {table} WHERE grid IN (SELECT value FROM json_each(?1))
             AND {at} >= ?2 AND {at} < ?3 AND deleted IS NOT 1 AND (?5 IS NULL OR trim(worker) = ?5)
             ORDER BY {at}, id LIMIT ?4"
        );
        let grids = serde_json::to_string(grids).expect("strings serialise");
        let rows = self
            .conn()
            .prepare_cached(&sql)?
            .query_map(params![grids, from, to, limit as i64, worker], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, String>(1)?, row.get::<_, Option<String>>(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(|(id, at, worker)| Ok(ActivityRow { id: record_id(id)?, at, worker })).collect()
    }

    fn device_owner(&mut self, number: u32) -> Result<Option<DeviceOwner>> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT d.id, d.user_id, u.name FROM devices d JOIN users u ON u.id = d.user_id WHERE d.number = ?1",
            )?
            .query_row([number], |row| {
                Ok(DeviceOwner { device_id: row.get(0)?, user_id: row.get(1)?, user_name: row.get(2)? })
            })
            .optional()?)
    }

    fn grid_parent(&mut self, code: &str) -> Result<Option<Option<String>>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT parent FROM grids WHERE code = ?1 AND deleted IS NOT 1")?
            .query_row([code], |row| row.get(0))
            .optional()?)
    }

    fn department(&mut self, code: &str) -> Result<Option<Department>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT code, name_zh, name_en FROM departments WHERE code = ?1")?
            .query_row([code], |row| {
                Ok(Department { code: row.get(0)?, name_zh: row.get(1)?, name_en: row.get(2)? })
            })
            .optional()?)
    }

    fn departments(&mut self) -> Result<Vec<Department>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT code, name_zh, name_en FROM departments ORDER BY code")?
            .query_map([], |row| {
                Ok(Department { code: row.get(0)?, name_zh: row.get(1)?, name_en: row.get(2)? })
            })?
            .collect::<Result<_, _>>()?)
    }

    fn user_by_name(&mut self, name: &str) -> Result<Option<UserRow>> {
        user_where(self.conn(), "name", name)
    }

    fn user(&mut self, id: &str) -> Result<Option<UserRow>> {
        user_where(self.conn(), "id", id)
    }

    fn users(&mut self) -> Result<Vec<UserInfo>> {
        let conn = self.conn();
        let mut grids: HashMap<String, Vec<String>> = HashMap::new();
        for row in conn
            .prepare_cached("SELECT user_id, grid FROM user_grids ORDER BY grid")?
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?
        {
            let (user, grid) = row?;
            grids.entry(user).or_default().push(grid);
        }
        let rows: Vec<(String, String, String, i64, Option<String>)> = conn
            .prepare_cached(
                "SELECT id, name, role, created_at_ms, department FROM users ORDER BY created_at_ms, name",
            )?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, name, role_text, created_at_ms, department)| {
                Ok(UserInfo {
                    grids: grids.remove(&id).unwrap_or_default(),
                    id,
                    name,
                    role: role(&role_text)?,
                    created_at_ms: created_at_ms as u64,
                    department,
                })
            })
            .collect()
    }

    fn enrollment_code(
        &mut self,
        digest: &[u8; 32],
        request_digest: Option<&[u8; 32]>,
        now_ms: u64,
    ) -> Result<Option<CodeHolder>> {
        let found: Option<(String, String, String, Option<String>)> = self
            .conn()
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
                params![digest.to_vec(), now_ms as i64, request_digest.map(|d| d.to_vec())],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()?;
        let Some((user_id, user_name, role_text, retried_device)) = found else { return Ok(None) };
        Ok(Some(CodeHolder { user_id, user_name, role: role(&role_text)?, retried_device }))
    }

    fn device_number(&mut self, device_id: &str) -> Result<Option<DeviceId>> {
        Ok(self
            .conn()
            .query_row("SELECT number FROM devices WHERE id = ?1", [device_id], |row| row.get(0))
            .optional()?
            .map(DeviceId))
    }

    fn next_device_number(&mut self) -> Result<u32> {
        Ok(self.conn().query_row(
            "SELECT max(coalesce((SELECT max(number) FROM devices), 0) + 1,
                        coalesce((SELECT CAST(value AS INTEGER) FROM server_meta WHERE key = 'device_number_floor'), 1))",
            [],
            |row| row.get(0),
        )?)
    }

    fn devices(&mut self) -> Result<Vec<DeviceInfo>> {
        let mut statement = self.conn().prepare(
            "SELECT d.id, d.number, d.user_id, u.name, d.app_version, d.enrolled_at_ms, d.last_seen_ms, d.last_sync_ms,
                    d.pending, d.acked_counter, d.revoked_at_ms,
                    ((SELECT count(*) FROM parked p WHERE p.device_id = d.id)
                     + coalesce((SELECT sum(o.count) FROM parked_overflow o WHERE o.device_id = d.id), 0))
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
                    refused: row.get::<_, i64>(11)? as u64,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(devices)
    }

    fn acked_counter(&mut self, device_id: &str) -> Result<u64> {
        let acked: i64 =
            self.conn().query_row("SELECT acked_counter FROM devices WHERE id = ?1", [device_id], |row| {
                row.get(0)
            })?;
        Ok(acked as u64)
    }

    fn usage(&mut self, device_id: &str, day: u64) -> Result<(u64, u64)> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT push_bytes, upload_bytes FROM device_usage WHERE device_id = ?1 AND day = ?2",
            )?
            .query_row(params![device_id, day as i64], |row| {
                Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64))
            })
            .optional()?
            .unwrap_or((0, 0)))
    }

    fn preview(
        &mut self,
        changes: &[RecordChanges],
        pusher: DeviceId,
    ) -> Result<Vec<std::result::Result<Preview, ChangeError>>> {
        self.store
            .preview(changes, pusher)?
            .into_iter()
            .map(|preview| match preview {
                Ok(p) => Ok(Ok(Preview {
                    exists: p.exists,
                    scope_now: p.scope_now,
                    scope_after: p.scope_after,
                    unvouched: p.unvouched,
                    diverged: p.diverged,
                })),
                Err(gridwork_store::Error::WrongKind { actual, .. }) => {
                    Ok(Err(ChangeError::WrongKind { actual }))
                }
                Err(error) => match error.into_validation() {
                    Ok(invalid) => Ok(Err(ChangeError::Invalid(invalid))),
                    Err(other) => Err(other.into()),
                },
            })
            .collect()
    }

    fn change_seq(&mut self) -> Result<u64> {
        Ok(self.store.change_seq()?)
    }

    fn seq_marked_by(&mut self, at_ms: u64) -> Result<Option<u64>> {
        let seq: Option<i64> = self
            .conn()
            .query_row(
                "SELECT seq FROM seq_marks WHERE at_ms <= ?1 ORDER BY at_ms DESC LIMIT 1",
                [at_ms as i64],
                |row| row.get(0),
            )
            .optional()?;
        Ok(seq.map(|s| s as u64))
    }

    fn kind_of(&mut self, id: RecordId) -> Result<Option<Kind>> {
        Ok(self.store.kind_of(id)?)
    }

    fn grid_of(&mut self, kind: Kind, id: RecordId) -> Result<Option<String>> {
        Ok(self.store.get(kind, id)?.and_then(|record| record.scope().map(str::to_owned)))
    }

    fn export(&mut self, kind: Kind, id: RecordId) -> Result<Option<RecordChanges>> {
        Ok(self.store.export(kind, id)?)
    }

    fn changes(
        &mut self,
        position: PullPosition,
        scope: &[String],
        viewer: Option<DeviceId>,
        limit: PageLimit,
    ) -> Result<ChangesPage> {
        let position = gridwork_store::PullPosition { since: position.since, after: position.after };
        let limit = gridwork_store::PageLimit { records: limit.records, bytes: limit.bytes };
        let page = self.store.changes_in_scope(position, Some(scope), viewer, limit)?;
        Ok(ChangesPage {
            records: page.records,
            removed: page.removed,
            next: page.next,
            more: page.more,
            resync: page.resync,
        })
    }

    fn conflicts(&mut self, grids: Option<&[String]>, limit: usize) -> Result<Vec<Conflict>> {
        Ok(self.store.conflicts_in(grids, limit)?)
    }

    fn attachment_stored(&mut self, sha256: &str) -> Result<Option<u64>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT size FROM attachments WHERE sha256 = ?1")?
            .query_row([sha256], |row| row.get::<_, i64>(0))
            .optional()?
            .map(|size| size as u64))
    }

    fn attachment_held(&mut self, sha256: &str, holder: &str) -> Result<bool> {
        Ok(self
            .conn()
            .prepare_cached("SELECT 1 FROM attachment_holders WHERE sha256 = ?1 AND holder = ?2")?
            .query_row([sha256, holder], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn photo_listed(&mut self, sha256: &str, grid: Option<&str>) -> Result<bool> {
        let found = match grid {
            Some(grid) => self
                .conn()
                .prepare_cached("SELECT 1 FROM case_photos WHERE sha256 = ?1 AND grid = ?2 LIMIT 1")?
                .query_row([sha256, grid], |_| Ok(()))
                .optional()?,
            None => self
                .conn()
                .prepare_cached("SELECT 1 FROM case_photos WHERE sha256 = ?1 LIMIT 1")?
                .query_row([sha256], |_| Ok(()))
                .optional()?,
        };
        Ok(found.is_some())
    }

    fn upload(&mut self, sha256: &str, uploader: &str) -> Result<Option<UploadRow>> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT size, received FROM attachment_uploads WHERE sha256 = ?1 AND uploader = ?2",
            )?
            .query_row([sha256, uploader], |row| {
                Ok(UploadRow { size: row.get::<_, i64>(0)? as u64, received: row.get::<_, i64>(1)? as u64 })
            })
            .optional()?)
    }

    fn uploads_held(&mut self, uploader: &str, except: &str) -> Result<(u64, u64)> {
        Ok(self.conn().query_row(
            "SELECT count(*), coalesce(sum(size), 0) FROM attachment_uploads WHERE uploader = ?1 AND sha256 != ?2",
            [uploader, except],
            |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
        )?)
    }

    fn stale_uploads(&mut self, before_ms: u64) -> Result<Vec<(String, String)>> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT sha256, uploader FROM attachment_uploads WHERE active_at_ms < ?1 LIMIT 10000",
            )?
            .query_map([before_ms as i64], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?)
    }

    fn guesses(&mut self, what: &str, address: &str, since_ms: u64) -> Result<(u64, Option<u64>)> {
        Ok(self.conn().query_row(
            "SELECT count(*), min(at_ms) FROM guesses WHERE what = ?1 AND address = ?2 AND at_ms >= ?3",
            params![what, address, since_ms as i64],
            |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, Option<i64>>(1)?.map(|t| t as u64))),
        )?)
    }

    fn parked_page(
        &mut self,
        after: Option<u64>,
        limit: usize,
        grids: Option<&[String]>,
    ) -> Result<ParkedPage> {
        let conn = self.conn();
        let after = after.map_or(i64::MAX, |a| a.min(i64::MAX as u64) as i64);
        let grids = grids.map(|g| serde_json::to_string(g).expect("strings serialise"));
        let mut items: Vec<ParkedSummary> = conn
            .prepare_cached(
                "SELECT id, at_ms, device_id, record, kind, code, field, message, bytes, grid FROM parked
                 WHERE id < ?1 AND (?3 IS NULL OR grid IN (SELECT value FROM json_each(?3)))
                 ORDER BY id DESC LIMIT ?2",
            )?
            .query_map(params![after, limit as i64 + 1, grids], |row| {
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
                    grid: row.get(9)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let next = (items.len() > limit).then(|| {
            items.truncate(limit);
            items.last().map_or(0, |i| i.id)
        });
        let total = conn.query_row(
            "SELECT count(*) FROM parked WHERE ?1 IS NULL OR grid IN (SELECT value FROM json_each(?1))",
            [&grids],
            |row| row.get::<_, i64>(0),
        )? as u64;
        if grids.is_some() {
            return Ok(ParkedPage { items, next, total, overflow: Vec::new() });
        }
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

    fn parked(&mut self, id: u64) -> Result<Option<ParkedFull>> {
        let found = self
            .conn()
            .query_row(
                "SELECT at_ms, device_id, record, kind, code, field, message, payload, grid FROM parked WHERE id = ?1",
                [id as i64],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)? as u64,
                        row.get::<_, String>(1)?,
                        row.get::<_, Vec<u8>>(2)?,
                        row.get::<_, u8>(3)?,
                        row.get::<_, String>(4)?,
                        row.get::<_, Option<String>>(5)?,
                        row.get::<_, String>(6)?,
                        row.get::<_, String>(7)?,
                        row.get::<_, Option<String>>(8)?,
                    ))
                },
            )
            .optional()?;
        let Some((at_ms, device_id, record, kind_number, code, field, message, payload, grid)) = found else {
            return Ok(None);
        };
        Ok(Some(ParkedFull {
            id,
            row: ParkedRow {
                at_ms,
                device_id,
                record: record_id(record)?,
                kind: kind(kind_number)?,
                code,
                field,
                message,
                payload,
                grid,
            },
        }))
    }

    fn parked_usage(&mut self, device_id: &str) -> Result<(u64, u64)> {
        Ok(self.conn().query_row(
            "SELECT count(*), coalesce(sum(bytes), 0) FROM parked WHERE device_id = ?1",
            [device_id],
            |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
        )?)
    }

    fn parked_bytes(&mut self, device_id: &str, record: RecordId) -> Result<Option<u64>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT bytes FROM parked WHERE device_id = ?1 AND record = ?2")?
            .query_row(params![device_id, record.as_bytes().to_vec()], |row| row.get::<_, i64>(0))
            .optional()?
            .map(|b| b as u64))
    }
}

/// A row of `case_categories` (code, names, limits, department).
fn category_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Category> {
    Ok(Category {
        code: row.get(0)?,
        name_zh: row.get(1)?,
        name_en: row.get(2)?,
        on_site_limit: row.get(3)?,
        solve_limit: row.get(4)?,
        department: row.get(5)?,
    })
}

/// The columns of `case_flow`, in the order [`case_flow_row`] reads them.
const CASE_FLOW_COLUMNS: &str = "case_id, grid, handling_grid, category, status, department, received_at_ms, due_at_ms, on_site_due_at_ms, handled_at_ms, closed_at_ms, handled_in_grid, satisfaction, updated_at_ms";

fn case_flow_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CaseFlowRow> {
    let ms = |i: usize| row.get::<_, Option<i64>>(i).map(|v| v.map(|v| v as u64));
    Ok(CaseFlowRow {
        case_id: RecordId::from_bytes(row.get(0)?),
        grid: row.get(1)?,
        handling_grid: row.get(2)?,
        category: row.get(3)?,
        status: row.get(4)?,
        department: row.get(5)?,
        received_at_ms: row.get::<_, i64>(6)? as u64,
        due_at_ms: row.get::<_, i64>(7)? as u64,
        on_site_due_at_ms: ms(8)?,
        handled_at_ms: ms(9)?,
        closed_at_ms: ms(10)?,
        handled_in_grid: row.get(11)?,
        satisfaction: row.get(12)?,
        updated_at_ms: row.get::<_, i64>(13)? as u64,
    })
}

fn user_where(conn: &rusqlite::Connection, column: &str, value: &str) -> Result<Option<UserRow>> {
    type Columns = (String, String, String, Option<String>, Option<String>);
    let found: Option<Columns> = conn
        .prepare_cached(&format!(
            "SELECT id, name, role, password_hash, department FROM users WHERE {column} = ?1"
        ))?
        .query_row([value], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))
        .optional()?;
    found
        .map(|(id, name, role_text, password_hash, department)| {
            Ok(UserRow { id, name, role: role(&role_text)?, password_hash, department })
        })
        .transpose()
}

impl Writes for Tx<'_> {
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO server_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    fn insert_user(&mut self, user: &UserRow, created_at_ms: u64) -> Result<bool> {
        let inserted = self.conn().execute(
            "INSERT INTO users (id, name, role, password_hash, created_at_ms, department)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING",
            params![
                user.id,
                user.name,
                user.role.as_str(),
                user.password_hash,
                created_at_ms as i64,
                user.department
            ],
        )?;
        Ok(inserted > 0)
    }

    fn update_category(&mut self, row: &Category) -> Result<()> {
        self.conn().execute(
            "UPDATE case_categories SET name_zh = ?2, name_en = ?3, on_site_limit = ?4, solve_limit = ?5, department = ?6
             WHERE code = ?1",
            params![row.code, row.name_zh, row.name_en, row.on_site_limit, row.solve_limit, row.department],
        )?;
        Ok(())
    }

    fn replace_calendar_year(&mut self, year: i32, source: &str, days: &[CalendarDay]) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "DELETE FROM calendar_days WHERE day >= ?1 AND day < ?2",
            [format!("{year:04}-01-01"), format!("{:04}-01-01", year + 1)],
        )?;
        for day in days {
            conn.execute(
                "INSERT INTO calendar_days (day, kind, name_zh, name_en) VALUES (?1, ?2, ?3, ?4)",
                params![day.day, day.kind, day.name_zh, day.name_en],
            )?;
        }
        conn.execute(
            "INSERT INTO calendar_years (year, source) VALUES (?1, ?2)
             ON CONFLICT (year) DO UPDATE SET source = excluded.source",
            params![year, source],
        )?;
        Ok(())
    }

    fn save_case_flow(&mut self, row: &CaseFlowRow) -> Result<()> {
        self.conn().execute(
            &format!(
                "INSERT OR REPLACE INTO case_flow ({CASE_FLOW_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
            ),
            params![
                row.case_id.as_bytes(),
                row.grid,
                row.handling_grid,
                row.category,
                row.status,
                row.department,
                row.received_at_ms as i64,
                row.due_at_ms as i64,
                row.on_site_due_at_ms.map(|v| v as i64),
                row.handled_at_ms.map(|v| v as i64),
                row.closed_at_ms.map(|v| v as i64),
                row.handled_in_grid,
                row.satisfaction,
                row.updated_at_ms as i64,
            ],
        )?;
        Ok(())
    }

    fn add_case_step(&mut self, row: &CaseStepRow) -> Result<()> {
        self.conn().execute(
            "INSERT INTO case_steps (case_id, at_ms, step, user_id, device_id, from_status, to_status, department, note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                row.case_id.as_bytes(),
                row.at_ms as i64,
                row.step,
                row.user_id,
                row.device_id,
                row.from_status,
                row.to_status,
                row.department,
                row.note,
            ],
        )?;
        Ok(())
    }

    fn insert_department(&mut self, department: &Department, now_ms: u64) -> Result<bool> {
        Ok(self.conn().execute(
            "INSERT INTO departments (code, name_zh, name_en, created_at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (code) DO NOTHING",
            params![department.code, department.name_zh, department.name_en, now_ms as i64],
        )? > 0)
    }

    fn assign_grid(&mut self, user_id: &str, grid: &str) -> Result<()> {
        self.conn()
            .execute("INSERT OR IGNORE INTO user_grids (user_id, grid) VALUES (?1, ?2)", [user_id, grid])?;
        Ok(())
    }

    fn insert_token(&mut self, token: &NewToken) -> Result<()> {
        self.conn().execute(
            "INSERT INTO tokens (hash, user_id, device_id, created_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                token.digest.to_vec(),
                token.user_id,
                token.device_id,
                token.created_at_ms as i64,
                token.expires_at_ms.map(|t| t as i64)
            ],
        )?;
        Ok(())
    }

    fn insert_integration_key(&mut self, key: &IntegrationKey, digest: &[u8; 32]) -> Result<()> {
        self.conn().execute(
            "INSERT INTO integration_keys (id, name, hash, grid, created_at_ms, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![key.id, key.name, digest.to_vec(), key.grid, key.created_at_ms as i64, key.created_by],
        )?;
        Ok(())
    }

    fn revoke_integration_key(&mut self, id: &str, now_ms: u64) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE integration_keys SET revoked_at_ms = coalesce(revoked_at_ms, ?1) WHERE id = ?2",
            params![now_ms as i64, id],
        )? > 0)
    }

    fn forget_ended_sessions(&mut self, now_ms: u64) -> Result<()> {
        self.conn().execute(
            "DELETE FROM tokens WHERE device_id IS NULL AND expires_at_ms IS NOT NULL
               AND (expires_at_ms <= ?1 OR revoked_at_ms IS NOT NULL)",
            [now_ms as i64],
        )?;
        Ok(())
    }

    fn end_oldest_sessions(&mut self, user_id: &str, keep: usize, now_ms: u64) -> Result<u64> {
        let ended = self.conn().execute(
            "UPDATE tokens SET revoked_at_ms = ?1
             WHERE user_id = ?2 AND device_id IS NULL AND expires_at_ms IS NOT NULL AND hash NOT IN (
                 SELECT hash FROM tokens WHERE user_id = ?2 AND device_id IS NULL AND expires_at_ms IS NOT NULL
                 ORDER BY created_at_ms DESC, rowid DESC LIMIT ?3)",
            params![now_ms as i64, user_id, keep as i64],
        )?;
        Ok(ended as u64)
    }

    fn end_session(&mut self, digest: &[u8; 32], now_ms: u64) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "UPDATE tokens SET revoked_at_ms = ?1
                 WHERE hash = ?2 AND device_id IS NULL AND expires_at_ms > ?1 AND revoked_at_ms IS NULL
                 RETURNING user_id",
                params![now_ms as i64, digest.to_vec()],
                |row| row.get(0),
            )
            .optional()?)
    }

    fn insert_enrollment_code(
        &mut self,
        digest: &[u8; 32],
        user_id: &str,
        now_ms: u64,
        expires_at_ms: u64,
    ) -> Result<()> {
        self.conn().execute(
            "INSERT INTO enrollment_codes (hash, user_id, created_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![digest.to_vec(), user_id, now_ms as i64, expires_at_ms as i64],
        )?;
        Ok(())
    }

    fn use_enrollment_code(
        &mut self,
        digest: &[u8; 32],
        device_id: &str,
        request_digest: Option<&[u8; 32]>,
        now_ms: u64,
    ) -> Result<()> {
        self.conn().execute(
            "UPDATE enrollment_codes SET used_at_ms = ?1, device_id = ?2, request_hash = ?3 WHERE hash = ?4",
            params![now_ms as i64, device_id, request_digest.map(|d| d.to_vec()), digest.to_vec()],
        )?;
        Ok(())
    }

    fn insert_device(
        &mut self,
        id: &str,
        number: u32,
        user_id: &str,
        app_version: &str,
        now_ms: u64,
    ) -> Result<()> {
        self.conn().execute(
            "INSERT INTO devices (id, number, user_id, app_version, enrolled_at_ms, last_seen_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![id, number, user_id, app_version, now_ms as i64],
        )?;
        Ok(())
    }

    fn revoke_tokens(&mut self, device_id: &str, now_ms: u64) -> Result<()> {
        self.conn().execute(
            "UPDATE tokens SET revoked_at_ms = coalesce(revoked_at_ms, ?1) WHERE device_id = ?2",
            params![now_ms as i64, device_id],
        )?;
        Ok(())
    }

    fn revoke_device(&mut self, device_id: &str, now_ms: u64) -> Result<bool> {
        let updated = self.conn().execute(
            "UPDATE devices SET revoked_at_ms = coalesce(revoked_at_ms, ?1) WHERE id = ?2",
            params![now_ms as i64, device_id],
        )?;
        if updated == 0 {
            return Ok(false);
        }
        self.revoke_tokens(device_id, now_ms)?;
        Ok(true)
    }

    fn put_record(&mut self, kind: Kind, id: Option<RecordId>, fields: &[(&str, Value)]) -> Result<RecordId> {
        let id = self.store.put(kind, id, fields)?;
        self.retag(kind, &[id])?;
        Ok(id)
    }

    fn mark_seq(&mut self, at_ms: u64, seq: u64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO seq_marks (at_ms, seq) VALUES (?1, ?2) ON CONFLICT (at_ms) DO UPDATE SET seq = excluded.seq",
            params![at_ms as i64, seq as i64],
        )?;
        Ok(())
    }

    fn forget_marks_before(&mut self, at_ms: u64) -> Result<()> {
        self.conn().execute("DELETE FROM seq_marks WHERE at_ms < ?1", [at_ms as i64])?;
        Ok(())
    }

    fn purge_through(&mut self, seq: u64) -> Result<(u64, u64)> {
        let (moves, records) = self.store.purge_through(seq)?;
        Ok((moves as u64, records as u64))
    }

    fn apply(&mut self, changes: Vec<RecordChanges>) -> Result<usize> {
        let tagged: Vec<(Kind, RecordId)> = changes
            .iter()
            .filter(|c| matches!(c.kind, Kind::Resident | Kind::Household))
            .map(|c| (c.kind, c.id))
            .collect();
        let changed = self.store.apply_remote(changes)?.changed_records;
        for kind in [Kind::Resident, Kind::Household] {
            let ids: Vec<RecordId> = tagged.iter().filter(|(k, _)| *k == kind).map(|(_, id)| *id).collect();
            self.retag(kind, &ids)?;
        }
        Ok(changed)
    }

    fn note_push(
        &mut self,
        device_id: &str,
        acked: u64,
        pending: u64,
        now_ms: u64,
        app_version: Option<&str>,
    ) -> Result<()> {
        self.conn().execute(
            "UPDATE devices SET acked_counter = max(acked_counter, ?1), pending = ?2, last_sync_ms = ?3, last_seen_ms = ?3,
                 app_version = coalesce(?5, app_version) WHERE id = ?4",
            params![acked as i64, pending as i64, now_ms as i64, device_id, app_version],
        )?;
        Ok(())
    }

    fn audit(&mut self, entry: &crate::backend::AuditEntry) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO audit (at_ms, user_id, device_id, action, record, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                entry.at_ms as i64,
                entry.user_id,
                entry.device_id,
                entry.action,
                entry.record.map(|(_, id)| id.as_bytes().to_vec()),
                entry.record.map(|(kind, _)| kind.number()),
                entry.detail.to_string(),
            ])?;
        Ok(())
    }

    fn spend(&mut self, device_id: &str, day: u64, push_bytes: u64, upload_bytes: u64) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO device_usage (device_id, day, push_bytes, upload_bytes) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (device_id, day) DO UPDATE SET push_bytes = push_bytes + excluded.push_bytes,
                     upload_bytes = upload_bytes + excluded.upload_bytes",
            )?
            .execute(params![device_id, day as i64, push_bytes as i64, upload_bytes as i64])?;
        Ok(())
    }

    fn park(&mut self, row: &ParkedRow) -> Result<()> {
        let record = row.record.as_bytes().to_vec();
        self.conn()
            .prepare_cached("DELETE FROM parked WHERE device_id = ?1 AND record = ?2")?
            .execute(params![row.device_id, record])?;
        self.conn()
            .prepare_cached(
                "INSERT INTO parked (at_ms, device_id, record, kind, code, field, message, payload, bytes, grid)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                row.at_ms as i64,
                row.device_id,
                record,
                row.kind.number(),
                row.code,
                row.field,
                row.message,
                row.payload,
                row.payload.len() as i64,
                row.grid
            ])?;
        Ok(())
    }

    fn count_overflow(&mut self, device_id: &str, code: &str, now_ms: u64) -> Result<()> {
        self.conn()
            .prepare_cached(
                "INSERT INTO parked_overflow (device_id, code, count, first_at_ms, last_at_ms) VALUES (?1, ?2, 1, ?3, ?3)
                 ON CONFLICT (device_id, code) DO UPDATE SET count = count + 1, last_at_ms = excluded.last_at_ms",
            )?
            .execute(params![device_id, code, now_ms as i64])?;
        Ok(())
    }

    fn repark(&mut self, record: RecordId, grid: Option<&str>) -> Result<()> {
        self.conn()
            .prepare_cached("UPDATE parked SET grid = ?1 WHERE record = ?2 AND grid IS NOT ?1")?
            .execute(params![grid, record.as_bytes().to_vec()])?;
        Ok(())
    }

    fn dismiss_parked(&mut self, id: u64) -> Result<Option<ParkedRow>> {
        let Some(parked) = self.parked(id)? else { return Ok(None) };
        self.conn().execute("DELETE FROM parked WHERE id = ?1", [id as i64])?;
        Ok(Some(parked.row))
    }

    fn note_guess(&mut self, what: &str, address: &str, at_ms: u64, forget_before_ms: u64) -> Result<u64> {
        self.conn().execute(
            "DELETE FROM guesses WHERE what = ?1 AND address = ?2 AND at_ms < ?3",
            params![what, address, forget_before_ms as i64],
        )?;
        self.conn().execute(
            "INSERT INTO guesses (what, address, at_ms) VALUES (?1, ?2, ?3)",
            params![what, address, at_ms as i64],
        )?;
        Ok(self.conn().last_insert_rowid() as u64)
    }

    fn forget_guesses_before(&mut self, before_ms: u64) -> Result<()> {
        self.conn().execute("DELETE FROM guesses WHERE at_ms < ?1", [before_ms as i64])?;
        Ok(())
    }

    fn forget_guess(&mut self, id: u64) -> Result<()> {
        self.conn().execute("DELETE FROM guesses WHERE rowid = ?1", [id as i64])?;
        Ok(())
    }

    fn begin_upload(&mut self, sha256: &str, uploader: &str, size: u64, now_ms: u64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO attachment_uploads (sha256, uploader, size, received, created_at_ms, active_at_ms)
             VALUES (?1, ?2, ?3, 0, ?4, ?4)
             ON CONFLICT (sha256, uploader) DO UPDATE SET size = excluded.size, received = 0, active_at_ms = excluded.active_at_ms",
            params![sha256, uploader, size as i64, now_ms as i64],
        )?;
        Ok(())
    }

    fn upload_progress(&mut self, sha256: &str, uploader: &str, received: u64, now_ms: u64) -> Result<()> {
        self.conn().execute(
            "UPDATE attachment_uploads SET received = ?1, active_at_ms = ?4 WHERE sha256 = ?2 AND uploader = ?3",
            params![received as i64, sha256, uploader, now_ms as i64],
        )?;
        Ok(())
    }

    fn expire_upload(&mut self, sha256: &str, uploader: &str, before_ms: u64) -> Result<bool> {
        let gone = self.conn().execute(
            "DELETE FROM attachment_uploads WHERE sha256 = ?1 AND uploader = ?2 AND active_at_ms < ?3",
            params![sha256, uploader, before_ms as i64],
        )?;
        Ok(gone > 0)
    }

    fn complete_upload(&mut self, sha256: &str, size: u64, uploader: &str, now_ms: u64) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "DELETE FROM attachment_uploads WHERE sha256 = ?1 AND uploader = ?2",
            params![sha256, uploader],
        )?;
        conn.execute(
            "INSERT INTO attachments (sha256, size, uploaded_by, created_at_ms)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (sha256) DO NOTHING",
            params![sha256, size as i64, uploader, now_ms as i64],
        )?;
        conn.execute(
            "INSERT INTO attachment_holders (sha256, holder, at_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (sha256, holder) DO NOTHING",
            params![sha256, uploader, now_ms as i64],
        )?;
        Ok(())
    }

    fn forget_attachment(&mut self, sha256: &str) -> Result<()> {
        self.conn().execute("DELETE FROM attachment_holders WHERE sha256 = ?1", [sha256])?;
        self.conn().execute("DELETE FROM attachments WHERE sha256 = ?1", [sha256])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{NewGrid, NewUser, Principal, SESSION_MS, Storage};

    const T0: u64 = 1_800_000_000_000;

    /// A new database with its first admin: the directory (removed when
    /// dropped), the storage, the admin's token and the admin.
    fn initialised() -> (tempfile::TempDir, SqliteStorage, String, Principal) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gridwork.db");
        let admin_token = SqliteStorage::init(&path, T0).unwrap();
        let storage = SqliteStorage::open(&path).unwrap();
        let admin = storage.authenticate(digest(&admin_token), T0).unwrap().expect("the admin");
        (dir, storage, admin_token, admin)
    }

    #[test]
    fn console_sessions_end_after_twelve_hours_or_at_logout() {
        let (_dir, storage, admin_token, admin) = initialised();
        let staff = NewUser {
            name: "值班员".into(),
            role: Role::Staff,
            grids: vec![],
            password: Some("correct horse".into()),
            department: None,
        };
        storage.create_user(&admin, staff, T0).unwrap();

        assert!(matches!(storage.login("值班员", "wrong horse", T0), Err(StorageError::BadLogin)));
        assert!(matches!(storage.login("无此人", "correct horse", T0), Err(StorageError::BadLogin)));
        let session = storage.login("值班员", "correct horse", T0).unwrap();
        assert_eq!(session.expires_at_ms, T0 + SESSION_MS);
        let token = digest(&session.token);
        let who = storage.authenticate(token, T0 + SESSION_MS - 1).unwrap().expect("still valid");
        assert_eq!((who.user_name.as_str(), who.role), ("值班员", Role::Staff));
        assert_eq!(storage.authenticate(token, T0 + SESSION_MS).unwrap(), None, "expired");
        // The admin token does not expire; it is no session to log out of.
        assert!(storage.authenticate(digest(&admin_token), T0 + 100 * SESSION_MS).unwrap().is_some());
        assert!(!storage.logout(digest(&admin_token), T0).unwrap());

        let second = storage.login("值班员", "correct horse", T0).unwrap();
        assert!(storage.logout(digest(&second.token), T0 + 1).unwrap());
        assert_eq!(storage.authenticate(digest(&second.token), T0 + 2).unwrap(), None, "logged out");
        assert!(!storage.logout(digest(&second.token), T0 + 3).unwrap(), "only once");
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
        let (_dir, storage, _, admin) = initialised();
        for code in ["A", "B"] {
            let grid =
                NewGrid { code: code.into(), name: code.into(), parent: None, level: Some("street".into()) };
            storage.add_grid(&admin, grid, T0).unwrap();
        }
        let worker = NewUser {
            name: "w".into(),
            role: Role::Worker,
            grids: vec!["A".into()],
            password: None,
            department: None,
        };
        let worker = storage.create_user(&admin, worker, T0).unwrap();
        let scope = |storage: &SqliteStorage| storage.scope(&worker, Role::Worker).unwrap().to_vec();
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
        storage.add_grid(&admin, below, T0).unwrap();
        assert_eq!(scope(&storage), ["B", "B1"]);
    }

    /// The trail names who enrolled (with their role) and which device,
    /// and logging out leaves a row like every other action.
    #[test]
    fn enrollment_and_logout_leave_their_actor_in_the_trail() {
        let (_dir, storage, _, admin) = initialised();
        let staff = NewUser {
            name: "值班员".into(),
            role: Role::Staff,
            grids: vec![],
            password: Some("correct horse".into()),
            department: None,
        };
        let staff = storage.create_user(&admin, staff, T0).unwrap();
        let code = storage.create_enrollment_code(&admin, &staff, 60_000, T0).unwrap();
        let enrolled = storage.enroll(&code.code, "test", None, T0).unwrap();
        let device = storage.authenticate(digest(&enrolled.token), T0).unwrap().unwrap();
        assert_eq!(device.role, Role::Staff);
        let rows = audit_rows(&storage, "enroll");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0.as_deref(), Some(staff.as_str()));
        assert_eq!(rows[0].1.as_deref(), Some(enrolled.device_id.as_str()), "the device is named");

        let session = storage.login("值班员", "correct horse", T0).unwrap();
        assert!(storage.logout(digest(&session.token), T0 + 1).unwrap());
        let rows = audit_rows(&storage, "logout");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0.as_deref(), Some(staff.as_str()));
        assert_eq!(rows[0].1, None);
    }
}
