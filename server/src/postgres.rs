//! The PostgreSQL backend, for several server nodes on one database: data
//! access only (the rules are in [`crate::core`]), through tokio-postgres
//! with a deadpool pool, with its own append-only migrations
//! (`migrations/postgres/`).
//!
//! Records are kept as one row each: the columns the server looks them up
//! by (kind, grid, deleted, the sequence of the last change) and a postcard
//! blob of every field's register with the sequence of its last change.
//! Registers are merged in Rust with `gridwork-merge`, exactly as the
//! SQLite store merges them; the grid tree, the photos cases list and the
//! fields in conflict are kept in tables of their own from the winning
//! values, written in the same transaction.
//!
//! **One writer at a time, cluster-wide.** Every [`Backend::write`] takes a
//! transaction-scoped advisory lock before anything else, so writes from
//! all nodes run one after another, as on the embedded database: what a
//! push checks is still true when it writes, one push per device at a time
//! holds across nodes, and sequence numbers are handed out in commit order
//! (a transaction numbers its changes while it holds the lock and releases
//! it by committing), which is what keeps pull cursors correct (see
//! `docs/sync-protocol.md`, "Cursors and concurrent writers"). Reads take a
//! `REPEATABLE READ` snapshot and never wait for writes.
//!
//! Methods run on blocking threads (handlers call storage through
//! `spawn_blocking`) and drive the async client with the runtime's handle.

use std::collections::HashMap;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use gridwork_domain::{DeviceId, FieldType, Kind, Reason, Record, RecordId, ValidationError, Value};
use gridwork_merge::{Hlc, Register};
use gridwork_protocol::admin::{
    Conflict, DeviceInfo, IntegrationKey, ParkedOverflow, ParkedPage, ParkedSummary, Role, UserInfo,
    VersionInfo,
};
use gridwork_protocol::codes::RefusalCode;
use gridwork_protocol::{FieldState, RecordChanges};
use gridwork_store::{Clock, paging};
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::backend::DENSE_SEARCH;
use crate::backend::{
    ActivityRow, AuditEntry, Backend, BackendError, CalendarDay, CaseFlowRow, CaseQuery, CaseStepRow,
    CaseTallyRow, Category, ChangeError, ChangesPage, CodeHolder, Department, DeviceOwner, NewToken,
    PageLimit, ParkedFull, ParkedRow, Preview, PullPosition, Reads, RecordQuery, ReporterTallyRow, Result,
    TokenHolder, UploadRow, UserRow, Writes, activity_time, prefix_end, search_columns,
};
use crate::storage::StorageError;

/// The migrations, in order; append only.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_initial.sql")),
    (2, include_str!("../../migrations/postgres/0002_guesses.sql")),
    (3, include_str!("../../migrations/postgres/0003_token_order.sql")),
    (4, include_str!("../../migrations/postgres/0004_guess_ids.sql")),
    (5, include_str!("../../migrations/postgres/0005_calendar.sql")),
    (6, include_str!("../../migrations/postgres/0006_case_flow.sql")),
    (7, include_str!("../../migrations/postgres/0007_supervision.sql")),
    (8, include_str!("../../migrations/postgres/0008_integration_keys.sql")),
    (9, include_str!("../../migrations/postgres/0009_registry.sql")),
    (10, include_str!("../../migrations/postgres/0010_activity.sql")),
    (11, include_str!("../../migrations/postgres/0011_parked_grid.sql")),
];

/// The migration that makes `registry`, which [`backfill`] fills.
const REGISTRY_MIGRATION: i32 = 9;
/// The migration that makes `activity`, which [`backfill`] fills.
const ACTIVITY_MIGRATION: i32 = 10;

/// The advisory lock every write holds until it commits.
const WRITER_LOCK: i64 = 0x6772_6964_7772_6974; // "gridwrit"
/// The advisory lock migrations run under (nodes starting together).
const MIGRATION_LOCK: i64 = 0x6772_6964_6d69_6772; // "gridmigr"
/// Held shared by every serving node for as long as it serves, and
/// exclusively by `restore`: a restore cannot run beside a node (which
/// would keep announcing the old epoch), nor a node start during one.
const RESTORE_LOCK: i64 = 0x6772_6964_7265_7374; // "gridrest"

/// The most moves one page reads (as the embedded store).
const MAX_MOVES_READ: usize = gridwork_store::MAX_MOVES_READ;

impl From<tokio_postgres::Error> for BackendError {
    fn from(error: tokio_postgres::Error) -> Self {
        match error.as_db_error() {
            Some(db) => BackendError::Database(format!("{} ({})", db.message(), db.code().code())),
            None => BackendError::Database(error.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for BackendError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        let cause = match &error {
            deadpool_postgres::PoolError::Backend(error) => cause(error),
            other => other.to_string(),
        };
        BackendError::Database(format!("no database connection: {cause}"))
    }
}

/// What went wrong, as PostgreSQL or the network said it: the server's own
/// message (`database "x" does not exist`, `password authentication
/// failed…`), else the innermost error (`Connection refused`).
fn cause(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return db.message().to_owned();
    }
    let mut inner: &dyn std::error::Error = error;
    while let Some(next) = inner.source() {
        inner = next;
    }
    let inner = inner.to_string();
    if inner == error.to_string() { inner } else { format!("{error}: {inner}") }
}

/// A PostgreSQL address with its password hidden, fit for messages.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Where a configuration points, for messages: `user@host:port/database`.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect::<Vec<_>>()
        .join(",");
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{}:{port}/{}",
        config.get_user().unwrap_or("(user)"),
        if host.is_empty() { "localhost".to_owned() } else { host },
        config.get_dbname().unwrap_or("(database)")
    )
}

/// The `application_name` serving nodes give their connections, by which
/// `restore` sees whether any node still uses the database.
pub const NODE_APPLICATION: &str = "gridwork-server serve";

/// The oldest PostgreSQL this backend is tested on.
const OLDEST_SERVER: i32 = 150_000;

/// One field as stored in a record's body.
#[derive(Debug, Serialize, Deserialize)]
struct StoredField {
    tag: u8,
    seq: u64,
    register: Register<Value>,
}

/// A record's fields by index in its kind's schema: the sequence of each
/// written field's last change and its register.
type Slots = Vec<Option<(u64, Register<Value>)>>;

fn decode(kind: Kind, body: &[u8]) -> Result<Slots> {
    let def = kind.def();
    let fields: Vec<StoredField> =
        postcard::from_bytes(body).map_err(|e| BackendError::Corrupt(format!("record body: {e}")))?;
    let mut slots: Slots = vec![None; def.fields.len()];
    for field in fields {
        let i = def
            .fields
            .iter()
            .position(|f| f.tag == field.tag)
            .ok_or_else(|| BackendError::Corrupt(format!("{kind} has no field tagged {}", field.tag)))?;
        slots[i] = Some((field.seq, field.register));
    }
    Ok(slots)
}

fn encode(kind: Kind, slots: &Slots) -> Vec<u8> {
    let def = kind.def();
    let fields: Vec<StoredField> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, slot)| {
            slot.as_ref().map(|(seq, register)| StoredField {
                tag: def.fields[i].tag,
                seq: *seq,
                register: register.clone(),
            })
        })
        .collect();
    postcard::to_stdvec(&fields).expect("registers serialise")
}

fn value(slots: &Slots, i: usize) -> Value {
    slots[i].as_ref().map_or(Value::Null, |(_, register)| register.value().clone())
}

fn role(text: &str) -> Result<Role> {
    Role::parse(text).ok_or_else(|| BackendError::Corrupt(format!("unknown role {text}")))
}

fn kind(number: i16) -> Result<Kind> {
    u8::try_from(number)
        .ok()
        .and_then(Kind::from_number)
        .ok_or_else(|| BackendError::Corrupt(format!("unknown kind {number}")))
}

fn record_id(bytes: &[u8]) -> Result<RecordId> {
    let bytes: [u8; 16] =
        bytes.try_into().map_err(|_| BackendError::Corrupt("a record id is not 16 bytes".into()))?;
    Ok(RecordId::from_bytes(bytes))
}

fn invalid(error: gridwork_store::Error) -> std::result::Result<ValidationError, BackendError> {
    error.into_validation().map_err(|other| BackendError::Database(other.to_string()))
}

/// Rows of `moves` to insert, column by column.
#[derive(Default)]
struct MoveColumns<'a> {
    seq: Vec<i64>,
    record: Vec<&'a [u8]>,
    kind: Vec<i16>,
    old: Vec<String>,
    new: Vec<Option<String>>,
}

/// A record to write, as merged.
struct Saved {
    kind: Kind,
    id: RecordId,
    slots: Slots,
    seq: u64,
    /// Its grid before this write, if it existed.
    grid_before: Option<String>,
}

/// What `registry` keeps of a live resident, household or building: its
/// grid, the text a search matches, its residence type and tags.
#[derive(Debug, Default)]
struct RegistryRow {
    grid: String,
    name: Option<String>,
    address: Option<String>,
    id_number: Option<String>,
    phone: Option<String>,
    residence_type: Option<String>,
    tags: Vec<String>,
}

/// The registry's row of a record: `None` for a kind it does not list, a
/// deleted record or one without a grid.
fn registry_row(kind: Kind, slots: &Slots) -> Option<RegistryRow> {
    if !gridwork_protocol::registry::REGISTRY_KINDS.contains(&kind) {
        return None;
    }
    let def = kind.def();
    let get = |name: &str| def.index_of(name).map_or(Value::Null, |i| value(slots, i));
    let text = |name: &str| get(name).as_text().map(str::to_owned);
    if get("deleted") == Value::Bool(true) {
        return None;
    }
    Some(RegistryRow {
        grid: text("grid")?,
        name: text(if kind == Kind::Household { "head" } else { "name" }),
        address: text("address"),
        id_number: text("id_number"),
        phone: text("phone"),
        residence_type: text("residence_type"),
        tags: get("tags").as_list().map(|l| l.to_vec()).unwrap_or_default(),
    })
}

/// A statement to run, with its parameters.
type Statement = (&'static str, Vec<Box<dyn ToSql + Sync + Send>>);

/// The statements that write the registry's rows of `records` (replacing
/// theirs; none for a deleted one).
fn registry_statements(records: Vec<(Vec<u8>, Kind, Option<RegistryRow>)>) -> Vec<Statement> {
    if records.is_empty() {
        return Vec::new();
    }
    let ids: Vec<Vec<u8>> = records.iter().map(|r| r.0.clone()).collect();
    let mut statements: Vec<Statement> = vec![
        ("DELETE FROM registry WHERE id = ANY($1)", vec![Box::new(ids.clone())]),
        ("DELETE FROM registry_tags WHERE id = ANY($1)", vec![Box::new(ids)]),
    ];
    let (mut rid, mut kinds, mut grids, mut names, mut addresses, mut numbers, mut phones, mut residences) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut tag_kinds, mut tags, mut tag_grids, mut tag_ids): (
        Vec<i16>,
        Vec<String>,
        Vec<String>,
        Vec<Vec<u8>>,
    ) = Default::default();
    for (id, kind, row) in records {
        let Some(row) = row else { continue };
        let number = i16::from(kind.number());
        for tag in row.tags {
            tag_kinds.push(number);
            tags.push(tag);
            tag_grids.push(row.grid.clone());
            tag_ids.push(id.clone());
        }
        rid.push(id);
        kinds.push(number);
        grids.push(row.grid);
        names.push(row.name);
        addresses.push(row.address);
        numbers.push(row.id_number);
        phones.push(row.phone);
        residences.push(row.residence_type);
    }
    if !rid.is_empty() {
        statements.push((
            "INSERT INTO registry (id, kind, grid, name, address, id_number, phone, residence_type)
             SELECT * FROM unnest($1::bytea[], $2::int2[], $3::text[], $4::text[], $5::text[], $6::text[],
                 $7::text[], $8::text[])",
            vec![
                Box::new(rid),
                Box::new(kinds),
                Box::new(grids),
                Box::new(names),
                Box::new(addresses),
                Box::new(numbers),
                Box::new(phones),
                Box::new(residences),
            ],
        ));
    }
    if !tags.is_empty() {
        statements.push((
            "INSERT INTO registry_tags (kind, tag, grid, id)
             SELECT * FROM unnest($1::int2[], $2::text[], $3::text[], $4::bytea[]) ON CONFLICT DO NOTHING",
            vec![Box::new(tag_kinds), Box::new(tags), Box::new(tag_grids), Box::new(tag_ids)],
        ));
    }
    statements
}

/// The kinds `activity` lists.
const ACTIVITY_KINDS: [Kind; 2] = [Kind::Patrol, Kind::Visit];

/// An `activity` row's grid, time as written and worker.
type ActivityEntry = (String, String, Option<String>);

/// What `activity` keeps of a live patrol or visit: its grid, its time as
/// written and the worker it names; `None` for a deleted one, or one
/// without a grid or a time.
fn activity_row(kind: Kind, slots: &Slots) -> Option<ActivityEntry> {
    let def = kind.def();
    let get = |name: &str| def.index_of(name).map_or(Value::Null, |i| value(slots, i));
    let text = |name: &str| get(name).as_text().map(str::to_owned);
    if get("deleted") == Value::Bool(true) {
        return None;
    }
    Some((text("grid")?, text(activity_time(kind))?, text("worker")))
}

/// The statements that write the `activity` rows of `records` (replacing
/// theirs; none for a deleted one).
fn activity_statements(records: Vec<(Vec<u8>, Kind, Option<ActivityEntry>)>) -> Vec<Statement> {
    if records.is_empty() {
        return Vec::new();
    }
    let ids: Vec<Vec<u8>> = records.iter().map(|r| r.0.clone()).collect();
    let mut statements: Vec<Statement> =
        vec![("DELETE FROM activity WHERE id = ANY($1)", vec![Box::new(ids)])];
    let (mut rid, mut kinds, mut grids, mut ats, mut workers) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, kind, row) in records {
        let Some((grid, at, worker)) = row else { continue };
        rid.push(id);
        kinds.push(i16::from(kind.number()));
        grids.push(grid);
        ats.push(at);
        workers.push(worker);
    }
    if !rid.is_empty() {
        statements.push((
            "INSERT INTO activity (id, kind, grid, at, worker)
             SELECT * FROM unnest($1::bytea[], $2::int2[], $3::text[], $4::text[], $5::text[])",
            vec![Box::new(rid), Box::new(kinds), Box::new(grids), Box::new(ats), Box::new(workers)],
        ));
    }
    statements
}

/// A side table's rows of records, as `save` writes them: what each
/// record keeps there, and the statements that write a batch of them.
type RowOf<R> = fn(Kind, &Slots) -> Option<R>;
type StatementsOf<R> = fn(Vec<(Vec<u8>, Kind, Option<R>)>) -> Vec<Statement>;

/// Fills a side table (`registry`, `activity`) from the bodies of the
/// live records of `kinds` stored before it existed, a batch at a time,
/// inside the migration's transaction.
async fn backfill<R>(
    client: &Object,
    kinds: &[Kind],
    row_of: RowOf<R>,
    statements: StatementsOf<R>,
) -> Result<()> {
    let kinds: Vec<i16> = kinds.iter().map(|k| i16::from(k.number())).collect();
    let mut after: Vec<u8> = Vec::new();
    loop {
        let rows = client
            .query(
                "SELECT id, kind, body FROM records WHERE kind = ANY($1) AND NOT deleted AND id > $2
                 ORDER BY id LIMIT 5000",
                &[&kinds, &after],
            )
            .await?;
        let Some(last) = rows.last() else { return Ok(()) };
        after = last.get::<_, Vec<u8>>(0);
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            let kind = kind(row.get(1))?;
            let slots = decode(kind, row.get(2))?;
            records.push((row.get::<_, Vec<u8>>(0), kind, row_of(kind, &slots)));
        }
        for (sql, params) in statements(records) {
            let params: Vec<&(dyn ToSql + Sync)> =
                params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
            client.execute(sql, &params).await?;
        }
    }
}

/// The server's database on PostgreSQL.
pub struct PgBackend {
    pool: Pool,
    runtime: Handle,
    /// The connection holding [`RESTORE_LOCK`], while it is held.
    restore_lock: std::sync::Mutex<Option<Object>>,
}

impl std::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBackend").finish_non_exhaustive()
    }
}

impl PgBackend {
    /// Connects to `url` (`postgres://USER@HOST:PORT/DB`) and brings the
    /// schema up to date. Runs on a blocking thread of `runtime`.
    pub fn connect(url: &str, runtime: Handle) -> Result<PgBackend> {
        PgBackend::connect_as(url, runtime, "gridwork-server")
    }

    /// [`PgBackend::connect`], its connections named `application` in
    /// `pg_stat_activity` ([`NODE_APPLICATION`] for a serving node).
    pub fn connect_as(url: &str, runtime: Handle, application: &str) -> Result<PgBackend> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            BackendError::Database(format!(
                "`{}` is not a PostgreSQL address ({e}); the form is postgres://USER[:PASSWORD]@HOST:PORT/DATABASE",
                redacted(url)
            ))
        })?;
        config.application_name(application);
        let where_ = describe(&config);
        let manager =
            Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| BackendError::Database(format!("connection pool: {e}")))?;
        let backend = PgBackend { pool, runtime, restore_lock: std::sync::Mutex::new(None) };
        let version = backend.server_version().map_err(|error| match error {
            BackendError::Database(cause) => BackendError::Database(format!("at {where_}: {cause}")),
            other => other,
        })?;
        if version < OLDEST_SERVER {
            return Err(BackendError::Database(format!(
                "{where_} runs PostgreSQL {}.{}; Gridwork needs 15 or later",
                version / 10_000,
                version % 10_000
            )));
        }
        backend.migrate()?;
        Ok(backend)
    }

    /// `server_version_num`: 150004 for 15.4.
    fn server_version(&self) -> Result<i32> {
        let client = self.client()?;
        let version: String = self.runtime.block_on(client.query_one("SHOW server_version_num", &[]))?.get(0);
        version.parse().map_err(|_| BackendError::Database(format!("a server version of `{version}`")))
    }

    /// Marks this process as a serving node until it ends (a shared hold
    /// of the restore lock, on a connection of its own); false if a
    /// restore is under way.
    pub fn hold_as_node(&self) -> Result<bool> {
        self.hold_restore_lock("SELECT pg_try_advisory_lock_shared($1)")
    }

    /// Takes the restore lock for this process: false while any node
    /// serves (or another restore runs).
    pub fn hold_for_restore(&self) -> Result<bool> {
        self.hold_restore_lock("SELECT pg_try_advisory_lock($1)")
    }

    fn hold_restore_lock(&self, sql: &str) -> Result<bool> {
        let client = self.client()?;
        let held: bool = self.runtime.block_on(client.query_one(sql, &[&RESTORE_LOCK]))?.get(0);
        if held {
            // The lock lives as long as the session: keep the connection.
            *self.restore_lock.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
        }
        Ok(held)
    }

    fn client(&self) -> Result<Object> {
        Ok(self.runtime.block_on(self.pool.get())?)
    }

    fn migrate(&self) -> Result<()> {
        let client = self.client()?;
        self.runtime.block_on(async {
            client.query_one("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
            let exists: bool =
                client.query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[]).await?.get(0);
            if !exists {
                client.batch_execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY)").await?;
            }
            let outcome = async {
                let newest: Option<i32> =
                    client.query_one("SELECT max(version) FROM schema_migrations", &[]).await?.get(0);
                let newest = newest.unwrap_or(0);
                let known = MIGRATIONS.last().map_or(0, |m| m.0);
                if newest > known {
                    return Err(BackendError::Database(format!(
                        "the database is at migration {newest}, from a newer program than this one (which knows {known})"
                    )));
                }
                for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > newest) {
                    client.batch_execute("BEGIN").await?;
                    let applied = async {
                        client.batch_execute(sql).await?;
                        if *version == REGISTRY_MIGRATION {
                            let kinds = gridwork_protocol::registry::REGISTRY_KINDS;
                            backfill(&client, &kinds, registry_row, registry_statements).await?;
                        }
                        if *version == ACTIVITY_MIGRATION {
                            backfill(&client, &ACTIVITY_KINDS, activity_row, activity_statements).await?;
                        }
                        client.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[version]).await?;
                        client.batch_execute("COMMIT").await?;
                        Ok::<(), BackendError>(())
                    }
                    .await;
                    if let Err(error) = applied {
                        let _ = client.batch_execute("ROLLBACK").await;
                        return Err(BackendError::Database(format!("migration {version}: {error}")));
                    }
                }
                Ok(())
            }
            .await;
            client.query_one("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await?;
            outcome
        })
    }

    fn transaction<R>(
        &self,
        begin: &str,
        f: impl FnOnce(&mut PgTx<'_>) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let client = self.client()?;
        self.runtime.block_on(client.batch_execute(begin)).map_err(BackendError::from)?;
        let mut tx = PgTx { client: &client, runtime: &self.runtime };
        // A panic inside must not hand the connection back to the pool in
        // the middle of its transaction (holding the writer's lock): it is
        // rolled back first, then the panic goes on.
        let outcome = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut tx))) {
            Ok(outcome) => outcome,
            Err(panic) => {
                let _ = self.runtime.block_on(client.batch_execute("ROLLBACK"));
                std::panic::resume_unwind(panic);
            }
        };
        let outcome = outcome.and_then(|value| {
            self.runtime.block_on(client.batch_execute("COMMIT")).map_err(BackendError::from)?;
            Ok(value)
        });
        if outcome.is_err() {
            // Fails only on a broken connection, which the pool drops.
            let _ = self.runtime.block_on(client.batch_execute("ROLLBACK"));
        }
        outcome
    }
}

impl Backend for PgBackend {
    fn read<R>(&self, f: impl FnOnce(&mut dyn Reads) -> Result<R, StorageError>) -> Result<R, StorageError> {
        self.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", |tx| f(tx))
    }

    fn write<R>(
        &self,
        f: impl FnOnce(&mut dyn Writes) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        self.transaction("BEGIN", |tx| {
            tx.query("SELECT pg_advisory_xact_lock($1)", &[&WRITER_LOCK])?;
            f(tx)
        })
    }

    fn note<R>(&self, f: impl FnOnce(&mut dyn Writes) -> Result<R, StorageError>) -> Result<R, StorageError> {
        self.transaction("BEGIN", |tx| f(tx))
    }
}

/// One transaction on a pooled connection.
struct PgTx<'c> {
    client: &'c Object,
    runtime: &'c Handle,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl PgTx<'_> {
    fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        self.runtime.block_on(async {
            let statement = self.client.prepare_cached(sql).await?;
            Ok(self.client.query(&statement, params).await?)
        })
    }

    fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64> {
        self.runtime.block_on(async {
            let statement = self.client.prepare_cached(sql).await?;
            Ok(self.client.execute(&statement, params).await?)
        })
    }

    fn load(&self, id: RecordId) -> Result<Option<(Kind, Slots)>> {
        let Some(row) =
            self.query_opt("SELECT kind, body FROM records WHERE id = $1", &[&id.as_bytes().as_slice()])?
        else {
            return Ok(None);
        };
        let kind = kind(row.get(0))?;
        let body: &[u8] = row.get(1);
        Ok(Some((kind, decode(kind, body)?)))
    }

    /// The server's change sequence and clock.
    fn replica(&self) -> Result<(u64, Hlc)> {
        let row = self.query("SELECT seq, hlc FROM replica", &[])?.into_iter().next();
        let row = row.ok_or_else(|| BackendError::Corrupt("the replica row is missing".into()))?;
        Ok((row.get::<_, i64>(0) as u64, Hlc::from_u64(row.get::<_, i64>(1) as u64)))
    }

    fn set_replica(&self, seq: u64, hlc: Hlc) -> Result<()> {
        self.execute("UPDATE replica SET seq = $1, hlc = $2", &[&(seq as i64), &(hlc.as_u64() as i64)])?;
        Ok(())
    }

    /// Every stored record of `ids`, in one query.
    fn load_many(&self, ids: &[RecordId]) -> Result<HashMap<RecordId, (Kind, Slots)>> {
        let keys: Vec<&[u8]> = ids.iter().map(|id| id.as_bytes().as_slice()).collect();
        let mut found = HashMap::with_capacity(ids.len());
        for row in self.query("SELECT id, kind, body FROM records WHERE id = ANY($1)", &[&keys])? {
            let kind = kind(row.get(1))?;
            found.insert(record_id(row.get(0))?, (kind, decode(kind, row.get(2))?));
        }
        Ok(found)
    }

    /// Writes records' rows and what is kept from their winning values: the
    /// moves of grid, the fields in conflict, the grid tree, the photos cases
    /// list. A few statements for the whole batch, whatever its size.
    fn save(&self, saved: &[Saved]) -> Result<()> {
        if saved.is_empty() {
            return Ok(());
        }
        let mut ids: Vec<&[u8]> = Vec::with_capacity(saved.len());
        let (mut kinds, mut grids, mut deleted, mut seqs, mut bodies) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut moves = MoveColumns::default();
        let mut conflicts: (Vec<&[u8]>, Vec<i16>, Vec<i16>) = Default::default();
        let mut cases: Vec<&[u8]> = Vec::new();
        let mut photos: (Vec<String>, Vec<&[u8]>, Vec<String>) = Default::default();
        let mut registry = Vec::new();
        let mut activity = Vec::new();
        for record in saved {
            if ACTIVITY_KINDS.contains(&record.kind) {
                activity.push((
                    record.id.as_bytes().to_vec(),
                    record.kind,
                    activity_row(record.kind, &record.slots),
                ));
            }
            if gridwork_protocol::registry::REGISTRY_KINDS.contains(&record.kind) {
                registry.push((
                    record.id.as_bytes().to_vec(),
                    record.kind,
                    registry_row(record.kind, &record.slots),
                ));
            }
            let def = record.kind.def();
            let id = record.id.as_bytes().as_slice();
            let grid = value(&record.slots, def.scope_index()).as_text().map(str::to_owned);
            let is_deleted = value(&record.slots, def.index_of("deleted").expect("every kind has `deleted`"))
                == Value::Bool(true);
            if let Some(old) = &record.grid_before
                && Some(old) != grid.as_ref()
            {
                moves.seq.push(record.seq as i64);
                moves.record.push(id);
                moves.kind.push(i16::from(record.kind.number()));
                moves.old.push(old.clone());
                moves.new.push(grid.clone());
            }
            for (i, slot) in record.slots.iter().enumerate() {
                if let Some((_, register)) = slot
                    && register.in_conflict()
                {
                    conflicts.0.push(id);
                    conflicts.1.push(i16::from(def.fields[i].tag));
                    conflicts.2.push(i16::from(record.kind.number()));
                }
            }
            match record.kind {
                Kind::Grid => {
                    let text = |name: &str| {
                        value(&record.slots, def.index_of(name).expect("grid fields"))
                            .as_text()
                            .map(str::to_owned)
                    };
                    self.execute(
                        "INSERT INTO grids (id, code, parent, level, deleted) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (id) DO UPDATE SET code = excluded.code, parent = excluded.parent,
                             level = excluded.level, deleted = excluded.deleted",
                        &[
                            &id,
                            &text("code").unwrap_or_default(),
                            &text("parent"),
                            &text("level"),
                            &is_deleted,
                        ],
                    )?;
                }
                Kind::Case => {
                    cases.push(id);
                    let listed =
                        value(&record.slots, def.index_of("attachments").expect("cases list photos"));
                    if let (false, Some(grid), Some(list)) = (is_deleted, &grid, listed.as_list()) {
                        for sha256 in list {
                            photos.0.push(sha256.clone());
                            photos.1.push(id);
                            photos.2.push(grid.clone());
                        }
                    }
                }
                _ => {}
            }
            ids.push(id);
            kinds.push(i16::from(record.kind.number()));
            grids.push(grid);
            deleted.push(is_deleted);
            seqs.push(record.seq as i64);
            bodies.push(encode(record.kind, &record.slots));
        }
        self.execute(
            "INSERT INTO records (id, kind, grid, deleted, seq, body)
             SELECT * FROM unnest($1::bytea[], $2::int2[], $3::text[], $4::bool[], $5::int8[], $6::bytea[])
             ON CONFLICT (id) DO UPDATE SET grid = excluded.grid, deleted = excluded.deleted, seq = excluded.seq,
                 body = excluded.body",
            &[&ids, &kinds, &grids, &deleted, &seqs, &bodies],
        )?;
        for (sql, params) in registry_statements(registry).into_iter().chain(activity_statements(activity)) {
            let params: Vec<&(dyn ToSql + Sync)> =
                params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
            self.execute(sql, &params)?;
        }
        if !moves.seq.is_empty() {
            self.execute(
                "INSERT INTO moves (seq, record, kind, old_grid, new_grid)
                 SELECT * FROM unnest($1::int8[], $2::bytea[], $3::int2[], $4::text[], $5::text[])
                 ON CONFLICT DO NOTHING",
                &[&moves.seq, &moves.record, &moves.kind, &moves.old, &moves.new],
            )?;
        }
        // Fields with concurrent versions, for the review list.
        self.execute("DELETE FROM conflicts WHERE record = ANY($1)", &[&ids])?;
        if !conflicts.0.is_empty() {
            self.execute(
                "INSERT INTO conflicts (record, tag, kind) SELECT * FROM unnest($1::bytea[], $2::int2[], $3::int2[])",
                &[&conflicts.0, &conflicts.1, &conflicts.2],
            )?;
        }
        if !cases.is_empty() {
            self.execute("DELETE FROM case_photos WHERE record = ANY($1)", &[&cases])?;
            if !photos.0.is_empty() {
                self.execute(
                    "INSERT INTO case_photos (sha256, record, grid)
                     SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[]) ON CONFLICT DO NOTHING",
                    &[&photos.0, &photos.1, &photos.2],
                )?;
            }
        }
        Ok(())
    }

    fn parked_row(&self, row: &Row) -> Result<ParkedRow> {
        Ok(ParkedRow {
            at_ms: row.get::<_, i64>("at_ms") as u64,
            device_id: row.get("device_id"),
            record: record_id(row.get("record"))?,
            kind: kind(row.get("kind"))?,
            code: row.get("code"),
            field: row.get("field"),
            message: row.get("message"),
            payload: row.get("payload"),
            grid: row.get("grid"),
        })
    }
}

/// What a pushed change would do to the stored record, worked out from the
/// registers: the same answers the embedded store's preview gives.
/// `fields` are the change's field indices, as validation found them.
fn preview(
    stored: Option<(Kind, &Slots)>,
    change: &RecordChanges,
    fields: &[usize],
    pusher: DeviceId,
) -> Result<Preview, ChangeError> {
    let def = change.kind.def();
    let stored = match stored {
        Some((kind, _)) if kind != change.kind => return Err(ChangeError::WrongKind { actual: kind }),
        Some((_, slots)) => Some(slots),
        None => None,
    };
    let incoming =
        |i: usize| change.fields.iter().zip(fields).find(|(_, f)| **f == i).map(|(s, _)| &s.register);
    let unvouched = change.fields.iter().zip(fields).find_map(|(state, &i)| {
        let seen = stored.and_then(|slots| slots[i].as_ref()).map(|(_, r)| r.context());
        state.register.claims_unseen(seen, pusher).map(|device| (def.fields[i].name, device))
    });
    let scope_index = def.scope_index();
    let Some(slots) = stored else {
        return Ok(Preview {
            exists: false,
            scope_now: None,
            scope_after: paging::new_record_grid(def, incoming).map_err(ChangeError::Invalid)?,
            unvouched,
            diverged: None,
        });
    };
    let diverged = change.fields.iter().zip(fields).find_map(|(state, &i)| {
        let (_, stored) = slots[i].as_ref()?;
        state
            .register
            .forgets_or_clashes(stored.context(), stored.winner(), pusher)
            .then_some(def.fields[i].name)
    });
    let scope_now = value(slots, scope_index).as_text().map(str::to_owned);
    let scope_after = match (incoming(scope_index), slots[scope_index].as_ref()) {
        (None, _) => scope_now.clone(),
        (Some(theirs), None) => theirs.value().as_text().map(str::to_owned),
        (Some(theirs), Some((_, ours))) => {
            paging::merged_grid(&def.fields[scope_index], ours.clone(), theirs)
                .map_err(ChangeError::Invalid)?
        }
    };
    Ok(Preview { exists: true, scope_now, scope_after, unvouched, diverged })
}

/// A row of `case_categories` (code, names, limits, department).
/// The columns [`integration_key_row`] reads.
const INTEGRATION_KEY_COLUMNS: &str = "id, name, grid, created_at_ms, created_by, revoked_at_ms";

fn integration_key_row(r: &Row) -> IntegrationKey {
    IntegrationKey {
        id: r.get(0),
        name: r.get(1),
        grid: r.get(2),
        created_at_ms: r.get::<_, i64>(3) as u64,
        created_by: r.get(4),
        revoked_at_ms: r.get::<_, Option<i64>>(5).map(|t| t as u64),
    }
}

fn category_row(r: &Row) -> Category {
    Category {
        code: r.get(0),
        name_zh: r.get(1),
        name_en: r.get(2),
        on_site_limit: r.get(3),
        solve_limit: r.get(4),
        department: r.get(5),
    }
}

/// The columns of `case_flow`, in the order [`case_flow_row`] reads them.
const CASE_FLOW_COLUMNS: &str = "case_id, grid, handling_grid, category, status, department, received_at_ms, due_at_ms, on_site_due_at_ms, handled_at_ms, closed_at_ms, handled_in_grid, satisfaction, updated_at_ms";

fn case_flow_row(r: &Row) -> Result<CaseFlowRow> {
    let ms = |i: usize| r.get::<_, Option<i64>>(i).map(|v| v as u64);
    Ok(CaseFlowRow {
        case_id: record_id(r.get(0))?,
        grid: r.get(1),
        handling_grid: r.get(2),
        category: r.get(3),
        status: r.get(4),
        department: r.get(5),
        received_at_ms: r.get::<_, i64>(6) as u64,
        due_at_ms: r.get::<_, i64>(7) as u64,
        on_site_due_at_ms: ms(8),
        handled_at_ms: ms(9),
        closed_at_ms: ms(10),
        handled_in_grid: r.get(11),
        satisfaction: r.get(12),
        updated_at_ms: r.get::<_, i64>(13) as u64,
    })
}

/// A page of the embedded store's shape as the backend's.
fn changes_page(page: gridwork_store::ScopedChanges) -> ChangesPage {
    ChangesPage {
        records: page.records,
        removed: page.removed,
        next: page.next,
        more: page.more,
        resync: page.resync,
    }
}

impl PgTx<'_> {
    /// The account whose `column` (`id` or `name`) is `value`.
    fn user_where(&self, column: &str, value: &str) -> Result<Option<UserRow>> {
        let sql = format!("SELECT id, name, role, password_hash, department FROM users WHERE {column} = $1");
        self.query_opt(&sql, &[&value])?
            .map(|r| {
                Ok(UserRow {
                    id: r.get(0),
                    name: r.get(1),
                    role: role(r.get(2))?,
                    password_hash: r.get(3),
                    department: r.get(4),
                })
            })
            .transpose()
    }
}

impl Reads for PgTx<'_> {
    fn meta(&mut self, key: &str) -> Result<Option<String>> {
        Ok(self.query_opt("SELECT value FROM server_meta WHERE key = $1", &[&key])?.map(|row| row.get(0)))
    }

    fn scope_generation(&mut self) -> Result<u64> {
        let row = self.query("SELECT value FROM scope_generation", &[])?;
        Ok(row.first().map_or(0, |row| row.get::<_, i64>(0) as u64))
    }

    fn assigned_grids(&mut self, user_id: &str) -> Result<Vec<String>> {
        Ok(self
            .query("SELECT grid FROM user_grids WHERE user_id = $1", &[&user_id])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn grids_below(&mut self, roots: &[String]) -> Result<Vec<String>> {
        let roots: Vec<&str> = roots.iter().map(String::as_str).collect();
        Ok(self
            .query(
                "WITH RECURSIVE below(code) AS (
                     SELECT code FROM grids WHERE code = ANY($1) AND NOT deleted
                     UNION
                     SELECT g.code FROM grids g JOIN below b ON g.parent = b.code WHERE NOT g.deleted
                 )
                 SELECT code FROM below ORDER BY code COLLATE \"C\"",
                &[&roots],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn live_grids(&mut self) -> Result<Vec<String>> {
        Ok(self
            .query("SELECT DISTINCT code COLLATE \"C\" FROM grids WHERE NOT deleted ORDER BY 1", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn grid_level(&mut self, code: &str) -> Result<Option<String>> {
        Ok(self
            .query_opt(
                "SELECT coalesce(level, '') FROM grids WHERE code = $1 AND NOT deleted LIMIT 1",
                &[&code],
            )?
            .map(|r| r.get(0)))
    }

    fn grid_outline(&mut self, code: &str) -> Result<Option<RecordChanges>> {
        let Some(row) =
            self.query_opt("SELECT id FROM grids WHERE code = $1 AND NOT deleted LIMIT 1", &[&code])?
        else {
            return Ok(None);
        };
        let mut grid = self.export(Kind::Grid, record_id(row.get(0))?)?;
        if let Some(grid) = &mut grid {
            grid.fields.retain(|f| f.field != "boundary");
        }
        Ok(grid)
    }

    fn grid_records(&mut self) -> Result<Vec<RecordChanges>> {
        let rows = self.query("SELECT id FROM grids WHERE NOT deleted ORDER BY code", &[])?;
        let mut grids = Vec::with_capacity(rows.len());
        for row in rows {
            grids.extend(self.export(Kind::Grid, record_id(row.get(0))?)?);
        }
        Ok(grids)
    }

    fn case_tally(&mut self, since_ms: u64, now_ms: u64) -> Result<Vec<CaseTallyRow>> {
        let sql = "SELECT grid, category, status, department, count(*)::bigint,
                    sum(CASE WHEN status IN ('reported', 'accepted', 'dispatched', 'returned') AND due_at_ms < $2::bigint THEN 1 ELSE 0 END)::bigint,
                    sum(CASE WHEN status IN ('reported', 'accepted', 'dispatched', 'returned') AND due_at_ms >= $2::bigint AND due_at_ms < $2::bigint + 86400000 THEN 1 ELSE 0 END)::bigint,
                    sum(CASE WHEN closed_at_ms IS NOT NULL AND closed_at_ms <= due_at_ms THEN 1 ELSE 0 END)::bigint,
                    sum(CASE WHEN handled_in_grid THEN 1 ELSE 0 END)::bigint,
                    sum(CASE WHEN handled_at_ms IS NOT NULL THEN 1 ELSE 0 END)::bigint,
                    coalesce(sum(handled_at_ms - received_at_ms), 0)::bigint,
                    sum(CASE WHEN closed_at_ms IS NOT NULL AND handled_at_ms IS NOT NULL THEN 1 ELSE 0 END)::bigint,
                    coalesce(sum(closed_at_ms - handled_at_ms), 0)::bigint
                 FROM case_flow WHERE received_at_ms >= $1
                 GROUP BY grid, category, status, department";
        let rows = self.query(sql, &[&(since_ms as i64), &(now_ms as i64)])?;
        let count = |row: &Row, i: usize| row.get::<_, i64>(i).max(0) as u64;
        Ok(rows
            .iter()
            .map(|row| CaseTallyRow {
                grid: row.get(0),
                category: row.get(1),
                status: row.get(2),
                department: row.get(3),
                total: count(row, 4),
                overdue: count(row, 5),
                due_soon: count(row, 6),
                closed_on_time: count(row, 7),
                handled_in_grid: count(row, 8),
                handled: count(row, 9),
                handle_ms: count(row, 10),
                closed_after_handling: count(row, 11),
                close_ms: count(row, 12),
            })
            .collect())
    }

    fn reporter_tally(&mut self, since_ms: u64) -> Result<Vec<ReporterTallyRow>> {
        let sql = "SELECT s.user_id, u.name, f.grid, count(DISTINCT f.case_id)::bigint,
                    count(DISTINCT CASE WHEN f.status IN ('closed', 'visited') THEN f.case_id END)::bigint,
                    count(DISTINCT CASE WHEN f.handled_in_grid THEN f.case_id END)::bigint
                 FROM case_flow f
                 JOIN case_steps s ON s.case_id = f.case_id AND s.step = 'report'
                 JOIN users u ON u.id = s.user_id AND u.role = 'worker'
                 WHERE f.received_at_ms >= $1
                 GROUP BY s.user_id, u.name, f.grid";
        let rows = self.query(sql, &[&(since_ms as i64)])?;
        let count = |row: &Row, i: usize| row.get::<_, i64>(i).max(0) as u64;
        Ok(rows
            .iter()
            .map(|row| ReporterTallyRow {
                user_id: row.get(0),
                user_name: row.get(1),
                grid: row.get(2),
                total: count(row, 3),
                closed: count(row, 4),
                handled_in_grid: count(row, 5),
            })
            .collect())
    }

    fn token_holder(&mut self, digest: &[u8; 32], now_ms: u64) -> Result<Option<TokenHolder>> {
        let Some(row) = self.query_opt(
            "SELECT u.id, u.name, u.role, t.device_id, d.number, d.revoked_at_ms, t.revoked_at_ms
             FROM tokens t JOIN users u ON u.id = t.user_id LEFT JOIN devices d ON d.id = t.device_id
             WHERE t.hash = $1 AND (t.expires_at_ms IS NULL OR t.expires_at_ms > $2)",
            &[&digest.as_slice(), &(now_ms as i64)],
        )?
        else {
            return Ok(None);
        };
        let device = match (row.get::<_, Option<String>>(3), row.get::<_, Option<i32>>(4)) {
            (Some(id), Some(number)) => {
                Some((id, DeviceId(number as u32), row.get::<_, Option<i64>>(5).is_some()))
            }
            _ => None,
        };
        Ok(Some(TokenHolder {
            user_id: row.get(0),
            user_name: row.get(1),
            role: role(row.get(2))?,
            device,
            token_revoked: row.get::<_, Option<i64>>(6).is_some(),
        }))
    }

    fn integration_key_by_digest(&mut self, digest: &[u8; 32]) -> Result<Option<IntegrationKey>> {
        Ok(self
            .query_opt(
                &format!("SELECT {INTEGRATION_KEY_COLUMNS} FROM integration_keys WHERE hash = $1"),
                &[&digest.as_slice()],
            )?
            .map(|r| integration_key_row(&r)))
    }

    fn integration_key(&mut self, id: &str) -> Result<Option<IntegrationKey>> {
        Ok(self
            .query_opt(
                &format!("SELECT {INTEGRATION_KEY_COLUMNS} FROM integration_keys WHERE id = $1"),
                &[&id],
            )?
            .map(|r| integration_key_row(&r)))
    }

    fn integration_keys(&mut self) -> Result<Vec<IntegrationKey>> {
        Ok(self
            .query(
                &format!(
                    "SELECT {INTEGRATION_KEY_COLUMNS} FROM integration_keys ORDER BY created_at_ms, id COLLATE \"C\""
                ),
                &[],
            )?
            .iter()
            .map(integration_key_row)
            .collect())
    }

    fn category(&mut self, code: &str) -> Result<Option<Category>> {
        Ok(self
            .query_opt(
                "SELECT code, name_zh, name_en, on_site_limit, solve_limit, department FROM case_categories WHERE code = $1",
                &[&code],
            )?
            .map(|r| category_row(&r)))
    }

    fn categories(&mut self) -> Result<Vec<Category>> {
        Ok(self
            .query(
                "SELECT code, name_zh, name_en, on_site_limit, solve_limit, department FROM case_categories ORDER BY code COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(category_row)
            .collect())
    }

    fn calendar_year(&mut self, year: i32) -> Result<(Option<String>, Vec<CalendarDay>)> {
        let source =
            self.query_opt("SELECT source FROM calendar_years WHERE year = $1", &[&year])?.map(|r| r.get(0));
        let days = self
            .query(
                "SELECT day, kind, name_zh, name_en FROM calendar_days WHERE day >= $1 AND day < $2 ORDER BY day COLLATE \"C\"",
                &[&format!("{year:04}-01-01"), &format!("{:04}-01-01", year + 1)],
            )?
            .iter()
            .map(|r| CalendarDay { day: r.get(0), kind: r.get(1), name_zh: r.get(2), name_en: r.get(3) })
            .collect();
        Ok((source, days))
    }

    fn calendar(&mut self) -> Result<crate::backend::CalendarRows> {
        let days = self
            .query("SELECT day, kind FROM calendar_days", &[])?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let years = self.query("SELECT year FROM calendar_years", &[])?.iter().map(|r| r.get(0)).collect();
        Ok((days, years))
    }

    fn case_flow(&mut self, id: RecordId) -> Result<Option<CaseFlowRow>> {
        let sql = format!("SELECT {CASE_FLOW_COLUMNS} FROM case_flow WHERE case_id = $1");
        self.query_opt(&sql, &[&id.as_bytes().as_slice()])?.map(|r| case_flow_row(&r)).transpose()
    }

    fn supervised(
        &mut self,
        department: Option<&str>,
        grids: Option<&[String]>,
        limit: usize,
    ) -> Result<Vec<(u64, CaseStepRow)>> {
        let grids: Option<Vec<String>> = grids.map(<[String]>::to_vec);
        self
            .query(
                "SELECT s.id, s.case_id, s.at_ms, s.step, s.user_id, s.device_id, s.from_status, s.to_status, s.department, s.note
                 FROM case_steps s JOIN case_flow f ON f.case_id = s.case_id
                 WHERE s.step = 'supervise' AND f.status IN ('reported', 'accepted', 'dispatched', 'returned')
                   AND ($1::text IS NULL OR f.department = $1)
                   AND ($2::text[] IS NULL OR f.grid = ANY($2) OR f.handling_grid = ANY($2))
                 ORDER BY s.id DESC LIMIT $3",
                &[&department, &grids, &(limit as i64)],
            )?
            .iter()
            .map(|r| -> Result<(u64, CaseStepRow)> {
                Ok((
                    r.get::<_, i64>(0) as u64,
                    CaseStepRow {
                        case_id: record_id(r.get(1))?,
                        at_ms: r.get::<_, i64>(2) as u64,
                        step: r.get(3),
                        user_id: r.get(4),
                        device_id: r.get(5),
                        from_status: r.get(6),
                        to_status: r.get(7),
                        department: r.get(8),
                        note: r.get(9),
                    },
                ))
            })
            .collect::<Result<_>>()
    }

    fn case_steps(&mut self, id: RecordId) -> Result<Vec<(u64, CaseStepRow)>> {
        Ok(self
            .query(
                "SELECT id, at_ms, step, user_id, device_id, from_status, to_status, department, note
                 FROM case_steps WHERE case_id = $1 ORDER BY id",
                &[&id.as_bytes().as_slice()],
            )?
            .iter()
            .map(|r| {
                (
                    r.get::<_, i64>(0) as u64,
                    CaseStepRow {
                        case_id: id,
                        at_ms: r.get::<_, i64>(1) as u64,
                        step: r.get(2),
                        user_id: r.get(3),
                        device_id: r.get(4),
                        from_status: r.get(5),
                        to_status: r.get(6),
                        department: r.get(7),
                        note: r.get(8),
                    },
                )
            })
            .collect())
    }

    fn case_page(&mut self, query: &CaseQuery) -> Result<Vec<CaseFlowRow>> {
        let mut sql = format!("SELECT {CASE_FLOW_COLUMNS} FROM case_flow WHERE true");
        let mut values: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        let mut bind = |value: Box<dyn ToSql + Sync>| {
            values.push(value);
            values.len()
        };
        if let Some(grids) = &query.grids {
            let n = bind(Box::new(grids.clone()));
            sql += &format!(" AND (grid = ANY(${n}) OR handling_grid = ANY(${n}))");
        }
        if let Some(department) = &query.department {
            let n = bind(Box::new(department.clone()));
            sql += &format!(" AND department = ${n}");
        }
        for (column, values) in [("status", &query.statuses), ("category", &query.categories)] {
            if let Some(values) = values {
                let n = bind(Box::new(values.clone()));
                sql += &format!(" AND {column} = ANY(${n})");
            }
        }
        if query.open_only {
            sql += " AND status IN ('reported', 'accepted', 'dispatched', 'returned')";
        }
        if let Some(before) = query.due_before_ms {
            let n = bind(Box::new(before as i64));
            sql += &format!(" AND due_at_ms < ${n}");
        }
        if let Some(from) = query.received_from_ms {
            let n = bind(Box::new(from.min(i64::MAX as u64) as i64));
            sql += &format!(" AND received_at_ms >= ${n}");
        }
        if let Some(to) = query.received_to_ms {
            let n = bind(Box::new(to.min(i64::MAX as u64) as i64));
            sql += &format!(" AND received_at_ms <= ${n}");
        }
        if let Some((at, id)) = query.after {
            let (a, b) = (bind(Box::new(at as i64)), bind(Box::new(id.as_bytes().to_vec())));
            sql += &format!(" AND (received_at_ms, case_id) < (${a}, ${b})");
        }
        let n = bind(Box::new(query.limit as i64));
        sql += &format!(" ORDER BY received_at_ms DESC, case_id DESC LIMIT ${n}");
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        self.query(&sql, &params)?.iter().map(case_flow_row).collect()
    }

    fn record_page(&mut self, query: &RecordQuery) -> Result<Vec<(String, RecordId)>> {
        let kind = i16::from(query.kind.number());
        let mut found: Vec<(String, RecordId)> = Vec::new();
        let row_of = |row: &Row| -> Result<(String, RecordId)> { Ok((row.get(0), record_id(row.get(1))?)) };
        let columns: Vec<&str> =
            search_columns(query.kind).iter().map(|c| if *c == "head" { "name" } else { *c }).collect();
        let dense = match &query.search {
            None => false,
            Some(text) => {
                let mut matches = 0;
                for column in &columns {
                    let sql = format!(
                        "SELECT count(*) FROM (SELECT 1 FROM registry WHERE kind = $1 AND {column} COLLATE \"C\" >= $2
                         AND {column} COLLATE \"C\" < $3 LIMIT $4) x"
                    );
                    let row = self.query(&sql, &[&kind, text, &prefix_end(text), &(DENSE_SEARCH as i64)])?;
                    matches += row.first().map_or(0, |r| r.get::<_, i64>(0)) as usize;
                }
                matches >= DENSE_SEARCH
            }
        };
        if let Some(text) = query.search.as_ref().filter(|_| !dense) {
            // One query over the prefix indexes: it reads the records
            // matching the prefix, however many grids there are.
            let mut values: Vec<Box<dyn ToSql + Sync>> = vec![
                Box::new(kind),
                Box::new(text.clone()),
                Box::new(prefix_end(text)),
                Box::new(query.grids.clone()),
            ];
            let matches = columns
                .iter()
                .map(|c| format!("({c} COLLATE \"C\" >= $2 AND {c} COLLATE \"C\" < $3)"))
                .collect::<Vec<_>>()
                .join(" OR ");
            let mut sql =
                format!("SELECT grid, id FROM registry WHERE kind = $1 AND ({matches}) AND grid = ANY($4)");
            if let Some(tag) = &query.tag {
                values.push(Box::new(tag.clone()));
                sql += &format!(
                    " AND EXISTS (SELECT 1 FROM registry_tags t WHERE t.kind = $1 AND t.tag = ${} AND t.grid = registry.grid AND t.id = registry.id)",
                    values.len()
                );
            }
            if let Some(residence) = &query.residence {
                values.push(Box::new(residence.clone()));
                sql += &format!(" AND residence_type = ${}", values.len());
            }
            if let Some((grid, id)) = &query.after {
                values.push(Box::new(grid.clone()));
                values.push(Box::new(id.as_bytes().to_vec()));
                let (g, i) = (values.len() - 1, values.len());
                sql += &format!(" AND (grid COLLATE \"C\" > ${g} OR (grid = ${g} AND id > ${i}))");
            }
            values.push(Box::new(query.limit as i64));
            sql += &format!(" ORDER BY grid COLLATE \"C\", id LIMIT ${}", values.len());
            let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
            return self.query(&sql, &params)?.iter().map(row_of).collect();
        }
        // Grids a batch at a time, each read along (kind, grid, id) up to
        // what the page still needs: a page reads about what it returns,
        // an empty grid costs a seek. A dense search is a filter on the way.
        let searching = |prefix: &str| match &query.search {
            None => String::new(),
            Some(_) => format!(
                " AND ({})",
                columns
                    .iter()
                    .map(|c| format!("({prefix}{c} COLLATE \"C\" >= $8 AND {prefix}{c} COLLATE \"C\" < $9)"))
                    .collect::<Vec<_>>()
                    .join(" OR ")
            ),
        };
        let inner = match (&query.tag, &query.residence) {
            (Some(_), residence) => format!(
                "SELECT t.grid, t.id FROM registry_tags t JOIN registry x ON x.id = t.id
                 WHERE t.kind = $2 AND t.tag = $6 AND t.grid = g.code AND t.id > (CASE WHEN g.code = $3 THEN $4 ELSE ''::bytea END){}{}
                 ORDER BY t.id LIMIT $5",
                if residence.is_some() { " AND x.residence_type = $7" } else { "" },
                searching("x.")
            ),
            (None, Some(_)) => format!(
                "SELECT grid, id FROM registry WHERE kind = $2 AND residence_type = $7 AND grid = g.code
                 AND id > (CASE WHEN g.code = $3 THEN $4 ELSE ''::bytea END){} ORDER BY id LIMIT $5",
                searching("")
            ),
            (None, None) => format!(
                "SELECT grid, id FROM registry WHERE kind = $2 AND grid = g.code
                 AND id > (CASE WHEN g.code = $3 THEN $4 ELSE ''::bytea END){} ORDER BY id LIMIT $5",
                searching("")
            ),
        };
        // The parameters a query does not use are typed here, so that
        // every query takes the same nine.
        let sql = format!(
            "SELECT r.grid, r.id FROM unnest($1::text[]) AS g(code) CROSS JOIN LATERAL ({inner}) r
             WHERE ($6::text, $7::text, $8::text, $9::text) IS NULL OR true
             ORDER BY r.grid COLLATE \"C\", r.id LIMIT $5"
        );
        let (start, after) = match &query.after {
            Some((grid, id)) => (grid.clone(), id.as_bytes().to_vec()),
            None => (String::new(), Vec::new()),
        };
        let grids: Vec<&String> = query.grids.iter().filter(|g| **g >= start).collect();
        let mut batch = 16;
        let mut at = 0;
        while at < grids.len() && found.len() < query.limit {
            let chunk: Vec<String> =
                grids[at..(at + batch).min(grids.len())].iter().map(|g| (*g).clone()).collect();
            at += chunk.len();
            batch = (batch * 4).min(1024);
            let remaining = (query.limit - found.len()) as i64;
            let mut values: Vec<Box<dyn ToSql + Sync>> = vec![
                Box::new(chunk),
                Box::new(kind),
                Box::new(start.clone()),
                Box::new(after.clone()),
                Box::new(remaining),
            ];
            values.push(Box::new(query.tag.clone()));
            values.push(Box::new(query.residence.clone()));
            values.push(Box::new(query.search.clone()));
            values.push(Box::new(query.search.as_deref().map(prefix_end)));
            let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
            for row in self.query(&sql, &params)? {
                found.push(row_of(&row)?);
            }
        }
        Ok(found)
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
        let rows = self.query(
            "SELECT id, at, worker FROM activity WHERE kind = $1 AND grid = ANY($2)
             AND at COLLATE \"C\" >= $3 AND at COLLATE \"C\" < $4 AND ($6::text IS NULL OR btrim(worker) = $6)
             ORDER BY at COLLATE \"C\", id LIMIT $5",
            &[&i16::from(kind.number()), &grids, &from, &to, &(limit as i64), &worker],
        )?;
        rows.iter()
            .map(|row| Ok(ActivityRow { id: record_id(row.get(0))?, at: row.get(1), worker: row.get(2) }))
            .collect()
    }

    fn device_owner(&mut self, number: u32) -> Result<Option<DeviceOwner>> {
        Ok(self
            .query_opt(
                "SELECT d.id, d.user_id, u.name FROM devices d JOIN users u ON u.id = d.user_id WHERE d.number = $1",
                &[&(number as i32)],
            )?
            .map(|row| DeviceOwner { device_id: row.get(0), user_id: row.get(1), user_name: row.get(2) }))
    }

    fn grid_parent(&mut self, code: &str) -> Result<Option<Option<String>>> {
        Ok(self
            .query_opt("SELECT parent FROM grids WHERE code = $1 AND NOT deleted", &[&code])?
            .map(|r| r.get(0)))
    }

    fn department(&mut self, code: &str) -> Result<Option<Department>> {
        Ok(self
            .query_opt("SELECT code, name_zh, name_en FROM departments WHERE code = $1", &[&code])?
            .map(|r| Department { code: r.get(0), name_zh: r.get(1), name_en: r.get(2) }))
    }

    fn departments(&mut self) -> Result<Vec<Department>> {
        Ok(self
            .query("SELECT code, name_zh, name_en FROM departments ORDER BY code COLLATE \"C\"", &[])?
            .iter()
            .map(|r| Department { code: r.get(0), name_zh: r.get(1), name_en: r.get(2) })
            .collect())
    }

    fn user_by_name(&mut self, name: &str) -> Result<Option<UserRow>> {
        self.user_where("name", name)
    }

    fn user(&mut self, id: &str) -> Result<Option<UserRow>> {
        self.user_where("id", id)
    }

    fn users(&mut self) -> Result<Vec<UserInfo>> {
        let mut grids: HashMap<String, Vec<String>> = HashMap::new();
        for row in self.query("SELECT user_id, grid FROM user_grids ORDER BY grid COLLATE \"C\"", &[])? {
            grids.entry(row.get(0)).or_default().push(row.get(1));
        }
        self.query(
            "SELECT id, name, role, created_at_ms, department FROM users ORDER BY created_at_ms, name COLLATE \"C\"",
            &[],
        )?
        .iter()
        .map(|r| {
            let id: String = r.get(0);
            Ok(UserInfo {
                grids: grids.remove(&id).unwrap_or_default(),
                id,
                name: r.get(1),
                role: role(r.get(2))?,
                created_at_ms: r.get::<_, i64>(3) as u64,
                department: r.get(4),
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
        let request: Option<&[u8]> = request_digest.map(|d| d.as_slice());
        let Some(row) = self.query_opt(
            "SELECT c.user_id, u.name, u.role, c.device_id FROM enrollment_codes c JOIN users u ON u.id = c.user_id
             WHERE c.hash = $1 AND c.expires_at_ms > $2
               AND (c.used_at_ms IS NULL
                    OR ($3::bytea IS NOT NULL AND c.request_hash = $3 AND c.used_at_ms > $2 - 600000 AND EXISTS (
                          SELECT 1 FROM devices d WHERE d.id = c.device_id
                            AND d.last_sync_ms IS NULL AND d.revoked_at_ms IS NULL)))",
            &[&digest.as_slice(), &(now_ms as i64), &request],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(CodeHolder {
            user_id: row.get(0),
            user_name: row.get(1),
            role: role(row.get(2))?,
            retried_device: row.get(3),
        }))
    }

    fn device_number(&mut self, device_id: &str) -> Result<Option<DeviceId>> {
        Ok(self
            .query_opt("SELECT number FROM devices WHERE id = $1", &[&device_id])?
            .map(|r| DeviceId(r.get::<_, i32>(0) as u32)))
    }

    fn next_device_number(&mut self) -> Result<u32> {
        let row = self.query(
            "SELECT greatest(coalesce((SELECT max(number) FROM devices), 0) + 1,
                             coalesce((SELECT value::bigint FROM server_meta WHERE key = 'device_number_floor'), 1))",
            &[],
        )?;
        Ok(row.first().map_or(1, |r| r.get::<_, i64>(0) as u32))
    }

    fn devices(&mut self) -> Result<Vec<DeviceInfo>> {
        Ok(self
            .query(
                "SELECT d.id, d.number, d.user_id, u.name, d.app_version, d.enrolled_at_ms, d.last_seen_ms, d.last_sync_ms,
                        d.pending, d.acked_counter, d.revoked_at_ms,
                    ((SELECT count(*) FROM parked p WHERE p.device_id = d.id)
                     + coalesce((SELECT sum(o.count) FROM parked_overflow o WHERE o.device_id = d.id), 0))::bigint
                 FROM devices d JOIN users u ON u.id = d.user_id ORDER BY d.number",
                &[],
            )?
            .iter()
            .map(|row| {
                let revoked_at_ms = row.get::<_, Option<i64>>(10).map(|v| v as u64);
                DeviceInfo {
                    id: row.get(0),
                    number: row.get::<_, i32>(1) as u32,
                    user_id: row.get(2),
                    user_name: row.get(3),
                    app_version: row.get(4),
                    enrolled_at_ms: row.get::<_, i64>(5) as u64,
                    last_seen_ms: row.get::<_, Option<i64>>(6).map(|v| v as u64),
                    last_sync_ms: row.get::<_, Option<i64>>(7).map(|v| v as u64),
                    pending: row.get::<_, i64>(8) as u64,
                    acked_counter: row.get::<_, i64>(9) as u64,
                    revoked: revoked_at_ms.is_some(),
                    revoked_at_ms,
                    refused: row.get::<_, i64>(11) as u64,
                }
            })
            .collect())
    }

    fn acked_counter(&mut self, device_id: &str) -> Result<u64> {
        let row = self.query_opt("SELECT acked_counter FROM devices WHERE id = $1", &[&device_id])?;
        let row = row.ok_or_else(|| BackendError::Corrupt(format!("no device {device_id}")))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn usage(&mut self, device_id: &str, day: u64) -> Result<(u64, u64)> {
        Ok(self
            .query_opt(
                "SELECT push_bytes, upload_bytes FROM device_usage WHERE device_id = $1 AND day = $2",
                &[&device_id, &(day as i64)],
            )?
            .map_or((0, 0), |r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64)))
    }

    fn preview(
        &mut self,
        changes: &[RecordChanges],
        pusher: DeviceId,
    ) -> Result<Vec<std::result::Result<Preview, ChangeError>>> {
        let ids: Vec<RecordId> = changes.iter().map(|c| c.id).collect();
        let stored_all = self.load_many(&ids)?;
        let mut previews = Vec::with_capacity(changes.len());
        for change in changes {
            let fields = match gridwork_store::check_batch(std::slice::from_ref(change)) {
                Ok(mut fields) => fields.pop().unwrap_or_default(),
                Err(error) => {
                    previews.push(Err(ChangeError::Invalid(invalid(error)?)));
                    continue;
                }
            };
            let stored = stored_all.get(&change.id);
            previews.push(preview(stored.map(|(k, s)| (*k, s)), change, &fields, pusher));
        }
        Ok(previews)
    }

    fn change_seq(&mut self) -> Result<u64> {
        Ok(self.replica()?.0)
    }

    fn seq_marked_by(&mut self, at_ms: u64) -> Result<Option<u64>> {
        Ok(self
            .query_opt(
                "SELECT seq FROM seq_marks WHERE at_ms <= $1 ORDER BY at_ms DESC LIMIT 1",
                &[&(at_ms as i64)],
            )?
            .map(|r| r.get::<_, i64>(0) as u64))
    }

    fn kind_of(&mut self, id: RecordId) -> Result<Option<Kind>> {
        self.query_opt("SELECT kind FROM records WHERE id = $1", &[&id.as_bytes().as_slice()])?
            .map(|r| kind(r.get(0)))
            .transpose()
    }

    fn grid_of(&mut self, kind: Kind, id: RecordId) -> Result<Option<String>> {
        Ok(self
            .query_opt(
                "SELECT grid FROM records WHERE id = $1 AND kind = $2",
                &[&id.as_bytes().as_slice(), &i16::from(kind.number())],
            )?
            .and_then(|r| r.get(0)))
    }

    fn export(&mut self, kind: Kind, id: RecordId) -> Result<Option<RecordChanges>> {
        let Some((stored_kind, slots)) = self.load(id)? else { return Ok(None) };
        if stored_kind != kind {
            return Ok(None);
        }
        let def = kind.def();
        let fields = slots
            .into_iter()
            .enumerate()
            .filter_map(|(i, slot)| {
                slot.map(|(_, register)| FieldState { field: def.fields[i].name.to_owned(), register })
            })
            .collect();
        Ok(Some(RecordChanges { id, kind, fields }))
    }

    fn changes(
        &mut self,
        position: PullPosition,
        scope: &[String],
        viewer: Option<DeviceId>,
        page: PageLimit,
    ) -> Result<ChangesPage> {
        let PullPosition { since, after } = position;
        let after = after.max(since);
        let (head, _) = self.replica()?;
        let scope_refs: Vec<&str> = scope.iter().map(String::as_str).collect();
        let limit = page.records as i64 + 1;
        let rows = self.query(
            "(SELECT seq, id, kind, body FROM records WHERE kind = 0 AND seq > $1 ORDER BY seq LIMIT $3)
             UNION ALL
             (SELECT seq, id, kind, body FROM records WHERE kind <> 0 AND grid = ANY($2) AND seq > $1 ORDER BY seq LIMIT $3)
             ORDER BY seq LIMIT $3",
            &[&(after as i64), &scope_refs, &limit],
        )?;
        let more = rows.len() > page.records;
        let found = &rows[..rows.len().min(page.records)];

        // Moves, as the embedded store reads them (see `Store::changes_in_scope`).
        let mut moves = paging::Moves::new(scope, after);
        if since > 0 {
            let rows = self.query(
                "SELECT seq, record, kind, old_grid, new_grid FROM moves WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&(since as i64), &(MAX_MOVES_READ as i64 + 1)],
            )?;
            if rows.len() > MAX_MOVES_READ {
                return Ok(changes_page(paging::resync()));
            }
            for row in rows {
                let (seq, id, kind) =
                    (row.get::<_, i64>(0) as u64, record_id(row.get(1))?, kind(row.get(2))?);
                let (old, new): (String, Option<String>) = (row.get(3), row.get(4));
                moves.note(seq, kind, id, &old, new.as_deref());
            }
        }

        let limit = gridwork_store::PageLimit { records: page.records, bytes: page.bytes };
        let mut page = paging::Page::new(limit, more);
        for row in found {
            let (seq, id, kind) = (row.get::<_, i64>(0) as u64, record_id(row.get(1))?, kind(row.get(2))?);
            let def = kind.def();
            let whole = since == 0 || moves.moved_in(&id);
            let fields: Vec<FieldState> = decode(kind, row.get(3))?
                .into_iter()
                .enumerate()
                .filter_map(|(i, slot)| {
                    let (seq, register) = slot?;
                    let sent = paging::sends_field(
                        whole,
                        since,
                        seq,
                        register.winner().writer,
                        register.in_conflict(),
                        viewer,
                    );
                    sent.then(|| FieldState { field: def.fields[i].name.to_owned(), register })
                })
                .collect();
            let change = (!fields.is_empty()).then_some(RecordChanges { id, kind, fields });
            if !page.offer(seq, change) {
                break;
            }
        }
        Ok(changes_page(page.finish(head, after, moves)))
    }

    fn conflicts(&mut self, grids: Option<&[String]>, limit: usize) -> Result<Vec<Conflict>> {
        let rows = match grids {
            None => self.query(
                "SELECT record, tag, kind FROM conflicts ORDER BY record, tag LIMIT $1",
                &[&(limit as i64)],
            )?,
            // `records.grid` is the scope field's winning value.
            Some(grids) => self.query(
                "SELECT c.record, c.tag, c.kind FROM conflicts c JOIN records r ON r.id = c.record
                 WHERE r.grid = ANY($2) ORDER BY c.record, c.tag LIMIT $1",
                &[&(limit as i64), &grids],
            )?,
        };
        let mut conflicts = Vec::with_capacity(rows.len());
        for row in rows {
            let (id, tag, kind) = (record_id(row.get(0))?, row.get::<_, i16>(1), kind(row.get(2))?);
            let def = kind.def();
            let Some((_, slots)) = self.load(id)? else { continue };
            let Some(i) = def.fields.iter().position(|f| i16::from(f.tag) == tag) else { continue };
            let Some((_, register)) = &slots[i] else { continue };
            let info = |v: &gridwork_merge::Version<Value>| VersionInfo {
                value: v.value.clone(),
                writer: v.writer,
                hlc: v.hlc,
                at_ms: v.hlc.physical_ms(),
            };
            conflicts.push(Conflict {
                kind,
                id,
                field: def.fields[i].name.to_owned(),
                winner: info(register.winner()),
                losers: register.losers().iter().map(info).collect(),
            });
        }
        Ok(conflicts)
    }

    fn attachment_stored(&mut self, sha256: &str) -> Result<Option<u64>> {
        Ok(self
            .query_opt("SELECT size FROM attachments WHERE sha256 = $1", &[&sha256])?
            .map(|r| r.get::<_, i64>(0) as u64))
    }

    fn attachment_held(&mut self, sha256: &str, holder: &str) -> Result<bool> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM attachment_holders WHERE sha256 = $1 AND holder = $2",
                &[&sha256, &holder],
            )?
            .is_some())
    }

    fn photo_listed(&mut self, sha256: &str, grid: Option<&str>) -> Result<bool> {
        Ok(match grid {
            Some(grid) => self.query_opt(
                "SELECT 1 FROM case_photos WHERE sha256 = $1 AND grid = $2 LIMIT 1",
                &[&sha256, &grid],
            )?,
            None => self.query_opt("SELECT 1 FROM case_photos WHERE sha256 = $1 LIMIT 1", &[&sha256])?,
        }
        .is_some())
    }

    fn upload(&mut self, sha256: &str, uploader: &str) -> Result<Option<UploadRow>> {
        Ok(self
            .query_opt(
                "SELECT size, received FROM attachment_uploads WHERE sha256 = $1 AND uploader = $2",
                &[&sha256, &uploader],
            )?
            .map(|r| UploadRow { size: r.get::<_, i64>(0) as u64, received: r.get::<_, i64>(1) as u64 }))
    }

    fn uploads_held(&mut self, uploader: &str, except: &str) -> Result<(u64, u64)> {
        let rows = self.query(
            "SELECT count(*), coalesce(sum(size), 0)::bigint FROM attachment_uploads WHERE uploader = $1 AND sha256 <> $2",
            &[&uploader, &except],
        )?;
        Ok(rows.first().map_or((0, 0), |r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64)))
    }

    fn stale_uploads(&mut self, before_ms: u64) -> Result<Vec<(String, String)>> {
        Ok(self
            .query(
                "SELECT sha256, uploader FROM attachment_uploads WHERE active_at_ms < $1 LIMIT 10000",
                &[&(before_ms as i64)],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn clock_ms(&mut self) -> Result<Option<u64>> {
        let row = self.query("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint", &[])?;
        Ok(row.first().map(|r| r.get::<_, i64>(0) as u64))
    }

    fn guesses(&mut self, what: &str, address: &str, since_ms: u64) -> Result<(u64, Option<u64>)> {
        let rows = self.query(
            "SELECT count(*), min(at_ms) FROM guesses WHERE what = $1 AND address = $2 AND at_ms >= $3",
            &[&what, &address, &(since_ms as i64)],
        )?;
        Ok(rows
            .first()
            .map_or((0, None), |r| (r.get::<_, i64>(0) as u64, r.get::<_, Option<i64>>(1).map(|t| t as u64))))
    }

    fn parked_page(
        &mut self,
        after: Option<u64>,
        limit: usize,
        grids: Option<&[String]>,
    ) -> Result<ParkedPage> {
        let after = after.map_or(i64::MAX, |a| a.min(i64::MAX as u64) as i64);
        let grids: Option<Vec<String>> = grids.map(<[String]>::to_vec);
        let mut items = self
            .query(
                "SELECT id, at_ms, device_id, record, kind, code, field, message, bytes, grid FROM parked
                 WHERE id < $1 AND ($3::text[] IS NULL OR grid = ANY($3)) ORDER BY id DESC LIMIT $2",
                &[&after, &(limit as i64 + 1), &grids],
            )?
            .iter()
            .map(|row| {
                Ok(ParkedSummary {
                    id: row.get::<_, i64>(0) as u64,
                    at_ms: row.get::<_, i64>(1) as u64,
                    device_id: row.get(2),
                    record: record_id(row.get(3))?.to_string(),
                    kind: kind(row.get(4)).map_or("unknown", Kind::as_str).to_owned(),
                    code: RefusalCode::parse(row.get(5)),
                    field: row.get(6),
                    message: row.get(7),
                    bytes: row.get::<_, i64>(8) as u64,
                    grid: row.get(9),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next = (items.len() > limit).then(|| {
            items.truncate(limit);
            items.last().map_or(0, |i| i.id)
        });
        let total = self
            .query("SELECT count(*) FROM parked WHERE $1::text[] IS NULL OR grid = ANY($1)", &[&grids])?
            .first()
            .map_or(0, |r| r.get::<_, i64>(0) as u64);
        if grids.is_some() {
            return Ok(ParkedPage { items, next, total, overflow: Vec::new() });
        }
        let overflow = self
            .query("SELECT device_id, code, count, first_at_ms, last_at_ms FROM parked_overflow ORDER BY last_at_ms DESC", &[])?
            .iter()
            .map(|row| ParkedOverflow {
                device_id: row.get(0),
                code: RefusalCode::parse(row.get(1)),
                count: row.get::<_, i64>(2) as u64,
                first_at_ms: row.get::<_, i64>(3) as u64,
                last_at_ms: row.get::<_, i64>(4) as u64,
            })
            .collect();
        Ok(ParkedPage { items, next, total, overflow })
    }

    fn parked(&mut self, id: u64) -> Result<Option<ParkedFull>> {
        let Some(row) = self.query_opt(
            "SELECT at_ms, device_id, record, kind, code, field, message, payload, grid FROM parked WHERE id = $1",
            &[&(id as i64)],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(ParkedFull { id, row: self.parked_row(&row)? }))
    }

    fn parked_usage(&mut self, device_id: &str) -> Result<(u64, u64)> {
        let rows = self.query(
            "SELECT count(*), coalesce(sum(bytes), 0)::bigint FROM parked WHERE device_id = $1",
            &[&device_id],
        )?;
        Ok(rows.first().map_or((0, 0), |r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64)))
    }

    fn parked_bytes(&mut self, device_id: &str, record: RecordId) -> Result<Option<u64>> {
        Ok(self
            .query_opt(
                "SELECT bytes FROM parked WHERE device_id = $1 AND record = $2",
                &[&device_id, &record.as_bytes().as_slice()],
            )?
            .map(|r| r.get::<_, i64>(0) as u64))
    }
}

impl Writes for PgTx<'_> {
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.execute(
            "INSERT INTO server_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )?;
        Ok(())
    }

    fn insert_user(&mut self, user: &UserRow, created_at_ms: u64) -> Result<bool> {
        Ok(self.execute(
            "INSERT INTO users (id, name, role, password_hash, created_at_ms, department)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
            &[
                &user.id,
                &user.name,
                &user.role.as_str(),
                &user.password_hash,
                &(created_at_ms as i64),
                &user.department,
            ],
        )? > 0)
    }

    fn update_category(&mut self, row: &Category) -> Result<()> {
        self.execute(
            "UPDATE case_categories SET name_zh = $2, name_en = $3, on_site_limit = $4, solve_limit = $5, department = $6
             WHERE code = $1",
            &[&row.code, &row.name_zh, &row.name_en, &row.on_site_limit, &row.solve_limit, &row.department],
        )?;
        Ok(())
    }

    fn replace_calendar_year(&mut self, year: i32, source: &str, days: &[CalendarDay]) -> Result<()> {
        self.execute(
            "DELETE FROM calendar_days WHERE day >= $1 AND day < $2",
            &[&format!("{year:04}-01-01"), &format!("{:04}-01-01", year + 1)],
        )?;
        for day in days {
            self.execute(
                "INSERT INTO calendar_days (day, kind, name_zh, name_en) VALUES ($1, $2, $3, $4)",
                &[&day.day, &day.kind, &day.name_zh, &day.name_en],
            )?;
        }
        self.execute(
            "INSERT INTO calendar_years (year, source) VALUES ($1, $2)
             ON CONFLICT (year) DO UPDATE SET source = excluded.source",
            &[&year, &source],
        )?;
        Ok(())
    }

    fn save_case_flow(&mut self, row: &CaseFlowRow) -> Result<()> {
        let ms = |v: Option<u64>| v.map(|v| v as i64);
        self.execute(
            &format!(
                "INSERT INTO case_flow ({CASE_FLOW_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                 ON CONFLICT (case_id) DO UPDATE SET grid = excluded.grid, handling_grid = excluded.handling_grid,
                     category = excluded.category, status = excluded.status, department = excluded.department,
                     received_at_ms = excluded.received_at_ms, due_at_ms = excluded.due_at_ms,
                     on_site_due_at_ms = excluded.on_site_due_at_ms, handled_at_ms = excluded.handled_at_ms,
                     closed_at_ms = excluded.closed_at_ms, handled_in_grid = excluded.handled_in_grid,
                     satisfaction = excluded.satisfaction, updated_at_ms = excluded.updated_at_ms"
            ),
            &[
                &row.case_id.as_bytes().as_slice(),
                &row.grid,
                &row.handling_grid,
                &row.category,
                &row.status,
                &row.department,
                &(row.received_at_ms as i64),
                &(row.due_at_ms as i64),
                &ms(row.on_site_due_at_ms),
                &ms(row.handled_at_ms),
                &ms(row.closed_at_ms),
                &row.handled_in_grid,
                &row.satisfaction,
                &(row.updated_at_ms as i64),
            ],
        )?;
        Ok(())
    }

    fn add_case_step(&mut self, row: &CaseStepRow) -> Result<()> {
        self.execute(
            "INSERT INTO case_steps (case_id, at_ms, step, user_id, device_id, from_status, to_status, department, note)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &row.case_id.as_bytes().as_slice(),
                &(row.at_ms as i64),
                &row.step,
                &row.user_id,
                &row.device_id,
                &row.from_status,
                &row.to_status,
                &row.department,
                &row.note,
            ],
        )?;
        Ok(())
    }

    fn insert_department(&mut self, department: &Department, now_ms: u64) -> Result<bool> {
        Ok(self.execute(
            "INSERT INTO departments (code, name_zh, name_en, created_at_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (code) DO NOTHING",
            &[&department.code, &department.name_zh, &department.name_en, &(now_ms as i64)],
        )? > 0)
    }

    fn assign_grid(&mut self, user_id: &str, grid: &str) -> Result<()> {
        self.execute(
            "INSERT INTO user_grids (user_id, grid) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&user_id, &grid],
        )?;
        Ok(())
    }

    fn insert_token(&mut self, token: &NewToken) -> Result<()> {
        self.execute(
            "INSERT INTO tokens (hash, user_id, device_id, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5)",
            &[
                &token.digest.as_slice(),
                &token.user_id,
                &token.device_id,
                &(token.created_at_ms as i64),
                &token.expires_at_ms.map(|t| t as i64),
            ],
        )?;
        Ok(())
    }

    fn insert_integration_key(&mut self, key: &IntegrationKey, digest: &[u8; 32]) -> Result<()> {
        self.execute(
            "INSERT INTO integration_keys (id, name, hash, grid, created_at_ms, created_by)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &key.id,
                &key.name,
                &digest.as_slice(),
                &key.grid,
                &(key.created_at_ms as i64),
                &key.created_by,
            ],
        )?;
        Ok(())
    }

    fn revoke_integration_key(&mut self, id: &str, now_ms: u64) -> Result<bool> {
        Ok(self.execute(
            "UPDATE integration_keys SET revoked_at_ms = coalesce(revoked_at_ms, $1) WHERE id = $2",
            &[&(now_ms as i64), &id],
        )? > 0)
    }

    fn forget_ended_sessions(&mut self, now_ms: u64) -> Result<()> {
        self.execute(
            "DELETE FROM tokens WHERE device_id IS NULL AND expires_at_ms IS NOT NULL
               AND (expires_at_ms <= $1 OR revoked_at_ms IS NOT NULL)",
            &[&(now_ms as i64)],
        )?;
        Ok(())
    }

    fn end_oldest_sessions(&mut self, user_id: &str, keep: usize, now_ms: u64) -> Result<u64> {
        self.execute(
            "UPDATE tokens SET revoked_at_ms = $1
             WHERE user_id = $2 AND device_id IS NULL AND expires_at_ms IS NOT NULL AND revoked_at_ms IS NULL
               AND hash NOT IN (
                 SELECT hash FROM tokens WHERE user_id = $2 AND device_id IS NULL AND expires_at_ms IS NOT NULL
                 ORDER BY created_at_ms DESC, issued DESC LIMIT $3)",
            &[&(now_ms as i64), &user_id, &(keep as i64)],
        )
    }

    fn end_session(&mut self, digest: &[u8; 32], now_ms: u64) -> Result<Option<String>> {
        Ok(self
            .query_opt(
                "UPDATE tokens SET revoked_at_ms = $1
                 WHERE hash = $2 AND device_id IS NULL AND expires_at_ms > $1 AND revoked_at_ms IS NULL
                 RETURNING user_id",
                &[&(now_ms as i64), &digest.as_slice()],
            )?
            .map(|r| r.get(0)))
    }

    fn insert_enrollment_code(
        &mut self,
        digest: &[u8; 32],
        user_id: &str,
        now_ms: u64,
        expires_at_ms: u64,
    ) -> Result<()> {
        self.execute(
            "INSERT INTO enrollment_codes (hash, user_id, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4)",
            &[&digest.as_slice(), &user_id, &(now_ms as i64), &(expires_at_ms as i64)],
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
        let request: Option<&[u8]> = request_digest.map(|d| d.as_slice());
        self.execute(
            "UPDATE enrollment_codes SET used_at_ms = $1, device_id = $2, request_hash = $3 WHERE hash = $4",
            &[&(now_ms as i64), &device_id, &request, &digest.as_slice()],
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
        self.execute(
            "INSERT INTO devices (id, number, user_id, app_version, enrolled_at_ms, last_seen_ms) VALUES ($1, $2, $3, $4, $5, $5)",
            &[&id, &(number as i32), &user_id, &app_version, &(now_ms as i64)],
        )?;
        Ok(())
    }

    fn revoke_tokens(&mut self, device_id: &str, now_ms: u64) -> Result<()> {
        self.execute(
            "UPDATE tokens SET revoked_at_ms = coalesce(revoked_at_ms, $1) WHERE device_id = $2",
            &[&(now_ms as i64), &device_id],
        )?;
        Ok(())
    }

    fn revoke_device(&mut self, device_id: &str, now_ms: u64) -> Result<bool> {
        let updated = self.execute(
            "UPDATE devices SET revoked_at_ms = coalesce(revoked_at_ms, $1) WHERE id = $2",
            &[&(now_ms as i64), &device_id],
        )?;
        if updated == 0 {
            return Ok(false);
        }
        self.revoke_tokens(device_id, now_ms)?;
        Ok(true)
    }

    fn put_record(&mut self, kind: Kind, id: Option<RecordId>, fields: &[(&str, Value)]) -> Result<RecordId> {
        let now = crate::SystemClock.now_ms();
        let id = id.unwrap_or_else(|| {
            let mut random = [0u8; 10];
            getrandom::fill(&mut random).expect("the operating system provides randomness");
            RecordId::from_parts(now, random)
        });
        let def = kind.def();
        let (mut slots, exists) = match self.load(id)? {
            Some((stored, _)) if stored != kind => {
                return Err(BackendError::Invalid(ValidationError::invalid(
                    "id",
                    Reason::Disagrees { other: "the kind of the record with this id" },
                )));
            }
            Some((_, slots)) => (slots, true),
            None => (vec![None; def.fields.len()], false),
        };
        let mut draft =
            Record { id, kind, values: (0..def.fields.len()).map(|i| value(&slots, i)).collect() };
        let mut changed =
            gridwork_domain::apply_edit(&mut draft, fields.iter().map(|(name, v)| (*name, v.clone())))
                .map_err(BackendError::Invalid)?;
        // Writing a field in conflict settles it, even with the value that
        // is winning: the server's write has seen every version.
        for (name, _) in fields {
            let Some(i) = def.fields.iter().position(|f| f.name == *name) else { continue };
            if slots[i].as_ref().is_some_and(|(_, register)| !register.losers().is_empty())
                && !changed.contains(&i)
            {
                changed.push(i);
            }
        }
        changed.sort_unstable();
        if changed.is_empty() {
            return Ok(id);
        }
        let latest = gridwork_domain::latest_date(now);
        for &i in &changed {
            gridwork_domain::check_not_in_future(kind, def.fields[i].name, &draft.values[i], latest)
                .map_err(BackendError::Invalid)?;
            // The record's grid (and a grid's parent) must exist, and every
            // reference must point at a live record of its kind.
            let field = &def.fields[i];
            let Some(text) = draft.values[i].as_text() else { continue };
            let missing = match field.ty {
                FieldType::GridCode if kind == Kind::Grid && field.name == def.scope_field => None,
                FieldType::GridCode => self
                    .query_opt("SELECT 1 FROM grids WHERE code = $1 AND NOT deleted LIMIT 1", &[&text])?
                    .is_none()
                    .then(|| Reason::NoSuchGrid { code: text.to_owned() }),
                FieldType::Ref { kind: target } => {
                    let target_id = RecordId::parse_for(field.name, text).map_err(BackendError::Invalid)?;
                    self.query_opt(
                        "SELECT 1 FROM records WHERE id = $1 AND kind = $2 AND NOT deleted",
                        &[&target_id.as_bytes().as_slice(), &i16::from(target.number())],
                    )?
                    .is_none()
                    .then(|| Reason::NoSuchRecord { kind: target.as_str(), id: text.to_owned() })
                }
                _ => None,
            };
            if let Some(reason) = missing {
                return Err(BackendError::Invalid(ValidationError::invalid(field.name, reason)));
            }
        }
        let grid_before =
            exists.then(|| value(&slots, def.scope_index()).as_text().map(str::to_owned)).flatten();
        let (seq, hlc) = self.replica()?;
        let (seq, hlc) = (seq + 1, hlc.tick(now));
        for &i in &changed {
            let new_value = std::mem::take(&mut draft.values[i]);
            slots[i] = Some(match slots[i].take() {
                Some((_, mut register)) => {
                    register.write(new_value, DeviceId(0), hlc);
                    (seq, register)
                }
                None => (seq, Register::first_write(new_value, DeviceId(0), hlc)),
            });
        }
        self.save(&[Saved { kind, id, slots, seq, grid_before }])?;
        self.set_replica(seq, hlc)?;
        Ok(id)
    }

    fn mark_seq(&mut self, at_ms: u64, seq: u64) -> Result<()> {
        self.execute(
            "INSERT INTO seq_marks (at_ms, seq) VALUES ($1, $2) ON CONFLICT (at_ms) DO UPDATE SET seq = excluded.seq",
            &[&(at_ms as i64), &(seq as i64)],
        )?;
        Ok(())
    }

    fn forget_marks_before(&mut self, at_ms: u64) -> Result<()> {
        self.execute("DELETE FROM seq_marks WHERE at_ms < $1", &[&(at_ms as i64)])?;
        Ok(())
    }

    fn purge_through(&mut self, seq: u64) -> Result<(u64, u64)> {
        let seq = seq as i64;
        let moves = self.execute("DELETE FROM moves WHERE seq <= $1", &[&seq])?;
        let gone = "SELECT id FROM records WHERE deleted AND seq <= $1";
        self.execute(&format!("DELETE FROM conflicts WHERE record IN ({gone})"), &[&seq])?;
        self.execute(&format!("DELETE FROM case_photos WHERE record IN ({gone})"), &[&seq])?;
        self.execute(&format!("DELETE FROM grids WHERE id IN ({gone})"), &[&seq])?;
        let records = self.execute("DELETE FROM records WHERE deleted AND seq <= $1", &[&seq])?;
        Ok((moves, records))
    }

    fn apply(&mut self, changes: Vec<RecordChanges>) -> Result<usize> {
        let indices = gridwork_store::check_batch(&changes).map_err(|e| match invalid(e) {
            Ok(invalid) => BackendError::Invalid(invalid),
            Err(other) => other,
        })?;
        let (mut seq, mut hlc) = self.replica()?;
        let ids: Vec<RecordId> = changes.iter().map(|c| c.id).collect();
        let mut stored = self.load_many(&ids)?;
        let mut saved = Vec::with_capacity(changes.len());
        for (change, fields) in changes.into_iter().zip(indices) {
            let def = change.kind.def();
            let (mut slots, exists) = match stored.remove(&change.id) {
                Some((stored, _)) if stored != change.kind => {
                    return Err(BackendError::Invalid(ValidationError::invalid(
                        "id",
                        Reason::Disagrees { other: "the kind of the record with this id" },
                    )));
                }
                Some((_, slots)) => (slots, true),
                None => (vec![None; def.fields.len()], false),
            };
            let grid_before =
                exists.then(|| value(&slots, def.scope_index()).as_text().map(str::to_owned)).flatten();
            let mut changed = Vec::new();
            for (state, i) in change.fields.into_iter().zip(fields) {
                for version in state.register.versions() {
                    hlc = hlc.observe(version.hlc);
                }
                match &mut slots[i] {
                    Some((_, register)) => {
                        if register.merge(state.register).changed() {
                            changed.push(i);
                        }
                        // A register claiming to have seen and dropped every
                        // version held here, while holding only versions
                        // this side overwrote, is no honest device's: the
                        // embedded store refuses it the same way.
                        if register.versions().is_empty() {
                            return Err(BackendError::Corrupt(format!(
                                "field {} of {} merged to no version",
                                def.fields[i].name, change.id
                            )));
                        }
                    }
                    empty @ None => {
                        *empty = Some((0, state.register));
                        changed.push(i);
                    }
                }
            }
            if changed.is_empty() {
                continue;
            }
            if !exists
                && let Some((_, missing)) =
                    def.fields.iter().enumerate().find(|(i, f)| f.required && value(&slots, *i).is_null())
            {
                return Err(BackendError::Invalid(ValidationError::required(missing.name)));
            }
            seq += 1;
            for i in changed {
                if let Some((field_seq, _)) = &mut slots[i] {
                    *field_seq = seq;
                }
            }
            saved.push(Saved { kind: change.kind, id: change.id, slots, seq, grid_before });
        }
        self.save(&saved)?;
        self.set_replica(seq, hlc)?;
        Ok(saved.len())
    }

    fn note_push(
        &mut self,
        device_id: &str,
        acked: u64,
        pending: u64,
        now_ms: u64,
        app_version: Option<&str>,
    ) -> Result<()> {
        self.execute(
            "UPDATE devices SET acked_counter = GREATEST(acked_counter, $1), pending = $2, last_sync_ms = $3, last_seen_ms = $3,
                 app_version = coalesce($5, app_version) WHERE id = $4",
            &[&(acked as i64), &(pending as i64), &(now_ms as i64), &device_id, &app_version],
        )?;
        Ok(())
    }

    fn audit(&mut self, entry: &AuditEntry) -> Result<()> {
        let record: Option<&[u8]> = entry.record.as_ref().map(|(_, id)| id.as_bytes().as_slice());
        self.execute(
            "INSERT INTO audit (at_ms, user_id, device_id, action, record, kind, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &(entry.at_ms as i64),
                &entry.user_id,
                &entry.device_id,
                &entry.action,
                &record,
                &entry.record.map(|(kind, _)| i16::from(kind.number())),
                &entry.detail.to_string(),
            ],
        )?;
        Ok(())
    }

    fn audit_many(&mut self, entries: &[AuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let at: Vec<i64> = entries.iter().map(|e| e.at_ms as i64).collect();
        let users: Vec<Option<&str>> = entries.iter().map(|e| e.user_id.as_deref()).collect();
        let devices: Vec<Option<&str>> = entries.iter().map(|e| e.device_id.as_deref()).collect();
        let actions: Vec<&str> = entries.iter().map(|e| e.action).collect();
        let records: Vec<Option<&[u8]>> =
            entries.iter().map(|e| e.record.as_ref().map(|(_, id)| id.as_bytes().as_slice())).collect();
        let kinds: Vec<Option<i16>> =
            entries.iter().map(|e| e.record.map(|(kind, _)| i16::from(kind.number()))).collect();
        let details: Vec<String> = entries.iter().map(|e| e.detail.to_string()).collect();
        self.execute(
            "INSERT INTO audit (at_ms, user_id, device_id, action, record, kind, detail)
             SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::int2[], $7::text[])",
            &[&at, &users, &devices, &actions, &records, &kinds, &details],
        )?;
        Ok(())
    }

    fn spend(&mut self, device_id: &str, day: u64, push_bytes: u64, upload_bytes: u64) -> Result<()> {
        self.execute(
            "INSERT INTO device_usage (device_id, day, push_bytes, upload_bytes) VALUES ($1, $2, $3, $4)
             ON CONFLICT (device_id, day) DO UPDATE SET push_bytes = device_usage.push_bytes + excluded.push_bytes,
                 upload_bytes = device_usage.upload_bytes + excluded.upload_bytes",
            &[&device_id, &(day as i64), &(push_bytes as i64), &(upload_bytes as i64)],
        )?;
        Ok(())
    }

    fn park(&mut self, row: &ParkedRow) -> Result<()> {
        let record = row.record.as_bytes().as_slice();
        self.execute("DELETE FROM parked WHERE device_id = $1 AND record = $2", &[&row.device_id, &record])?;
        self.execute(
            "INSERT INTO parked (at_ms, device_id, record, kind, code, field, message, payload, bytes, grid)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &(row.at_ms as i64),
                &row.device_id,
                &record,
                &i16::from(row.kind.number()),
                &row.code,
                &row.field,
                &row.message,
                &row.payload,
                &(row.payload.len() as i64),
                &row.grid,
            ],
        )?;
        Ok(())
    }

    fn count_overflow(&mut self, device_id: &str, code: &str, now_ms: u64) -> Result<()> {
        self.execute(
            "INSERT INTO parked_overflow (device_id, code, count, first_at_ms, last_at_ms) VALUES ($1, $2, 1, $3, $3)
             ON CONFLICT (device_id, code) DO UPDATE SET count = parked_overflow.count + 1, last_at_ms = excluded.last_at_ms",
            &[&device_id, &code, &(now_ms as i64)],
        )?;
        Ok(())
    }

    fn repark(&mut self, record: RecordId, grid: Option<&str>) -> Result<()> {
        self.execute(
            "UPDATE parked SET grid = $1 WHERE record = $2 AND grid IS DISTINCT FROM $1",
            &[&grid, &record.as_bytes().as_slice()],
        )?;
        Ok(())
    }

    fn dismiss_parked(&mut self, id: u64) -> Result<Option<ParkedRow>> {
        let Some(row) = self.query_opt(
            "DELETE FROM parked WHERE id = $1 RETURNING at_ms, device_id, record, kind, code, field, message, payload, grid",
            &[&(id as i64)],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(self.parked_row(&row)?))
    }

    fn note_guess(&mut self, what: &str, address: &str, at_ms: u64, forget_before_ms: u64) -> Result<u64> {
        self.execute(
            "DELETE FROM guesses WHERE what = $1 AND address = $2 AND at_ms < $3",
            &[&what, &address, &(forget_before_ms as i64)],
        )?;
        let row = self.query(
            "INSERT INTO guesses (what, address, at_ms) VALUES ($1, $2, $3) RETURNING id",
            &[&what, &address, &(at_ms as i64)],
        )?;
        Ok(row.first().map_or(0, |r| r.get::<_, i64>(0) as u64))
    }

    fn forget_guesses_before(&mut self, before_ms: u64) -> Result<()> {
        self.execute("DELETE FROM guesses WHERE at_ms < $1", &[&(before_ms as i64)])?;
        Ok(())
    }

    fn lock_key(&mut self, key: &str) -> Result<()> {
        self.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&key])?;
        Ok(())
    }

    fn forget_guess(&mut self, id: u64) -> Result<()> {
        self.execute("DELETE FROM guesses WHERE id = $1", &[&(id as i64)])?;
        Ok(())
    }

    fn begin_upload(&mut self, sha256: &str, uploader: &str, size: u64, now_ms: u64) -> Result<()> {
        self.execute(
            "INSERT INTO attachment_uploads (sha256, uploader, size, received, created_at_ms, active_at_ms)
             VALUES ($1, $2, $3, 0, $4, $4)
             ON CONFLICT (sha256, uploader) DO UPDATE SET size = excluded.size, received = 0, active_at_ms = excluded.active_at_ms",
            &[&sha256, &uploader, &(size as i64), &(now_ms as i64)],
        )?;
        Ok(())
    }

    fn upload_progress(&mut self, sha256: &str, uploader: &str, received: u64, now_ms: u64) -> Result<()> {
        self.execute(
            "UPDATE attachment_uploads SET received = $1, active_at_ms = $4 WHERE sha256 = $2 AND uploader = $3",
            &[&(received as i64), &sha256, &uploader, &(now_ms as i64)],
        )?;
        Ok(())
    }

    fn expire_upload(&mut self, sha256: &str, uploader: &str, before_ms: u64) -> Result<bool> {
        Ok(self.execute(
            "DELETE FROM attachment_uploads WHERE sha256 = $1 AND uploader = $2 AND active_at_ms < $3",
            &[&sha256, &uploader, &(before_ms as i64)],
        )? > 0)
    }

    fn complete_upload(&mut self, sha256: &str, size: u64, uploader: &str, now_ms: u64) -> Result<()> {
        self.execute(
            "DELETE FROM attachment_uploads WHERE sha256 = $1 AND uploader = $2",
            &[&sha256, &uploader],
        )?;
        self.execute(
            "INSERT INTO attachments (sha256, size, uploaded_by, created_at_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&sha256, &(size as i64), &uploader, &(now_ms as i64)],
        )?;
        self.execute(
            "INSERT INTO attachment_holders (sha256, holder, at_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&sha256, &uploader, &(now_ms as i64)],
        )?;
        Ok(())
    }

    fn forget_attachment(&mut self, sha256: &str) -> Result<()> {
        self.execute("DELETE FROM attachment_holders WHERE sha256 = $1", &[&sha256])?;
        self.execute("DELETE FROM attachments WHERE sha256 = $1", &[&sha256])?;
        Ok(())
    }
}
