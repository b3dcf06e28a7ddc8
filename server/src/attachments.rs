//! Attachments (case photos): content-addressed by SHA-256, uploaded apart
//! from records in resumable chunks, stored once however many cases name
//! them, limited in size, and readable only by those who can read a record
//! that names them (or who uploaded them).
//!
//! An upload is `PUT /api/v1/attachments/{sha256}?offset=N&size=S` with the
//! bytes from `N`; the answer (or `GET .../status`) says how many bytes the
//! server holds, so an interrupted upload resumes where it stopped. The
//! bytes are on disk (fsynced) before the count is recorded; the last chunk
//! is checked against the digest before the file is published.
//!
//! Each uploader has their own upload of a digest: nobody can claim one
//! ahead of its owner or write into another's, and whether a file is
//! stored is not disclosed to anyone who may not read it. Such a device
//! sends the bytes even when the server has the file (proof that it holds
//! them); the file is still stored once.

use gridwork_protocol::codes::ErrorCode;
use std::io::{Read, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::storage::{AttachmentStatus, StorageError};
use crate::{AppState, Authed, blocking};
use gridwork_protocol::admin::OffsetMismatch;
use gridwork_protocol::sync::ApiError;

/// The largest attachment accepted.
pub const MAX_ATTACHMENT: u64 = 20 * 1024 * 1024;
/// The largest chunk of one request.
pub const MAX_CHUNK: usize = 4 * 1024 * 1024;

fn check_digest(sha256: &str) -> Result<(), AppError> {
    gridwork_domain::formats::check_sha256(sha256).map_err(|reason| {
        StorageError::Invalid(gridwork_domain::ValidationError::invalid("sha256", reason)).into()
    })
}

fn final_path(state: &AppState, sha256: &str) -> PathBuf {
    state.data_dir.join("attachments").join(&sha256[..2]).join(sha256)
}

fn partial_path(state: &AppState, sha256: &str, uploader: &str) -> PathBuf {
    state.data_dir.join("attachments").join("partial").join(format!("{sha256}.{uploader}"))
}

/// Forgets a stored attachment whose file is missing (a database restored
/// without its photos), so the next upload stores it again.
async fn check_file(state: &AppState, sha256: &str) -> Result<(), AppError> {
    let storage = state.storage.clone();
    let sha = sha256.to_owned();
    let stored = blocking(move || storage.attachment_size(&sha)).await?;
    if stored.is_some() && !tokio::fs::try_exists(final_path(state, sha256)).await.map_err(io_error)? {
        let storage = state.storage.clone();
        let sha = sha256.to_owned();
        blocking(move || storage.attachment_lost(&sha)).await?;
    }
    Ok(())
}

fn io_error(e: std::io::Error) -> AppError {
    StorageError::Internal(format!("attachment file: {e}")).into()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Where this chunk's bytes start in the file.
    offset: u64,
    /// The whole file's size in bytes.
    size: u64,
}

/// How long one chunk may take to arrive. Shorter than the request timeout,
/// so what did arrive of a slow chunk is kept and the device resumes from
/// there.
const CHUNK_DEADLINE: Duration = Duration::from_secs(45);

/// A chunk of an attachment from `offset`; the answer says how many bytes
/// the server holds, so an interrupted upload resumes where it stopped.
///
/// Who: a device or a console login.
#[utoipa::path(
    put,
    path = "/api/v1/attachments/{sha256}",
    tag = "attachments",
    params(("sha256" = String, Path, description = "the file's SHA-256, 64 lowercase hex digits"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the file's bytes from `offset`, at most 1 MiB per chunk"),
    responses(
        (status = 200, description = "where the upload stands; `complete` once the last chunk matched the digest", body = AttachmentStatus),
        (status = 409, description = "`offset` is not where the server's copy ends: resume from `status.received`", body = OffsetMismatch),
        (status = 413, description = "the chunk or the declared size is larger than allowed", body = gridwork_protocol::sync::ErrorBody),
        (status = 422, description = "the bytes do not match the digest: the upload starts over", body = gridwork_protocol::sync::ErrorBody),
        (status = 429, description = "the uploader's quota of unfinished uploads is spent", body = gridwork_protocol::sync::ErrorBody),
        (status = 503, description = "another node is receiving this upload: send the chunk again (`Retry-After`)", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("device" = []), ("session" = [])),
)]
pub async fn upload(
    State(state): State<AppState>,
    auth: Authed,
    Path(sha256): Path<String>,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    let (parts, body) = request.into_parts();
    let mut body = Some(body);
    let answer = upload_chunk(state, auth, sha256, query, &parts.headers, &mut body).await;
    // Answered before its bytes were read (a refusal, a chunk not needed):
    // they are read and dropped first, so that the device hears the answer
    // rather than a connection reset in the middle of its chunk.
    if let Some(unread) = body {
        crate::wire::drain(unread, MAX_CHUNK).await;
    }
    answer
}

async fn upload_chunk(
    state: AppState,
    auth: Authed,
    sha256: String,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    headers: &axum::http::HeaderMap,
    body: &mut Option<axum::body::Body>,
) -> Result<Response, AppError> {
    let who = auth.0;
    let Query(query) = query.map_err(|e| AppError::malformed(format!("{e} (expected ?offset=N&size=S)")))?;
    check_digest(&sha256)?;
    if query.size == 0 || query.size > MAX_ATTACHMENT {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            format!("an attachment is 1 to {MAX_ATTACHMENT} bytes; this one says {}", query.size),
            format!("附件大小应为1至{MAX_ATTACHMENT}字节"),
        ));
    }
    if crate::wire::declared_length(headers).is_some_and(|n| n > MAX_CHUNK as u64) {
        return Err(AppError::too_large(MAX_CHUNK));
    }
    let uploader = who.device.as_ref().map_or(who.user_id.clone(), |d| d.id.clone());
    // Requests of one upload (a digest and its uploader) do not interleave:
    // on this node by its turn, across nodes sharing the data directory by
    // a lock on the upload's lock file (flock; NFS carries it across).
    let _turn = state.uploads.take(format!("{sha256}.{uploader}")).await;
    let _owner = match own_upload(&state, &sha256, &uploader).await? {
        Some(lock) => lock,
        None => {
            return Err(AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Busy,
                "another server node is receiving this upload right now; send the chunk again in a moment",
                "另一台服务器正在接收此上传,请稍后重发",
            )
            .retry_after(1));
        }
    };
    check_file(&state, &sha256).await?;
    let storage = state.storage.clone();
    let (sha, size, by) = (sha256.clone(), query.size, uploader.clone());
    let now = state.now_ms();
    let status = blocking(move || storage.upload_begin(&sha, size, &by, now)).await?;
    if status.complete {
        return Ok(Json(status).into_response());
    }
    if query.offset != status.received {
        return Ok((
            StatusCode::CONFLICT,
            Json(OffsetMismatch {
                error: ApiError {
                    code: ErrorCode::OffsetMismatch,
                    message: format!(
                        "the server holds {} bytes of this attachment; send from there",
                        status.received
                    ),
                    message_zh: format!("服务器已收到{}字节,请从该处继续上传", status.received),
                },
                status,
            }),
        )
            .into_response());
    }
    // The bytes go to the file as they arrive: nothing of a chunk waits in
    // memory, and what arrived of an interrupted chunk is kept.
    let partial = partial_path(&state, &sha256, &uploader);
    let room = (status.size - status.received).min(MAX_CHUNK as u64);
    let chunk = body.take().expect("the body is read once");
    let written = receive(chunk, &partial, status.received, room).await;
    let (received, failure) = match written {
        Ok(n) => (status.received + n, None),
        Err((n, error)) => (status.received + n, Some(error)),
    };
    if received < status.size || failure.is_some() {
        let storage = state.storage.clone();
        let (sha, by) = (sha256.clone(), uploader.clone());
        let now = state.now_ms();
        blocking(move || storage.upload_progress(&sha, &by, received, now)).await?;
        return match failure {
            Some(error) => Err(error),
            None => {
                Ok(Json(AttachmentStatus { size: status.size, received, complete: false }).into_response())
            }
        };
    }
    let published = final_path(&state, &sha256);
    let sha = sha256.clone();
    let checked = tokio::task::spawn_blocking(move || publish(&partial, &published, &sha))
        .await
        .map_err(|e| AppError::from(StorageError::Internal(format!("upload thread: {e}"))))?;
    let storage = state.storage.clone();
    let (sha, size) = (sha256.clone(), status.size);
    if let Err(error) = checked {
        let now = state.now_ms();
        blocking(move || storage.upload_progress(&sha, &uploader, 0, now)).await?;
        return Err(error);
    }
    let now = state.now_ms();
    let lock = upload_lock_path(&state.data_dir, &sha256, &uploader);
    blocking(move || storage.upload_complete(&sha, size, &uploader, now)).await?;
    // Removed while held: the upload is done.
    let _ = tokio::fs::remove_file(lock).await;
    Ok(Json(AttachmentStatus { size, received: size, complete: true }).into_response())
}

/// Where the lock of one uploader's upload of an attachment lives.
pub fn upload_lock_path(data_dir: &std::path::Path, sha256: &str, uploader: &str) -> std::path::PathBuf {
    data_dir.join("attachments").join("partial").join(format!("{sha256}.{uploader}.lock"))
}

/// Takes the upload's lock file, held (and the file closed) when the
/// returned file is dropped; `None` if another process holds it.
async fn own_upload(
    state: &AppState,
    sha256: &str,
    uploader: &str,
) -> Result<Option<std::fs::File>, AppError> {
    let path = upload_lock_path(&state.data_dir, sha256, uploader);
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(path.parent().expect("has a parent"))?;
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
        match file.try_lock() {
            // Lock files are removed only by their holder; one removed
            // after this process opened it is no longer the upload's lock.
            Ok(()) => {
                use std::os::unix::fs::MetadataExt;
                let current = std::fs::metadata(&path).map(|m| m.ino()).ok();
                Ok((current == Some(file.metadata()?.ino())).then_some(file))
            }
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(error)) => Err(error),
        }
    })
    .await
    .map_err(|e| AppError::from(StorageError::Internal(format!("upload thread: {e}"))))?
    .map_err(io_error)
}

/// Writes a chunk's bytes to `partial` from `offset` as they arrive, at
/// most `room` of them, and makes them durable. Returns how many were
/// written, also when the chunk fails (too long, cut off, too slow).
async fn receive(
    body: axum::body::Body,
    partial: &std::path::Path,
    offset: u64,
    room: u64,
) -> Result<u64, (u64, AppError)> {
    use http_body_util::BodyExt;
    use tokio::io::{AsyncSeekExt, AsyncWriteExt};
    let fail = |n: u64| move |e: std::io::Error| (n, io_error(e));
    tokio::fs::create_dir_all(partial.parent().expect("has a parent")).await.map_err(fail(0))?;
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(partial)
        .await
        .map_err(fail(0))?;
    // Whatever lies past what was recorded is from an interrupted write.
    file.set_len(offset).await.map_err(fail(0))?;
    file.seek(SeekFrom::Start(offset)).await.map_err(fail(0))?;
    let mut body = body;
    let mut written = 0u64;
    let deadline = tokio::time::Instant::now() + CHUNK_DEADLINE;
    let outcome = loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                break Err(AppError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    ErrorCode::Timeout,
                    format!(
                        "the chunk took longer than {} s; what arrived is kept, resume from there",
                        CHUNK_DEADLINE.as_secs()
                    ),
                    "上传超时;已收到的部分已保存,请从该处继续",
                ));
            }
            Ok(None) => break Ok(()),
            Ok(Some(Err(e))) => break Err(AppError::malformed(format!("the chunk could not be read: {e}"))),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else { continue };
        if written + data.len() as u64 > room {
            break Err(AppError::malformed(format!(
                "the chunk runs past the attachment's declared size or the {MAX_CHUNK}-byte chunk limit"
            )));
        }
        file.write_all(&data).await.map_err(fail(written))?;
        written += data.len() as u64;
    };
    file.sync_data().await.map_err(fail(0))?;
    match outcome {
        Ok(()) => Ok(written),
        Err(error) => Err((written, error)),
    }
}

/// Checks a complete upload's bytes against its digest and publishes it.
fn publish(partial: &std::path::Path, published: &std::path::Path, sha256: &str) -> Result<(), AppError> {
    let mut file = std::fs::File::open(partial).map_err(io_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buffer).map_err(io_error)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    let digest: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if digest != sha256 {
        std::fs::remove_file(partial).map_err(io_error)?;
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::DigestMismatch,
            format!("the bytes received hash to {digest}, not {sha256}; the upload starts over"),
            "文件校验失败,请重新上传",
        ));
    }
    std::fs::create_dir_all(published.parent().expect("has a parent")).map_err(io_error)?;
    // Renamed over any copy another uploader published: same bytes.
    std::fs::rename(partial, published).map_err(io_error)?;
    Ok(())
}

/// Removes unfinished uploads that received nothing for `expiry`, files and
/// records, and partial files no upload owns any more. Runs every
/// `expiry / 4` (at most every ten minutes) for as long as the server does.
pub async fn expire_unfinished(state: AppState, expiry: Duration) {
    let every = (expiry / 4).clamp(Duration::from_millis(500), Duration::from_secs(600));
    loop {
        tokio::time::sleep(every).await;
        if let Err(error) = sweep(&state, expiry).await {
            tracing::warn!(error = %error.message, "expiring unfinished uploads failed");
        }
    }
}

async fn sweep(state: &AppState, expiry: Duration) -> Result<(), AppError> {
    let now = state.now_ms();
    let before = now.saturating_sub(expiry.as_millis() as u64);
    let storage = state.storage.clone();
    let stale = blocking(move || storage.stale_uploads(before)).await?;
    for (sha256, uploader) in stale {
        // Not while a chunk of it is being written, here or on another node.
        let _turn = state.uploads.take(format!("{sha256}.{uploader}")).await;
        let Some(_owner) = own_upload(state, &sha256, &uploader).await? else { continue };
        let storage = state.storage.clone();
        let (sha, by) = (sha256.clone(), uploader.clone());
        if blocking(move || storage.expire_upload(&sha, &by, before)).await? {
            let _ = tokio::fs::remove_file(partial_path(state, &sha256, &uploader)).await;
            let _ = tokio::fs::remove_file(upload_lock_path(&state.data_dir, &sha256, &uploader)).await;
            tracing::info!(sha256, uploader, "removed an unfinished upload left alone too long");
        }
    }
    // Files whose upload is gone (a crash between removing the record and
    // the file, a restore): old and unowned.
    let dir = state.data_dir.join("attachments").join("partial");
    let Ok(mut entries) = tokio::fs::read_dir(&dir).await else { return Ok(()) };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        let old = entry
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > expiry);
        let Some((sha256, rest)) = name.split_once('.') else { continue };
        let uploader = rest.strip_suffix(".lock").unwrap_or(rest);
        if !old {
            continue;
        }
        let _turn = state.uploads.take(format!("{sha256}.{uploader}")).await;
        let Some(_owner) = own_upload(state, sha256, uploader).await? else { continue };
        let storage = state.storage.clone();
        let (sha, by) = (sha256.to_owned(), uploader.to_owned());
        if blocking(move || storage.upload_status(&sha, &by)).await?.is_none() {
            let _ = tokio::fs::remove_file(partial_path(state, sha256, uploader)).await;
            let _ = tokio::fs::remove_file(upload_lock_path(&state.data_dir, sha256, uploader)).await;
        }
    }
    Ok(())
}

/// Where an upload stands, or that the file is stored (to those who may
/// read it).
///
/// Who: a device or a console login.
#[utoipa::path(
    get,
    path = "/api/v1/attachments/{sha256}/status",
    tag = "attachments",
    params(("sha256" = String, Path, description = "the file's SHA-256, 64 lowercase hex digits")),
    responses(
        (status = 200, description = "how many bytes the server holds", body = AttachmentStatus),
        (status = 404, description = "no upload of the file the caller may see", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("device" = []), ("session" = [])),
)]
pub async fn status(
    State(state): State<AppState>,
    auth: Authed,
    Path(sha256): Path<String>,
) -> Result<Response, AppError> {
    check_digest(&sha256)?;
    check_file(&state, &sha256).await?;
    let storage = state.storage.clone();
    let (who, sha) = (auth.0, sha256.clone());
    // Those who may read the file learn it is stored; anyone else only
    // where their own upload stands.
    let status = blocking(move || {
        if storage.attachment_readable(&who, &sha)?
            && let Some(size) = storage.attachment_size(&sha)?
        {
            return Ok(Some(AttachmentStatus { size, received: size, complete: true }));
        }
        let me = who.device.as_ref().map_or(who.user_id.as_str(), |d| d.id.as_str());
        storage.upload_status(&sha, me)
    })
    .await?;
    match status {
        Some(status) => Ok(Json(status).into_response()),
        None => Err(AppError::not_found(
            format!("no upload of attachment {sha256} that you may see"),
            format!("没有你可查看的附件{sha256}"),
        )),
    }
}

/// The file, to those who may read a record that names it (or who
/// uploaded it).
///
/// Who: a device or a console login.
#[utoipa::path(
    get,
    path = "/api/v1/attachments/{sha256}",
    tag = "attachments",
    params(("sha256" = String, Path, description = "the file's SHA-256, 64 lowercase hex digits")),
    responses(
        (status = 200, description = "the file's bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "no file the caller may read (existence is not disclosed)", body = gridwork_protocol::sync::ErrorBody),
    ),
    security(("device" = []), ("session" = [])),
)]
pub async fn download(
    State(state): State<AppState>,
    auth: Authed,
    Path(sha256): Path<String>,
) -> Result<Response, AppError> {
    check_digest(&sha256)?;
    check_file(&state, &sha256).await?;
    let storage = state.storage.clone();
    let (who, sha) = (auth.0, sha256.clone());
    let readable = blocking(move || storage.attachment_readable(&who, &sha)).await?;
    // Not readable and not there answer alike: existence is not disclosed.
    if !readable {
        return Err(AppError::not_found(
            format!("no attachment {sha256} that you may read"),
            format!("没有你可查看的附件{sha256}"),
        ));
    }
    // Sent from the file as the client reads it: an answer nobody reads
    // holds a chunk, not the photo (and the connection is closed once the
    // listener's write deadline passes).
    let file = tokio::fs::File::open(final_path(&state, &sha256)).await.map_err(io_error)?;
    let size = file.metadata().await.map_err(io_error)?.len();
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024));
    Ok(([(CONTENT_TYPE, "application/octet-stream".to_owned()), (CONTENT_LENGTH, size.to_string())], body)
        .into_response())
}
