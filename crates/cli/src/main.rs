//! `gridwork`: the command line, for admins and as a headless device.
//! Binary glue over the client and the store: every command prints JSON on
//! stdout; errors go to stderr, in English and Chinese, with a non-zero exit.

mod demo;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use gridwork_client::{Admin, ClientError, Device, Progress};
use gridwork_domain::{Kind, RecordId, Value};
use gridwork_protocol::admin::{ApplyParked, NewEnrollmentCode, NewGrid, NewUser, Role};
use serde_json::json;

#[derive(Parser)]
#[command(name = "gridwork", version, about = "Gridwork 网格通: grid management records that work offline")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Administration, with an admin token.
    Admin {
        /// The server's address, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        server: String,
        /// An admin's token (`gridwork-server init` printed the first one) or a
        /// console session's.
        #[arg(long, env = "GRIDWORK_TOKEN", hide_env_values = true)]
        token: String,
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// A headless device, its data in one database file.
    Device {
        /// The device's database file (created by `enroll`). Comes before the
        /// command: `gridwork device --db FILE sync`.
        #[arg(long)]
        db: PathBuf,
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Two devices edit the same resident offline and merge through an
    /// in-memory centre: the merge engine at work, no server needed.
    Demo,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// The grid tree (网格): add a grid under its parent.
    Grid {
        #[command(subcommand)]
        command: GridCommand,
    },
    /// People: grid workers, centre staff, admins.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// A one-time code (and QR payload) to enroll a device for a user.
    EnrollCode {
        /// The user's id, as `user add` or `user list` print it.
        #[arg(long)]
        user: String,
        /// How long the code stays valid.
        #[arg(long, default_value_t = 30)]
        ttl_minutes: u64,
    },
    /// The device registry: list devices, revoke a lost one.
    Device {
        #[command(subcommand)]
        command: AdminDeviceCommand,
    },
    /// Keys for city systems (a 12345 hotline) on the Open311 API
    /// (docs/open311.md): issue, list, revoke.
    IntegrationKey {
        #[command(subcommand)]
        command: IntegrationKeyCommand,
    },
    /// Concurrent overwrites waiting for the centre's review.
    Conflicts {
        #[command(subcommand)]
        command: ListCommand,
    },
    /// Changes the server refused from devices, parked for review.
    Parked {
        #[command(subcommand)]
        command: ParkedCommand,
    },
    /// Departments (职能部门) that cases are dispatched to.
    Department {
        #[command(subcommand)]
        command: DepartmentCommand,
    },
    /// The case flow: list cases, show one, take a step.
    Case {
        #[command(subcommand)]
        command: CaseCommand,
    },
    /// The registry: residents, households and buildings as synced, each
    /// with its fields' history (docs/registry.md).
    Record {
        #[command(subcommand)]
        command: RecordCommand,
    },
}

#[derive(Subcommand)]
enum RecordCommand {
    /// A page of records by grid (`next` continues it with `--after`).
    List {
        /// resident, household or building.
        #[arg(long)]
        kind: String,
        /// This grid and every grid below it.
        #[arg(long)]
        grid: Option<String>,
        /// A prefix of a name, ID-card number, phone or address.
        #[arg(long)]
        q: Option<String>,
        /// A special-group tag's code (residents, households).
        #[arg(long)]
        tag: Option<String>,
        /// A resident's residence type code.
        #[arg(long)]
        residence: Option<String>,
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// One record: its fields and every version of each, with who wrote it.
    Show { id: String },
}

#[derive(Subcommand)]
enum DepartmentCommand {
    List,
    /// Adds a department (admins).
    Add {
        /// A short code: letters, digits, `_`, `-` (e.g. `water`).
        #[arg(long)]
        code: String,
        #[arg(long)]
        name_zh: String,
        #[arg(long)]
        name_en: String,
    },
}

#[derive(Subcommand)]
enum CaseCommand {
    /// A page of cases, newest received first (`next` continues it).
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        department: Option<String>,
        /// Only open cases past their deadline.
        #[arg(long)]
        overdue: bool,
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// One case: fields, place in the flow, trail.
    Show { id: String },
    /// Takes a step: accept, reject, dispatch, transfer, return, escalate,
    /// handle, close, visit, supervise (see docs/case-flow.md).
    Step {
        id: String,
        #[arg(long, value_parser = ["accept", "reject", "dispatch", "transfer", "return", "escalate", "handle", "close", "visit", "supervise"])]
        step: String,
        #[arg(long)]
        department: Option<String>,
        #[arg(long)]
        note: Option<String>,
        #[arg(long, value_parser = ["satisfied", "basic", "unsatisfied"])]
        satisfaction: Option<String>,
    },
}

#[derive(Subcommand)]
enum GridCommand {
    /// Adds a grid; prints its record id.
    Add {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        parent: Option<String>,
        /// city, district, street, community, unit or micro; by default one
        /// below the parent's.
        #[arg(long)]
        level: Option<String>,
    },
    /// The grid tree: code, name, parent, level and boundary of each grid.
    List,
    /// Renames, moves or re-draws a grid; what is not given stays.
    Set {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: Option<String>,
        /// The grid it moves under.
        #[arg(long)]
        parent: Option<String>,
        /// A GeoJSON file (a Polygon or MultiPolygon, or a Feature holding
        /// one; WGS-84 longitude and latitude) drawing its boundary.
        #[arg(long, value_name = "FILE")]
        boundary: Option<PathBuf>,
    },
    /// Adds or updates grids from a GeoJSON FeatureCollection whose
    /// features carry `code`, `name` and optionally `parent` and `level`
    /// in their properties, or from a `.csv` file with those columns
    /// (no boundaries), parents before children. Every grid is checked
    /// before any is written; prints what it did.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Everyone with an account: id, name, role, grids.
    List,
    /// Adds a person; prints `{"id": …}` for `enroll-code --user`.
    Add {
        #[arg(long)]
        name: String,
        /// worker: a grid worker (网格员) with a tablet; staff: centre staff
        /// (中心工作人员); handler: a department's handler (职能部门);
        /// admin: sets up grids, people and devices.
        #[arg(long, value_parser = ["worker", "staff", "handler", "admin"])]
        role: String,
        /// The code of a grid, as given to `grid add --code` (not its record
        /// id), and all grids below it: a worker's grids (required), or the
        /// part of the tree a staff account sees (without: the whole city).
        /// Repeat for several grids.
        #[arg(long = "grid", value_name = "CODE")]
        grids: Vec<String>,
        /// For people who log in at the console.
        #[arg(long)]
        password: Option<String>,
        /// A handler's department, by its code (`department add`).
        #[arg(long, value_name = "CODE")]
        department: Option<String>,
    },
}

#[derive(Subcommand)]
enum AdminDeviceCommand {
    /// Every device: its user, app version, last sync, pending changes.
    List,
    /// Refuses the device from now on; at its next request it wipes its data.
    Revoke {
        /// The device's id, as `device list` prints it.
        #[arg(long)]
        device: String,
    },
}

#[derive(Subcommand)]
enum IntegrationKeyCommand {
    /// Issues a key; prints it with its secret, shown this once.
    Add {
        /// What it is for, e.g. `12345 hotline`.
        #[arg(long)]
        name: String,
        /// The code of a grid: the key sees that grid and every grid below
        /// it, as a staff account given `--grid` (without: the whole city).
        #[arg(long, value_name = "CODE")]
        grid: Option<String>,
    },
    /// Every key, without secrets.
    List,
    /// Refuses the key from now on.
    Revoke {
        /// The key's id, as `integration-key list` prints it.
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum ListCommand {
    /// Prints them, newest first.
    List,
}

#[derive(Subcommand)]
enum ParkedCommand {
    /// A page of summaries, newest first: `next` is where the following
    /// page starts (`--after`); `overflow` counts refusals a device made
    /// beyond what it may park.
    List {
        /// Start below this id (the `next` of the previous page).
        #[arg(long)]
        after: Option<u64>,
        /// Summaries per page, 1 to 1,000.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// One parked change with the values it would have set.
    Show {
        /// The parked change's id, as `parked list` prints it.
        #[arg(long)]
        id: u64,
    },
    /// Removes a parked change once it has been reviewed (the trail keeps
    /// who did).
    Dismiss {
        /// The parked change's id, as `parked list` prints it.
        #[arg(long)]
        id: u64,
    },
    /// Applies a parked change by hand: writes the values it would have
    /// set (with any corrections) to its record as the server, and removes
    /// it (the trail keeps who did and which fields).
    Apply {
        /// The parked change's id, as `parked list` prints it.
        #[arg(long)]
        id: u64,
        /// A correction, `FIELD=VALUE` (VALUE read as the field's type, as
        /// `device put` reads it); repeatable. Only fields the change carried.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// A field of the change to leave as the server has it; repeatable.
        #[arg(long = "skip", value_name = "FIELD")]
        skip: Vec<String>,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Trades an enrollment code for this device's identity.
    Enroll {
        /// The server's address, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        server: String,
        /// The enrollment code an admin gave (`XXXX-XXXX`).
        #[arg(long)]
        code: String,
    },
    /// Creates or updates a record: FIELD=VALUE pairs (an empty VALUE
    /// clears the field; lists are comma-separated).
    Put {
        /// The record kind: resident, household, building, patrol, visit, case, task (grid for reading).
        kind: String,
        /// The record to update; without it a new record is created.
        #[arg(long)]
        id: Option<String>,
        /// FIELD=VALUE, e.g. `name=张秀英 grid=330702001001`.
        #[arg(required = true)]
        fields: Vec<String>,
    },
    /// Prints one record of this device.
    Get {
        /// The record kind: resident, household, building, patrol, visit, case, task (grid for reading).
        kind: String,
        id: String,
    },
    /// Prints every record of a kind on this device.
    List {
        /// The record kind: resident, household, building, patrol, visit, case, task (grid for reading).
        kind: String,
    },
    /// Deletes a record (it stays as a tombstone, hidden).
    Delete {
        /// The record kind: resident, household, building, patrol, visit, case, task (grid for reading).
        kind: String,
        id: String,
    },
    /// Pushes local edits, then pulls the changes of this device's grids.
    Sync,
    /// Pending changes, last sync, the server, refused edits.
    Status,
    /// Uploads a file (a case photo) and prints its SHA-256 for a case's
    /// `attachments` field.
    Upload { file: PathBuf },
    /// Lists fields with concurrent versions on this device.
    Conflicts,
}

fn print(value: serde_json::Value) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", serde_json::to_string_pretty(&value)?) {
        // A reader that stopped reading (`| head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// A mistake on the command line, said in English and Chinese.
#[derive(Debug, thiserror::Error)]
#[error("{en}")]
struct Said {
    en: String,
    zh: String,
}

fn said(en: impl Into<String>, zh: impl Into<String>) -> anyhow::Error {
    Said { en: en.into(), zh: zh.into() }.into()
}

fn kind(text: &str) -> Result<Kind> {
    Kind::parse(text).map_err(|_| {
        let kinds: Vec<_> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        let labels: Vec<_> =
            Kind::ALL.iter().map(|k| format!("{}({})", k.def().label.zh, k.as_str())).collect();
        said(
            format!("unknown record kind `{text}`: one of {}", kinds.join(", ")),
            format!("没有`{text}`这种记录类型,可用:{}", labels.join("、")),
        )
    })
}

fn record_id(text: &str) -> Result<RecordId> {
    text.parse().map_err(|_| {
        said(format!("`{text}` is not a record id (a UUIDv7)"), format!("`{text}`不是记录编号(UUIDv7)"))
    })
}

async fn admin(server: &str, token: &str, command: AdminCommand) -> Result<()> {
    let admin = Admin::new(server, token)?;
    let answer = match command {
        AdminCommand::Department { command: DepartmentCommand::List } => json!(admin.departments().await?),
        AdminCommand::Department { command: DepartmentCommand::Add { code, name_zh, name_en } } => {
            admin.add_department(&gridwork_protocol::cases::Department { code, name_zh, name_en }).await?
        }
        AdminCommand::Case {
            command: CaseCommand::List { status, category, department, overdue, after, limit },
        } => {
            let filter =
                gridwork_protocol::cases::CaseFilter { status, category, department, overdue, after, limit };
            json!(admin.cases(&filter).await?)
        }
        AdminCommand::Record {
            command: RecordCommand::List { kind, grid, q, tag, residence, after, limit },
        } => {
            let filter = gridwork_protocol::registry::RecordFilter {
                kind: Some(kind),
                grid,
                q,
                tag,
                residence,
                after,
                limit: limit.map(|l| l.to_string()),
            };
            json!(admin.records(&filter).await?)
        }
        AdminCommand::Record { command: RecordCommand::Show { id } } => {
            json!(admin.record(record_id(&id)?).await?)
        }
        AdminCommand::Case { command: CaseCommand::Show { id } } => json!(admin.case(record_id(&id)?).await?),
        AdminCommand::Case { command: CaseCommand::Step { id, step, department, note, satisfaction } } => {
            let quoted = |text: &str| serde_json::Value::String(text.to_owned());
            let request = gridwork_protocol::cases::StepRequest {
                step: Some(serde_json::from_value(quoted(&step))?),
                department,
                note,
                satisfaction: satisfaction.map(|s| serde_json::from_value(quoted(&s))).transpose()?,
            };
            json!(admin.case_step(record_id(&id)?, &request).await?)
        }
        AdminCommand::Grid { command: GridCommand::Add { code, name, parent, level } } => {
            json!(admin.add_grid(&NewGrid { code, name, parent, level }).await?)
        }
        AdminCommand::User { command: UserCommand::Add { name, role, grids, password, department } } => {
            let role = Role::parse(&role).expect("clap checked the role");
            json!(admin.add_user(&NewUser { name, role, grids, password, department }).await?)
        }
        AdminCommand::EnrollCode { user, ttl_minutes } => {
            let code = admin
                .enrollment_code(&NewEnrollmentCode { user_id: user, ttl_minutes: Some(ttl_minutes) })
                .await?;
            let qr = gridwork_protocol::sync::enrollment_payload(admin.server(), &code.code);
            let mut answer = json!(code);
            answer["qr"] = json!(qr);
            answer
        }
        AdminCommand::Device { command: AdminDeviceCommand::List } => json!(admin.devices().await?),
        AdminCommand::Device { command: AdminDeviceCommand::Revoke { device } } => {
            json!(admin.revoke_device(&device).await?)
        }
        AdminCommand::IntegrationKey { command: IntegrationKeyCommand::Add { name, grid } } => {
            let key = gridwork_protocol::admin::NewIntegrationKey { name, grid };
            json!(admin.issue_integration_key(&key).await?)
        }
        AdminCommand::IntegrationKey { command: IntegrationKeyCommand::List } => {
            json!(admin.integration_keys().await?)
        }
        AdminCommand::IntegrationKey { command: IntegrationKeyCommand::Revoke { id } } => {
            json!(admin.revoke_integration_key(&id).await?)
        }
        AdminCommand::Conflicts { command: ListCommand::List } => json!(admin.conflicts().await?),
        AdminCommand::Parked { command: ParkedCommand::List { after, limit } } => {
            json!(admin.parked(after, limit).await?)
        }
        AdminCommand::Parked { command: ParkedCommand::Show { id } } => json!(admin.parked_one(id).await?),
        AdminCommand::Parked { command: ParkedCommand::Dismiss { id } } => {
            json!(admin.dismiss_parked(id).await?)
        }
        AdminCommand::Parked { command: ParkedCommand::Apply { id, set, skip } } => {
            let parked = admin.parked_one(id).await?;
            let mut values: BTreeMap<String, Value> = match parked.values {
                Some(serde_json::Value::Object(values)) => values
                    .into_iter()
                    .map(|(k, v)| Ok((k, serde_json::from_value(v)?)))
                    .collect::<Result<_, serde_json::Error>>()?,
                _ => BTreeMap::new(),
            };
            // Read as the field's type, as `device put` reads them.
            let def = kind(&parked.kind)?.def();
            for correction in &set {
                let Some((name, text)) = correction.split_once('=') else {
                    return Err(said(
                        format!("--set takes FIELD=VALUE, not `{correction}`"),
                        format!("--set 的格式是 字段=值,而不是“{correction}”"),
                    ));
                };
                let field = def.field(name.trim())?;
                values.insert(field.name.to_owned(), field.ty.parse_text(field.name, text)?);
            }
            for field in &skip {
                values.remove(field);
            }
            json!(admin.apply_parked(id, &ApplyParked { values }).await?)
        }
        AdminCommand::User { command: UserCommand::List } => json!(admin.users().await?),
        AdminCommand::Grid { command: GridCommand::List } => json!(admin.grids().await?),
        AdminCommand::Grid { command: GridCommand::Set { code, name, parent, boundary } } => {
            let boundary = match boundary {
                Some(file) => Some(
                    std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?,
                ),
                None => None,
            };
            let change = gridwork_protocol::console::GridChange { name, parent, boundary };
            json!(admin.update_grid(&code, &change).await?)
        }
        AdminCommand::Grid { command: GridCommand::Import { file } } => import_grids(&admin, &file).await?,
    };
    print(answer)
}

/// One grid as an import file describes it.
struct GridLine {
    /// Where it is in the file, for messages: "feature 3", "line 4".
    at: String,
    code: String,
    name: String,
    parent: Option<String>,
    level: Option<String>,
    boundary: Option<String>,
}

/// Reads an import file: a GeoJSON FeatureCollection (properties `code`,
/// `name`, `parent`, `level`; the geometry is the boundary) or, for a file
/// ending `.csv`, a CSV with a header naming `code`, `name` and optionally
/// `parent` and `level` (no boundaries: draw them later with `grid set`).
fn read_grid_lines(file: &std::path::Path) -> Result<Vec<GridLine>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let text = text.trim_start_matches('\u{feff}');
    let blank = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let csv = file.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if csv {
        let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
        let header =
            reader.headers().with_context(|| format!("{} has no header line", file.display()))?.clone();
        let column = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
        let (Some(code), Some(name)) = (column("code"), column("name")) else {
            anyhow::bail!(
                "{}: the header must name the columns `code` and `name` (and may name `parent` and `level`)",
                file.display()
            );
        };
        let (parent, level) = (column("parent"), column("level"));
        let mut lines = Vec::new();
        for (n, row) in reader.records().enumerate() {
            let at = format!("line {}", n + 2);
            let row = row.with_context(|| format!("{}: {at} is not CSV", file.display()))?;
            let cell = |i: Option<usize>| blank(i.and_then(|i| row.get(i)).map(str::to_owned));
            lines.push(GridLine {
                code: cell(Some(code)).unwrap_or_default(),
                name: cell(Some(name)).unwrap_or_default(),
                parent: cell(parent),
                level: cell(level),
                boundary: None,
                at,
            });
        }
        return Ok(lines);
    }
    let collection: serde_json::Value = serde_json::from_str(text)
        .with_context(|| format!("{} is neither JSON nor a file ending .csv", file.display()))?;
    let Some(features) = collection.get("features").and_then(serde_json::Value::as_array) else {
        anyhow::bail!("{} is not a GeoJSON FeatureCollection (no `features`)", file.display());
    };
    Ok(features
        .iter()
        .enumerate()
        .map(|(n, feature)| {
            let property = |name: &str| blank(feature["properties"][name].as_str().map(str::to_owned));
            GridLine {
                at: format!("feature {n}"),
                code: property("code").unwrap_or_default(),
                name: property("name").unwrap_or_default(),
                parent: property("parent"),
                level: property("level"),
                boundary: feature.get("geometry").filter(|g| !g.is_null()).map(serde_json::Value::to_string),
            }
        })
        .collect())
}

/// `admin grid import`: every grid in the file is checked first (a code
/// and a name, a known parent or one earlier in the file, a boundary that
/// is WGS-84 GeoJSON, no code twice) and nothing is written if one is
/// wrong; then each grid is added if new, and named, moved and drawn as
/// the file says.
async fn import_grids(admin: &Admin, file: &std::path::Path) -> Result<serde_json::Value> {
    let lines = read_grid_lines(file)?;
    let mut known: std::collections::BTreeSet<String> =
        admin.grids().await?.into_iter().map(|g| g.code).collect();
    let existing = known.clone();
    let mut seen = std::collections::BTreeSet::new();
    for line in &lines {
        let at = &line.at;
        if line.code.is_empty() || line.name.is_empty() {
            anyhow::bail!("{at} has no `code` or no `name`: nothing was imported");
        }
        if !seen.insert(line.code.clone()) {
            anyhow::bail!("{at}: grid {} is in the file twice: nothing was imported", line.code);
        }
        if let Some(parent) = &line.parent
            && !known.contains(parent)
        {
            anyhow::bail!(
                "{at}: grid {}'s parent {parent} is neither a grid yet nor earlier in the file (parents go before children): nothing was imported",
                line.code
            );
        }
        if let Some(boundary) = &line.boundary
            && let Err(reason) = gridwork_domain::formats::check_boundary(boundary)
        {
            anyhow::bail!("{at}: grid {}'s geometry is {reason}: nothing was imported", line.code);
        }
        known.insert(line.code.clone());
    }
    let (mut added, mut updated) = (Vec::new(), Vec::new());
    for line in lines {
        let GridLine { at, code, name, parent, level, boundary } = line;
        if existing.contains(&code) {
            updated.push(code.clone());
        } else {
            let grid = NewGrid { code: code.clone(), name: name.clone(), parent: parent.clone(), level };
            admin
                .add_grid(&grid)
                .await
                .with_context(|| format!("adding grid {code} ({at}); those before it were imported"))?;
            added.push(code.clone());
        }
        let change = gridwork_protocol::console::GridChange { name: Some(name), parent, boundary };
        admin
            .update_grid(&code, &change)
            .await
            .with_context(|| format!("updating grid {code} ({at}); those before it were imported"))?;
    }
    Ok(json!({"added": added, "updated": updated}))
}

async fn device(db: PathBuf, command: DeviceCommand) -> Result<()> {
    if !matches!(command, DeviceCommand::Enroll { .. }) && !db.exists() {
        return Err(said(
            format!(
                "{} does not exist: enroll this device first (gridwork device --db FILE enroll --server URL --code CODE)",
                db.display()
            ),
            format!("{}不存在:请先注册本设备", db.display()),
        ));
    }
    let new_file = !db.exists();
    let device = Device::open(&db)?;
    match command {
        DeviceCommand::Enroll { server, code } => {
            let enrolled = match device
                .enroll(&server, &code, concat!("gridwork-cli/", env!("CARGO_PKG_VERSION")))
                .await
            {
                Ok(enrolled) => enrolled,
                Err(error) => {
                    // Leave nothing behind for a device that never enrolled.
                    drop(device);
                    if new_file {
                        let _ = gridwork_store::Store::wipe(&db);
                    }
                    return Err(error.into());
                }
            };
            print(
                json!({"device_id": enrolled.device_id, "device_number": enrolled.device_number, "user": enrolled.user_name, "scope": enrolled.scope}),
            )
        }
        DeviceCommand::Put { kind: kind_text, id, fields } => {
            let kind = kind(&kind_text)?;
            let def = kind.def();
            let mut changes: Vec<(&str, Value)> = Vec::new();
            for pair in &fields {
                let (name, text) = pair.split_once('=').ok_or_else(|| {
                    said(format!("`{pair}` is not FIELD=VALUE"), format!("`{pair}`不是“字段=值”的形式"))
                })?;
                if name == "id" {
                    return Err(said(
                        "a record's id is given as `--id ID`, not as a field",
                        "记录编号请用 `--id 编号` 给出,不是字段",
                    ));
                }
                let field = def.field(name)?;
                if changes.iter().any(|(seen, _)| *seen == field.name) {
                    return Err(said(
                        format!("field `{name}` is given twice"),
                        format!("字段`{name}`({})重复给出", field.label.zh),
                    ));
                }
                changes.push((field.name, field.ty.parse_text(field.name, text)?));
            }
            let id = id.as_deref().map(record_id).transpose()?;
            let id = device.store().put(kind, id, &changes)?;
            print(json!({"id": id.to_string()}))
        }
        DeviceCommand::Get { kind: kind_text, id } => {
            let kind = kind(&kind_text)?;
            let record = device.store().get(kind, record_id(&id)?)?;
            match record {
                Some(record) => print(record.to_json()),
                None => Err(said(
                    format!("this device has no {kind} with id {id}"),
                    format!("本设备上没有编号为{id}的{}", kind.def().label.zh),
                )),
            }
        }
        DeviceCommand::List { kind: kind_text } => {
            let kind = kind(&kind_text)?;
            print(json!(gridwork_client::records_json(&device.store(), kind)?))
        }
        DeviceCommand::Delete { kind: kind_text, id } => {
            let kind = kind(&kind_text)?;
            device.store().delete(kind, record_id(&id)?)?;
            print(json!({"deleted": id}))
        }
        DeviceCommand::Sync => {
            let report = device
                .sync(|progress| match progress {
                    Progress::Pushing { pushed, pending } => eprintln!("pushed {pushed}, {pending} waiting"),
                    Progress::Pulling { pulled } => eprintln!("pulled {pulled}"),
                    Progress::Uploading { .. } => {}
                })
                .await
                .map_err(|error| match error {
                    error if error.is_unreachable() => said(
                        format!("{error}; edits made on this device are kept and sent at the next sync"),
                        format!("{};本机的修改已保存,下次同步时发送", error.zh()),
                    ),
                    other => other.into(),
                })?;
            print(serde_json::to_value(report)?)
        }
        DeviceCommand::Status => {
            let store = device.store();
            let session = store.session()?;
            print(json!({
                "enrolled": session.is_some(),
                "server": session.as_ref().map(|s| s.server.clone()),
                "device_id": session.as_ref().map(|s| s.device_id.clone()),
                "device_number": store.device_id()?.map(|d| d.0),
                "user": session.as_ref().map(|s| s.user_name.clone()),
                "pending": store.pending_count()?,
                "last_sync_ms": session.as_ref().and_then(|s| s.last_sync_ms),
                "cursor": session.as_ref().map(|s| s.cursor),
                "grids": session.as_ref().map(|s| s.scope.clone()),
                "refused": store.refused()?,
            }))
        }
        DeviceCommand::Upload { file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let sha = device
                .upload(&bytes, |p| {
                    if let Progress::Uploading { sent, size } = p {
                        eprintln!("uploaded {sent} of {size} bytes");
                    }
                })
                .await?;
            print(json!({"sha256": sha, "size": bytes.len()}))
        }
        DeviceCommand::Conflicts => print(serde_json::to_value(device.store().conflicts(10_000)?)?),
    }
}

/// The error for a person: the English message, the Chinese one when the
/// server or the validation gave one.
fn explain(error: &anyhow::Error) -> String {
    if let Some(said) = error.downcast_ref::<Said>() {
        return format!("{}\n{}", said.en, said.zh);
    }
    if let Some(client) = error.downcast_ref::<ClientError>() {
        return format!("{client}\n{}", client.zh());
    }
    if let Some(store) = error.downcast_ref::<gridwork_store::Error>() {
        return format!("{error}\n{}", store.zh());
    }
    if let Some(invalid) = error.downcast_ref::<gridwork_domain::ValidationError>() {
        return format!("{error}\n{}", invalid.zh());
    }
    format!("{error:#}")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo => demo::run(),
        command => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the runtime")
            .and_then(|runtime| {
                runtime.block_on(async move {
                    match command {
                        Command::Admin { server, token, command } => admin(&server, &token, command).await,
                        Command::Device { db, command } => device(db, command).await,
                        Command::Demo => unreachable!("handled above"),
                    }
                })
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gridwork: {}", explain(&error));
            ExitCode::FAILURE
        }
    }
}
