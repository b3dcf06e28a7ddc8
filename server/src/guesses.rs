//! Slows down guessing: an address that has failed too many times within a
//! window (wrong enrollment codes, wrong passwords) is refused with 429 and
//! a `Retry-After` until its oldest failure in the window leaves it.
//!
//! Failures are kept in the database, so every server node on one database
//! counts them together and a restart forgets nothing. Each attempt is
//! counted as a failure before it is tried (`Storage::reserve_guess`, the
//! check and the note in one transaction) and taken back if it was right:
//! attempts sent to several nodes at once cannot slip past the limit. What
//! stays in each process: one attempt at a time, and the flood limit on
//! attempts per minute (per node). Addresses are TCP peers, so behind a
//! proxy every client shares one (see docs/operations.md).

use gridwork_protocol::codes::ErrorCode;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::blocking;
use crate::error::AppError;
use crate::storage::{GuessCount, Storage};

/// Failures counted per address, per window.
#[derive(Clone, Debug)]
pub struct Guesses {
    what: (&'static str, &'static str, &'static str),
    limit: u32,
    window: Duration,
    /// Held while an attempt runs.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Attempts waiting for the turn.
    waiting: Arc<std::sync::atomic::AtomicUsize>,
    /// Attempts per address in the current minute, right or wrong (even
    /// right logins cost a password check and leave a session), and how
    /// many are allowed; `None`: not counted.
    attempts: Arc<Mutex<HashMap<IpAddr, (Instant, u32)>>>,
    per_minute: Option<u32>,
}

/// Attempts that may wait for their turn at once; more are told to come
/// back, so a flood of logins holds no connections waiting.
const MAX_WAITING: usize = 64;

impl Guesses {
    /// `what` names the failures in English and Chinese, and the attempt
    /// ("wrong enrollment codes", "注册码错误", "enrollment"); `limit`
    /// failures per `window`, and at most `per_minute` attempts a minute,
    /// right or wrong, if given.
    pub fn new(
        what: (&'static str, &'static str, &'static str),
        limit: u32,
        window: Duration,
        per_minute: Option<u32>,
    ) -> Self {
        Guesses {
            what,
            limit,
            window,
            turn: Arc::default(),
            waiting: Arc::default(),
            attempts: Arc::default(),
            per_minute,
        }
    }

    /// Makes the attempt `try_it` for `peer`, or answers the refusal to
    /// send instead. The attempt is counted as a failure before it runs and
    /// taken back unless `wrong` says it was a wrong guess. It runs in a
    /// task of its own, so a client that hangs up, or a request that times
    /// out, cannot leave a right attempt counted as a wrong one. Attempts
    /// run one at a time on a node (they are quick, or bounded by the
    /// limit).
    // The refusal is a whole response, built once per refused attempt.
    #[allow(clippy::result_large_err)]
    pub async fn attempt<T: Send + 'static>(
        &self,
        storage: &Arc<dyn Storage>,
        now_ms: u64,
        peer: IpAddr,
        try_it: impl FnOnce() -> Result<T, crate::storage::StorageError> + Send + 'static,
        wrong: fn(&AppError) -> bool,
    ) -> Result<Result<T, AppError>, Response> {
        let (this, storage) = (self.clone(), storage.clone());
        let task = tokio::spawn(async move {
            let (turn, id) = this.begin(&storage, now_ms, peer).await?;
            let outcome = blocking(try_it).await;
            if !matches!(&outcome, Err(error) if wrong(error)) {
                let store = storage.clone();
                if let Err(error) = blocking(move || store.forget_guess(id)).await {
                    tracing::warn!(error = %error.message, "an attempt counted in advance could not be taken back");
                }
            }
            drop(turn);
            Ok(outcome)
        });
        task.await.unwrap_or_else(|error| {
            Err(AppError::from(crate::storage::StorageError::Internal(format!("an attempt failed: {error}")))
                .into_response())
        })
    }

    /// The refusal to send instead of trying, if `peer` must wait;
    /// otherwise the node's turn and the id of the failure counted in
    /// advance.
    async fn begin(
        &self,
        storage: &Arc<dyn Storage>,
        now_ms: u64,
        peer: IpAddr,
    ) -> Result<(tokio::sync::OwnedMutexGuard<()>, u64), Response> {
        use std::sync::atomic::Ordering;
        self.refusal(storage, now_ms, peer).await.map_or(Ok(()), Err)?;
        self.count_attempt(peer).map_or(Ok(()), Err)?;
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            let mut response = AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Busy,
                format!("too many {} attempts at once; try again in a few seconds", self.what.2),
                "请求过多,请稍后再试",
            )
            .into_response();
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(2));
            return Err(response);
        }
        let turn = self.turn.clone().lock_owned().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let (store, what, address) = (storage.clone(), self.what.2, peer.to_string());
        let (window_ms, limit) = (self.window.as_millis() as u64, u64::from(self.limit));
        match blocking(move || store.reserve_guess(what, &address, now_ms, window_ms, limit)).await {
            Ok(Ok(id)) => Ok((turn, id)),
            Ok(Err(counted)) => Err(self.too_many(counted)),
            Err(error) => Err(error.into_response()),
        }
    }

    async fn refusal(&self, storage: &Arc<dyn Storage>, now_ms: u64, peer: IpAddr) -> Option<Response> {
        let window_ms = self.window.as_millis() as u64;
        let (storage, what, address) = (storage.clone(), self.what.2, peer.to_string());
        let counted = match blocking(move || storage.guesses(what, &address, now_ms, window_ms)).await {
            Ok(counted) => counted,
            Err(error) => return Some(error.into_response()),
        };
        (counted.count >= u64::from(self.limit)).then(|| self.too_many(counted))
    }

    /// The refusal to send while the window is full: until its oldest
    /// failure leaves it.
    fn too_many(&self, counted: GuessCount) -> Response {
        let window_ms = self.window.as_millis() as u64;
        let first_ms = counted.first_ms.unwrap_or(counted.now_ms);
        let wait = (first_ms + window_ms).saturating_sub(counted.now_ms).div_ceil(1000).max(1);
        let minutes = wait.div_ceil(60);
        let mut response = AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyAttempts,
            format!("too many {} from this address; try again in {minutes} minutes", self.what.0),
            format!("{}次数过多,请 {minutes} 分钟后再试", self.what.1),
        )
        .into_response();
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(wait));
        response
    }

    /// Counts an attempt of `peer`: the refusal to send past the minute's
    /// limit.
    fn count_attempt(&self, peer: IpAddr) -> Option<Response> {
        let per_minute = self.per_minute?;
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        let minute = Duration::from_secs(60);
        if attempts.len() > 10_000 {
            attempts.retain(|_, (since, _)| since.elapsed() < minute);
        }
        let entry = attempts.entry(peer).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= minute {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
        if entry.1 <= per_minute {
            return None;
        }
        let wait = minute.saturating_sub(entry.0.elapsed()).as_secs() + 1;
        let mut response = AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyAttempts,
            format!(
                "more than {per_minute} {} attempts from this address in a minute; try again in {wait} s",
                self.what.2
            ),
            format!("尝试过于频繁,请{wait}秒后再试"),
        )
        .into_response();
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(wait));
        Some(response)
    }
}
