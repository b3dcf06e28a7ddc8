//! The sync client, used by the `gridwork` command line and the app: a
//! device's enrollment, its sync (push, then pull), resumable attachment
//! uploads, and the administration API.
//!
//! Sync never holds the store while waiting on the network: each step takes
//! the store's lock for one short transaction (read the outbox, record an
//! acknowledgement, apply a page), so the worker keeps editing while a sync
//! runs. Everything a sync does is resumable: an unacknowledged push is sent
//! again (the server recognises it by its counter), the pull cursor is saved
//! after every page, and an upload restarts from the bytes the server holds.
//!
//! This crate does not decide what is valid (the domain and the store do)
//! nor what a device may see (the server does).

mod decide;
mod http;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use gridwork_domain::Kind;
use gridwork_protocol::Encoding;
use gridwork_protocol::admin::{
    AppliedParked, ApplyParked, AttachmentStatus, Conflict, Created, DeviceInfo, Dismissed, EnrollmentCode,
    NewEnrollmentCode, NewGrid, NewUser, OffsetMismatch, ParkedChange, ParkedPage, Revoked, UserInfo,
};
use gridwork_protocol::codes::ErrorCode;
use gridwork_protocol::sync::PUSH_PAGE_BYTES;
use gridwork_protocol::sync::{
    ApiError, EnrollRequest, EnrollResponse, PullRequest, PullResponse, PushRequest, PushResponse,
};
pub use gridwork_store::sha256_hex;
use gridwork_store::{
    Clock, DatabaseKey, OffsetClock, Options, PageLimit, Refused, Role, Session, Store, SystemClock,
};
use serde::Serialize;

use decide::{AfterPage, OnApplyFailed, OnPage, OnPushAnswer, OnPushRefused, OnRefusal};
pub use http::{Http, Retry};

/// Records per push and per pull page.
pub const PAGE: usize = gridwork_protocol::sync::MAX_PUSH_RECORDS;
/// Bytes per upload request.
pub const CHUNK: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("`{0}` is not a server address: it starts with http:// or https://")]
    BadServer(String),
    #[error("cannot reach the server: {}", cause(.0))]
    Network(reqwest::Error),
    /// A gateway or load balancer in front of the server answered for it
    /// (502, 503 or 504 without a Gridwork error): every node is down or
    /// unreachable from it.
    #[error("cannot reach the server: the gateway in front of it answered HTTP {0}")]
    Gateway(u16),
    #[error("the server refused: {} ({})", error.message, error.code)]
    Api { status: u16, error: ApiError },
    /// The device was revoked; [`Device::sync`] has already wiped its data.
    #[error("this device was revoked by an administrator; its local data has been wiped")]
    Revoked(ApiError),
    #[error("the server's answer could not be read: {0}")]
    Decode(String),
    #[error("this device is not enrolled: run `gridwork device --db FILE enroll --server URL --code CODE`")]
    NotEnrolled,
    /// One record alone is larger than the server takes: it stays in the
    /// outbox, and so do the edits after it.
    #[error(
        "record {id} alone is larger than the server accepts ({}); it stays on this device with every later edit: ask the centre to raise the server's limit",
        error.message
    )]
    TooLarge { id: String, error: ApiError },
    /// The server does not know the device's token.
    #[error(
        "the server does not know this device (it was restored from a backup older than the enrollment, or the device was enrolled again elsewhere): enroll this tablet again with a new database"
    )]
    Unknown,
    #[error(transparent)]
    Store(#[from] gridwork_store::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What lies under a network error: "connection refused", "dns error…".
fn cause(error: &reqwest::Error) -> String {
    let mut deepest: &dyn std::error::Error = error;
    while let Some(source) = deepest.source() {
        deepest = source;
    }
    match error.url() {
        Some(url) => format!("{} ({})", deepest, url.origin().ascii_serialization()),
        None => deepest.to_string(),
    }
}

impl ClientError {
    /// The message in Chinese, for the person using the device.
    pub fn zh(&self) -> String {
        match self {
            ClientError::BadServer(server) => format!("`{server}`不是服务器地址,应以 http:// 或 https:// 开头"),
            ClientError::Network(error) => {
                format!("无法连接服务器({})", cause(error))
            }
            ClientError::Gateway(status) => format!("无法连接服务器(其前端网关应答 HTTP {status})"),
            ClientError::Api { error, .. } => error.message_zh.clone(),
            ClientError::Revoked(_) => "本设备已被管理员停用,本地数据已清除".into(),
            ClientError::Decode(what) => format!("无法读取服务器的应答:{what}"),
            ClientError::NotEnrolled => "本设备尚未注册,请先用注册码注册".into(),
            ClientError::TooLarge { id, .. } => {
                format!("记录{id}超过服务器允许的大小,仍保存在本机(其后的修改也一并保留),请联系中心调整服务器限制")
            }
            ClientError::Unknown => {
                "服务器不认识本设备(服务器从注册之前的备份恢复,或本设备已在别处重新注册),请用新的数据库重新注册本平板"
                    .into()
            }
            ClientError::Store(error) => error.zh(),
            ClientError::Io(error) => format!("文件读写失败:{error}"),
        }
    }

    /// The server could not be reached (no connection, or only a gateway
    /// in front of it answered): the device is offline for the moment.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Network(_) | ClientError::Gateway(_))
    }

    /// The server's error code, for programs.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            ClientError::Api { error, .. }
            | ClientError::Revoked(error)
            | ClientError::TooLarge { error, .. } => Some(&error.code),
            _ => None,
        }
    }
}

/// 128 random bits naming one enrollment across its retries.
pub fn enrollment_request_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn raw_now() -> u64 {
    SystemClock.now_ms()
}

/// What a sync did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncReport {
    /// Records pushed and applied by the server.
    pub pushed: usize,
    /// Records received.
    pub pulled: usize,
    /// Records that left this device's scope and were dropped.
    pub dropped: usize,
    /// Edits the server refused, rolled back here.
    pub rejected: Vec<Refused>,
    /// Bytes sent and received (compressed bodies).
    pub bytes: u64,
    /// Set when the server had been restored from a backup and this device
    /// sent it everything again.
    pub server_restored: bool,
    pub cursor: u64,
    /// Set when the device has sent its day's budget: the edits not sent
    /// wait on the device for tomorrow (why, in both languages).
    pub held_back: Option<ApiError>,
}

/// Where a sync is, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Progress {
    Pushing { pushed: usize, pending: u64 },
    Pulling { pulled: usize },
    Uploading { sent: u64, size: u64 },
}

/// A device: its store, its corrected clock, its database file.
#[derive(Debug)]
pub struct Device {
    store: Mutex<Store>,
    clock: Arc<OffsetClock>,
    path: PathBuf,
    retry: Retry,
    encoding: Encoding,
}

impl Device {
    /// Opens (creating if needed) a device database.
    pub fn open(path: &Path) -> Result<Device, ClientError> {
        Device::open_with(path, None)
    }

    /// Opens (creating if needed) a device database encrypted with `key`
    /// (SQLCipher), or a plain one with `None`.
    pub fn open_with(path: &Path, key: Option<DatabaseKey>) -> Result<Device, ClientError> {
        let clock = Arc::new(OffsetClock::new(Arc::new(SystemClock), 0));
        let options = Options { key, ..Options::default() };
        let store = Store::open_with(path, Role::Device, clock.clone(), options)?;
        if let Some(session) = store.session()? {
            clock.set_offset(session.clock_offset_ms);
        }
        Ok(Device {
            store: Mutex::new(store),
            clock,
            path: path.to_owned(),
            retry: Retry::default(),
            encoding: Encoding::Binary,
        })
    }

    /// How hard requests are retried before a sync gives up.
    pub fn set_retry(&mut self, retry: Retry) {
        self.retry = retry;
    }

    /// How sync bodies are encoded: binary (postcard, the default) or JSON
    /// (readable, for debugging).
    pub fn set_encoding(&mut self, encoding: Encoding) {
        self.encoding = encoding;
    }

    /// The store, for local reads and edits (briefly: sync waits for it).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Trades an enrollment code for this device's identity.
    pub async fn enroll(
        &self,
        server: &str,
        code: &str,
        app_version: &str,
    ) -> Result<EnrollResponse, ClientError> {
        if self.store().session()?.is_some() {
            return Err(gridwork_store::Error::AlreadyEnrolled.into());
        }
        let http = Http::new(server, None)?;
        let before = raw_now();
        let request = EnrollRequest {
            code: code.to_owned(),
            app_version: app_version.to_owned(),
            request_id: Some(enrollment_request_id()),
        };
        let (response, _): (EnrollResponse, u64) = http.sync_call("/enroll", &request).await?;
        let offset = offset(response.server_time_ms, before, raw_now());
        self.clock.set_offset(offset);
        let session = Session {
            server: http.server().to_owned(),
            device_id: response.device_id.clone(),
            token: response.token.clone(),
            user_id: response.user_id.clone(),
            user_name: response.user_name.clone(),
            epoch: response.epoch.clone(),
            cursor: 0,
            page_after: 0,
            scope: Vec::new(),
            scope_hash: String::new(),
            clock_offset_ms: offset,
            enrolled_at_ms: response.server_time_ms,
            last_sync_ms: None,
        };
        {
            let mut store = self.store();
            store.start_session(&session, response.device_number)?;
            // Its grids, so that the worker can record at once.
            store.apply_remote(response.grids.clone())?;
            store.set_scope(&response.scope, &response.scope_hash)?;
        }
        Ok(response)
    }

    fn connection(&self) -> Result<(Session, Http), ClientError> {
        let session = self.store().session()?.ok_or(ClientError::NotEnrolled)?;
        let mut http = Http::new(&session.server, Some(session.token.clone()))?;
        http.retry = self.retry;
        http.encoding = self.encoding;
        Ok((session, http))
    }

    /// Wipes the device's data (it was revoked).
    fn wipe(&self) -> Result<(), ClientError> {
        let mut store = self.store();
        // Replace the open store by one in memory so the files can go.
        *store = Store::open_in_memory(Role::Device, self.clock.clone())?;
        Store::wipe(&self.path)?;
        Ok(())
    }

    /// Runs `call`; if the server says the device is revoked, wipes it.
    async fn guarded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        match call.await {
            Err(ClientError::Revoked(error)) => {
                // Revoked whatever happens to the files: the caller must
                // not go on recording into a store that is no longer there.
                if let Err(wipe) = self.wipe() {
                    tracing::error!(%wipe, "the revoked device's files could not all be removed");
                }
                Err(ClientError::Revoked(error))
            }
            Err(ClientError::Api { status, error })
                if decide::on_error(status, &error.code) == decide::OnError::Unknown =>
            {
                Err(ClientError::Unknown)
            }
            other => other,
        }
    }

    fn learn_time(
        &self,
        server_time_ms: u64,
        before: u64,
        after: u64,
        synced: bool,
    ) -> Result<(), ClientError> {
        let offset = offset(server_time_ms, before, after);
        self.clock.set_offset(offset);
        self.store().note_server_time(offset, synced.then(|| self.clock.now_ms()))?;
        Ok(())
    }

    /// The server's epoch changed: it was restored from a backup. Everything
    /// goes into the outbox again and the pull starts over.
    fn restored(&self, epoch: &str, report: &mut SyncReport) -> Result<(), ClientError> {
        let mut store = self.store();
        store.requeue_everything()?;
        store.set_epoch(epoch)?;
        report.server_restored = true;
        tracing::warn!(epoch, "the server was restored from a backup: sending everything again");
        Ok(())
    }

    /// Pushes every local edit, then pulls every change of this device's
    /// scope. Progress is reported through `progress`.
    pub async fn sync(&self, mut progress: impl FnMut(Progress)) -> Result<SyncReport, ClientError> {
        self.guarded(self.sync_inner(&mut progress)).await
    }

    /// Pushes every local edit, without pulling.
    pub async fn push(&self, mut progress: impl FnMut(Progress)) -> Result<SyncReport, ClientError> {
        self.guarded(async {
            let (session, http) = self.connection()?;
            let mut report = SyncReport::default();
            self.push_phase(&http, &mut session.epoch.clone(), &mut report, &mut progress).await?;
            Ok(report)
        })
        .await
    }

    async fn sync_inner(&self, progress: &mut impl FnMut(Progress)) -> Result<SyncReport, ClientError> {
        let (session, http) = self.connection()?;
        let mut epoch = session.epoch.clone();
        let mut report = SyncReport::default();
        self.push_phase(&http, &mut epoch, &mut report, progress).await?;
        if !self.pull_phase(&http, &epoch, &mut report, progress).await? {
            // Restored between our push and this pull: push everything.
            return Box::pin(self.sync_inner(progress)).await.map(|mut again| {
                again.server_restored = true;
                again
            });
        }
        let now = raw_now();
        let offset = self.clock.offset();
        self.store().note_server_time(offset, Some(now.saturating_add_signed(offset)))?;
        Ok(report)
    }

    /// Pushes the outbox a page at a time, at least once (the server records
    /// the device's pending count and last sync). Decisions: [`decide::Push`].
    async fn push_phase(
        &self,
        http: &Http,
        epoch: &mut String,
        report: &mut SyncReport,
        progress: &mut impl FnMut(Progress),
    ) -> Result<(), ClientError> {
        let mut push = decide::Push::new(PageLimit { records: PAGE, bytes: PUSH_PAGE_BYTES }, epoch);
        loop {
            let (outgoing, pending) = {
                let mut store = self.store();
                let outgoing = store.outgoing(push.page())?;
                let pending = store.pending_count()?.saturating_sub(outgoing.records.len() as u64);
                (outgoing, pending)
            };
            let empty = outgoing.records.is_empty();
            let sent = outgoing.records.len();
            let request =
                PushRequest { up_to_counter: outgoing.up_to_counter, pending, records: outgoing.records };
            let before = raw_now();
            let (answer, bytes): (PushResponse, u64) = match http.sync_call("/sync/push", &request).await {
                Err(ClientError::Api { status, error }) => match push.refused(status, &error.code, sent) {
                    OnPushRefused::SendFewer => {
                        tracing::debug!(records = push.page().records, code = %error.code, "sending fewer records at once");
                        continue;
                    }
                    OnPushRefused::RecordTooLarge => {
                        return Err(ClientError::TooLarge {
                            id: request.records.first().map(|r| r.id.to_string()).unwrap_or_default(),
                            error,
                        });
                    }
                    OnPushRefused::HoldBack => {
                        tracing::warn!(message = %error.message, "the day's budget is spent; the rest waits");
                        report.held_back = Some(error);
                        return Ok(());
                    }
                    OnPushRefused::Other(_) => return Err(ClientError::Api { status, error }),
                },
                other => other?,
            };
            report.bytes += bytes;
            self.learn_time(answer.server_time_ms, before, raw_now(), false)?;
            let up_to = match push.answered(&answer) {
                OnPushAnswer::Restored { epoch: new } => {
                    self.restored(&new, report)?;
                    *epoch = new;
                    continue;
                }
                OnPushAnswer::Acknowledge { up_to } => up_to,
            };
            let mut again = false;
            {
                let mut store = self.store();
                store.acknowledge(up_to)?;
                for rejection in answer.rejected {
                    // The clock was corrected from this answer: stamp
                    // again, send again (if there is anything to re-stamp).
                    if push.refusal(&rejection) == OnRefusal::Restamp
                        && store.restamp(rejection.kind, rejection.id, rejection.server_state.as_ref())?
                    {
                        again = true;
                        continue;
                    }
                    let mut refused = Refused {
                        at_ms: self.clock.now_ms(),
                        id: rejection.id.to_string(),
                        kind: rejection.kind.as_str().to_owned(),
                        code: rejection.code,
                        field: rejection.field,
                        message: rejection.message,
                        message_zh: rejection.message_zh,
                        local: None,
                    };
                    refused.local =
                        store.roll_back(&refused, rejection.kind, rejection.id, rejection.server_state)?;
                    report.rejected.push(refused);
                }
            }
            report.pushed += answer.applied;
            progress(Progress::Pushing { pushed: report.pushed, pending });
            if !push.next(empty, again) {
                return Ok(());
            }
        }
    }

    /// Pulls the scope's changes a page at a time, saving the cursor after
    /// each. Returns `false` if the server turned out to have been restored
    /// (a new epoch): everything was queued to be sent again. Decisions:
    /// [`decide::Pull`].
    async fn pull_phase(
        &self,
        http: &Http,
        epoch: &str,
        report: &mut SyncReport,
        progress: &mut impl FnMut(Progress),
    ) -> Result<bool, ClientError> {
        let mut pull = decide::Pull::new(epoch);
        loop {
            let (cursor, after, scope_hash, scope) = {
                let session = self.store().session()?.ok_or(ClientError::NotEnrolled)?;
                (session.cursor, session.page_after, session.scope_hash, session.scope)
            };
            let request = PullRequest { cursor, after: after.max(cursor), limit: PAGE as u32, scope_hash };
            let before = raw_now();
            let (page, bytes): (PullResponse, u64) = http.sync_call("/sync/pull", &request).await?;
            report.bytes += bytes;
            self.learn_time(page.server_time_ms, before, raw_now(), false)?;
            let new_scope = match pull.page(&page, decide::Held { cursor, scope: &scope }) {
                OnPage::Restored { epoch } => {
                    self.restored(&epoch, report)?;
                    return Ok(false);
                }
                OnPage::Sweep => {
                    // Too far behind to be told what left the device's
                    // grids: everything again, and what does not come back
                    // goes.
                    tracing::warn!("the server asks for a full pull: this device is far behind");
                    self.store().start_sweep()?;
                    continue;
                }
                OnPage::Apply { scope, restart_from_zero } => scope.map(|scope| (scope, restart_from_zero)),
            };
            let mut store = self.store();
            if let Some((new_scope, restart_from_zero)) = new_scope {
                report.dropped += store.set_scope(&new_scope, &page.scope_hash)?;
                if restart_from_zero {
                    // New grids: their records are older than the cursor.
                    store.set_cursor(0)?;
                    continue;
                }
            }
            for id in &page.removed {
                report.dropped += usize::from(store.drop_record(*id)?);
            }
            let received = page.records.len();
            let sweeping = store.sweeping()?;
            if sweeping {
                store.note_seen(page.records.iter().map(|r| r.id))?;
            }
            let after_page = pull.applied(&page);
            if let Err(error) = store.apply_remote(page.records) {
                match pull.apply_failed(error.validation().is_some()) {
                    OnApplyFailed::Sweep => {
                        tracing::warn!(%error, "pulled a change this device cannot place; pulling everything again");
                        store.start_sweep()?;
                        continue;
                    }
                    OnApplyFailed::Stop => return Err(error.into()),
                }
            }
            match after_page {
                AfterPage::More { after } => store.set_page_after(after)?,
                AfterPage::Done { cursor } => {
                    store.set_cursor(cursor)?;
                    if sweeping {
                        report.dropped += store.finish_sweep()?;
                    }
                }
            }
            report.cursor = page.next_cursor;
            report.pulled += received;
            drop(store);
            progress(Progress::Pulling { pulled: report.pulled });
            if let AfterPage::Done { .. } = after_page {
                return Ok(true);
            }
        }
    }

    /// Uploads an attachment, resuming from what the server already holds.
    /// Returns its SHA-256 (what a case's `attachments` field lists).
    pub async fn upload(
        &self,
        bytes: &[u8],
        mut progress: impl FnMut(Progress),
    ) -> Result<String, ClientError> {
        let (_, http) = self.connection()?;
        self.guarded(upload(&http, bytes, CHUNK, &mut progress)).await
    }
}

impl Device {
    /// Uploads the photos the server does not hold yet, oldest first, each
    /// resuming from what the server already has, and marks each done.
    /// A photo the server refuses does not hold up the others: the rest are
    /// still sent and the refusal is returned at the end (it is tried again
    /// next time). A network failure or a revocation stops at once.
    /// Returns how many were completed.
    pub async fn upload_photos(&self, mut progress: impl FnMut(Progress)) -> Result<usize, ClientError> {
        const AT_ONCE: usize = 1000;
        let mut done = 0;
        let mut refused = None;
        let waiting = self.store().photos_to_upload(AT_ONCE)?;
        for photo in waiting {
            let Some(bytes) = self.store().photo_bytes(&photo.sha256)? else { continue };
            match self.upload(&bytes, &mut progress).await {
                Ok(sha) if sha == photo.sha256 => {
                    self.store().mark_uploaded(&photo.sha256)?;
                    done += 1;
                }
                Ok(sha) => {
                    refused =
                        Some(ClientError::Decode(format!("photo {} was stored as {sha}", photo.sha256)));
                }
                Err(
                    error @ (ClientError::Api { .. } | ClientError::TooLarge { .. } | ClientError::Decode(_)),
                ) => {
                    tracing::warn!(photo = %photo.sha256, %error, "a photo was refused; sending the others");
                    refused = Some(error);
                }
                Err(other) => return Err(other),
            }
        }
        match refused {
            Some(error) => Err(error),
            None => Ok(done),
        }
    }
}

/// The offset between the server's clock and ours, taking the answer as
/// made halfway through the round trip.
fn offset(server_time_ms: u64, before: u64, after: u64) -> i64 {
    server_time_ms as i64 - (before / 2 + after / 2) as i64
}

/// Uploads `bytes` in chunks of `chunk` bytes, starting from what the server
/// holds.
pub async fn upload(
    http: &Http,
    bytes: &[u8],
    chunk: usize,
    progress: &mut impl FnMut(Progress),
) -> Result<String, ClientError> {
    let sha = sha256_hex(bytes);
    let size = bytes.len() as u64;
    let status = http.raw(|h| h.builder(reqwest::Method::GET, &format!("/attachments/{sha}/status"))).await?;
    let mut offset = match status.status().as_u16() {
        200 => {
            let status: AttachmentStatus =
                status.json().await.map_err(|e| ClientError::Decode(e.to_string()))?;
            if status.complete {
                return Ok(sha);
            }
            status.received
        }
        404 => 0,
        _ => return Err(http::api_error(status).await),
    };
    loop {
        let end = (offset as usize + chunk).min(bytes.len());
        let body = bytes[offset as usize..end].to_vec();
        let response = http
            .raw(|h| {
                h.builder(reqwest::Method::PUT, &format!("/attachments/{sha}?offset={offset}&size={size}"))
                    .body(body.clone())
            })
            .await?;
        let code = response.status().as_u16();
        let status: AttachmentStatus = match code {
            200 => response.json().await.map_err(|e| ClientError::Decode(e.to_string()))?,
            409 => {
                // The server holds a different amount: continue from there.
                let body: OffsetMismatch =
                    response.json().await.map_err(|e| ClientError::Decode(e.to_string()))?;
                body.status
            }
            _ => return Err(http::api_error(response).await),
        };
        if status.size != size {
            return Err(ClientError::Decode(format!("the server expects {} bytes, not {size}", status.size)));
        }
        progress(Progress::Uploading { sent: status.received, size });
        if status.complete {
            return Ok(sha);
        }
        offset = status.received;
    }
}

/// The administration API, with an admin's token.
#[derive(Clone, Debug)]
pub struct Admin {
    http: Http,
}

impl Admin {
    pub fn new(server: &str, token: &str) -> Result<Admin, ClientError> {
        Ok(Admin { http: Http::new(server, Some(token.to_owned()))? })
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.http.json(reqwest::Method::GET, path, None::<&()>).await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        self.http.json(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn add_grid(&self, grid: &NewGrid) -> Result<Created, ClientError> {
        self.post("/admin/grids", grid).await
    }

    /// The grid tree with the boundaries.
    pub async fn grids(&self) -> Result<Vec<gridwork_protocol::console::GridInfo>, ClientError> {
        self.get("/grids").await
    }

    /// Renames, moves or re-draws a grid.
    pub async fn update_grid(
        &self,
        code: &str,
        change: &gridwork_protocol::console::GridChange,
    ) -> Result<gridwork_protocol::console::GridInfo, ClientError> {
        self.http.json(reqwest::Method::PUT, &format!("/admin/grids/{code}"), Some(change)).await
    }

    pub async fn add_user(&self, user: &NewUser) -> Result<Created, ClientError> {
        self.post("/admin/users", user).await
    }

    pub async fn users(&self) -> Result<Vec<UserInfo>, ClientError> {
        self.get("/admin/users").await
    }

    pub async fn enrollment_code(&self, request: &NewEnrollmentCode) -> Result<EnrollmentCode, ClientError> {
        self.post("/admin/enrollment-codes", request).await
    }

    pub async fn devices(&self) -> Result<Vec<DeviceInfo>, ClientError> {
        self.get("/admin/devices").await
    }

    pub async fn revoke_device(&self, device_id: &str) -> Result<Revoked, ClientError> {
        self.post(&format!("/admin/devices/{device_id}/revoke"), &serde_json::json!({})).await
    }

    /// Issues an integration key for a city system (Open311); its secret
    /// is in this answer only.
    pub async fn issue_integration_key(
        &self,
        key: &gridwork_protocol::admin::NewIntegrationKey,
    ) -> Result<gridwork_protocol::admin::IssuedIntegrationKey, ClientError> {
        self.post("/admin/integration-keys", key).await
    }

    /// Every integration key, without secrets.
    pub async fn integration_keys(
        &self,
    ) -> Result<Vec<gridwork_protocol::admin::IntegrationKey>, ClientError> {
        self.get("/admin/integration-keys").await
    }

    pub async fn revoke_integration_key(
        &self,
        id: &str,
    ) -> Result<gridwork_protocol::admin::IntegrationKey, ClientError> {
        self.post(&format!("/admin/integration-keys/{id}/revoke"), &serde_json::json!({})).await
    }

    pub async fn conflicts(&self) -> Result<Vec<Conflict>, ClientError> {
        self.get("/admin/conflicts").await
    }

    /// A page of parked refusals, newest first, below the id `after`.
    pub async fn parked(&self, after: Option<u64>, limit: usize) -> Result<ParkedPage, ClientError> {
        let after = after.map(|a| format!("&after={a}")).unwrap_or_default();
        self.get(&format!("/admin/parked?limit={limit}{after}")).await
    }

    pub async fn parked_one(&self, id: u64) -> Result<ParkedChange, ClientError> {
        self.get(&format!("/admin/parked/{id}")).await
    }

    pub async fn dismiss_parked(&self, id: u64) -> Result<Dismissed, ClientError> {
        self.post(&format!("/admin/parked/{id}/dismiss"), &serde_json::json!({})).await
    }

    /// Applies a parked change by hand with these values (see
    /// [`ApplyParked`]).
    pub async fn apply_parked(&self, id: u64, apply: &ApplyParked) -> Result<AppliedParked, ClientError> {
        self.post(&format!("/admin/parked/{id}/apply"), apply).await
    }

    pub async fn departments(&self) -> Result<Vec<gridwork_protocol::cases::Department>, ClientError> {
        self.get("/departments").await
    }

    pub async fn add_department(
        &self,
        department: &gridwork_protocol::cases::Department,
    ) -> Result<serde_json::Value, ClientError> {
        self.post("/admin/departments", department).await
    }

    /// A page of cases as the token's holder may see them.
    pub async fn cases(
        &self,
        filter: &gridwork_protocol::cases::CaseFilter,
    ) -> Result<gridwork_protocol::cases::CasePage, ClientError> {
        let query = serde_urlencoded_filter(filter);
        self.get(&format!("/cases{query}")).await
    }

    pub async fn case(
        &self,
        id: gridwork_domain::RecordId,
    ) -> Result<gridwork_protocol::cases::CaseView, ClientError> {
        self.get(&format!("/cases/{id}")).await
    }

    pub async fn case_step(
        &self,
        id: gridwork_domain::RecordId,
        request: &gridwork_protocol::cases::StepRequest,
    ) -> Result<gridwork_protocol::cases::CaseView, ClientError> {
        self.post(&format!("/cases/{id}/steps"), request).await
    }

    /// A page of the registry (`GET /api/v1/records`).
    pub async fn records(
        &self,
        filter: &gridwork_protocol::registry::RecordFilter,
    ) -> Result<gridwork_protocol::registry::RecordPage, ClientError> {
        let mut url = reqwest::Url::parse("http://query/").expect("a fixed URL");
        {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in [
                ("kind", &filter.kind),
                ("grid", &filter.grid),
                ("q", &filter.q),
                ("tag", &filter.tag),
                ("residence", &filter.residence),
                ("after", &filter.after),
                ("limit", &filter.limit),
            ] {
                if let Some(value) = value {
                    pairs.append_pair(key, value);
                }
            }
        }
        let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
        self.get(&format!("/records{query}")).await
    }

    /// One record of the registry with its fields' history.
    pub async fn record(
        &self,
        id: gridwork_domain::RecordId,
    ) -> Result<gridwork_protocol::registry::RecordView, ClientError> {
        self.get(&format!("/records/{id}")).await
    }

    pub fn server(&self) -> &str {
        self.http.server()
    }
}

/// A case filter as a query string (`?status=…&overdue=true`), its values
/// percent-encoded.
fn serde_urlencoded_filter(filter: &gridwork_protocol::cases::CaseFilter) -> String {
    let mut url = reqwest::Url::parse("http://query/").expect("a fixed URL");
    {
        let mut pairs = url.query_pairs_mut();
        for (key, value) in [
            ("status", &filter.status),
            ("category", &filter.category),
            ("department", &filter.department),
            ("after", &filter.after),
        ] {
            if let Some(value) = value {
                pairs.append_pair(key, value);
            }
        }
        if filter.overdue {
            pairs.append_pair("overdue", "true");
        }
        if let Some(limit) = filter.limit {
            pairs.append_pair("limit", &limit.to_string());
        }
    }
    url.query().map(|q| format!("?{q}")).unwrap_or_default()
}

/// A kind's records as JSON objects, for listing.
pub fn records_json(store: &Store, kind: Kind) -> Result<Vec<serde_json::Value>, ClientError> {
    let query = gridwork_store::ListQuery { limit: usize::MAX >> 1, ..Default::default() };
    Ok(store.list(kind, &query)?.iter().map(|r| r.to_json()).collect())
}
