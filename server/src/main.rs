//! `gridwork-server`: set up a data directory, serve it, back it up and
//! restore it. Binary glue; the server itself is the library.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::time::Duration;

use gridwork_server::backend::Backend;
use gridwork_server::core::Core;
use gridwork_server::limits::Limits;
use gridwork_server::postgres::{NODE_APPLICATION, PgBackend};
use gridwork_server::sqlite::SqliteStorage;
use gridwork_server::storage::{
    DailyBudget, Horizon, ParkingLimits, Principal, Role, Storage, StorageError, StorageLimits, UploadQuota,
};
use gridwork_server::{AppState, Clock, SystemClock, router};

#[derive(Parser)]
#[command(name = "gridwork-server", version, about = "Gridwork's sync server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates the data directory's database and prints, once, the admin
    /// token as JSON: {"admin_token": "..."}.
    Init {
        /// The data directory: the database, photos and the demo guide.
        #[arg(long)]
        data: PathBuf,
        /// A PostgreSQL database to use instead of the embedded one
        /// (`postgres://USER@HOST:PORT/DB`); DIR then holds the photos only,
        /// one directory every server node shares.
        #[arg(long, env = "GRIDWORK_DATABASE")]
        database: Option<String>,
        /// Also load a demo city (grids, accounts, enrollment codes,
        /// residents, cases) and write how to use it to DIR/demo-guide.txt
        /// (its path is in the output, as `guide`; `{SERVER}` in it stands
        /// for the address `serve` listens on).
        #[arg(long)]
        demo: bool,
    },
    /// Serves the API on ADDR (port 0 picks a free port); prints
    /// {"listening": "ADDR"} on stdout once ready.
    Serve {
        /// The data directory `init` set up.
        #[arg(long)]
        data: PathBuf,
        /// A PostgreSQL database to use instead of the embedded one
        /// (`postgres://USER@HOST:PORT/DB`); DIR then holds the photos only,
        /// one directory every server node shares.
        #[arg(long, env = "GRIDWORK_DATABASE")]
        database: Option<String>,
        /// The address and port to serve on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// A tile server for the console map's background
        /// (`https://HOST/{z}/{x}/{y}.png`); without one the map draws the
        /// grids' own boundaries on a blank ground, with no network.
        #[arg(long, env = "GRIDWORK_MAP_TILES")]
        map_tiles: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Writes a consistent copy of the embedded database to FILE (safe while
    /// serving). Photos are files under DIR/attachments, never changed once
    /// written: copy that directory as well; a photo missing after a restore
    /// is forgotten and uploaded again by the devices that hold it. A
    /// PostgreSQL database is backed up with `pg_dump -Fc`.
    Backup {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        to: PathBuf,
        /// Refused, with what to do instead: a PostgreSQL database is
        /// backed up with `pg_dump -Fc`.
        #[arg(long, env = "GRIDWORK_DATABASE")]
        database: Option<String>,
    },
    /// Replaces the database with a backup and gives it a new epoch, so
    /// devices send again what the backup lacks. Stop the server first.
    /// With PostgreSQL, stop every node, restore with `pg_restore` first,
    /// then run this with `--database` and without `--from`: it only gives
    /// the new epoch (and refuses while a node is still connected).
    Restore {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, required_unless_present = "database")]
        from: Option<PathBuf>,
        /// The PostgreSQL database restored with `pg_restore`.
        #[arg(long, env = "GRIDWORK_DATABASE", conflicts_with = "from")]
        database: Option<String>,
    },
}

/// What connections, bodies, uploads and refused changes may cost the
/// server (see `docs/sync-protocol.md`, "Limits"). The defaults suit a city.
#[derive(clap::Args)]
struct LimitArgs {
    /// Open connections at most [default: what the descriptor limit allows,
    /// at most 10,000]. At the cap, the connection idle the longest is
    /// closed for a new one.
    #[arg(long)]
    max_connections: Option<usize>,
    /// Open connections from one address at most; 0 for no limit. Behind a
    /// reverse proxy every client has the proxy's address: set 0 and limit
    /// per client in the proxy.
    #[arg(long, default_value_t = 512)]
    max_connections_per_address: usize,
    /// Seconds a connection may take to send a request's headers, or sit
    /// idle between requests, before it is closed.
    #[arg(long, default_value_t = 20)]
    idle_timeout_secs: u64,
    /// MiB of request bodies held in memory at once, across all requests.
    #[arg(long, default_value_t = 256)]
    body_memory_mib: usize,
    /// MiB of unfinished uploads one device (or console user) may hold; at
    /// least 20 (one photo of the largest size).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(20..))]
    upload_quota_mib: u64,
    /// Seconds an unfinished upload may receive nothing before it is
    /// removed.
    #[arg(long, default_value_t = 24 * 60 * 60)]
    upload_expiry_secs: u64,
    /// Refused changes parked per device, one per record; beyond it they
    /// are counted, not kept.
    #[arg(long, default_value_t = 1000)]
    parked_per_device: u64,
    /// MiB of records one device may push in a (UTC) day; at least 8 (the
    /// largest push).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(8..))]
    daily_push_mib: u64,
    /// MiB of photos one device may start uploading in a (UTC) day; at
    /// least 20 (one photo of the largest size).
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u64).range(20..))]
    daily_upload_mib: u64,
    /// Days the server keeps changes of a record's grid and deleted records
    /// for devices that are behind; a device whose last sync is older pulls
    /// everything again. 0 keeps them for ever.
    #[arg(long, default_value_t = 180)]
    horizon_days: u64,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        let defaults = Limits::default();
        Limits {
            max_connections: self.max_connections,
            max_per_address: self.max_connections_per_address,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            write_timeout: defaults.write_timeout,
            small_body_timeout: defaults.small_body_timeout,
            body_memory: self.body_memory_mib.max(16) << 20,
            upload_expiry: Duration::from_secs(self.upload_expiry_secs.max(1)),
            storage: StorageLimits {
                parking: ParkingLimits {
                    rows_per_device: self.parked_per_device,
                    ..defaults.storage.parking
                },
                uploads: UploadQuota { bytes: self.upload_quota_mib << 20, ..defaults.storage.uploads },
                daily: DailyBudget {
                    push_bytes: self.daily_push_mib << 20,
                    upload_bytes: self.daily_upload_mib << 20,
                },
                horizon: Horizon {
                    after_ms: (self.horizon_days > 0).then(|| self.horizon_days * 24 * 60 * 60 * 1000),
                },
            },
        }
    }
}

fn database(data: &Path) -> PathBuf {
    data.join("gridwork.db")
}

/// In the data directory of nodes on PostgreSQL: the database's instance
/// (`core::instance`), so that every node checks it was given the shared
/// directory of that database.
fn database_id(data: &Path) -> PathBuf {
    data.join("database-id")
}

/// The server's rules over a PostgreSQL database, connected from a thread
/// outside the runtime's workers, its connections named `application`.
fn postgres(url: &str, runtime: &tokio::runtime::Handle, application: &str) -> Result<Core<PgBackend>> {
    Ok(Core::new(connect(url, runtime, application)?, "the PostgreSQL database")?)
}

fn connect(url: &str, runtime: &tokio::runtime::Handle, application: &str) -> Result<PgBackend> {
    PgBackend::connect_as(url, runtime.clone(), application).context("connecting to PostgreSQL")
}

/// Refuses the embedded database in a directory that nodes on PostgreSQL
/// share, and a PostgreSQL database in a directory that holds an embedded
/// one or belongs to another database: each mistake would serve another
/// city's data, or lose photos between nodes.
fn check_data_dir(data: &Path, instance: Option<&str>) -> Result<()> {
    let recorded = std::fs::read_to_string(database_id(data)).ok().map(|s| s.trim().to_owned());
    match (instance, recorded) {
        (None, Some(_)) => bail!(
            "{} is the shared directory of server nodes on PostgreSQL (it has {}): give their database with --database URL or GRIDWORK_DATABASE\n该目录属于使用 PostgreSQL 的服务器节点,请用 --database 指定其数据库",
            data.display(),
            database_id(data).display()
        ),
        (Some(_), _) if database(data).exists() => bail!(
            "{} holds an embedded database ({}): nodes on PostgreSQL need a directory of their own for photos\n该目录已有内置数据库,PostgreSQL 节点请另用一个目录",
            data.display(),
            database(data).display()
        ),
        (Some(instance), Some(recorded)) if recorded != instance => bail!(
            "{} belongs to another database (its {} says {recorded}, this database is {instance}): give every node the directory `init` set up for this database\n该目录属于另一个数据库,请使用为本数据库初始化的共享目录",
            data.display(),
            database_id(data).display()
        ),
        (Some(_), None) => bail!(
            "{} is not this database's shared directory (it lacks {}, which `init --database` wrote): every node must use the one directory `init` set up, shared between them (e.g. over NFS)\n该目录不是本数据库的共享目录:所有节点须使用 init 时指定的同一个共享目录",
            data.display(),
            database_id(data).display()
        ),
        _ => Ok(()),
    }
}

fn init(data: &Path, demo: bool, database_url: Option<&str>) -> Result<()> {
    let created = !data.exists();
    let outcome = init_in(data, demo, database_url);
    if outcome.is_err() && created {
        // Nothing is left half made where there was nothing.
        let _ = std::fs::remove_dir_all(data);
    }
    outcome
}

fn init_in(data: &Path, demo: bool, database_url: Option<&str>) -> Result<()> {
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    // Residents' data, tokens and photos live here: the owner's only.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private", data.display()))?;
    }
    match database_url {
        None => {
            check_data_dir(data, None)?;
            let db = database(data);
            let token = SqliteStorage::init(&db, SystemClock.now_ms())?;
            let storage = demo.then(|| SqliteStorage::open(&db)).transpose()?;
            finish_init(data, &token, storage.as_ref())
        }
        Some(url) => {
            if database(data).exists() {
                check_data_dir(data, Some(""))?;
            }
            let runtime = runtime()?;
            let backend = connect(url, runtime.handle(), "gridwork-server")?;
            let token =
                gridwork_server::core::init(&backend, "the PostgreSQL database", SystemClock.now_ms())?;
            let instance = gridwork_server::core::instance(&backend)?;
            std::fs::write(database_id(data), format!("{instance}\n"))
                .with_context(|| format!("writing {}", database_id(data).display()))?;
            let storage = demo.then(|| postgres(url, runtime.handle(), "gridwork-server")).transpose()?;
            finish_init(data, &token, storage.as_ref())
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")
}

/// Prints the admin token and loads the demo city into `storage` if given.
fn finish_init<B: Backend>(data: &Path, token: &str, storage: Option<&Core<B>>) -> Result<()> {
    let mut out = serde_json::json!({"admin_token": token});
    if let Some(storage) = storage {
        let digest = gridwork_server::sqlite::digest(token);
        let admin: Principal =
            storage.authenticate(digest, SystemClock.now_ms())?.context("the new admin token works")?;
        debug_assert_eq!(admin.role, Role::Admin);
        let summary = gridwork_server::demo::load(storage, &admin, SystemClock.now_ms())?;
        let guide = data.join("demo-guide.txt");
        std::fs::write(&guide, gridwork_server::demo::guide(&summary, token))
            .with_context(|| format!("writing {}", guide.display()))?;
        out["demo"] = serde_json::to_value(summary)?;
        out["guide"] = serde_json::json!(guide.display().to_string());
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Holds `DIR/server.lock` for as long as the process runs: one server per
/// data directory (a second one would break the single writer, the turns
/// and the shares that live in the serving process).
fn lock_data_dir(data: &Path) -> Result<std::fs::File> {
    let path = data.join("server.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another gridwork-server is serving {} (it holds {}): stop it first, or give another --data\n另一个 gridwork-server 正在使用该数据目录,请先停止它,或换一个 --data",
            data.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("locking {}", path.display()))
        }
    }
}

async fn serve(
    data: &Path,
    listen: SocketAddr,
    limits: Limits,
    database_url: Option<&str>,
    map_tiles: Option<String>,
    runtime: tokio::runtime::Handle,
) -> Result<()> {
    // On the embedded database, one server per data directory (a second
    // would break the single writer); on PostgreSQL, any number of nodes
    // share the directory of photos and the database.
    let (_lock, storage): (Option<std::fs::File>, Arc<dyn Storage>) = match database_url {
        None => {
            check_data_dir(data, None)?;
            if !database(data).exists() {
                bail!(
                    "{} holds no database: run `gridwork-server init --data {}` first\n该目录没有数据库,请先运行 gridwork-server init",
                    data.display(),
                    data.display()
                );
            }
            let lock = lock_data_dir(data)?;
            let mut storage = SqliteStorage::open(&database(data))?;
            storage.set_limits(limits.storage);
            (Some(lock), Arc::new(storage))
        }
        Some(url) => {
            let url = url.to_owned();
            let (mut storage, instance) = tokio::task::spawn_blocking(move || {
                let backend = connect(&url, &runtime, NODE_APPLICATION)?;
                if !backend.hold_as_node()? {
                    bail!(
                        "a restore of this database is under way: start the nodes once it has finished\n该数据库正在恢复,请在恢复完成后再启动节点"
                    );
                }
                let storage = Core::new(backend, "the PostgreSQL database")?;
                let instance = gridwork_server::core::instance(storage.backend())?;
                anyhow::Ok((storage, instance))
            })
            .await
            .context("connecting")??;
            check_data_dir(data, Some(&instance))?;
            storage.set_limits(limits.storage);
            (None, Arc::new(storage))
        }
    };
    let epoch = storage.epoch();
    // Each connection is a descriptor: take all the process may have, and
    // cap connections to fit in it.
    let descriptors = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let settings = limits.listener(descriptors);
    let upload_expiry = limits.upload_expiry;
    let state = AppState::with_limits(storage, data.to_owned(), limits).with_map_tiles(map_tiles);
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "{listen} is in use by another program: choose another address with --listen (scripts/run: GRIDWORK_LISTEN=127.0.0.1:18080)\n地址 {listen} 已被其他程序占用,请用 --listen 换一个地址"
        ),
        Err(error) => return Err(error).with_context(|| format!("listening on {listen}")),
    };
    let address = listener.local_addr()?;
    tracing::info!(%address, %epoch, max_connections = settings.max_connections, descriptors, "serving");
    println!("{}", serde_json::json!({"listening": address.to_string()}));
    tokio::spawn(gridwork_server::attachments::expire_unfinished(state.clone(), upload_expiry));
    tokio::spawn(gridwork_server::purge_hourly(state.clone()));
    gridwork_server::listener::serve(listener, router(state), settings, shutdown()).await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM: requests in flight finish, new ones are
/// refused, and every acknowledged change is already committed.
async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

fn backup(data: &Path, to: &Path, database_url: Option<&str>) -> Result<()> {
    if database_url.is_some() {
        bail!(
            "a PostgreSQL database (--database or GRIDWORK_DATABASE) is backed up with `pg_dump -Fc -f FILE URL` while the nodes serve (see docs/operations.md); this command copies the embedded database\nPostgreSQL 数据库请用 `pg_dump -Fc` 备份"
        );
    }
    check_data_dir(data, None)?;
    if to.exists() {
        bail!("{} exists already; choose a new file", to.display());
    }
    if !database(data).exists() {
        bail!("{} holds no database: nothing to back up", data.display());
    }
    let conn = rusqlite::Connection::open(database(data))?;
    conn.execute("VACUUM INTO ?1", [to.to_str().context("the backup path is not UTF-8")?])?;
    println!("{}", serde_json::json!({"backup": to.display().to_string()}));
    Ok(())
}

fn restore(data: &Path, from: Option<&Path>, database_url: Option<&str>) -> Result<()> {
    if let Some(url) = database_url {
        let runtime = runtime()?;
        let backend = connect(url, runtime.handle(), "gridwork-server restore")?;
        // A node still serving keeps the old epoch: devices reaching it
        // would not learn of the restore.
        if !backend.hold_for_restore()? {
            bail!(
                "a server node is serving this database (or another restore runs): stop every `gridwork-server serve` first, then restore, then start them again\n仍有服务器节点在使用该数据库:请先停止所有节点再恢复"
            );
        }
        let epoch =
            gridwork_server::core::renew_epoch(&backend, "the PostgreSQL database", SystemClock.now_ms())
                .map_err(|error| match error {
                    StorageError::NotFound(message) => anyhow::anyhow!(
                        "{message}: restore the dump into it first (`pg_restore -d URL FILE`), then run this"
                    ),
                    other => other.into(),
                })?;
        println!(
            "{}",
            serde_json::json!({"restored": gridwork_server::postgres::redacted(url), "epoch": epoch})
        );
        return Ok(());
    }
    check_data_dir(data, None)?;
    let from = from.context("--from FILE names the backup")?;
    if !from.exists() {
        bail!("{} does not exist", from.display());
    }
    let _lock = lock_data_dir(data)?;
    let db = database(data);
    for suffix in ["-wal", "-shm"] {
        let mut file = db.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    std::fs::copy(from, &db).with_context(|| format!("copying {} to {}", from.display(), db.display()))?;
    let epoch = SqliteStorage::renew_epoch(&db, SystemClock.now_ms())?;
    println!("{}", serde_json::json!({"restored": from.display().to_string(), "epoch": epoch}));
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GRIDWORK_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init { data, demo, database } => init(&data, demo, database.as_deref()),
        Command::Serve { data, listen, map_tiles, limits, database } => runtime().and_then(|runtime| {
            let handle = runtime.handle().clone();
            runtime.block_on(serve(&data, listen, limits.limits(), database.as_deref(), map_tiles, handle))
        }),
        Command::Backup { data, to, database } => backup(&data, &to, database.as_deref()),
        Command::Restore { data, from, database } => restore(&data, from.as_deref(), database.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gridwork-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}
