//! The commands the UI calls (`docs/app.md` is their contract). Each one
//! checks the phase, calls the store or the sync client, and answers: the
//! rules themselves live in the crates below.

use std::sync::Arc;

use gridwork_domain::{Kind, RecordId, Value};
use gridwork_store::{ListQuery, Photo};
use serde::Serialize;
use tauri::State;
use tauri::ipc::{InvokeBody, Request, Response};

use crate::error::AppError;
use crate::state::{AppState, Phase, Status};
use crate::sync::SyncState;
use crate::{photos, pin, today};

type Shared<'a> = State<'a, Arc<AppState>>;
type Answer<T> = Result<T, AppError>;

/// What the app tells the server it is.
pub const APP_VERSION: &str = concat!("gridwork-app/", env!("CARGO_PKG_VERSION"));

fn kind(name: &str) -> Answer<Kind> {
    Ok(Kind::parse(name)?)
}

fn record_id(field: &str, text: &str) -> Answer<RecordId> {
    Ok(RecordId::parse_for(field, text)?)
}

/// Runs slow work (hashing, decoding photos) off the thread that answers
/// the UI.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Answer<T> + Send + 'static) -> Answer<T> {
    tauri::async_runtime::spawn_blocking(work).await.map_err(AppError::internal)?
}

#[tauri::command]
pub async fn app_status(state: Shared<'_>) -> Answer<Status> {
    state.status()
}

#[tauri::command]
pub async fn enroll(state: Shared<'_>, server: String, code: String) -> Answer<Status> {
    let (server, code) = match gridwork_protocol::sync::parse_enrollment_payload(&code) {
        Some((server, code)) => (server, code),
        None => (server.trim().to_owned(), code.trim().to_owned()),
    };
    if server.is_empty() {
        return Err(AppError::invalid(Some("server"), "enter the server address", "请输入服务器地址"));
    }
    if code.is_empty() {
        return Err(AppError::invalid(Some("code"), "enter the enrollment code", "请输入注册码"));
    }
    check_transport(&server)?;
    let device = state.device()?;
    if device.store().session()?.is_some() {
        return Err(AppError::new("already_enrolled", "this tablet is already enrolled", "本平板已注册"));
    }
    device.enroll(&server, &code, APP_VERSION).await?;
    state.wake_sync();
    state.status()
}

/// Residents' records and the device's token travel to the server, and
/// the server's word can wipe the tablet: over the network that is HTTPS.
/// Plain HTTP is for a server on this machine (a demo, a test), or where
/// `GRIDWORK_ALLOW_PLAIN_HTTP=1` says so knowingly.
fn check_transport(server: &str) -> Answer<()> {
    let Some(rest) = server.strip_prefix("http://") else { return Ok(()) };
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => rest.split([':', '/']).next().unwrap_or_default(),
    };
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback || std::env::var("GRIDWORK_ALLOW_PLAIN_HTTP").is_ok_and(|v| v == "1") {
        return Ok(());
    }
    Err(AppError::invalid(
        Some("server"),
        format!(
            "{server} is plain HTTP: residents' records would cross the network readable by anyone; use the server's https:// address"
        ),
        format!("{server}使用未加密的HTTP,居民信息会以明文在网络上传输;请使用服务器的https://地址"),
    ))
}

#[tauri::command]
pub async fn set_pin(state: Shared<'_>, pin: String) -> Answer<Status> {
    let _turn = state.pin_turn.lock().await;
    if state.status()?.phase != Phase::SetPin {
        return Err(AppError::new("wrong_phase", "a PIN is already set", "已设置过密码"));
    }
    pin::check_new(&pin)?;
    let hash = blocking(move || pin::hash(&pin)).await?;
    pin::save(&mut state.device()?.store(), &hash)?;
    state.set_unlocked(true);
    state.status()
}

#[tauri::command]
pub async fn unlock(state: Shared<'_>, pin: String) -> Answer<Status> {
    state.unlock(pin).await
}

#[tauri::command]
pub async fn lock(state: Shared<'_>) -> Answer<Status> {
    state.set_unlocked(false);
    state.status()
}

#[tauri::command]
pub async fn schema() -> Answer<Vec<gridwork_protocol::schema::KindInfo>> {
    Ok(gridwork_protocol::schema::kinds())
}

#[derive(Debug, Serialize)]
pub struct GridInfo {
    id: String,
    code: String,
    name: String,
    level: Option<String>,
    parent: Option<String>,
    boundary: Option<String>,
    in_scope: bool,
}

#[tauri::command]
pub async fn grids(state: Shared<'_>) -> Answer<Vec<GridInfo>> {
    let device = state.ready()?;
    let store = device.store();
    let scope = store.session()?.map(|s| s.scope).unwrap_or_default();
    let grids = store.list(Kind::Grid, &ListQuery { limit: 100_000, ..ListQuery::default() })?;
    let text = |record: &gridwork_domain::Record, field: &str| {
        record.get(field).and_then(Value::as_text).map(str::to_owned)
    };
    let mut answer: Vec<GridInfo> = grids
        .iter()
        .map(|grid| {
            let code = text(grid, "code").unwrap_or_default();
            GridInfo {
                id: grid.id.to_string(),
                in_scope: scope.contains(&code),
                code,
                name: text(grid, "name").unwrap_or_default(),
                level: text(grid, "level"),
                parent: text(grid, "parent"),
                boundary: text(grid, "boundary"),
            }
        })
        .collect();
    answer.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(answer)
}

const DEFAULT_PAGE: usize = 50;
const LARGEST_PAGE: usize = 500;

#[tauri::command]
pub async fn list_records(
    state: Shared<'_>,
    kind: String,
    grid: Option<String>,
    building: Option<String>,
    household: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
) -> Answer<Vec<serde_json::Value>> {
    let kind = self::kind(&kind)?;
    let refers = match (building, household) {
        (Some(id), _) => Some(("building", record_id("building", &id)?)),
        (None, Some(id)) => Some(("household", record_id("household", &id)?)),
        (None, None) => None,
    };
    let query = ListQuery {
        grid,
        refers,
        after: after.map(|id| record_id("after", &id)).transpose()?,
        limit: limit.unwrap_or(DEFAULT_PAGE).clamp(1, LARGEST_PAGE),
        ..ListQuery::default()
    };
    let device = state.ready()?;
    let records = device.store().list(kind, &query)?;
    Ok(records.iter().map(gridwork_domain::Record::to_json).collect())
}

#[tauri::command]
pub async fn search_residents(
    state: Shared<'_>,
    text: String,
    limit: Option<usize>,
) -> Answer<Vec<serde_json::Value>> {
    let device = state.ready()?;
    let found = device.store().find_residents(&text, limit.unwrap_or(DEFAULT_PAGE).clamp(1, LARGEST_PAGE))?;
    Ok(found.iter().map(gridwork_domain::Record::to_json).collect())
}

#[derive(Debug, Serialize)]
pub struct VersionView {
    value: Value,
    writer: u32,
    at_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct FieldHistory {
    name: &'static str,
    value: Value,
    writer: u32,
    writer_is_me: bool,
    at_ms: u64,
    conflicts: Vec<VersionView>,
}

#[derive(Debug, Serialize)]
pub struct RecordView {
    record: serde_json::Value,
    fields: Vec<FieldHistory>,
    refused: Vec<gridwork_store::Refused>,
}

#[tauri::command]
pub async fn get_record(state: Shared<'_>, kind: String, id: String) -> Answer<RecordView> {
    let kind = self::kind(&kind)?;
    let id = record_id("id", &id)?;
    let device = state.ready()?;
    let mut store = device.store();
    let Some(record) = store.get(kind, id)? else {
        return Err(gridwork_store::Error::NotFound { kind, id }.into());
    };
    let me = store.device_id()?.map(|d| d.0);
    let fields = store
        .registers(kind, id)?
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f.field != "deleted")
        .map(|f| {
            let winner = f.register.winner();
            FieldHistory {
                name: f.field,
                value: winner.value.clone(),
                writer: winner.writer.0,
                writer_is_me: Some(winner.writer.0) == me,
                at_ms: winner.hlc.physical_ms(),
                conflicts: f
                    .register
                    .losers()
                    .iter()
                    .map(|v| VersionView {
                        value: v.value.clone(),
                        writer: v.writer.0,
                        at_ms: v.hlc.physical_ms(),
                    })
                    .collect(),
            }
        })
        .collect();
    let id_text = id.to_string();
    let refused = store.refused()?.into_iter().filter(|r| r.id == id_text).collect();
    Ok(RecordView { record: record.to_json(), fields, refused })
}

/// A value as the UI sends it, read the way a typed value is read.
fn typed(field: &gridwork_domain::FieldDef, value: &serde_json::Value) -> Answer<Value> {
    let text = match value {
        serde_json::Value::Null => return Ok(Value::Null),
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Array(items) => {
            let mut texts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    serde_json::Value::String(text) if !text.contains([',', ',']) => {
                        texts.push(text.as_str())
                    }
                    _ => {
                        return Err(AppError::invalid(
                            Some(field.name),
                            format!("{}: each item is a code or a photo digest", field.name),
                            format!("{}:每一项应为代码或照片摘要", field.label.zh),
                        ));
                    }
                }
            }
            if texts.is_empty() {
                return Ok(Value::Null);
            }
            texts.join(",")
        }
        serde_json::Value::Object(_) => {
            return Err(AppError::invalid(
                Some(field.name),
                format!("{}: a value, not an object", field.name),
                format!("{}:应为一个值", field.label.zh),
            ));
        }
    };
    Ok(field.ty.parse_text(field.name, &text)?)
}

#[derive(Debug, Serialize)]
pub struct Saved {
    id: String,
}

#[tauri::command]
pub async fn put_record(
    state: Shared<'_>,
    kind: String,
    id: Option<String>,
    fields: serde_json::Map<String, serde_json::Value>,
) -> Answer<Saved> {
    let kind = self::kind(&kind)?;
    let id = id.map(|id| record_id("id", &id)).transpose()?;
    let def = kind.def();
    let mut changes = Vec::with_capacity(fields.len());
    for (name, value) in &fields {
        let field = def.field(name)?;
        if field.name == "deleted" {
            return Err(AppError::invalid(Some("deleted"), "delete with delete_record", "请使用删除功能"));
        }
        changes.push((field.name, typed(field, value)?));
    }
    let device = state.ready()?;
    let id = device.store().put(kind, id, &changes)?;
    state.wake_sync();
    Ok(Saved { id: id.to_string() })
}

#[tauri::command]
pub async fn delete_record(state: Shared<'_>, kind: String, id: String) -> Answer<serde_json::Value> {
    let kind = self::kind(&kind)?;
    let id = record_id("id", &id)?;
    let device = state.ready()?;
    device.store().delete(kind, id)?;
    state.wake_sync();
    Ok(serde_json::json!({}))
}

/// At most this many records of each kind are read for Today: a worker's
/// grids hold far fewer open cases and tasks.
const TODAY_READ: usize = 20_000;

#[tauri::command]
pub async fn today(state: Shared<'_>) -> Answer<today::Today> {
    let device = state.ready()?;
    let store = device.store();
    let worker = store.session()?.map(|s| s.user_name).unwrap_or_default();
    let mut records = Vec::new();
    for kind in [Kind::Task, Kind::Case, Kind::Visit, Kind::Patrol] {
        records.extend(store.list(kind, &ListQuery { limit: TODAY_READ, ..ListQuery::default() })?);
    }
    drop(store);
    Ok(today::today(&records, chrono::Local::now(), &worker))
}

#[tauri::command]
pub async fn add_photo(state: Shared<'_>, request: Request<'_>) -> Answer<Photo> {
    let InvokeBody::Raw(bytes) = request.body() else {
        return Err(AppError::invalid(
            Some("attachments"),
            "send the photo's bytes as the body",
            "照片应以原始字节发送",
        ));
    };
    let device = state.ready()?;
    let bytes = bytes.clone();
    // One photo decoded at a time: each may take hundreds of MB.
    let _turn = state.photo_turn.lock().await;
    let shrunk = blocking(move || photos::shrink(&bytes)).await?;
    let photo = device.store().add_photo(&shrunk.jpeg, shrunk.width, shrunk.height)?;
    state.wake_sync();
    Ok(photo)
}

#[tauri::command]
pub async fn photo(state: Shared<'_>, sha256: String) -> Answer<Response> {
    let device = state.ready()?;
    let bytes = device
        .store()
        .photo_bytes(&sha256)?
        .ok_or_else(|| AppError::new("not_found", "this photo is not on this tablet", "本机没有这张照片"))?;
    Ok(Response::new(bytes))
}

#[tauri::command]
pub async fn sync_now(state: Shared<'_>) -> Answer<SyncState> {
    state.ready()?;
    state.wake_sync();
    Ok(state.sync_state())
}

#[tauri::command]
pub async fn sync_state(state: Shared<'_>) -> Answer<SyncState> {
    state.watching()?;
    Ok(state.sync_state())
}

#[tauri::command]
pub async fn conflicts(state: Shared<'_>, limit: Option<usize>) -> Answer<Vec<gridwork_store::Conflict>> {
    let device = state.ready()?;
    let conflicts = device.store().conflicts(limit.unwrap_or(DEFAULT_PAGE).clamp(1, LARGEST_PAGE))?;
    Ok(conflicts)
}

#[cfg(test)]
mod tests {
    use super::check_transport;

    #[test]
    fn plain_http_only_to_this_machine() {
        for ok in [
            "https://grid.example.cn",
            "http://127.0.0.1:8080",
            "http://localhost:8080/api/v1",
            "http://[::1]:80",
        ] {
            assert!(check_transport(ok).is_ok(), "{ok}");
        }
        for bad in ["http://10.0.0.2:8080", "http://grid.example.cn", "http://127.example.cn.evil:1"] {
            if std::env::var("GRIDWORK_ALLOW_PLAIN_HTTP").is_err() {
                assert_eq!(check_transport(bad).unwrap_err().field.as_deref(), Some("server"), "{bad}");
            }
        }
    }
}
