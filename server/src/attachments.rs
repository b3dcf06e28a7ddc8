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

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::storage::{AttachmentStatus, StorageError};
use crate::{AppState, Authed, blocking, now_ms};

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

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    offset: u64,
    size: u64,
}

pub async fn upload(
    State(state): State<AppState>,
    auth: Authed,
    Path(sha256): Path<String>,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    let who = auth.0;
    let Query(query) = query.map_err(|e| AppError::malformed(format!("{e} (expected ?offset=N&size=S)")))?;
    let body: Bytes = crate::wire::read_body(request.into_body(), MAX_CHUNK).await?;
    check_digest(&sha256)?;
    if query.size == 0 || query.size > MAX_ATTACHMENT {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("an attachment is 1 to {MAX_ATTACHMENT} bytes; this one says {}", query.size),
            format!("附件大小应为1至{MAX_ATTACHMENT}字节"),
        ));
    }
    let uploader = who.device.as_ref().map_or(who.user_id.clone(), |d| d.id.clone());
    // Requests of one upload (a digest and its uploader) do not interleave.
    let _turn = state.uploads.take(format!("{sha256}.{uploader}")).await;
    check_file(&state, &sha256).await?;
    let storage = state.storage.clone();
    let (sha, size, by) = (sha256.clone(), query.size, uploader.clone());
    let status = blocking(move || storage.upload_begin(&sha, size, &by, now_ms())).await?;
    if status.complete {
        return Ok(Json(status).into_response());
    }
    if query.offset != status.received {
        return Ok((
            StatusCode::CONFLICT,
            Json(serde_json::json!({
                "error": {
                    "code": "offset_mismatch",
                    "message": format!("the server holds {} bytes of this attachment; send from there", status.received),
                    "message_zh": format!("服务器已收到{}字节,请从该处继续上传", status.received),
                },
                "status": status,
            })),
        )
            .into_response());
    }
    if status.received + body.len() as u64 > status.size {
        return Err(AppError::malformed(format!(
            "{} bytes past the attachment's size {}",
            body.len(),
            status.size
        )));
    }
    let (partial, published) = (partial_path(&state, &sha256, &uploader), final_path(&state, &sha256));
    let (sha, received) = (sha256.clone(), status.received);
    let outcome = tokio::task::spawn_blocking(move || -> Result<(u64, bool), AppError> {
        std::fs::create_dir_all(partial.parent().expect("has a parent")).map_err(io_error)?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&partial)
            .map_err(io_error)?;
        // Whatever lies past what was recorded is from an interrupted write.
        file.set_len(received).map_err(io_error)?;
        file.seek(SeekFrom::Start(received)).map_err(io_error)?;
        file.write_all(&body).map_err(io_error)?;
        file.sync_data().map_err(io_error)?;
        let now = received + body.len() as u64;
        if now < status.size {
            return Ok((now, false));
        }
        file.seek(SeekFrom::Start(0)).map_err(io_error)?;
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
        if digest != sha {
            std::fs::remove_file(&partial).map_err(io_error)?;
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "digest_mismatch",
                format!("the bytes received hash to {digest}, not {sha}; the upload starts over"),
                "文件校验失败,请重新上传",
            ));
        }
        std::fs::create_dir_all(published.parent().expect("has a parent")).map_err(io_error)?;
        // Renamed over any copy another uploader published: same bytes.
        std::fs::rename(&partial, &published).map_err(io_error)?;
        Ok((now, true))
    })
    .await
    .map_err(|e| AppError::from(StorageError::Internal(format!("upload thread: {e}"))))?;
    let storage = state.storage.clone();
    let (sha, size) = (sha256.clone(), status.size);
    let (received, complete) = match outcome {
        Ok(progress) => progress,
        Err(error) => {
            blocking(move || storage.upload_progress(&sha, &uploader, 0)).await?;
            return Err(error);
        }
    };
    if complete {
        blocking(move || storage.upload_complete(&sha, size, &uploader, now_ms())).await?;
    } else {
        blocking(move || storage.upload_progress(&sha, &uploader, received)).await?;
    }
    Ok(Json(AttachmentStatus { size, received, complete }).into_response())
}

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
    let bytes = tokio::fs::read(final_path(&state, &sha256)).await.map_err(io_error)?;
    Ok(([(CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}
