//! One server, spoken to over HTTP: every request names the protocol
//! version, sync bodies go compressed in the chosen encoding, and requests
//! that fail for reasons that pass (the network, a busy or restarting
//! server) are retried with exponential backoff and jitter. Requests the
//! server refuses for good (4xx) are not retried.

use std::time::Duration;

use gridwork_protocol::Encoding;
use gridwork_protocol::codes::ErrorCode;
use gridwork_protocol::sync::{
    APP_VERSION_HEADER, ApiError, BINARY_CONTENT_TYPE, ErrorBody, PROTOCOL_HEADER, PROTOCOL_VERSION,
};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ClientError;

/// How hard to try before giving up on a request.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { attempts: 6, first_delay: Duration::from_millis(200), max_delay: Duration::from_secs(10) }
    }
}

impl Retry {
    /// The wait before attempt `n` (1-based, after a failure): doubling,
    /// capped, with "full jitter" so a thousand devices that lost the
    /// network together do not come back together.
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self.first_delay.saturating_mul(1 << n.saturating_sub(1).min(16));
        let cap = exp.min(self.max_delay);
        cap.mul_f64(fastrand::f64())
    }
}

/// A connection to one server.
#[derive(Clone, Debug)]
pub struct Http {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
    app_version: String,
    pub encoding: Encoding,
    pub retry: Retry,
}

/// Whether an answer is worth retrying: server errors, timeouts, and "too
/// many requests" unless the server asks for a wait longer than a retry
/// should sit through (then the caller hears the server's message at once).
fn transient(response: &reqwest::Response) -> bool {
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let wait = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        return wait.is_none_or(|seconds| seconds <= MAX_RETRY_AFTER_SECS);
    }
    status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT
}

/// The longest `Retry-After` a retry waits out.
const MAX_RETRY_AFTER_SECS: u64 = 30;

impl Http {
    pub fn new(server: &str, token: Option<String>) -> Result<Http, ClientError> {
        Http::with_client(Http::client()?, server, token)
    }

    /// An HTTP client with the timeouts sync expects; clone it to share
    /// connections between many [`Http`]s.
    pub fn client() -> Result<reqwest::Client, ClientError> {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(ClientError::Network)
    }

    /// A connection sharing `client`'s connection pool.
    pub fn with_client(
        client: reqwest::Client,
        server: &str,
        token: Option<String>,
    ) -> Result<Http, ClientError> {
        // The base address; the API's own path, if given too, is dropped.
        let base = server.trim_end_matches('/');
        let base = base.strip_suffix("/api/v1").unwrap_or(base).to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadServer(server.to_owned()));
        }
        Ok(Http {
            client,
            base,
            token,
            app_version: concat!("gridwork-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            encoding: Encoding::Binary,
            retry: Retry::default(),
        })
    }

    pub fn server(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base))
            .header(PROTOCOL_HEADER, PROTOCOL_VERSION.to_string())
            .header(APP_VERSION_HEADER, &self.app_version)
            .header(ACCEPT_ENCODING, "zstd");
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        request
    }

    /// Sends a request built by `build` until it gets an answer that is not
    /// transient, or runs out of attempts.
    async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = build().send().await;
            let retry = match &outcome {
                Ok(response) => transient(response),
                Err(error) => error.is_connect() || error.is_timeout() || error.is_request(),
            };
            if !retry || attempt >= self.retry.attempts {
                return match outcome {
                    Ok(response) if response.status().is_success() => Ok(response),
                    Ok(response) => Err(api_error(response).await),
                    Err(error) => Err(ClientError::Network(error)),
                };
            }
            let delay = self.retry.delay(attempt);
            tracing::debug!(attempt, ?delay, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// A sync call: the body in the connection's encoding, zstd-compressed.
    pub async fn sync_call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<(Resp, u64), ClientError> {
        let encoded = self.encoding.encode(body);
        let compressed =
            zstd::bulk::compress(&encoded, 3).map_err(|e| ClientError::Decode(format!("zstd: {e}")))?;
        let content_type = match self.encoding {
            Encoding::Json => "application/json",
            Encoding::Binary => BINARY_CONTENT_TYPE,
        };
        let sent = compressed.len() as u64;
        let response = self
            .send(|| {
                self.request(reqwest::Method::POST, path)
                    .header(CONTENT_TYPE, content_type)
                    .header(ACCEPT, content_type)
                    .header(CONTENT_ENCODING, "zstd")
                    .body(compressed.clone())
            })
            .await?;
        let encoding = match response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
            Some(v) if v.starts_with(BINARY_CONTENT_TYPE) => Encoding::Binary,
            _ => Encoding::Json,
        };
        let zstd = response.headers().get(CONTENT_ENCODING).is_some_and(|v| v == "zstd");
        let wire = response.bytes().await.map_err(ClientError::Network)?;
        let bytes = if zstd {
            zstd::stream::decode_all(&wire[..]).map_err(|e| ClientError::Decode(format!("zstd: {e}")))?
        } else {
            wire.to_vec()
        };
        let value = encoding.decode(&bytes).map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok((value, sent + wire.len() as u64))
    }

    /// A JSON call (administration).
    pub async fn json<Resp: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<Resp, ClientError> {
        let response = self
            .send(|| {
                let request = self.request(method.clone(), path);
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await?;
        response.json().await.map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// A raw call returning the response whatever its status (uploads read
    /// the body of a 409).
    pub async fn raw(
        &self,
        build: impl Fn(&Http) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = build(self).send().await;
            let retry = match &outcome {
                Ok(response) => transient(response),
                Err(error) => error.is_connect() || error.is_timeout() || error.is_request(),
            };
            if !retry || attempt >= self.retry.attempts {
                return outcome.map_err(ClientError::Network);
            }
            tokio::time::sleep(self.retry.delay(attempt)).await;
        }
    }

    pub fn builder(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.request(method, path)
    }
}

/// Turns an error answer into a [`ClientError`].
pub async fn api_error(response: reqwest::Response) -> ClientError {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str::<ErrorBody>(&text);
    if body.is_err() && (502..=504).contains(&status) {
        return ClientError::Gateway(status);
    }
    let error = body.map(|b| b.error).unwrap_or_else(|_| ApiError {
        code: ErrorCode::NotGridwork,
        message: format!(
            "the address did not answer as a Gridwork server (HTTP {status}, not a Gridwork error); check the server address"
        ),
        message_zh: format!("该地址没有按网格通服务器应答(HTTP {status}),请检查服务器地址"),
    });
    if crate::decide::on_error(status, &error.code) == crate::decide::OnError::Wipe {
        ClientError::Revoked(error)
    } else {
        ClientError::Api { status, error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_jitters_below_it() {
        let retry = Retry {
            attempts: 10,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        for n in 1..12 {
            let cap = Duration::from_millis(100 * (1 << (n - 1).min(16))).min(Duration::from_secs(2));
            let delays: Vec<Duration> = (0..200).map(|_| retry.delay(n)).collect();
            assert!(delays.iter().all(|d| *d <= cap), "attempt {n}");
            // Jitter: not all the same.
            assert!(delays.iter().any(|d| *d != delays[0]), "attempt {n}");
        }
    }

    async fn error_of(status: u16, body: &'static str) -> ClientError {
        let answer = http::Response::builder().status(status).body(body).unwrap();
        api_error(reqwest::Response::from(answer)).await
    }

    #[tokio::test]
    async fn a_gateway_answering_for_the_server_is_unreachable_not_a_wrong_address() {
        for status in [502, 503, 504] {
            let error = error_of(status, "<html>Bad Gateway</html>").await;
            assert!(matches!(error, ClientError::Gateway(s) if s == status), "{error:?}");
            assert!(error.is_unreachable() && error.to_string().starts_with("cannot reach the server"));
        }
        // The server's own 503 (busy) stays the server's answer.
        let busy = r#"{"error":{"code":"busy","message":"busy","message_zh":"忙"}}"#;
        assert!(matches!(error_of(503, busy).await, ClientError::Api { status: 503, .. }));
        // Another address answering something else is not a Gridwork server.
        let error = error_of(404, "Not Found").await;
        assert!(matches!(&error, ClientError::Api { error, .. } if error.code == ErrorCode::NotGridwork));
        assert!(!error.is_unreachable());
    }
}
