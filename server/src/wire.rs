//! Sync bodies on the wire: the protocol version check, JSON or postcard,
//! zstd or plain, with limits on both the compressed and the decompressed
//! size. A request that breaks any of this is refused before anything is
//! read from the database.

use gridwork_protocol::codes::ErrorCode;
use std::io::Read;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gridwork_protocol::Encoding;
use gridwork_protocol::sync::{
    BINARY_CONTENT_TYPE, OLDEST_PROTOCOL_VERSION, PROTOCOL_HEADER, PROTOCOL_VERSION,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Largest request body as sent (compressed or not).
pub const MAX_BODY: usize = 8 * 1024 * 1024;
/// Largest push once decompressed: a device aims for half of it per push
/// (`PUSH_PAGE_BYTES`), and the largest legal record fits in it.
pub const MAX_DECOMPRESSED: usize = gridwork_protocol::sync::MAX_PUSH_BYTES;
/// Largest enrollment or pull request: they hold a code, counters and a
/// digest, a few hundred bytes.
pub const SMALL: usize = 4 * 1024;

/// Bodies being decompressed and decoded at once. Decoding runs off the
/// async threads, and a decoded body takes several times its encoded size
/// (a list of empty strings the most: lists are bounded by
/// `gridwork_domain::MAX_LIST_ITEMS`), so this bounds that memory.
const DECODERS: usize = 4;
static DECODING: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::Semaphore::new(DECODERS)));

/// The memory request bodies may take across all requests at once. A body
/// takes its share before its first byte is read (its declared length, or
/// its endpoint's limit when it declares none) and gives it back when it is
/// dropped, so the sum of buffered bodies never passes the budget; a body
/// that finds no room within [`BUDGET_WAIT`] is answered 503 `busy`.
#[derive(Clone, Debug)]
pub struct BodyBudget {
    room: std::sync::Arc<tokio::sync::Semaphore>,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        BodyBudget { room: std::sync::Arc::new(tokio::sync::Semaphore::new(bytes)) }
    }

    async fn take(&self, bytes: usize) -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        match tokio::time::timeout(BUDGET_WAIT, self.room.clone().acquire_many_owned(bytes)).await {
            Ok(permit) => Ok(permit.expect("the budget is never closed")),
            Err(_) => Err(AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Busy,
                "the server holds as many request bodies as it may at once; try again in a few seconds",
                "服务器繁忙,请稍后再试",
            )
            .retry_after(5)),
        }
    }
}

/// How long a body may wait for room in the [`BodyBudget`].
pub const BUDGET_WAIT: Duration = Duration::from_secs(5);

/// A body read into memory, holding its share of the [`BodyBudget`].
#[derive(Debug)]
pub struct HeldBody {
    pub bytes: Bytes,
    _room: tokio::sync::OwnedSemaphorePermit,
}

/// The length a request declares in `Content-Length`, if any.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

/// Reads a body of at most `limit` bytes, within the budget. A larger one
/// is read on (and dropped) up to four times the limit, then refused as too
/// large: the client gets the error (a device then sends less) instead of a
/// connection reset in the middle of its request.
///
/// The whole body must arrive within `timeout`: a small request's body is a
/// few kilobytes, and a connection that announces one and sends nothing
/// must not be kept for the request timeout.
pub async fn read_body(
    headers: &HeaderMap,
    body: axum::body::Body,
    limit: usize,
    budget: &BodyBudget,
    timeout: Duration,
) -> Result<HeldBody, AppError> {
    use http_body_util::BodyExt;
    let declared = declared_length(headers);
    let share = declared.map_or(limit, |d| usize::try_from(d).unwrap_or(usize::MAX).min(limit));
    let room = budget.take(share).await?;
    let mut body = body;
    let mut kept: Vec<u8> = Vec::with_capacity(share.min(64 * 1024));
    let mut seen = 0usize;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(_) => {
                return Err(AppError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    ErrorCode::Timeout,
                    format!("the body took longer than {} s to arrive", timeout.as_secs()),
                    "请求内容发送超时",
                ));
            }
        };
        let frame = frame.map_err(|e| AppError::malformed(format!("the body could not be read: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        seen += data.len();
        if seen <= share {
            kept.extend_from_slice(&data);
        } else if seen > limit.saturating_mul(4) {
            break;
        }
    }
    if seen > limit {
        return Err(AppError::too_large(limit));
    }
    if seen > share {
        return Err(AppError::malformed(format!("the body is longer than the {share} bytes it declared")));
    }
    Ok(HeldBody { bytes: Bytes::from(kept), _room: room })
}

/// Reads and drops up to `limit` bytes of a body nobody needs, so that the
/// client, still sending, can read the answer.
pub async fn drain(body: axum::body::Body, limit: usize) {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut seen = 0usize;
    while seen <= limit {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
}

/// An answer's body handed to the connection a slice at a time, keeping
/// `guard` (a device's turn) until the last slice is taken: the connection
/// asks for the next slice only once the client has read the previous one,
/// so a device whose answers nobody reads holds one answer, and its turn,
/// until the listener's write deadline drops the connection.
struct Sliced<G> {
    bytes: Bytes,
    offset: usize,
    guard: Option<G>,
}

/// The slice an answer is handed over in.
const SLICE: usize = 64 * 1024;

impl<G: Send + Unpin + 'static> http_body::Body for Sliced<G> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if this.offset >= this.bytes.len() {
            this.guard = None;
            return std::task::Poll::Ready(None);
        }
        let end = (this.offset + SLICE).min(this.bytes.len());
        let slice = this.bytes.slice(this.offset..end);
        this.offset = end;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(slice))))
    }

    fn is_end_stream(&self) -> bool {
        self.offset >= self.bytes.len()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact((self.bytes.len() - self.offset) as u64)
    }
}

/// `response` (a whole answer), handed over a slice at a time and holding
/// `guard` until the client has taken it all.
pub async fn hold<G: Send + Unpin + 'static>(response: Response, guard: G) -> Response {
    use http_body_util::BodyExt;
    let (parts, body) = response.into_parts();
    // The answers held this way are built whole in memory: collecting
    // them copies nothing.
    let bytes = body.collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::new(Sliced { bytes, offset: 0, guard: Some(guard) }))
}

/// Checks the protocol version a request names.
pub fn check_protocol(headers: &HeaderMap) -> Result<(), AppError> {
    let named =
        headers.get(PROTOCOL_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u32>().ok());
    match named {
        Some(v) if (OLDEST_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&v) => Ok(()),
        Some(v) if v > PROTOCOL_VERSION => Err(AppError::new(
            StatusCode::UPGRADE_REQUIRED,
            ErrorCode::ProtocolUnsupported,
            format!(
                "this server speaks sync protocol {OLDEST_PROTOCOL_VERSION} to {PROTOCOL_VERSION}, the app speaks {v}: the server needs updating"
            ),
            format!(
                "服务器支持的同步协议为{OLDEST_PROTOCOL_VERSION}至{PROTOCOL_VERSION},应用为{v}:请升级服务器"
            ),
        )),
        Some(v) => Err(AppError::new(
            StatusCode::UPGRADE_REQUIRED,
            ErrorCode::ProtocolUnsupported,
            format!(
                "this app speaks sync protocol {v}, which this server no longer accepts (oldest: {OLDEST_PROTOCOL_VERSION}): update the app"
            ),
            format!("应用的同步协议版本{v}过旧(最低{OLDEST_PROTOCOL_VERSION}),请更新应用"),
        )),
        None => Err(AppError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::ProtocolMissing,
            format!("every request must name its sync protocol version in the `{PROTOCOL_HEADER}` header"),
            format!("请求缺少`{PROTOCOL_HEADER}`协议版本头"),
        )),
    }
}

fn encoding_of(content_type: Option<&HeaderValue>) -> Result<Encoding, AppError> {
    match content_type.and_then(|v| v.to_str().ok()).map(|v| v.split(';').next().unwrap_or("").trim()) {
        None | Some("application/json") => Ok(Encoding::Json),
        Some(BINARY_CONTENT_TYPE) => Ok(Encoding::Binary),
        Some(other) => Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            format!("content type `{other}` is not one of application/json, {BINARY_CONTENT_TYPE}"),
            format!("不支持的内容类型`{other}`"),
        )),
    }
}

/// Reads a body that may be zstd-compressed, within the limits.
pub fn decompress(headers: &HeaderMap, body: &[u8], limit: usize) -> Result<Vec<u8>, AppError> {
    match headers.get(CONTENT_ENCODING).and_then(|v| v.to_str().ok()) {
        None | Some("identity") if body.len() > limit => Err(AppError::too_large(limit)),
        None | Some("identity") => Ok(body.to_vec()),
        Some("zstd") => {
            let decoder = zstd::stream::read::Decoder::new(body)
                .map_err(|e| AppError::malformed(format!("zstd: {e}")))?;
            let mut out = Vec::new();
            decoder
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| AppError::malformed(format!("zstd: {e}")))?;
            if out.len() > limit {
                return Err(AppError::too_large(limit));
            }
            Ok(out)
        }
        Some(other) => Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedEncoding,
            format!("content encoding `{other}` is not one of zstd, identity"),
            format!("不支持的压缩方式`{other}`"),
        )),
    }
}

/// A decoded sync request body of at most `LIMIT` bytes decompressed, and
/// how to answer in kind.
#[derive(Debug)]
pub struct Wire<T, const LIMIT: usize = MAX_DECOMPRESSED> {
    pub value: T,
    pub reply: Reply,
}

/// How the client wants its answer encoded.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    pub encoding: Encoding,
    pub zstd: bool,
}

impl Reply {
    pub fn of(headers: &HeaderMap) -> Result<Reply, AppError> {
        let accept = headers.get(ACCEPT).or(headers.get(CONTENT_TYPE));
        let encoding = match accept.and_then(|v| v.to_str().ok()) {
            Some(v) if v.contains(BINARY_CONTENT_TYPE) => Encoding::Binary,
            _ => Encoding::Json,
        };
        let zstd =
            headers.get(ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("zstd"));
        Ok(Reply { encoding, zstd })
    }

    pub fn send<T: Serialize>(self, value: &T) -> Response {
        let body = self.encoding.encode(value);
        let content_type = match self.encoding {
            Encoding::Json => "application/json",
            Encoding::Binary => BINARY_CONTENT_TYPE,
        };
        if self.zstd
            && body.len() > 512
            && let Ok(compressed) = zstd::bulk::compress(&body, 3)
        {
            return ([(CONTENT_TYPE, content_type), (CONTENT_ENCODING, "zstd")], compressed).into_response();
        }
        ([(CONTENT_TYPE, content_type)], body).into_response()
    }
}

impl<T: DeserializeOwned + Send + 'static, const LIMIT: usize> FromRequest<crate::AppState>
    for Wire<T, LIMIT>
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &crate::AppState) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        check_protocol(&headers)?;
        let encoding = encoding_of(headers.get(CONTENT_TYPE))?;
        let reply = Reply::of(&headers)?;
        // A small body comes at once; a push may take a slow link a while.
        let timeout = if LIMIT <= SMALL { state.limits.small_body_timeout } else { crate::REQUEST_TIMEOUT };
        let body = read_body(&headers, request.into_body(), MAX_BODY.min(LIMIT), &state.body_budget, timeout)
            .await?;
        let turn = DECODING.clone().acquire_owned().await.expect("the semaphore is never closed");
        let value = tokio::task::spawn_blocking(move || {
            // Held until decoding ends, even if the request has timed out.
            let _turn = turn;
            let bytes = decompress(&headers, &body.bytes, LIMIT)?;
            encoding.decode(&bytes).map_err(|e| AppError::malformed(e.to_string()))
        })
        .await
        .map_err(|e| AppError::from(crate::storage::StorageError::Internal(format!("decoder: {e}"))))??;
        Ok(Wire { value, reply })
    }
}
