//! The store: a SQLite database (rusqlite, bundled SQLite) holding records
//! as plain, indexed tables, each row carrying its fields' registers.
//!
//! Used by the handheld app and the headless `gridwork` device
//! ([`Role::Device`]), and as the server's default embedded database
//! ([`Role::Server`]).
//!
//! - A **local edit** ([`Store::put`]) is one transaction: validate the
//!   record, stamp the changed fields with the device's clock, write the
//!   registers and the values, and note the record in the outbox.
//! - A **remote batch** ([`Store::apply_remote`]) is one transaction: every
//!   change is checked before anything is written; one bad change refuses
//!   the whole batch, naming the change and the field.
//! - **Queries** ([`Store::get`], [`Store::list`], [`Store::search_residents`],
//!   [`Store::conflicts`]) read the plain columns and their indexes.
//!
//! The store does not talk to the network (the client does), does not decide
//! who may see what (the server does), and reads the clock only through
//! [`Clock`].

mod checkpoint;
mod clock;
mod columns;
mod device;
mod local;
mod losers;
mod meta;
mod migrate;
pub mod paging;
mod photos;
mod query;
mod record;
mod remote;
mod scope;

use std::path::Path;
use std::sync::Arc;

use gridwork_domain::{DeviceId, Kind, RecordId, ValidationError};
use gridwork_merge::Hlc;
use rusqlite::{Connection, OpenFlags, Savepoint, Transaction, TransactionBehavior};

pub use checkpoint::{Checkpointer, WAL_LIMIT};
pub use clock::{Clock, ManualClock, OffsetClock, SystemClock};
pub use device::{Refused, Session};
pub use migrate::Migration;
pub use photos::{Photo, sha256_hex};
pub use query::{Conflict, ListQuery, ResidentSearch, StorageStats, StoredField, VersionInfo};
pub use remote::{ApplyReport, Outgoing, PageLimit, check_batch};
pub use scope::{MAX_MOVES_READ, Preview, PullPosition, ScopedChanges};

/// What the store is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A handheld or headless device: local edits go to the outbox.
    Device,
    /// The server's embedded database: changes get a sequence number that
    /// devices pull by.
    Server,
}

/// How hard a commit tries to survive a power cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Every commit is on disk before it returns (WAL, `synchronous=FULL`).
    Full,
    /// Commits survive a crash of the program but the last ones may be lost
    /// in a power cut (WAL, `synchronous=NORMAL`).
    Normal,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub durability: Durability,
    /// SQLite's page cache, in MiB.
    pub cache_mib: u32,
    /// Whether a commit may copy the write-ahead log back into the database
    /// file itself (SQLite's default, every 1,000 pages). A long-running
    /// program turns this off and runs a [`Checkpointer`], so that no edit
    /// waits for a checkpoint.
    pub auto_checkpoint: bool,
    /// The key the database file is encrypted with (SQLCipher), if it is:
    /// the handheld app's store is; the server's and the headless device's
    /// are not.
    pub key: Option<DatabaseKey>,
}

impl Default for Options {
    fn default() -> Self {
        Options { durability: Durability::Full, cache_mib: 32, auto_checkpoint: true, key: None }
    }
}

/// A 256-bit key for an encrypted database (SQLCipher's raw key: it is
/// random, so it is used as it is, not stretched from a passphrase).
/// Wiped from memory when dropped; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseKey(zeroize::Zeroizing<[u8; 32]>);

impl DatabaseKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        DatabaseKey(zeroize::Zeroizing::new(bytes))
    }

    /// A new random key.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system provides randomness");
        DatabaseKey::new(bytes)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The `PRAGMA key` statement that opens a database with this key.
    fn pragma(&self) -> zeroize::Zeroizing<String> {
        let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        zeroize::Zeroizing::new(format!("PRAGMA key = \"x'{hex}'\";"))
    }

    /// Opens `conn`'s encrypted database with this key, and checks it does.
    pub(crate) fn unlock(&self, conn: &Connection) -> Result<(), Error> {
        conn.execute_batch(&self.pragma())?;
        check_readable(conn)
    }
}

impl std::fmt::Debug for DatabaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseKey(…)")
    }
}

/// Reads the schema: an encrypted file opened without its key, or with
/// another, fails here ("file is not a database").
fn check_readable(conn: &Connection) -> Result<(), Error> {
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get::<_, i64>(0)) {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::NotADatabase => {
            Err(Error::Locked)
        }
        Err(other) => Err(other.into()),
    }
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("there is no {kind} with id {id}")]
    NotFound { kind: Kind, id: RecordId },
    #[error("record {id} is a {actual}, not a {expected}")]
    WrongKind { id: RecordId, expected: Kind, actual: Kind },
    #[error("this device is not enrolled yet: it has no device number to write with")]
    NotEnrolled,
    #[error("grids are drawn by admins at the centre; a device cannot add, change or delete them")]
    GridsAreTheCentres,
    #[error("grid {grid} is not one of this device's grids ({scope}); a new record must be in one of them")]
    OutOfScope { grid: String, scope: String },
    #[error("this device is already enrolled; wipe its database to enroll it again")]
    AlreadyEnrolled,
    #[error("this operation needs a {wanted:?} store")]
    WrongRole { wanted: Role },
    #[error("{}: {source}", path.display())]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("this database belongs to device {stored}, not {given}; wipe it to enroll again")]
    DeviceMismatch { stored: DeviceId, given: DeviceId },
    #[error("change {index} of the batch (record {id}): {source}")]
    InBatch {
        index: usize,
        id: RecordId,
        #[source]
        source: Box<Error>,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration {name} failed: {source}")]
    Migration { name: &'static str, source: rusqlite::Error },
    #[error(
        "the database's {set} schema is version {found}, newer than this program's {known}; update the program"
    )]
    SchemaTooNew { set: &'static str, found: u32, known: u32 },
    #[error("the database is damaged: {0}")]
    Corrupt(String),
    /// The file is encrypted and the key given (or none) does not open it.
    #[error(
        "the database file is encrypted and cannot be opened without its key: the key is missing or another one was given; nothing in the file was changed"
    )]
    Locked,
}

impl Error {
    /// The validation error inside, owned, or the error itself.
    pub fn into_validation(self) -> Result<ValidationError, Error> {
        match self {
            Error::Invalid(e) => Ok(e),
            Error::InBatch { source, index, id } => match source.into_validation() {
                Ok(e) => Ok(e),
                Err(source) => Err(Error::InBatch { index, id, source: Box::new(source) }),
            },
            other => Err(other),
        }
    }

    /// The validation error inside, if that is what this is (also inside a
    /// batch error).
    pub fn validation(&self) -> Option<&ValidationError> {
        match self {
            Error::Invalid(e) => Some(e),
            Error::InBatch { source, .. } => source.validation(),
            _ => None,
        }
    }

    /// The message in Chinese, for the person using the device.
    pub fn zh(&self) -> String {
        match self {
            Error::Invalid(e) => e.zh(),
            Error::NotFound { kind, id } => format!("没有编号为{id}的{}", kind.def().label.zh),
            Error::WrongKind { id, expected, actual } => {
                format!("记录{id}是{},不是{}", actual.def().label.zh, expected.def().label.zh)
            }
            Error::NotEnrolled => "本设备尚未注册,没有可用的设备编号".into(),
            Error::GridsAreTheCentres => "网格由中心管理员划分,设备不能新增、修改或删除网格".into(),
            Error::OutOfScope { grid, scope } => {
                format!("网格{grid}不在本设备负责的网格({scope})内,新记录须属于其中之一")
            }
            Error::AlreadyEnrolled => "本设备已注册;如需重新注册,请先清除其数据库".into(),
            Error::WrongRole { .. } => "此操作不适用于这种数据库".into(),
            Error::Io { path, source } => format!("文件{}读写失败:{source}", path.display()),
            Error::DeviceMismatch { stored, given } => {
                format!("此数据库属于设备{stored},不是{given};请清除后重新注册")
            }
            Error::InBatch { index, id, source } => format!("第{index}项修改(记录{id}):{}", source.zh()),
            Error::Sqlite(e) => format!("数据库错误:{e}"),
            Error::Migration { name, source } => format!("数据库升级{name}失败:{source}"),
            Error::SchemaTooNew { .. } => "数据库版本比本程序新,请升级程序".into(),
            Error::Corrupt(what) => format!("数据库已损坏:{what}"),
            Error::Locked => "数据库文件已加密,缺少密钥或密钥不对,无法打开;文件未被改动".into(),
        }
    }
}

/// An open store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    role: Role,
    clock: Arc<dyn Clock>,
    sql: columns::SqlText,
}

/// The replica's clock and counters, read and written inside a transaction.
/// A transaction of the store's own: the whole transaction when none is
/// open, a savepoint inside the one the caller opened (see
/// [`Store::atomically`]), so that the server can make several of the
/// store's steps and its own writes one atomic whole.
pub(crate) enum Tx<'c> {
    Top(Transaction<'c>),
    Nested(Savepoint<'c>),
}

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            Tx::Top(tx) => tx,
            Tx::Nested(savepoint) => savepoint,
        }
    }
}

impl Tx<'_> {
    pub(crate) fn commit(self) -> rusqlite::Result<()> {
        match self {
            Tx::Top(tx) => tx.commit(),
            Tx::Nested(savepoint) => savepoint.commit(),
        }
    }
}

/// Begins the store's transaction on `conn` (a savepoint if the caller has
/// one open); rolled back if dropped before [`Tx::commit`].
pub(crate) fn begin(conn: &mut Connection, behavior: TransactionBehavior) -> rusqlite::Result<Tx<'_>> {
    if conn.is_autocommit() {
        Ok(Tx::Top(conn.transaction_with_behavior(behavior)?))
    } else {
        Ok(Tx::Nested(conn.savepoint()?))
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Replica {
    pub hlc: Hlc,
    /// The latest HLC received from elsewhere.
    pub remote_hlc: Hlc,
    pub counter: u64,
    pub seq: u64,
}

impl Replica {
    pub(crate) fn load(tx: &Connection) -> Result<Replica, Error> {
        Ok(tx.query_row("SELECT hlc, remote_hlc, counter, seq FROM replica", [], |row| {
            Ok(Replica {
                hlc: Hlc::from_u64(row.get::<_, i64>(0)? as u64),
                remote_hlc: Hlc::from_u64(row.get::<_, i64>(1)? as u64),
                counter: row.get::<_, i64>(2)? as u64,
                seq: row.get::<_, i64>(3)? as u64,
            })
        })?)
    }

    pub(crate) fn save(&self, tx: &Connection) -> Result<(), Error> {
        tx.prepare_cached("UPDATE replica SET hlc = ?1, remote_hlc = ?2, counter = ?3, seq = ?4")?.execute(
            (self.hlc.as_u64() as i64, self.remote_hlc.as_u64() as i64, self.counter as i64, self.seq as i64),
        )?;
        Ok(())
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` and applies pending
    /// migrations.
    pub fn open(path: impl AsRef<Path>, role: Role, clock: Arc<dyn Clock>) -> Result<Store, Error> {
        Store::open_with(path, role, clock, Options::default())
    }

    pub fn open_with(
        path: impl AsRef<Path>,
        role: Role,
        clock: Arc<dyn Clock>,
        options: Options,
    ) -> Result<Store, Error> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        create_private(path.as_ref())?;
        let conn = Connection::open_with_flags(path, flags)?;
        Store::init(conn, role, clock, options)
    }

    /// A store in memory, gone when dropped: for tests and demos.
    pub fn open_in_memory(role: Role, clock: Arc<dyn Clock>) -> Result<Store, Error> {
        Store::init(Connection::open_in_memory()?, role, clock, Options::default())
    }

    /// Changes the key the database is encrypted with (`None`: decrypt
    /// it). The key is what [`Options::key`] must give from then on.
    pub fn rekey(&self, key: Option<&DatabaseKey>) -> Result<(), Error> {
        let statement = match key {
            Some(key) => key.pragma().replacen("PRAGMA key", "PRAGMA rekey", 1),
            None => "PRAGMA rekey = '';".to_owned(),
        };
        self.conn.execute_batch(&statement)?;
        Ok(())
    }

    fn init(
        mut conn: Connection,
        role: Role,
        clock: Arc<dyn Clock>,
        options: Options,
    ) -> Result<Store, Error> {
        // The key comes first: nothing of an encrypted file can be read
        // before it, not even its journal mode. A wrong key is our error to
        // report, not SQLCipher's to log.
        conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
        match &options.key {
            Some(key) => key.unlock(&conn)?,
            None => check_readable(&conn)?,
        }
        let synchronous = match options.durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = {synchronous};
             PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -{};
             PRAGMA temp_store = MEMORY;
             PRAGMA wal_autocheckpoint = {};",
            options.cache_mib * 1024,
            if options.auto_checkpoint { 1000 } else { 0 }
        ))?;
        conn.set_prepared_statement_cache_capacity(256);
        let role_set = match role {
            Role::Device => ("device", migrate::DEVICE),
            Role::Server => ("server", migrate::SERVER),
        };
        migrate::migrate(&mut conn, &[("common", migrate::COMMON), role_set])?;
        Ok(Store { conn, role, clock, sql: columns::SqlText::new() })
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The size of the write-ahead log file, in bytes (0 for a store in
    /// memory).
    pub fn log_size(&self) -> u64 {
        let Some(path) = self.conn.path().filter(|p| !p.is_empty()) else { return 0 };
        std::fs::metadata(format!("{path}-wal")).map_or(0, |m| m.len())
    }

    /// Copies the whole log back into the database and truncates it, once
    /// the reads in progress have finished (new ones wait meanwhile, as do
    /// writers: it is called from the writer). Returns whether it
    /// completed; a reader still busy after the busy timeout, or another
    /// checkpoint that does not end, makes it give up until next time. See
    /// [`Checkpointer`] for why.
    pub fn truncate_log(&self) -> Result<bool, Error> {
        // A passive checkpoint running on the checkpointer's connection makes
        // this one busy for the moment it takes: try again a few times.
        for _ in 0..10 {
            let busy: i64 = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
            if busy == 0 {
                return Ok(true);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Ok(false)
    }

    /// The underlying connection, for the server's own tables (accounts,
    /// devices) that live in the same database file.
    /// Runs `f` as one transaction: every step of the store it takes (each
    /// otherwise a transaction of its own) and every statement it runs on
    /// [`Store::connection`] commit together when it returns `Ok`, and
    /// none of them when it fails. Takes the database's write lock first.
    pub fn atomically<R, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<R, E>,
    ) -> Result<R, E> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(Error::from)?;
        let outcome = f(self).and_then(|value| {
            self.conn.execute_batch("COMMIT").map_err(Error::from)?;
            Ok(value)
        });
        if outcome.is_err() && !self.conn.is_autocommit() {
            // ROLLBACK fails only when SQLite already rolled back (after an
            // I/O error or a full disk): either way nothing was written.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        outcome
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The number this replica writes with: the enrolled device's, or
    /// [`DeviceId::SERVER`] for the server.
    pub fn writer(&self) -> Result<DeviceId, Error> {
        match self.role {
            Role::Server => Ok(DeviceId::SERVER),
            Role::Device => self.device_id()?.ok_or(Error::NotEnrolled),
        }
    }

    pub fn device_id(&self) -> Result<Option<DeviceId>, Error> {
        Ok(self
            .conn
            .query_row("SELECT device FROM replica", [], |row| row.get::<_, Option<u32>>(0))?
            .map(DeviceId))
    }

    /// Records the device number the server gave this device at enrollment.
    /// A database keeps one device number for life.
    pub fn set_device_id(&mut self, device: DeviceId) -> Result<(), Error> {
        match self.device_id()? {
            Some(stored) if stored != device => Err(Error::DeviceMismatch { stored, given: device }),
            _ => {
                self.conn.execute("UPDATE replica SET device = ?1", [device.0])?;
                Ok(())
            }
        }
    }

    /// The latest HLC this replica has written or seen.
    pub fn hlc(&self) -> Result<Hlc, Error> {
        Ok(Hlc::from_u64(
            self.conn.query_row("SELECT hlc FROM replica", [], |row| row.get::<_, i64>(0))? as u64
        ))
    }

    /// A new record id: UUIDv7 at the store clock's time.
    pub(crate) fn new_record_id(&self) -> RecordId {
        let now = self.clock.now_ms();
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, now / 1000, (now % 1000) as u32 * 1_000_000);
        RecordId::from_bytes(*uuid::Uuid::new_v7(ts).as_bytes())
    }
}

#[cfg(test)]
mod tests;

/// Creates the database file readable by its owner only (residents' data
/// and tokens are in it), before SQLite opens it; SQLite gives its journal
/// files the same permissions. An existing file is left as it is.
fn create_private(path: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(Error::Io { path: path.to_owned(), source }),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
