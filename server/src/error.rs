//! The one place errors become HTTP answers: a status code and a JSON body
//! `{"error": {"code", "message", "message_zh"}}` a client can act on.
//! Internal details (SQL, file paths) are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gridwork_protocol::codes::ErrorCode;
use gridwork_protocol::sync::{ApiError, ErrorBody};

use crate::storage::StorageError;

/// An error answer.
#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub message_zh: String,
    /// Seconds to wait before trying again, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl AppError {
    pub fn new(
        status: StatusCode,
        code: ErrorCode,
        message: impl Into<String>,
        message_zh: impl Into<String>,
    ) -> Self {
        AppError { status, code, message: message.into(), message_zh: message_zh.into(), retry_after: None }
    }

    /// The same answer, telling the client when to try again.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn unauthorized() -> Self {
        AppError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "no token, or one the server does not know (wrong, revoked, or an expired console session): send a valid `Authorization: Bearer TOKEN`",
            "没有访问令牌,或令牌无效(错误、已注销或会话已过期)",
        )
    }

    pub fn forbidden(message: impl Into<String>, message_zh: impl Into<String>) -> Self {
        AppError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message, message_zh)
    }

    pub fn revoked() -> Self {
        AppError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::DeviceRevoked,
            "this device has been revoked by an administrator: wipe its local data",
            "本设备已被管理员停用,请清除设备上的数据",
        )
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        let message = message.into();
        AppError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::Malformed,
            format!("malformed request: {message}"),
            format!("请求格式错误:{message}"),
        )
    }

    pub fn too_large(limit: usize) -> Self {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            format!("the request body is larger than {limit} bytes; send smaller batches"),
            format!("请求内容超过{limit}字节,请分批发送"),
        )
    }

    pub fn not_found(message: impl Into<String>, message_zh: impl Into<String>) -> Self {
        AppError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message, message_zh)
    }
}

impl From<StorageError> for AppError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::NotFound(message) => {
                let zh = format!("未找到:{message}");
                AppError::not_found(message, zh)
            }
            StorageError::Malformed(message) => AppError::malformed(message),
            StorageError::Said { code, en, zh } => AppError::new(
                match code {
                    ErrorCode::Conflict => StatusCode::CONFLICT,
                    ErrorCode::Forbidden => StatusCode::FORBIDDEN,
                    ErrorCode::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
                    _ => StatusCode::NOT_FOUND,
                },
                code,
                en,
                zh,
            ),
            StorageError::Conflict(message) => {
                AppError::new(StatusCode::CONFLICT, ErrorCode::Conflict, message.clone(), format!("冲突:{message}"))
            }
            StorageError::Invalid(invalid) => {
                AppError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::Invalid, invalid.to_string(), invalid.zh())
            }
            StorageError::BadEnrollmentCode => AppError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::BadEnrollmentCode,
                error.to_string(),
                "注册码无效、已使用或已过期",
            ),
            StorageError::DeviceDiverged { .. } => AppError::new(
                StatusCode::CONFLICT,
                ErrorCode::DeviceDiverged,
                error.to_string(),
                "本设备的数据库比服务器上已有的本设备数据更旧(从副本恢复,或被复制到另一台平板),新的修改会与之前的冲突。本次未做任何更改。请用新的数据库重新注册本设备;本数据库中的修改仍保留在文件里",
            ),
            StorageError::AnswerTooLarge { .. } => AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::TooLarge,
                error.to_string(),
                "本次同步的应答过大(被拒记录会整条返回),请分批少量发送;本次未做任何更改",
            ),
            StorageError::UploadQuota { quota, .. } => AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::UploadQuota,
                error.to_string(),
                format!(
                    "每台设备未完成的上传最多{} MiB、{}个;请先完成正在进行的上传(可断点续传),或等待未完成的上传过期",
                    quota.bytes >> 20,
                    quota.count
                ),
            )
            .retry_after(3600),
            StorageError::DeviceQuota { wait_secs, what, .. } => AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::DeviceQuota,
                error.to_string(),
                format!(
                    "本设备今天发送的{}已达每日上限,{}小时后(北京时间08:00)可再发送;设备上的数据都会保留。如确需更多,请中心调整服务器的每日限额",
                    if what == "photos" { "照片" } else { "记录" },
                    wait_secs.div_ceil(3600)
                ),
            )
            .retry_after(wait_secs),
            StorageError::BadLogin => {
                AppError::new(StatusCode::UNAUTHORIZED, ErrorCode::BadLogin, error.to_string(), "用户名或密码错误")
            }
            other => {
                tracing::error!(error = %other, "storage failed");
                AppError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "the server failed to complete the request; nothing was changed, try again",
                    "服务器处理失败,未做任何更改,请重试",
                )
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ApiError { code: self.code, message: self.message, message_zh: self.message_zh },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
