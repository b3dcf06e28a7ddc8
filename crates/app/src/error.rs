//! What a command answers when it fails: a stable code for the UI, the
//! message in English and Chinese, the field at fault when there is one.
//! Every error of the crates below is turned into one here, once.

use gridwork_client::ClientError;
use serde::Serialize;

/// A command's error, as the UI receives it.
#[derive(Clone, Debug, PartialEq, Serialize, thiserror::Error)]
#[error("{message} ({code})")]
pub struct AppError {
    pub code: String,
    pub message: String,
    pub message_zh: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Wrong PINs left before a lock-out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
    /// When another PIN may be tried (Unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at_ms: Option<u64>,
}

impl AppError {
    pub fn new(code: &str, message: impl Into<String>, message_zh: impl Into<String>) -> AppError {
        AppError {
            code: code.to_owned(),
            message: message.into(),
            message_zh: message_zh.into(),
            field: None,
            attempts_left: None,
            retry_at_ms: None,
        }
    }

    pub fn locked() -> AppError {
        AppError::new("locked", "the app is locked: enter the PIN", "应用已锁定,请输入密码")
    }

    pub fn not_enrolled() -> AppError {
        AppError::new(
            "not_enrolled",
            "this tablet is not enrolled yet: enter the server address and the enrollment code the centre gave you",
            "本平板尚未注册,请输入中心提供的服务器地址和注册码",
        )
    }

    pub fn invalid(
        field: Option<&str>,
        message: impl Into<String>,
        message_zh: impl Into<String>,
    ) -> AppError {
        AppError { field: field.map(str::to_owned), ..AppError::new("invalid", message, message_zh) }
    }

    /// An error of the app itself (a file it could not write, a task that
    /// died): not the worker's doing.
    pub fn internal(what: impl std::fmt::Display) -> AppError {
        let what = what.to_string();
        AppError::new("internal", format!("the app failed: {what}"), format!("应用内部错误:{what}"))
    }
}

impl From<gridwork_store::Error> for AppError {
    fn from(error: gridwork_store::Error) -> AppError {
        let zh = error.zh();
        match error.validation() {
            Some(validation) => AppError::invalid(validation.field(), error.to_string(), zh),
            None => {
                let code = match &error {
                    gridwork_store::Error::NotFound { .. } => "not_found",
                    gridwork_store::Error::OutOfScope { .. } => "out_of_scope",
                    gridwork_store::Error::GridsAreTheCentres => "forbidden",
                    gridwork_store::Error::NotEnrolled => "not_enrolled",
                    gridwork_store::Error::Locked => "key_wrong",
                    _ => "store",
                };
                AppError::new(code, error.to_string(), zh)
            }
        }
    }
}

impl From<gridwork_domain::ValidationError> for AppError {
    fn from(error: gridwork_domain::ValidationError) -> AppError {
        AppError::invalid(error.field(), error.to_string(), error.zh())
    }
}

impl From<ClientError> for AppError {
    fn from(error: ClientError) -> AppError {
        let zh = error.zh();
        let code = match &error {
            ClientError::Network(_) | ClientError::Gateway(_) => "network".to_owned(),
            ClientError::BadServer(_) => "bad_server".to_owned(),
            ClientError::Revoked(_) => "revoked".to_owned(),
            ClientError::NotEnrolled => "not_enrolled".to_owned(),
            ClientError::Unknown => "unknown_device".to_owned(),
            ClientError::Store(inner) => {
                return match inner.validation() {
                    Some(validation) => AppError::invalid(validation.field(), inner.to_string(), inner.zh()),
                    None => AppError::new("store", inner.to_string(), inner.zh()),
                };
            }
            other => other.code().map_or("sync", |c| c.as_str()).to_owned(),
        };
        AppError::new(&code, error.to_string(), zh)
    }
}
