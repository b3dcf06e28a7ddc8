//! The server's rules, once, over any [`Backend`]: who may read and write
//! what, the steps of a push and their order, the clock checks, how much a
//! device may park, spend and hold, what the audit trail records, and how
//! tokens, codes and passwords are kept. [`Core`] answers the handlers'
//! [`Storage`] interface; the backend only reads and writes data.
//!
//! It does not talk SQL nor HTTP, and reads no clock: every method is given
//! the time.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use chrono::TimeZone;
use gridwork_domain::{DeviceId, Kind, Reason, RecordId, ValidationError, Value};
use gridwork_merge::{MAX_AHEAD_MS, check_not_ahead};
use gridwork_protocol::RecordChanges;
use gridwork_protocol::codes::{ErrorCode, RefusalCode};
use gridwork_protocol::sync::{
    EnrollResponse, PullRequest, PullResponse, PushRequest, PushResponse, Rejection, ShapeError, scope_hash,
};
use sha2::{Digest, Sha256};

use crate::backend::{
    AuditEntry, Backend, CaseFlowRow, CaseQuery, ChangeError, ChangesPage, NewToken, PageLimit, ParkedRow,
    Preview, PullPosition, Reads, UserRow, Writes,
};
use crate::scopes::{Scope, ScopeCache};
use crate::storage::{
    ActivityDay, ActivityFilter, ActivityPeriod, ActivityPeriodFilter, AppliedParked, CaseStats, GridChange,
    GridInfo, Me, RecordFilter, RecordPage, RecordView, SettleConflict, Settled, WorkerPeriod,
};
use crate::storage::{
    AttachmentStatus, CalendarYear, CaseFilter, CasePage, CaseReport, CaseView, Category, Conflict,
    ConsoleSession, DailyBudget, Department, DeviceAuth, DeviceInfo, EnrollmentCode, GuessCount,
    IntegrationKey, IssuedIntegrationKey, KeyAuth, NewCase, NewGrid, NewIntegrationKey, NewUser,
    ParkedChange, ParkedPage, ParkingLimits, Principal, Purged, Pushed, ReportQuery, Result, Role,
    SESSION_MS, StepRequest, Storage, StorageError, StorageLimits, Supervision, UserInfo,
};
use gridwork_protocol::registry::{REGISTRY_KINDS, RecordItem};

/// The digest tokens and codes are stored as.
pub fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new epoch: 128 random bits.
fn new_epoch() -> String {
    hex(&random::<16>())
}

/// A new bearer token: 256 random bits.
fn new_token() -> String {
    format!("gw_{}", hex(&random::<32>()))
}

/// The prefix of an integration key's secret, which tells it from a token.
pub const INTEGRATION_KEY_PREFIX: &str = "gwk_";

/// A new integration key's secret: 256 random bits.
fn new_integration_secret() -> String {
    format!("{INTEGRATION_KEY_PREFIX}{}", hex(&random::<32>()))
}

/// Crockford's base32, without the letters people misread.
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new enrollment code: 40 random bits as `XXXX-XXXX`.
fn new_enrollment_code() -> String {
    let bits = random::<5>().iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    let chars: String =
        (0..8).rev().map(|i| CODE_ALPHABET[((bits >> (i * 5)) & 31) as usize] as char).collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

/// A typed code as stored: uppercase, separators gone, look-alikes mapped.
fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Console sessions one person may hold at once.
const MAX_SESSIONS: usize = 20;

/// The length of a password, in characters.
const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 1024;

/// What a login with an unknown name is checked against, so that it costs
/// what a wrong password costs.
static STAND_IN_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("stand-in for a user who does not exist").expect("hashes"));

fn hash_password(password: &str) -> Result<String> {
    let hash: PasswordHash = Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &random::<16>())
        .map_err(|e| StorageError::Internal(format!("password hash: {e}")))?;
    Ok(hash.to_string())
}

/// An audit line by `actor` (and their device, if they act through one).
fn audit(
    w: &mut dyn Writes,
    at_ms: u64,
    actor: Option<&Principal>,
    action: &'static str,
    record: Option<(Kind, RecordId)>,
    detail: serde_json::Value,
) -> Result<()> {
    w.audit(&AuditEntry {
        at_ms,
        user_id: actor.map(|a| a.user_id.clone()),
        device_id: actor.and_then(|a| a.device.as_ref()).map(|d| d.id.clone()),
        action,
        record,
        detail,
    })?;
    Ok(())
}

/// The next level down the grid tree.
fn level_below(level: &str) -> &'static str {
    match level {
        "city" => "district",
        "district" => "street",
        "street" => "community",
        "community" => "unit",
        _ => "micro",
    }
}

/// The most a push's answer may weigh (its refused records sent back whole,
/// `RecordChanges::weight`) unless it carries a single record.
const MAX_PUSH_ANSWER: usize = gridwork_protocol::sync::MAX_PUSH_BYTES;

/// The largest refused change parked whole; a larger one is parked as its
/// size and field names.
const MAX_PARKED_PAYLOAD: usize = 64 * 1024;

/// How long after a restore the server accepts other devices' writes it has
/// not seen from a device (see [`Preview::unvouched`]): the restore may have
/// lost them, and devices send everything again when they notice it.
pub const RESTORE_GRACE_MS: u64 = 7 * 24 * 60 * 60 * 1000;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// The server setting that says through which change sequence the horizon
/// has cut (see [`Storage::purge`]).
const PURGED_THROUGH: &str = "purged_through_seq";

/// The server's rules over a backend.
#[derive(Debug)]
pub struct Core<B> {
    backend: B,
    epoch: String,
    /// When the database was last restored from a backup, if ever.
    restored_at_ms: Option<u64>,
    scopes: ScopeCache,
    limits: StorageLimits,
}

/// Creates the server's first state in an empty database: its epoch and
/// the first admin, whose token is returned (and shown once). Refuses a
/// database already set up.
pub fn init(backend: &impl Backend, where_: &str, now_ms: u64) -> Result<String> {
    backend.write(|w| {
        if w.meta("epoch")?.is_some() {
            return Err(StorageError::Conflict(format!(
                "{where_} is already initialised; its admin token was printed when it was"
            )));
        }
        w.set_meta("epoch", &new_epoch())?;
        w.set_meta("instance", &new_epoch())?;
        let admin = UserRow {
            id: new_id(),
            name: "admin".into(),
            role: Role::Admin,
            password_hash: None,
            department: None,
        };
        w.insert_user(&admin, now_ms)?;
        let token = new_token();
        w.insert_token(&NewToken {
            digest: digest(&token),
            user_id: admin.id.clone(),
            device_id: None,
            created_at_ms: now_ms,
            expires_at_ms: None,
        })?;
        audit(w, now_ms, None, "init", None, serde_json::json!({"admin": admin.id}))?;
        Ok(token)
    })
}

/// The database's own name, made at `init` and kept through backups and
/// restores (unlike the epoch): what the shared data directory of several
/// nodes records, so that a node given another directory, or the embedded
/// database given the nodes' directory, is refused. Databases from before
/// it get one now.
pub fn instance(backend: &impl Backend) -> Result<String> {
    if let Some(instance) = backend.read(|r| Ok(r.meta("instance")?))? {
        return Ok(instance);
    }
    backend.write(|w| match w.meta("instance")? {
        Some(instance) => Ok(instance),
        None => {
            let instance = new_epoch();
            w.set_meta("instance", &instance)?;
            Ok(instance)
        }
    })
}

/// Gives the database a new epoch: what a restore from a backup does, so
/// that devices notice and send again what it may have lost. New device
/// numbers start well above the backup's, since devices enrolled after the
/// backup keep theirs (room is left for 100,000 of them).
pub fn renew_epoch(backend: &impl Backend, where_: &str, now_ms: u64) -> Result<String> {
    let epoch = new_epoch();
    backend.write(|w| {
        if w.meta("epoch")?.is_none() {
            return Err(StorageError::NotFound(format!("{where_} is not an initialised Gridwork database")));
        }
        w.set_meta("epoch", &epoch)?;
        let floor = w.meta("device_number_floor")?.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let highest = u64::from(w.next_device_number()?.saturating_sub(1));
        w.set_meta("device_number_floor", &(floor + 100_000).max(highest + 100_001).to_string())?;
        w.set_meta("restored_at_ms", &now_ms.to_string())?;
        audit(w, now_ms, None, "restore", None, serde_json::json!({"epoch": epoch}))
    })?;
    Ok(epoch)
}

impl<B: Backend> Core<B> {
    /// The rules over an initialised database.
    pub fn new(backend: B, where_: &str) -> Result<Core<B>> {
        let (epoch, restored_at_ms) = backend.read(|r| Ok((r.meta("epoch")?, r.meta("restored_at_ms")?)))?;
        let epoch = epoch.ok_or_else(|| {
            StorageError::NotFound(format!("{where_} is not initialised: run `gridwork-server init` first"))
        })?;
        Ok(Core {
            backend,
            epoch,
            restored_at_ms: restored_at_ms.and_then(|v| v.parse().ok()),
            scopes: ScopeCache::default(),
            limits: StorageLimits::default(),
        })
    }

    /// What one device may park, hold of unfinished uploads, and send in a
    /// day.
    pub fn set_limits(&mut self, limits: StorageLimits) {
        self.limits = limits;
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The grids a person may see records of, sorted.
    pub fn scope(&self, user_id: &str, role: Role) -> Result<Scope> {
        self.backend.read(|r| self.scope_of(r, user_id, role))
    }

    /// The grids a person may see records of, from the cache when the
    /// database's scope generation has not moved since it was worked out
    /// (see `crate::scopes`); generation and scope come from one snapshot.
    fn scope_of(&self, r: &mut dyn Reads, user_id: &str, role: Role) -> Result<Scope> {
        self.scope_within(r, user_id, role, None)
    }

    /// The grids whoever asks may see records of: a person's, or an
    /// integration key's (what a staff account given the key's grid sees).
    fn scope_for(&self, r: &mut dyn Reads, who: &Principal) -> Result<Scope> {
        self.scope_within(r, &who.user_id, who.role, who.key.as_ref())
    }

    /// The scope of a person, or of the integration key `user_id` names
    /// when `key` is given (its id is as unique as a person's, so they
    /// share the cache).
    fn scope_within(
        &self,
        r: &mut dyn Reads,
        user_id: &str,
        role: Role,
        key: Option<&KeyAuth>,
    ) -> Result<Scope> {
        let generation = r.scope_generation()?;
        self.scopes.get_or_compute(user_id, role, generation, || -> Result<Vec<String>> {
            match role {
                Role::Worker => {
                    let roots = r.assigned_grids(user_id)?;
                    Ok(r.grids_below(&roots)?)
                }
                // Staff assigned part of the tree see that part; without,
                // the whole city. So does an integration key.
                Role::Staff => {
                    let roots = roots_of(r, user_id, key)?;
                    if roots.is_empty() { Ok(r.live_grids()?) } else { Ok(r.grids_below(&roots)?) }
                }
                Role::Admin => Ok(r.live_grids()?),
                // A department's handler sees its cases, not the registry.
                Role::Handler => Ok(Vec::new()),
            }
        })
    }

    /// The case `id`'s place in the flow, if `who` may see it; not found
    /// otherwise (whether it exists is not said).
    fn visible_case(&self, r: &mut dyn Reads, who: &Principal, id: RecordId) -> Result<CaseFlowRow> {
        let not_found = || StorageError::NotFound(format!("case {id}"));
        let flow = r.case_flow(id)?.ok_or_else(not_found)?;
        let department = match who.role {
            Role::Handler => r.user(&who.user_id)?.and_then(|u| u.department),
            _ => None,
        };
        let scope = match who.role {
            Role::Staff => self.scope_for(r, who)?.to_vec(),
            _ => Vec::new(),
        };
        if crate::flow::visible(who, department.as_deref(), &scope, &flow) {
            Ok(flow)
        } else {
            Err(not_found())
        }
    }

    /// Narrows `query` to the cases `who` may see, as [`crate::flow::visible`]
    /// decides for one: false when they may see none of those asked for.
    fn narrow_to_visible(&self, r: &mut dyn Reads, who: &Principal, query: &mut CaseQuery) -> Result<bool> {
        match who.role {
            Role::Admin => {}
            Role::Staff => {
                if !citywide(r, who)? {
                    query.grids = Some(self.scope_for(r, who)?.to_vec());
                }
            }
            Role::Handler => {
                let theirs = r.user(&who.user_id)?.and_then(|u| u.department);
                if theirs.is_none() || (query.department.is_some() && query.department != theirs) {
                    return Ok(false);
                }
                query.department = theirs;
            }
            Role::Worker => {
                return Err(StorageError::Internal("workers list cases on their tablets".into()));
            }
        }
        Ok(true)
    }

    /// The grids whose records `who` reviews (the registry, the conflict
    /// inbox, patrols and visits), sorted: `None` for the whole city
    /// (admins, staff given no grid). Handlers see cases, not these;
    /// integration keys neither; workers read theirs on their tablets.
    fn reviewed_grids(&self, r: &mut dyn Reads, who: &Principal) -> Result<Option<Vec<String>>> {
        match who.role {
            Role::Admin => Ok(None),
            Role::Staff if who.key.is_none() => {
                if citywide(r, who)? {
                    Ok(None)
                } else {
                    let mut grids = self.scope_for(r, who)?.to_vec();
                    grids.sort();
                    Ok(Some(grids))
                }
            }
            _ => Err(StorageError::Said {
                code: ErrorCode::Forbidden,
                en: "residents, households and buildings, their conflicts, patrols and visits are reviewed by centre staff and administrators; a department's handler sees its cases".into(),
                zh: "人口、户和房屋信息及其冲突、巡查走访记录仅供中心工作人员和管理员查看;职能部门只能查看本部门的事件".into(),
            }),
        }
    }

    /// The grids a registry or activity question covers: those the caller
    /// reviews, or the asked grid and those below it within them. A grid
    /// that does not exist, or lies outside the caller's part of the tree,
    /// is not found, alike (so its existence is not told).
    fn grids_asked(&self, r: &mut dyn Reads, who: &Principal, grid: Option<&str>) -> Result<Vec<String>> {
        let visible = self.reviewed_grids(r, who)?;
        let Some(grid) = grid else {
            return match visible {
                Some(visible) => Ok(visible),
                None => Ok(r.live_grids()?),
            };
        };
        let mut below = r.grids_below(&[grid.to_owned()])?;
        if let Some(visible) = visible {
            below.retain(|g| visible.binary_search(g).is_ok());
        }
        if below.is_empty() {
            return Err(StorageError::Said {
                code: ErrorCode::NotFound,
                en: format!("there is no grid `{grid}` among the grids you review"),
                zh: format!("您负责的网格中没有编码为“{grid}”的网格"),
            });
        }
        Ok(below)
    }

    /// Whether the server can vouch, now, for writes devices relay: not for
    /// a while after a restore, which may have lost some.
    fn vouches_for_others(&self, now_ms: u64) -> bool {
        self.restored_at_ms.is_none_or(|at| now_ms.saturating_sub(at) > RESTORE_GRACE_MS)
    }
}

/// A page's `next`: `RECEIVED_MS:CASE_ID`.
fn parse_case_cursor(text: &str) -> Option<(u64, RecordId)> {
    let (at, id) = text.split_once(':')?;
    Some((at.parse().ok()?, id.parse().ok()?))
}

/// The storage's query for a filter.
fn case_query(filter: &CaseFilter, after: Option<(u64, RecordId)>, limit: usize, now_ms: u64) -> CaseQuery {
    CaseQuery {
        grids: None,
        department: filter.department.clone(),
        statuses: filter.status.clone().map(|s| vec![s]),
        categories: filter.category.clone().map(|c| vec![c]),
        open_only: filter.overdue,
        due_before_ms: filter.overdue.then_some(now_ms),
        received_from_ms: None,
        received_to_ms: None,
        after,
        limit,
    }
}

/// Why a pushed record is refused.
struct Refusal {
    code: RefusalCode,
    field: Option<String>,
    message: String,
    message_zh: String,
}

impl Refusal {
    fn new(code: RefusalCode, field: Option<String>, message: String, message_zh: String) -> Refusal {
        Refusal { code, field, message, message_zh }
    }

    fn invalid(invalid: &ValidationError) -> Refusal {
        Refusal::new(
            RefusalCode::Invalid,
            invalid.field().map(str::to_owned),
            invalid.to_string(),
            invalid.zh(),
        )
    }
}

/// Whether `grid` is one of `scope`'s (sorted) codes.
fn in_scope(scope: &[String], grid: Option<&str>) -> bool {
    grid.is_some_and(|grid| scope.binary_search_by(|code| code.as_str().cmp(grid)).is_ok())
}

/// What a push has found out about its listed photos, so each distinct
/// digest is looked up once per push.
type PhotoChecks = HashMap<String, bool>;

/// Why a pushed record is refused, if it is, decided before anything is
/// written.
///
/// Scope comes first, for every kind and whatever is wrong with the change:
/// a record that exists outside the device's grids (as any kind), or a new
/// one placed outside them, is refused as `out_of_scope` and nothing else,
/// so the answer tells nothing about it.
#[allow(clippy::too_many_arguments)]
fn refusal(
    r: &mut dyn Reads,
    who: &Principal,
    change: &RecordChanges,
    preview: std::result::Result<Preview, ChangeError>,
    scope: &[String],
    vouch_for_others: bool,
    photos: &mut PhotoChecks,
    now_ms: u64,
) -> Result<Option<Refusal>> {
    let device = who.device.as_ref().expect("push checked that a device is asking").number;
    let out_of_scope = || {
        Some(Refusal::new(
            RefusalCode::OutOfScope,
            Some(change.kind.def().scope_field.to_owned()),
            format!(
                "{} {} is not (or no longer) in this device's grids: it may have moved to another grid; the edit is kept for the centre",
                change.kind, change.id
            ),
            format!(
                "{}记录{}不在(或已不在)本设备负责的网格内,可能已迁往其他网格;此修改已交中心处理",
                change.kind.def().label.zh,
                change.id
            ),
        ))
    };
    // Where the record is now, if it exists, as whatever kind: the preview
    // knows when it worked out; otherwise it is looked up.
    let stored_kind = match &preview {
        Ok(preview) => preview.exists.then_some(change.kind),
        Err(ChangeError::WrongKind { actual }) => Some(*actual),
        Err(ChangeError::Invalid(_)) => r.kind_of(change.id)?,
    };
    let stored_grid = match (&preview, stored_kind) {
        (Ok(preview), Some(_)) => preview.scope_now.clone(),
        (_, Some(kind)) => r.grid_of(kind, change.id)?,
        (_, None) => None,
    };
    let outside = match stored_kind {
        Some(_) => !in_scope(scope, stored_grid.as_deref()),
        None => {
            let scope_field = change.kind.def().scope_field;
            change
                .fields
                .iter()
                .find(|f| f.field == scope_field)
                .is_some_and(|f| !in_scope(scope, f.register.value().as_text()))
        }
    };
    if outside {
        return Ok(out_of_scope());
    }
    if change.kind == Kind::Grid {
        return Ok(Some(Refusal::new(
            RefusalCode::Forbidden,
            None,
            "grids are drawn by admins, not changed from devices".into(),
            "网格由管理员划分,设备不能修改".into(),
        )));
    }
    if stored_kind.is_some_and(|kind| kind != change.kind) {
        return Ok(Some(Refusal::new(
            RefusalCode::Invalid,
            None,
            format!("record {} already exists as another kind", change.id),
            format!("记录{}已作为其他类型存在", change.id),
        )));
    }
    let preview = match preview {
        Ok(preview) => preview,
        Err(ChangeError::Invalid(invalid)) => return Ok(Some(Refusal::invalid(&invalid))),
        Err(ChangeError::WrongKind { .. }) => unreachable!("a record of another kind was refused above"),
    };
    if !in_scope(scope, preview.scope_after.as_deref()) && !preview.exists {
        return Ok(out_of_scope());
    }
    // Checked after scope, so that a record the device may no longer see
    // is refused as that (and rolled back) rather than re-stamped. Every
    // timestamp is checked, not only the device's own: a version
    // signed with another number and stamped far ahead would otherwise
    // drag every clock that sees it into the future.
    for state in &change.fields {
        for version in state.register.versions() {
            if let Err(ahead) = check_not_ahead(version.hlc, now_ms, MAX_AHEAD_MS) {
                return Ok(Some(if version.writer == device {
                    Refusal::new(
                        RefusalCode::ClockAhead,
                        Some(state.field.clone()),
                        ahead.to_string(),
                        format!("设备时钟比服务器快{}秒,请校准时间", ahead.ahead_ms / 1000),
                    )
                } else {
                    Refusal::new(
                        RefusalCode::Forbidden,
                        Some(state.field.clone()),
                        format!(
                            "a version of `{}` written by device {} is {ahead}",
                            state.field, version.writer.0
                        ),
                        format!("字段{}中设备{}写入的版本时间超前于服务器", state.field, version.writer.0),
                    )
                }));
            }
        }
    }
    // Birth dates that have not happened yet, by the server's clock (with
    // the tolerance clocks get), in what the device wrote itself.
    let latest = gridwork_domain::latest_date(now_ms + MAX_AHEAD_MS);
    for state in &change.fields {
        for version in state.register.versions().iter().filter(|v| v.writer == device) {
            if let Err(invalid) =
                gridwork_domain::check_not_in_future(change.kind, &state.field, &version.value, latest)
            {
                return Ok(Some(Refusal::invalid(&invalid)));
            }
        }
    }
    // Listing a stored photo on a case makes it readable to the case's
    // grid, so a device may list only photos it may read already (or that
    // are not stored yet: it uploads them itself). Each distinct digest is
    // looked up once per push, by index.
    for state in change.fields.iter().filter(|f| change.kind == Kind::Case && f.field == "attachments") {
        // Versions of others the server holds were checked when they came;
        // after a restore it cannot tell which it holds, so all are checked.
        for version in state.register.versions().iter().filter(|v| v.writer == device || !vouch_for_others) {
            for sha256 in version.value.as_list().unwrap_or_default() {
                let refused = match photos.get(sha256) {
                    Some(refused) => *refused,
                    None => {
                        let refused = stored_but_unreadable(r, who, scope, sha256)?;
                        photos.insert(sha256.clone(), refused);
                        refused
                    }
                };
                if refused {
                    return Ok(Some(Refusal::new(
                        RefusalCode::Forbidden,
                        Some(state.field.clone()),
                        format!("attachment {sha256} is not one this device uploaded or may see"),
                        format!("附件{sha256}不是本设备上传或可查看的附件"),
                    )));
                }
            }
        }
    }
    if let Some((field, writer)) = preview.unvouched
        && vouch_for_others
    {
        return Ok(Some(Refusal::new(
            RefusalCode::Forbidden,
            Some(field.to_owned()),
            format!(
                "`{field}` claims a write by device {} that the server has not seen; a device hands on only writes it got from the server",
                writer.0
            ),
            format!("字段{field}含有服务器未见过的设备{}的修改", writer.0),
        )));
    }
    // An existing record may move to any grid that exists (a resident
    // moving away); the device drops it afterwards.
    if let Some(after) = &preview.scope_after
        && !scope.contains(after)
        && r.grid_level(after)?.is_none()
    {
        let invalid = ValidationError::invalid(
            change.kind.def().scope_field,
            Reason::NoSuchGrid { code: after.clone() },
        );
        return Ok(Some(Refusal::invalid(&invalid)));
    }
    Ok(None)
}

/// Whether `who`, seeing `scope`, may read the stored attachment: they
/// hold it (uploaded all of it), or a live case of their scope lists it.
/// Index lookups only: one per grid of a worker's scope at most, however
/// many cases list the photo.
fn readable(r: &mut dyn Reads, who: &Principal, scope: &[String], sha256: &str) -> Result<bool> {
    if r.attachment_stored(sha256)?.is_none() {
        return Ok(false);
    }
    let me = who.device.as_ref().map_or(who.user_id.as_str(), |d| d.id.as_str());
    if r.attachment_held(sha256, me)? {
        return Ok(true);
    }
    if citywide(r, who)? {
        return Ok(r.photo_listed(sha256, None)?);
    }
    for grid in scope {
        if r.photo_listed(sha256, Some(grid))? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A grid record as the console lists it (`None` without a code).
fn grid_info(record: &RecordChanges, with_boundary: bool) -> Option<GridInfo> {
    let text = |name: &str| {
        record
            .fields
            .iter()
            .find(|f| f.field == name)
            .and_then(|f| f.register.value().as_text())
            .map(str::to_owned)
    };
    let code = text("code")?;
    Some(GridInfo {
        name: text("name").unwrap_or_else(|| code.clone()),
        parent: text("parent"),
        level: text("level").unwrap_or_default(),
        boundary: if with_boundary { text("boundary") } else { None },
        code,
    })
}

/// Whether `who` sees the whole city: admins, and staff (or integration
/// keys) given no part of the grid tree.
fn citywide(r: &mut dyn Reads, who: &Principal) -> Result<bool> {
    match who.role {
        Role::Admin => Ok(true),
        Role::Staff => Ok(roots_of(r, &who.user_id, who.key.as_ref())?.is_empty()),
        Role::Worker | Role::Handler => Ok(false),
    }
}

/// The grids at the top of someone's part of the tree: an integration
/// key's grid (`key`), or the grids assigned to the person `user_id`.
fn roots_of(r: &mut dyn Reads, user_id: &str, key: Option<&KeyAuth>) -> Result<Vec<String>> {
    match key {
        Some(key) => Ok(key.grid.iter().cloned().collect()),
        None => Ok(r.assigned_grids(user_id)?),
    }
}

/// Whether a stored attachment exists that `who` may not read: what a
/// pushed case may not list (listing it would let them read it).
fn stored_but_unreadable(r: &mut dyn Reads, who: &Principal, scope: &[String], sha256: &str) -> Result<bool> {
    Ok(r.attachment_stored(sha256)?.is_some() && !readable(r, who, scope, sha256)?)
}

/// What a device spends of its day.
#[derive(Clone, Copy, Debug)]
enum Spending {
    /// The weight of the records of a push.
    Push(u64),
    /// The declared size of a new upload.
    Upload(u64),
}

/// Refuses `spending` if it would take `device` past its day's budget.
fn check_budget(
    r: &mut dyn Reads,
    device: &str,
    now_ms: u64,
    spending: Spending,
    budget: &DailyBudget,
) -> Result<()> {
    let (push, upload) = r.usage(device, now_ms / DAY_MS)?;
    let (what, used, wanted, limit) = match spending {
        Spending::Push(bytes) => ("records", push, bytes, budget.push_bytes),
        Spending::Upload(bytes) => ("photos", upload, bytes, budget.upload_bytes),
    };
    if used + wanted > limit {
        let wait_secs = (DAY_MS - now_ms % DAY_MS).div_ceil(1000);
        return Err(StorageError::DeviceQuota { what, used, wanted, budget: limit, wait_secs });
    }
    Ok(())
}

/// Checks and records `spending` in the transaction that does it.
fn spend(
    w: &mut dyn Writes,
    device: &str,
    now_ms: u64,
    spending: Spending,
    budget: &DailyBudget,
) -> Result<()> {
    check_budget(w, device, now_ms, spending, budget)?;
    let (push, upload) = match spending {
        Spending::Push(bytes) => (bytes, 0),
        Spending::Upload(bytes) => (0, bytes),
    };
    w.spend(device, now_ms / DAY_MS, push, upload)?;
    Ok(())
}

/// A refused change to park: record, kind, code, field, message, payload,
/// grid.
type ToPark = (RecordId, Kind, RefusalCode, Option<String>, String, String, Option<String>);

/// Parks refused changes for the centre, within what one device may park:
/// one row per device and record (the latest refusal), at most
/// `rows_per_device` rows and `bytes_per_device` bytes of payload per
/// device. Beyond the bytes, a row keeps the field names and size, not the
/// values; beyond the rows, refusals are only counted, per code.
fn park(
    w: &mut dyn Writes,
    limits: &ParkingLimits,
    device_id: &str,
    now_ms: u64,
    items: Vec<ToPark>,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let (mut rows, mut bytes) = w.parked_usage(device_id)?;
    for (id, kind, code, field, message, payload, grid) in items {
        let existing = w.parked_bytes(device_id, id)?;
        if existing.is_none() && rows >= limits.rows_per_device {
            w.count_overflow(device_id, code.as_str(), now_ms)?;
            continue;
        }
        let room = limits.bytes_per_device.saturating_sub(bytes - existing.unwrap_or(0));
        let payload = if payload.len() as u64 <= room {
            payload
        } else {
            // The field names stay, whether the payload is the change or
            // already a summary of it.
            let fields = parked_fields(&payload);
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            payload_summary(payload.len(), &fields)
        };
        bytes = bytes - existing.unwrap_or(0) + payload.len() as u64;
        rows += u64::from(existing.is_none());
        w.park(&ParkedRow {
            at_ms: now_ms,
            device_id: device_id.to_owned(),
            record: id,
            kind,
            code: code.as_str().to_owned(),
            field,
            message,
            payload,
            grid,
        })?;
    }
    Ok(())
}

/// The day it is at `now_ms` in the city's zone.
fn city_day(now_ms: u64) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_millis(now_ms as i64)
        .unwrap_or_default()
        .with_timezone(&crate::flow::CITY_ZONE)
        .date_naive()
}

/// A day's patrols or visits in `grids`, earliest first, at most `max`
/// (the worker's only, when the query names one); with their routes up to
/// [`crate::registry::ROUTE_BYTES_MAX`] of them, or without routes. True
/// when more matched than were read or kept.
fn day_list(
    r: &mut dyn Reads,
    checked: &crate::registry::ActivityChecked,
    grids: &[String],
    kind: Kind,
    max: usize,
    routes: bool,
) -> Result<(Vec<RecordItem>, bool)> {
    if grids.is_empty() {
        return Ok((Vec::new(), false));
    }
    let zone = crate::flow::CITY_ZONE;
    let (from, to) = checked.written_range();
    // The rows of four days as written, earliest first, for those that
    // fall on the day in the city's zone: read at most a bound more.
    let bound = 4 * max;
    let rows = r.activity_rows(kind, grids, &from, &to, checked.worker.as_deref(), bound)?;
    let read_all = rows.len() < bound;
    let mut kept: Vec<_> = rows
        .into_iter()
        .filter(|row| checked.keeps(row, zone))
        .map(|row| (crate::registry::ActivityChecked::instant(&row), row.id))
        .collect();
    kept.sort();
    let mut truncated = !read_all || kept.len() > max;
    let mut list = Vec::with_capacity(kept.len().min(max));
    let mut route_bytes = 0;
    for (_, id) in kept.iter().take(max) {
        if let Some(record) = r.export(kind, *id)? {
            let mut item = crate::registry::item(&record);
            if !routes {
                item.fields.remove("route");
            }
            route_bytes += item.fields.get("route").and_then(Value::as_text).map_or(0, str::len);
            if route_bytes > crate::registry::ROUTE_BYTES_MAX {
                truncated = true;
                break;
            }
            list.push(item);
        }
    }
    Ok((list, truncated))
}

/// An edit by the centre (a settle, a refusal applied): written as the
/// server's; when it moves the record to another grid, the record's parked
/// refusals follow it there.
fn put_by_centre(w: &mut dyn Writes, kind: Kind, id: RecordId, fields: &[(&str, Value)]) -> Result<()> {
    w.put_record(kind, Some(id), fields)?;
    if fields.iter().any(|(name, _)| *name == kind.def().scope_field) {
        let grid = w.grid_of(kind, id)?;
        w.repark(id, grid.as_deref())?;
    }
    Ok(())
}

/// The values a parked change would have set, by field (none when only
/// its summary was kept).
fn parked_values(payload: &str) -> BTreeMap<String, Value> {
    serde_json::from_str::<RecordChanges>(payload)
        .map(|change| change.fields.into_iter().map(|f| (f.field, f.register.value().clone())).collect())
        .unwrap_or_default()
}

/// Whether a parked refusal is one of those a reviewer of `grids` sees
/// (`None`: the whole city, rows of no grid included).
fn reviews_parked(grids: Option<&[String]>, row: &ParkedRow) -> bool {
    grids.is_none_or(|grids| row.grid.as_ref().is_some_and(|g| grids.binary_search(g).is_ok()))
}

/// The field names a parked change carried: from the change itself, or
/// from the summary kept when it was too large to park whole.
fn parked_fields(payload: &str) -> Vec<String> {
    if let Ok(change) = serde_json::from_str::<RecordChanges>(payload) {
        return change.fields.into_iter().map(|f| f.field).collect();
    }
    serde_json::from_str::<serde_json::Value>(payload)
        .ok()
        .and_then(|summary| {
            summary
                .get("fields")?
                .as_array()
                .map(|names| names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
        })
        .unwrap_or_default()
}

/// What is kept of a refused change too large to park whole: its size and
/// field names.
fn payload_summary(bytes: usize, fields: &[&str]) -> String {
    serde_json::json!({"truncated": true, "bytes": bytes, "fields": fields}).to_string()
}

impl<B: Backend> Storage for Core<B> {
    fn epoch(&self) -> String {
        self.epoch.clone()
    }

    fn me(&self, who: &Principal) -> Result<Me> {
        self.backend.read(|r| {
            let user = r.user(&who.user_id)?.ok_or_else(|| StorageError::NotFound("this account".into()))?;
            let assigned = r.assigned_grids(&who.user_id)?;
            let citywide = citywide(r, who)?;
            let grids = match who.role {
                Role::Staff if !citywide => self.scope_of(r, &who.user_id, who.role)?.to_vec(),
                _ => Vec::new(),
            };
            Ok(Me {
                user: UserInfo {
                    id: user.id,
                    name: user.name,
                    role: user.role,
                    grids: assigned,
                    created_at_ms: 0,
                    department: user.department,
                },
                citywide,
                grids,
                map_tiles: None,
            })
        })
    }

    fn grids(&self, who: &Principal) -> Result<Vec<GridInfo>> {
        self.backend.read(|r| {
            let scope = match who.role {
                Role::Staff if !citywide(r, who)? => Some(self.scope_of(r, &who.user_id, who.role)?.to_vec()),
                _ => None,
            };
            let mut grids = Vec::new();
            for record in r.grid_records()? {
                // A handler sees where cases are, not the map of the city.
                let Some(grid) = grid_info(&record, who.role != Role::Handler) else { continue };
                if scope.as_ref().is_some_and(|scope| scope.binary_search(&grid.code).is_err()) {
                    continue;
                }
                grids.push(grid);
            }
            Ok(grids)
        })
    }

    fn case_stats(&self, who: &Principal, since_ms: u64, now_ms: u64) -> Result<CaseStats> {
        self.backend.read(|r| {
            let mut rows = r.case_tally(since_ms, now_ms)?;
            // Handlers see no ranking of workers.
            let mut reporters =
                if who.role == Role::Handler { Vec::new() } else { r.reporter_tally(since_ms)? };
            match who.role {
                Role::Admin => {}
                Role::Staff => {
                    if !citywide(r, who)? {
                        let scope = self.scope_of(r, &who.user_id, who.role)?;
                        rows.retain(|row| scope.binary_search(&row.grid).is_ok());
                        reporters.retain(|row| scope.binary_search(&row.grid).is_ok());
                    }
                }
                Role::Handler => {
                    let department = r.user(&who.user_id)?.and_then(|u| u.department);
                    rows.retain(|row| row.department.is_some() && row.department == department);
                }
                Role::Worker => {
                    return Err(StorageError::Internal("workers see their figures on their tablets".into()));
                }
            }
            let names: HashMap<String, String> = r
                .grid_records()?
                .iter()
                .filter_map(|g| grid_info(g, false).map(|g| (g.code, g.name)))
                .collect();
            Ok(crate::stats::fold(&rows, &reporters, |code| names.get(code).cloned()))
        })
    }

    fn settle_conflict(&self, who: &Principal, settle: SettleConflict, now_ms: u64) -> Result<Settled> {
        let SettleConflict { kind, id, field, value } = settle;
        let Some(def) = kind.def().fields.iter().find(|f| f.name == field) else {
            return Err(StorageError::Invalid(ValidationError::UnknownField { kind: kind.as_str(), field }));
        };
        let name = def.name;
        let not_found = || StorageError::NotFound(format!("{} {id}", kind.as_str()));
        self.backend.write(|w| {
            // Within the grids the caller reviews, as the inbox lists them;
            // a record moved by a correction stays within them too.
            if let Some(grids) = self.reviewed_grids(w, who)? {
                let grid = w.grid_of(kind, id)?;
                if grid.is_none_or(|g| grids.binary_search(&g).is_err()) {
                    return Err(not_found());
                }
                if name == kind.def().scope_field
                    && value.as_text().is_none_or(|g| grids.binary_search(&g.to_owned()).is_err())
                {
                    return Err(StorageError::Said {
                        code: ErrorCode::Forbidden,
                        en: format!("`{name}` may only be kept as one of your grids"),
                        zh: format!("字段 {name} 只能保留为您负责的网格"),
                    });
                }
            }
            // The grid tree is the administrators' (as every edit of it is).
            if kind == Kind::Grid && who.role != Role::Admin {
                return Err(StorageError::Said {
                    code: ErrorCode::Forbidden,
                    en: "a grid's conflicts are settled by an administrator, who keeps the grid tree".into(),
                    zh: "网格本身的冲突由管理员处理".into(),
                });
            }
            let record = w.export(kind, id)?.ok_or_else(not_found)?;
            let in_conflict =
                record.fields.iter().any(|f| f.field == name && f.register.versions().len() > 1);
            if !in_conflict {
                return Err(StorageError::Said {
                    code: ErrorCode::Conflict,
                    en: format!(
                        "field `{name}` of {} {id} is no longer in conflict: someone settled it, or a device wrote it after seeing every version; reload the inbox",
                        kind.as_str()
                    ),
                    zh: format!("该记录的字段 {name} 已不再冲突(已被处理,或设备已在看到所有版本后修改),请刷新"),
                });
            }
            if record.fields.iter().any(|f| f.field == "deleted" && *f.register.value() == Value::Bool(true)) {
                return Err(StorageError::Said {
                    code: ErrorCode::Conflict,
                    en: format!(
                        "{} {id} is deleted: its conflicts are settled if someone restores it",
                        kind.as_str()
                    ),
                    zh: "该记录已删除,恢复后才能处理其冲突".into(),
                });
            }
            // A case's status, department, deadline and grid are the flow's:
            // only the flow's value may be kept (steps change them).
            if kind == Kind::Case
                && let Some(flow) = w.case_flow(id)?
                && let Some(owned) = crate::flow::disagrees(&flow, name, &value)
            {
                return Err(StorageError::Said {
                    code: ErrorCode::Conflict,
                    en: format!(
                        "the case flow decides field `{name}` of a case ({owned:?} now): keep that value, or take a step on the case"
                    ),
                    zh: format!("事件的字段 {name} 由办理流程决定,只能保留流程中的值;如需改变请在事件上办理"),
                });
            }
            put_by_centre(w, kind, id, &[(name, value.clone())])?;
            // The field, not its value: values may be personal (an ID
            // number, a phone), and the audit trail outlives the record.
            let detail = serde_json::json!({"field": name, "value_bytes": serde_json::to_string(&value).map_or(0, |v| v.len())});
            audit(w, now_ms, Some(who), "conflict_settle", Some((kind, id)), detail)?;
            Ok(Settled { kind, id, field: name.to_owned(), value })
        })
    }

    fn categories(&self) -> Result<Vec<Category>> {
        self.backend.read(|r| Ok(r.categories()?))
    }

    fn update_category(&self, actor: &Principal, category: Category, now_ms: u64) -> Result<Category> {
        use crate::deadlines::Limit;
        for (field, limit) in
            [("solve_limit", Some(&category.solve_limit)), ("on_site_limit", category.on_site_limit.as_ref())]
        {
            if let Some(limit) = limit
                && Limit::parse(limit).is_none()
            {
                return Err(StorageError::Said {
                    code: ErrorCode::Invalid,
                    en: format!(
                        "`{field}` is `{limit}`: write hours as `24h` (1 to 8784) or working days as `7wd` (1 to 366)"
                    ),
                    zh: format!("“{field}”为`{limit}`:小时写作`24h`,工作日写作`7wd`"),
                });
            }
        }
        for (field, name) in [("name_zh", &category.name_zh), ("name_en", &category.name_en)] {
            if name.trim().is_empty() {
                return Err(ValidationError::invalid(field, Reason::Empty).into());
            }
            gridwork_domain::FieldType::Text { max: 50 }.check(field, Value::Text(name.trim().to_owned()))?;
        }
        let row = Category {
            code: category.code.clone(),
            name_zh: category.name_zh.trim().to_owned(),
            name_en: category.name_en.trim().to_owned(),
            on_site_limit: category.on_site_limit.as_deref().map(|l| l.trim().to_owned()),
            solve_limit: category.solve_limit.trim().to_owned(),
            department: category
                .department
                .as_deref()
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
        };
        self.backend.write(|w| {
            if w.category(&row.code)?.is_none() {
                return Err(StorageError::NotFound(format!("case category `{}`", row.code)));
            }
            if let Some(code) = &row.department
                && w.department(code)?.is_none()
            {
                return Err(crate::flow::unknown_department(code));
            }
            w.update_category(&row)?;
            let moved = crate::flow::recount_open_cases(w)?;
            let detail = serde_json::json!({"code": row.code, "solve_limit": row.solve_limit, "on_site_limit": row.on_site_limit, "recounted": moved});
            audit(w, now_ms, Some(actor), "category_update", None, detail)
        })?;
        Ok(row)
    }

    fn calendar_year(&self, year: i32) -> Result<CalendarYear> {
        let (source, days) = self.backend.read(|r| Ok(r.calendar_year(year)?))?;
        Ok(CalendarYear { year, source, days })
    }

    fn replace_calendar_year(&self, actor: &Principal, entered: CalendarYear, now_ms: u64) -> Result<usize> {
        let year = entered.year;
        let source = entered.source.as_deref().map(str::trim).unwrap_or_default();
        if source.is_empty() {
            return Err(ValidationError::required("source").into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for day in &entered.days {
            let date: Option<chrono::NaiveDate> = day.day.parse().ok();
            if date.is_none_or(|d| chrono::Datelike::year(&d) != year) || !seen.insert(day.day.clone()) {
                return Err(StorageError::Said {
                    code: ErrorCode::Invalid,
                    en: format!("`{}` is not a day of {year} given once (YYYY-MM-DD)", day.day),
                    zh: format!("`{}`不是{year}年的日期,或重复出现(格式 YYYY-MM-DD)", day.day),
                });
            }
            if !matches!(day.kind.as_str(), "holiday" | "workday") {
                return Err(ValidationError::invalid("kind", Reason::Empty).into());
            }
            for (field, name) in [("name_zh", &day.name_zh), ("name_en", &day.name_en)] {
                gridwork_domain::FieldType::Text { max: 50 }.check(field, Value::Text(name.clone()))?;
            }
        }
        self.backend.write(|w| {
            w.replace_calendar_year(year, source, &entered.days)?;
            let moved = crate::flow::recount_open_cases(w)?;
            let detail = serde_json::json!({"year": year, "days": entered.days.len(), "source": source, "recounted": moved});
            audit(w, now_ms, Some(actor), "calendar_year", None, detail)?;
            Ok(moved)
        })
    }

    fn departments(&self) -> Result<Vec<Department>> {
        self.backend.read(|r| Ok(r.departments()?))
    }

    fn add_department(&self, actor: &Principal, department: Department, now_ms: u64) -> Result<()> {
        let code = department.code.trim().to_owned();
        let valid_code = !code.is_empty()
            && code.len() <= 32
            && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_code {
            return Err(ValidationError::invalid("code", Reason::Empty).into());
        }
        for (field, name) in [("name_zh", &department.name_zh), ("name_en", &department.name_en)] {
            let name = name.trim();
            if name.is_empty() {
                return Err(ValidationError::invalid(field, Reason::Empty).into());
            }
            gridwork_domain::FieldType::Text { max: 50 }.check(field, Value::Text(name.to_owned()))?;
        }
        let department = Department {
            code: code.clone(),
            name_zh: department.name_zh.trim().to_owned(),
            name_en: department.name_en.trim().to_owned(),
        };
        self.backend.write(|w| {
            if !w.insert_department(&department, now_ms)? {
                return Err(StorageError::Said {
                    code: ErrorCode::Conflict,
                    en: format!("a department with code `{code}` exists already"),
                    zh: format!("编码为`{code}`的部门已存在"),
                });
            }
            let detail = serde_json::json!({"code": code, "name_zh": department.name_zh});
            audit(w, now_ms, Some(actor), "department_add", None, detail)
        })
    }

    fn cases(&self, who: &Principal, filter: CaseFilter, now_ms: u64) -> Result<CasePage> {
        let limit = filter.limit.unwrap_or(50).clamp(1, 200);
        let after = match filter.after.as_deref() {
            None => None,
            Some(text) => Some(
                parse_case_cursor(text)
                    .ok_or_else(|| StorageError::Invalid(ValidationError::invalid("after", Reason::Empty)))?,
            ),
        };
        self.backend.read(|r| {
            let mut query = case_query(&filter, after, limit + 1, now_ms);
            if !self.narrow_to_visible(r, who, &mut query)? {
                return Ok(CasePage { items: Vec::new(), next: None });
            }
            let rows = r.case_page(&query)?;
            let more = rows.len() > limit;
            let mut items = Vec::with_capacity(rows.len().min(limit));
            for flow in rows.iter().take(limit) {
                let record = r.export(Kind::Case, flow.case_id)?;
                items.push(crate::flow::summary(flow, record.as_ref(), now_ms));
            }
            let next = items.last().filter(|_| more).map(|c| format!("{}:{}", c.received_at_ms, c.id));
            Ok(CasePage { items, next })
        })
    }

    fn records(&self, who: &Principal, filter: RecordFilter) -> Result<RecordPage> {
        let checked = crate::registry::check(&filter)?;
        self.backend.read(|r| {
            let grids = self.grids_asked(r, who, checked.grid.as_deref())?;
            if grids.is_empty() {
                return Ok(RecordPage { items: Vec::new(), next: None });
            }
            let found = r.record_page(&checked.query(grids))?;
            let more = found.len() > checked.limit;
            let mut items = Vec::with_capacity(found.len().min(checked.limit));
            for (_, id) in found.iter().take(checked.limit) {
                if let Some(record) = r.export(checked.kind, *id)? {
                    items.push(crate::registry::item(&record));
                }
            }
            let next = found
                .get(checked.limit.wrapping_sub(1))
                .filter(|_| more)
                .map(|(grid, id)| crate::registry::cursor(grid, *id));
            Ok(RecordPage { items, next })
        })
    }

    fn record(&self, who: &Principal, id: RecordId, now_ms: u64) -> Result<RecordView> {
        let not_found = || StorageError::NotFound(format!("record {id}"));
        let view = self.backend.read(|r| {
            let visible = self.reviewed_grids(r, who)?;
            let kind = r.kind_of(id)?.filter(|k| REGISTRY_KINDS.contains(k)).ok_or_else(not_found)?;
            let grid = r.grid_of(kind, id)?;
            if let Some(visible) = visible
                && grid.as_ref().is_none_or(|g| visible.binary_search(g).is_err())
            {
                return Err(not_found());
            }
            let record = r.export(kind, id)?.ok_or_else(not_found)?;
            Ok(crate::registry::view(&record, |number| r.device_owner(number))?)
        })?;
        // Reading a person's record is an access to personal data: who read
        // which record, never what it holds.
        self.backend.note(|w| {
            audit(w, now_ms, Some(who), "record_read", Some((view.kind, id)), serde_json::json!({}))
        })?;
        Ok(view)
    }

    fn activity(&self, who: &Principal, filter: ActivityFilter, now_ms: u64) -> Result<ActivityDay> {
        let today = city_day(now_ms);
        let checked = crate::registry::check_activity(&filter, today)?;
        self.backend.read(|r| {
            let grids = self.grids_asked(r, who, checked.grid.as_deref())?;
            let (patrols, cut_patrols) =
                day_list(r, &checked, &grids, Kind::Patrol, crate::registry::ACTIVITY_MAX, true)?;
            let (visits, cut_visits) =
                day_list(r, &checked, &grids, Kind::Visit, crate::registry::ACTIVITY_MAX, true)?;
            let truncated = cut_patrols || cut_visits;
            let workers = crate::registry::tally(&patrols, &visits);
            Ok(ActivityDay {
                day: checked.from.format("%Y-%m-%d").to_string(),
                patrols,
                visits,
                workers,
                truncated,
            })
        })
    }

    fn activity_list(
        &self,
        who: &Principal,
        filter: ActivityFilter,
        kind: Kind,
        max: usize,
        now_ms: u64,
    ) -> Result<(String, Vec<RecordItem>, bool)> {
        let today = city_day(now_ms);
        let checked = crate::registry::check_activity(&filter, today)?;
        self.backend.read(|r| {
            let grids = self.grids_asked(r, who, checked.grid.as_deref())?;
            let (items, truncated) = day_list(r, &checked, &grids, kind, max, false)?;
            Ok((checked.from.to_string(), items, truncated))
        })
    }

    fn activity_period(
        &self,
        who: &Principal,
        filter: ActivityPeriodFilter,
        now_ms: u64,
    ) -> Result<ActivityPeriod> {
        let today = city_day(now_ms);
        let checked = crate::registry::check_activity_period(&filter, today)?;
        self.backend.read(|r| {
            let grids = self.grids_asked(r, who, checked.grid.as_deref())?;
            let (from, to) = checked.written_range();
            let bound = crate::registry::PERIOD_ROWS_MAX;
            let mut truncated = false;
            // Each worker's patrols, visits and the days they worked on.
            let mut by_worker: BTreeMap<String, (u32, u32, BTreeSet<chrono::NaiveDate>)> = BTreeMap::new();
            let (mut patrols, mut visits) = (0, 0);
            for kind in [Kind::Patrol, Kind::Visit] {
                if grids.is_empty() {
                    continue;
                }
                let rows = r.activity_rows(kind, &grids, &from, &to, None, bound)?;
                truncated |= rows.len() >= bound;
                for row in &rows {
                    let Some(day) = checked.day_of(row, crate::flow::CITY_ZONE) else { continue };
                    let worker = row.worker.as_deref().map_or("", str::trim).to_owned();
                    let entry = by_worker.entry(worker).or_default();
                    if kind == Kind::Patrol {
                        entry.0 += 1;
                        patrols += 1;
                    } else {
                        entry.1 += 1;
                        visits += 1;
                    }
                    entry.2.insert(day);
                }
            }
            let mut workers: Vec<WorkerPeriod> = by_worker
                .into_iter()
                .map(|(worker, (patrols, visits, days))| WorkerPeriod {
                    worker,
                    patrols,
                    visits,
                    days: days.len() as u32,
                })
                .collect();
            workers.sort_by(|a, b| {
                (b.patrols, b.visits, b.days)
                    .cmp(&(a.patrols, a.visits, a.days))
                    .then(a.worker.cmp(&b.worker))
            });
            Ok(ActivityPeriod {
                from: checked.from.to_string(),
                to: checked.to.to_string(),
                patrols,
                visits,
                workers,
                truncated,
            })
        })
    }

    fn case(&self, who: &Principal, id: RecordId, now_ms: u64) -> Result<CaseView> {
        self.backend.read(|r| {
            let flow = self.visible_case(r, who, id)?;
            let department = r.user(&who.user_id)?.and_then(|u| u.department);
            let mut view = crate::flow::view(r, &flow, now_ms)?;
            view.open_steps = crate::flow::open_steps(r, who, department.as_deref(), &flow)?;
            Ok(view)
        })
    }

    fn take_step(
        &self,
        who: &Principal,
        id: RecordId,
        request: StepRequest,
        now_ms: u64,
    ) -> Result<CaseView> {
        self.backend.write(|w| {
            let flow = self.visible_case(w, who, id)?;
            let department = w.user(&who.user_id)?.and_then(|u| u.department);
            let step = request.step.map(|s| s.as_str()).unwrap_or("none");
            let flow = crate::flow::take_step(w, who, department.as_deref(), flow, &request, now_ms)?;
            let detail =
                serde_json::json!({"step": step, "status": flow.status, "department": flow.department});
            audit(w, now_ms, Some(who), "case_step", Some((Kind::Case, id)), detail)?;
            let mut view = crate::flow::view(w, &flow, now_ms)?;
            view.open_steps = crate::flow::open_steps(w, who, department.as_deref(), &flow)?;
            Ok(view)
        })
    }

    fn supervisions(&self, who: &Principal, now_ms: u64) -> Result<Vec<Supervision>> {
        self.backend.read(|r| {
            let (department, grids) = match who.role {
                Role::Admin => (None, None),
                Role::Staff if citywide(r, who)? => (None, None),
                Role::Staff => (None, Some(self.scope_of(r, &who.user_id, who.role)?.to_vec())),
                Role::Handler => match r.user(&who.user_id)?.and_then(|u| u.department) {
                    Some(department) => (Some(department), None),
                    None => return Ok(Vec::new()),
                },
                Role::Worker => {
                    return Err(StorageError::Internal("workers see supervision on their tablets".into()));
                }
            };
            let mut notes = Vec::new();
            for (_, step) in r.supervised(department.as_deref(), grids.as_deref(), 100)? {
                let Some(flow) = r.case_flow(step.case_id)? else { continue };
                let record = r.export(Kind::Case, flow.case_id)?;
                let by = match &step.user_id {
                    Some(id) => r.user(id)?.map(|u| u.name),
                    None => None,
                };
                notes.push(Supervision {
                    case: crate::flow::summary(&flow, record.as_ref(), now_ms),
                    at_ms: step.at_ms,
                    by,
                    note: step.note,
                });
            }
            Ok(notes)
        })
    }

    fn add_case(&self, who: &Principal, case: NewCase, now_ms: u64) -> Result<RecordId> {
        let reported_at = crate::flow::CITY_ZONE
            .timestamp_millis_opt(now_ms as i64)
            .single()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
            .unwrap_or_default();
        let mut fields: Vec<(&str, Value)> = vec![
            ("grid", Value::Text(case.grid.clone())),
            ("category", Value::Text(case.category.clone())),
            ("description", Value::Text(case.description.clone())),
            ("status", Value::Text("reported".into())),
            ("reported_at", Value::Text(reported_at)),
        ];
        for (name, value) in [
            ("location", &case.location),
            ("reporter", &case.reporter),
            ("reporter_phone", &case.reporter_phone),
            ("urgency", &case.urgency),
        ] {
            if let Some(value) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                fields.push((name, Value::Text(value.to_owned())));
            }
        }
        for (name, value) in [("latitude", case.latitude), ("longitude", case.longitude)] {
            if let Some(value) = value {
                fields.push((name, Value::Float(value)));
            }
        }
        self.backend.write(|w| {
            let scope = self.scope_for(w, who)?;
            if !scope.contains(&case.grid) {
                return Err(
                    ValidationError::invalid("grid", Reason::NoSuchGrid { code: case.grid.clone() }).into()
                );
            }
            let id = w.put_record(Kind::Case, None, &fields)?;
            crate::flow::receive(w, id, now_ms, Some(&who.user_id), None)?;
            audit(
                w,
                now_ms,
                Some(who),
                "case_add",
                Some((Kind::Case, id)),
                serde_json::json!({"grid": case.grid}),
            )?;
            Ok(id)
        })
    }

    fn case_reports(&self, who: &Principal, query: ReportQuery) -> Result<Vec<CaseReport>> {
        self.backend.read(|r| {
            let mut cases = CaseQuery {
                statuses: query.statuses,
                categories: query.categories,
                received_from_ms: query.received_from_ms,
                received_to_ms: query.received_to_ms,
                limit: query.limit,
                ..CaseQuery::default()
            };
            if !self.narrow_to_visible(r, who, &mut cases)? {
                return Ok(Vec::new());
            }
            let mut names = crate::flow::ReportNames::default();
            let rows = r.case_page(&cases)?;
            rows.iter().map(|flow| crate::flow::report(r, flow, &mut names)).collect()
        })
    }

    fn case_report(&self, who: &Principal, id: RecordId) -> Result<CaseReport> {
        self.backend.read(|r| {
            let flow = self.visible_case(r, who, id)?;
            crate::flow::report(r, &flow, &mut crate::flow::ReportNames::default())
        })
    }

    fn issue_integration_key(
        &self,
        actor: &Principal,
        key: NewIntegrationKey,
        now_ms: u64,
    ) -> Result<IssuedIntegrationKey> {
        let name = key.name.trim();
        if name.is_empty() {
            return Err(ValidationError::invalid("name", Reason::Empty).into());
        }
        gridwork_domain::FieldType::Text { max: 50 }.check("name", Value::Text(name.to_owned()))?;
        let grid = key.grid.as_deref().map(str::trim).filter(|g| !g.is_empty()).map(str::to_owned);
        let secret = new_integration_secret();
        let row = IntegrationKey {
            id: new_id(),
            name: name.to_owned(),
            grid,
            created_at_ms: now_ms,
            created_by: actor.user_id.clone(),
            revoked_at_ms: None,
        };
        self.backend.write(|w| {
            if let Some(grid) = &row.grid
                && w.grid_level(grid)?.is_none()
            {
                return Err(
                    ValidationError::invalid("grid", Reason::NoSuchGrid { code: grid.clone() }).into()
                );
            }
            w.insert_integration_key(&row, &digest(&secret))?;
            let detail = serde_json::json!({"id": row.id, "name": row.name, "grid": row.grid});
            audit(w, now_ms, Some(actor), "integration_key_issue", None, detail)
        })?;
        Ok(IssuedIntegrationKey { key: row, secret })
    }

    fn integration_keys(&self) -> Result<Vec<IntegrationKey>> {
        self.backend.read(|r| Ok(r.integration_keys()?))
    }

    fn revoke_integration_key(&self, actor: &Principal, id: &str, now_ms: u64) -> Result<IntegrationKey> {
        self.backend.write(|w| {
            let not_found = || StorageError::Said {
                code: ErrorCode::NotFound,
                en: format!("there is no integration key with id {id}"),
                zh: format!("没有编号为{id}的集成密钥"),
            };
            if !w.revoke_integration_key(id, now_ms)? {
                return Err(not_found());
            }
            audit(w, now_ms, Some(actor), "integration_key_revoke", None, serde_json::json!({"id": id}))?;
            w.integration_key(id)?.ok_or_else(not_found)
        })
    }

    fn authenticate_key(&self, secret_digest: [u8; 32]) -> Result<Option<Principal>> {
        let key = self.backend.read(|r| Ok(r.integration_key_by_digest(&secret_digest)?))?;
        Ok(key.filter(|k| k.revoked_at_ms.is_none()).map(|k| Principal {
            user_id: k.id,
            user_name: k.name,
            // What a staff account of its grid sees, and no more: keys
            // reach only the Open311 routes (`crate::open311`).
            role: Role::Staff,
            device: None,
            key: Some(KeyAuth { grid: k.grid }),
        }))
    }

    fn authenticate(&self, token_digest: [u8; 32], now_ms: u64) -> Result<Option<Principal>> {
        let Some(holder) = self.backend.read(|r| Ok(r.token_holder(&token_digest, now_ms)?))? else {
            return Ok(None);
        };
        let device = holder.device.map(|(id, number, revoked)| DeviceAuth { id, number, revoked });
        // A revoked device's token still names it, so that it is told to
        // wipe itself; any other revoked token is unknown.
        if holder.token_revoked && device.as_ref().is_none_or(|d| !d.revoked) {
            return Ok(None);
        }
        Ok(Some(Principal {
            user_id: holder.user_id,
            user_name: holder.user_name,
            role: holder.role,
            device,
            key: None,
        }))
    }

    fn login(&self, name: &str, password: &str, now_ms: u64) -> Result<ConsoleSession> {
        if password.chars().count() > MAX_PASSWORD {
            // No account has such a password: refused without hashing it.
            return Err(StorageError::BadLogin);
        }
        let found = self.backend.read(|r| Ok(r.user_by_name(name)?))?;
        // Verified outside any transaction (argon2 takes tens of
        // milliseconds), and against a stand-in when there is no such user
        // or no password, so the answer takes as long either way.
        let (user, stored) = match found {
            Some(UserRow { id, name, role, password_hash: Some(hash), .. }) => (Some((id, name, role)), hash),
            _ => (None, STAND_IN_HASH.clone()),
        };
        let parsed =
            PasswordHash::new(&stored).map_err(|e| StorageError::Internal(format!("stored hash: {e}")))?;
        let verified = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        let (Some((user_id, user_name, role)), true) = (user, verified) else {
            return Err(StorageError::BadLogin);
        };
        let token = new_token();
        let expires_at_ms = now_ms + SESSION_MS;
        let actor = Principal { user_id, user_name, role, device: None, key: None };
        // A session takes no sequence number: no writer's turn, only the
        // person's (who keeps at most MAX_SESSIONS).
        self.backend.note(|w| {
            w.lock_key(&format!("sessions:{}", actor.user_id))?;
            w.insert_token(&NewToken {
                digest: digest(&token),
                user_id: actor.user_id.clone(),
                device_id: None,
                created_at_ms: now_ms,
                expires_at_ms: Some(expires_at_ms),
            })?;
            // Sessions that ended are forgotten, and a person keeps at most
            // MAX_SESSIONS at once: logging in again ends the oldest.
            w.forget_ended_sessions(now_ms)?;
            let ended = w.end_oldest_sessions(&actor.user_id, MAX_SESSIONS, now_ms)?;
            audit(
                w,
                now_ms,
                Some(&actor),
                "login",
                None,
                serde_json::json!({"expires_at_ms": expires_at_ms, "ended_oldest": ended}),
            )
        })?;
        Ok(ConsoleSession { token, expires_at_ms })
    }

    fn logout(&self, token_digest: [u8; 32], now_ms: u64) -> Result<bool> {
        self.backend.write(|w| {
            let Some(user_id) = w.end_session(&token_digest, now_ms)? else { return Ok(false) };
            let user =
                w.user(&user_id)?.ok_or_else(|| StorageError::Internal("session of no user".into()))?;
            let actor = Principal { user_id, user_name: user.name, role: user.role, device: None, key: None };
            audit(w, now_ms, Some(&actor), "logout", None, serde_json::json!({}))?;
            Ok(true)
        })
    }

    fn create_user(&self, actor: &Principal, user: NewUser, now_ms: u64) -> Result<String> {
        // A name is one line of text like any other: no control characters,
        // nothing that reorders what is shown around it.
        let name = user.name.trim();
        if name.is_empty() {
            return Err(ValidationError::invalid("name", Reason::Empty).into());
        }
        gridwork_domain::FieldType::Text { max: 50 }.check("name", Value::Text(name.to_owned()))?;
        if user.role == Role::Worker && user.grids.is_empty() {
            return Err(ValidationError::required("grid").into());
        }
        if matches!(user.role, Role::Admin | Role::Handler) && !user.grids.is_empty() {
            // Admins see every grid, handlers their department's cases: a
            // grid given them means a mistake about who this is. (Staff
            // with grids see that part of the tree; without, the city.)
            return Err(ValidationError::invalid("grid", Reason::Disagrees { other: "role" }).into());
        }
        let department = user.department.as_deref().map(str::trim).filter(|d| !d.is_empty());
        match (user.role, department) {
            (Role::Handler, None) => return Err(ValidationError::required("department").into()),
            (Role::Handler, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(
                    ValidationError::invalid("department", Reason::Disagrees { other: "role" }).into()
                );
            }
        }
        if let Some(password) = &user.password
            && !(MIN_PASSWORD..=MAX_PASSWORD).contains(&password.chars().count())
        {
            return Err(ValidationError::invalid(
                "password",
                Reason::OutOfRange { min: MIN_PASSWORD as i64, max: MAX_PASSWORD as i64 },
            )
            .into());
        }
        let password_hash = user.password.as_deref().map(hash_password).transpose()?;
        let row = UserRow {
            id: new_id(),
            name: name.to_owned(),
            role: user.role,
            password_hash,
            department: department.map(str::to_owned),
        };
        self.backend.write(|w| {
            if let Some(code) = &row.department
                && w.department(code)?.is_none()
            {
                return Err(StorageError::Said {
                    code: ErrorCode::NotFound,
                    en: format!("there is no department with code `{code}`: add it first"),
                    zh: format!("没有编码为`{code}`的部门,请先添加"),
                });
            }
            for grid in &user.grids {
                if w.grid_level(grid)?.is_none() {
                    return Err(
                        ValidationError::invalid("grid", Reason::NoSuchGrid { code: grid.clone() }).into()
                    );
                }
            }
            if !w.insert_user(&row, now_ms)? {
                return Err(StorageError::Said {
                    code: ErrorCode::Conflict,
                    en: format!("a user named `{name}` exists already"),
                    zh: format!("已有名为`{name}`的用户"),
                });
            }
            for grid in &user.grids {
                w.assign_grid(&row.id, grid)?;
            }
            audit(
                w,
                now_ms,
                Some(actor),
                "user_add",
                None,
                serde_json::json!({"id": row.id, "name": name, "role": user.role, "grids": user.grids}),
            )?;
            Ok(row.id.clone())
        })
    }

    fn add_grid(&self, actor: &Principal, grid: NewGrid, now_ms: u64) -> Result<RecordId> {
        self.backend.write(|w| {
            let code = grid.code.trim();
            if w.grid_level(code)?.is_some() {
                return Err(StorageError::Said {
                    code: ErrorCode::Conflict,
                    en: format!("a grid with code `{code}` exists already"),
                    zh: format!("编码为`{code}`的网格已存在"),
                });
            }
            let level = match (&grid.level, &grid.parent) {
                (Some(level), _) => level.clone(),
                (None, None) => "city".to_owned(),
                (None, Some(parent)) => {
                    let parent_level = w.grid_level(parent)?.ok_or_else(|| {
                        ValidationError::invalid("parent", Reason::NoSuchGrid { code: parent.clone() })
                    })?;
                    level_below(&parent_level).to_owned()
                }
            };
            let mut fields: Vec<(&str, Value)> = vec![
                ("code", grid.code.as_str().into()),
                ("name", grid.name.as_str().into()),
                ("level", level.into()),
            ];
            if let Some(parent) = &grid.parent {
                fields.push(("parent", parent.as_str().into()));
            }
            let id = w.put_record(Kind::Grid, None, &fields)?;
            let detail = serde_json::json!({"code": grid.code, "name": grid.name, "parent": grid.parent});
            audit(w, now_ms, Some(actor), "grid_add", Some((Kind::Grid, id)), detail)?;
            Ok(id)
        })
    }

    fn update_grid(
        &self,
        actor: &Principal,
        code: &str,
        change: GridChange,
        now_ms: u64,
    ) -> Result<GridInfo> {
        self.backend.write(|w| {
            let grid = w.grid_outline(code)?.ok_or_else(|| StorageError::Said {
                code: ErrorCode::NotFound,
                en: format!("there is no grid with code `{code}`"),
                zh: format!("没有编码为`{code}`的网格"),
            })?;
            let mut fields: Vec<(&str, Value)> = Vec::new();
            if let Some(name) = &change.name {
                fields.push(("name", name.trim().into()));
            }
            if let Some(parent) = &change.parent {
                // Under itself or a grid below it, the tree would be a loop.
                if w.grids_below(&[code.to_owned()])?.iter().any(|below| below == parent) {
                    return Err(ValidationError::invalid("parent", Reason::SelfReference).into());
                }
                let parent_level = w.grid_level(parent)?.ok_or_else(|| {
                    ValidationError::invalid("parent", Reason::NoSuchGrid { code: parent.clone() })
                })?;
                fields.push(("parent", parent.as_str().into()));
                // A grid moved is one level below its new parent.
                fields.push(("level", level_below(&parent_level).into()));
            }
            if let Some(boundary) = &change.boundary {
                let boundary = boundary.trim();
                fields.push(("boundary", if boundary.is_empty() { Value::Null } else { boundary.into() }));
            }
            w.put_record(Kind::Grid, Some(grid.id), &fields)?;
            let detail = serde_json::json!({
                "code": code,
                "name": change.name,
                "parent": change.parent,
                "boundary": change.boundary.as_ref().map(|b| b.len()),
            });
            audit(w, now_ms, Some(actor), "grid_update", Some((Kind::Grid, grid.id)), detail)?;
            let record = w
                .export(Kind::Grid, grid.id)?
                .ok_or_else(|| StorageError::Internal("the grid went".into()))?;
            Ok(grid_info(&record, true).expect("a grid has a code"))
        })
    }

    fn create_enrollment_code(
        &self,
        actor: &Principal,
        user_id: &str,
        ttl_ms: u64,
        now_ms: u64,
    ) -> Result<EnrollmentCode> {
        let code = new_enrollment_code();
        let expires_at_ms = now_ms + ttl_ms;
        self.backend.write(|w| {
            if w.user(user_id)?.is_none() {
                return Err(StorageError::Said {
                    code: ErrorCode::NotFound,
                    en: format!("there is no user with id {user_id}"),
                    zh: format!("没有编号为{user_id}的用户"),
                });
            }
            w.insert_enrollment_code(&digest(&normalize_code(&code)), user_id, now_ms, expires_at_ms)?;
            audit(
                w,
                now_ms,
                Some(actor),
                "enroll_code",
                None,
                serde_json::json!({"user": user_id, "expires_at_ms": expires_at_ms}),
            )
        })?;
        Ok(EnrollmentCode { code, user_id: user_id.to_owned(), expires_at_ms })
    }

    fn enroll(
        &self,
        code: &str,
        app_version: &str,
        request_id: Option<&str>,
        now_ms: u64,
    ) -> Result<EnrollResponse> {
        let hash = digest(&normalize_code(code));
        let request_hash = request_id.filter(|id| !id.is_empty()).map(digest);
        let token = new_token();
        let (holder, device_id, number) = self.backend.write(|w| {
            let holder = w
                .enrollment_code(&hash, request_hash.as_ref(), now_ms)?
                .ok_or(StorageError::BadEnrollmentCode)?;
            let is_retry = holder.retried_device.is_some();
            let (device_id, number) = match &holder.retried_device {
                Some(device_id) => {
                    // The earlier answer never arrived, so neither did its
                    // token.
                    w.revoke_tokens(device_id, now_ms)?;
                    let number = w
                        .device_number(device_id)?
                        .ok_or_else(|| StorageError::Internal("a used code names no device".into()))?;
                    (device_id.clone(), number.0)
                }
                None => {
                    let device_id = new_id();
                    let number = w.next_device_number()?;
                    w.insert_device(&device_id, number, &holder.user_id, app_version, now_ms)?;
                    w.use_enrollment_code(&hash, &device_id, request_hash.as_ref(), now_ms)?;
                    (device_id, number)
                }
            };
            w.insert_token(&NewToken {
                digest: digest(&token),
                user_id: holder.user_id.clone(),
                device_id: Some(device_id.clone()),
                created_at_ms: now_ms,
                expires_at_ms: None,
            })?;
            let actor = Principal {
                user_id: holder.user_id.clone(),
                user_name: holder.user_name.clone(),
                role: holder.role,
                device: Some(DeviceAuth { id: device_id.clone(), number: DeviceId(number), revoked: false }),
                key: None,
            };
            audit(
                w,
                now_ms,
                Some(&actor),
                if is_retry { "enroll_retry" } else { "enroll" },
                None,
                serde_json::json!({"device": device_id, "number": number}),
            )?;
            Ok((holder, device_id, number))
        })?;
        // The grids the device may record in come with its identity, so
        // that it can record at once, before (or without) a first sync:
        // their codes, names and levels (boundaries come with the sync).
        let (scope, grids) = self.backend.read(|r| {
            let scope = self.scope_of(r, &holder.user_id, holder.role)?;
            let mut grids = Vec::with_capacity(scope.len());
            for code in scope.iter() {
                if let Some(grid) = r.grid_outline(code)? {
                    grids.push(grid);
                }
            }
            Ok((scope, grids))
        })?;
        Ok(EnrollResponse {
            device_id,
            device_number: DeviceId(number),
            token,
            user_id: holder.user_id,
            user_name: holder.user_name,
            epoch: self.epoch.clone(),
            server_time_ms: now_ms,
            scope_hash: scope_hash(&scope),
            scope: scope.to_vec(),
            grids,
        })
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>> {
        self.backend.read(|r| Ok(r.devices()?))
    }

    fn revoke_device(&self, actor: &Principal, device_id: &str, now_ms: u64) -> Result<()> {
        self.backend.write(|w| {
            if !w.revoke_device(device_id, now_ms)? {
                return Err(StorageError::Said {
                    code: ErrorCode::NotFound,
                    en: format!("there is no device with id {device_id}"),
                    zh: format!("没有编号为{device_id}的设备"),
                });
            }
            audit(w, now_ms, Some(actor), "device_revoke", None, serde_json::json!({"device": device_id}))
        })
    }

    /// A push, in this order: its shape; the day's budget; whether the
    /// device's database went back in time (then nothing is applied); each
    /// record's refusal, if any (scope first); then, in one transaction,
    /// the accepted records merged, the device's acknowledgement, the audit
    /// lines, the day's spending and the parked refusals.
    fn push(
        &self,
        principal: &Principal,
        request: PushRequest,
        app_version: Option<&str>,
        now_ms: u64,
    ) -> Result<Pushed> {
        let device = principal
            .device
            .as_ref()
            .ok_or_else(|| StorageError::Internal("push without a device".into()))?;
        request.check_shape().map_err(|error| match error {
            ShapeError::Malformed(message) => StorageError::Malformed(message),
            ShapeError::OutOfRange { field, max, .. } => {
                ValidationError::invalid(&field, Reason::OutOfRange { min: 0, max: max as i64 }).into()
            }
        })?;
        let PushRequest { up_to_counter, pending, records: changes } = request;
        let held_since = std::time::Instant::now();
        if changes.is_empty() {
            // A device with nothing to send reports in (its pending count,
            // its last sync) without waiting for the writer's turn.
            let acked_up_to = self.backend.note(|w| {
                w.note_push(&device.id, up_to_counter, pending, now_ms, app_version)?;
                Ok(w.acked_counter(&device.id)?)
            })?;
            let answer = PushResponse {
                acked_up_to,
                applied: 0,
                rejected: Vec::new(),
                epoch: self.epoch.clone(),
                server_time_ms: now_ms,
            };
            // It never held the writer: nothing to charge to its share.
            return Ok(Pushed { answer, writer_time: std::time::Duration::ZERO });
        }
        // After a restore the server may have lost writes that devices had
        // already passed on to each other, so for a while it cannot vouch.
        let vouch_for_others = self.vouches_for_others(now_ms);
        let (answer, writer_time) = self.backend.write(|w| {
            let acked = w.acked_counter(&device.id)?;
            // A retry of a push already applied (its answer was lost) is
            // worked through again: merging is idempotent, so what was
            // applied changes nothing, and the refusals come back, which the
            // device needs to roll back. It is audited as a replay; its
            // refusals replace what the first time parked.
            let replay = up_to_counter <= acked && !changes.is_empty();
            // What the device sends counts against its day, refused or not;
            // a push past the day's budget changes nothing.
            let weight: u64 = changes.iter().map(|r| r.weight() as u64).sum();
            if weight > 0 {
                check_budget(w, &device.id, now_ms, Spending::Push(weight), &self.limits.daily)?;
            }
            let scope = self.scope_of(w, &principal.user_id, principal.role)?;
            let previews = w.preview(&changes, device.number)?;
            // A device whose database went back in time is stopped before
            // anything is applied: its writes reuse names of earlier ones.
            for (change, preview) in changes.iter().zip(&previews) {
                // While the server cannot vouch for what devices relay (after
                // a restore), what it holds of a device may be another's
                // claim.
                if let Ok(Preview { diverged: Some(field), exists: true, scope_now, .. }) = preview
                    && vouch_for_others
                    && in_scope(&scope, scope_now.as_deref())
                {
                    return Err(StorageError::DeviceDiverged { kind: change.kind, id: change.id, field });
                }
            }
            let mut photos = PhotoChecks::new();
            let (records, mut answer_weight) = (changes.len(), 0usize);
            let mut accepted = Vec::with_capacity(records);
            let mut rejected = Vec::new();
            let mut parked = Vec::new();
            // Records the push moves to another grid: their parked
            // refusals follow them to the staff of their new grid.
            let mut moved = Vec::new();
            for (change, preview) in changes.into_iter().zip(previews) {
                let moves_to = match &preview {
                    Ok(p) if p.exists && p.scope_now != p.scope_after => Some(p.scope_after.clone()),
                    _ => None,
                };
                let verdict =
                    refusal(w, principal, &change, preview, &scope, vouch_for_others, &mut photos, now_ms)?;
                let Some(Refusal { code, field, message, message_zh }) = verdict else {
                    if let Some(grid) = moves_to {
                        moved.push((change.id, grid));
                    }
                    accepted.push(change);
                    continue;
                };
                // What the server holds goes back only if the device may see
                // it: whatever the refusal, never a record of another grid.
                let held_in = w.grid_of(change.kind, change.id)?;
                let visible = in_scope(&scope, held_in.as_deref());
                let server_state = if visible { w.export(change.kind, change.id)? } else { None };
                // The answer carries each refused record the device may see
                // whole: a push of many small changes to large records could
                // make it huge. Past the bound the device is told to send
                // fewer records at once; one always fits.
                answer_weight +=
                    message.len() + message_zh.len() + server_state.as_ref().map_or(0, |s| s.weight());
                if answer_weight > MAX_PUSH_ANSWER && records > 1 {
                    return Err(StorageError::AnswerTooLarge { records });
                }
                let mut payload = serde_json::to_string(&change).expect("changes serialise");
                if payload.len() > MAX_PARKED_PAYLOAD {
                    // Kept for the centre to read, not to fill the disk.
                    let fields: Vec<&str> = change.fields.iter().map(|f| f.field.as_str()).collect();
                    payload = payload_summary(payload.len(), &fields);
                }
                // Reviewed by the staff of the grid the record is in, or else
                // of the grid the change names, if there is such a grid.
                let grid = match held_in {
                    Some(grid) => Some(grid),
                    None => {
                        let scope_field = change.kind.def().scope_field;
                        let named = change.fields.iter().find(|f| f.field == scope_field);
                        match named.and_then(|f| f.register.value().as_text()) {
                            Some(code) if w.grid_level(code)?.is_some() => Some(code.to_owned()),
                            _ => None,
                        }
                    }
                };
                parked.push((
                    change.id,
                    change.kind,
                    code.clone(),
                    field.clone(),
                    message.clone(),
                    payload,
                    grid,
                ));
                rejected.push(Rejection {
                    id: change.id,
                    kind: change.kind,
                    code,
                    field,
                    message,
                    message_zh,
                    server_state,
                });
            }
            let audits: Vec<(Kind, RecordId, Vec<String>)> = accepted
                .iter()
                .map(|c| (c.kind, c.id, c.fields.iter().map(|f| f.field.clone()).collect()))
                .collect();
            let cases: Vec<RecordId> =
                accepted.iter().filter(|c| c.kind == Kind::Case).map(|c| c.id).collect();
            let applied = w.apply(accepted)?;
            for (id, grid) in &moved {
                w.repark(*id, grid.as_deref())?;
            }
            // Cases reported are received now, by the server's clock.
            for id in cases {
                crate::flow::after_push(w, id, now_ms, &principal.user_id, &device.id)?;
            }
            let up_to = up_to_counter.max(acked);
            w.note_push(&device.id, up_to, pending, now_ms, app_version)?;
            // A replay is audited too, as such: what it applied was applied
            // before, unless the device lied about its counter, and either
            // way the trail shows it.
            let lines: Vec<AuditEntry> = audits
                .into_iter()
                .map(|(kind, id, fields)| AuditEntry {
                    at_ms: now_ms,
                    user_id: Some(principal.user_id.clone()),
                    device_id: Some(device.id.clone()),
                    action: if replay { "push_replay" } else { "push" },
                    record: Some((kind, id)),
                    detail: serde_json::json!({"fields": fields}),
                })
                .collect();
            w.audit_many(&lines)?;
            if weight > 0 {
                spend(w, &device.id, now_ms, Spending::Push(weight), &self.limits.daily)?;
            }
            park(w, &self.limits.parking, &device.id, now_ms, parked)?;
            let answer = PushResponse {
                acked_up_to: up_to,
                applied,
                rejected,
                epoch: self.epoch.clone(),
                server_time_ms: now_ms,
            };
            Ok((answer, held_since.elapsed()))
        })?;
        Ok(Pushed { answer, writer_time })
    }

    fn pull(&self, principal: &Principal, request: PullRequest, now_ms: u64) -> Result<PullResponse> {
        let limit = request.limit.clamp(1, 5000) as usize;
        let viewer = principal.device.as_ref().map(|d| d.number);
        let position = PullPosition { since: request.cursor, after: request.after };
        let page_limit = PageLimit { records: limit, bytes: gridwork_protocol::sync::PULL_PAGE_BYTES };
        // The scope and the page from one snapshot. The grid tree itself is
        // organisation, not personal data: every device gets all of it, to
        // name places and where a resident moves.
        let (scope, page) = self.backend.read(|r| {
            let scope = self.scope_of(r, &principal.user_id, principal.role)?;
            // A cursor below what the horizon cut may miss moves and
            // deletions: everything again (cursor 0 gets records whole and
            // needs neither).
            let cut = r.meta(PURGED_THROUGH)?.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            if request.cursor > 0 && request.cursor < cut {
                let page =
                    ChangesPage { records: vec![], removed: vec![], next: 0, more: false, resync: true };
                return Ok((scope, page));
            }
            let page = r.changes(position, &scope, viewer, page_limit)?;
            Ok((scope, page))
        })?;
        let hash = scope_hash(&scope);
        Ok(PullResponse {
            records: page.records,
            removed: page.removed,
            next_cursor: page.next,
            more: page.more,
            scope: (request.scope_hash != hash).then(|| scope.to_vec()),
            scope_hash: hash,
            epoch: self.epoch.clone(),
            server_time_ms: now_ms,
            resync: page.resync,
        })
    }

    fn conflicts(&self, who: &Principal, limit: usize) -> Result<Vec<Conflict>> {
        self.backend.read(|r| {
            let grids = self.reviewed_grids(r, who)?;
            Ok(r.conflicts(grids.as_deref(), limit)?)
        })
    }

    fn parked(&self, who: &Principal, after: Option<u64>, limit: usize) -> Result<ParkedPage> {
        self.backend.read(|r| {
            let grids = self.reviewed_grids(r, who)?;
            Ok(r.parked_page(after, limit, grids.as_deref())?)
        })
    }

    fn parked_one(&self, who: &Principal, id: u64) -> Result<Option<ParkedChange>> {
        let found = self.backend.read(|r| {
            let grids = self.reviewed_grids(r, who)?;
            Ok(r.parked(id)?.filter(|p| reviews_parked(grids.as_deref(), &p.row)))
        })?;
        let Some(parked) = found else { return Ok(None) };
        let row = parked.row;
        let (values, truncated) = match serde_json::from_str::<RecordChanges>(&row.payload) {
            Ok(change) => {
                let values: serde_json::Map<String, serde_json::Value> = change
                    .fields
                    .iter()
                    .map(|f| {
                        (f.field.clone(), serde_json::to_value(f.register.value()).expect("values serialise"))
                    })
                    .collect();
                (Some(values.into()), None)
            }
            Err(_) => (None, serde_json::from_str(&row.payload).ok()),
        };
        Ok(Some(ParkedChange {
            id: parked.id,
            at_ms: row.at_ms,
            device_id: row.device_id,
            record: row.record.to_string(),
            kind: row.kind.as_str().to_owned(),
            code: RefusalCode::parse(&row.code),
            field: row.field,
            message: row.message,
            grid: row.grid,
            values,
            truncated,
        }))
    }

    fn dismiss_parked(&self, actor: &Principal, id: u64, now_ms: u64) -> Result<bool> {
        self.backend.write(|w| {
            let grids = self.reviewed_grids(w, actor)?;
            if !w.parked(id)?.is_some_and(|p| reviews_parked(grids.as_deref(), &p.row)) {
                return Ok(false);
            }
            let Some(row) = w.dismiss_parked(id)? else { return Ok(false) };
            audit(
                w,
                now_ms,
                Some(actor),
                "parked_dismiss",
                Some((row.kind, row.record)),
                serde_json::json!({"parked": id, "device": row.device_id, "code": row.code}),
            )?;
            Ok(true)
        })
    }

    fn note_export(
        &self,
        who: &Principal,
        action: &'static str,
        detail: serde_json::Value,
        now_ms: u64,
    ) -> Result<()> {
        self.backend.write(|w| audit(w, now_ms, Some(who), action, None, detail))
    }

    fn apply_parked(
        &self,
        actor: &Principal,
        id: u64,
        values: BTreeMap<String, Value>,
        now_ms: u64,
    ) -> Result<Option<AppliedParked>> {
        if values.is_empty() {
            return Err(ValidationError::invalid("values", Reason::Empty).into());
        }
        self.backend.write(|w| {
            let grids = self.reviewed_grids(w, actor)?;
            let Some(parked) = w.parked(id)?.filter(|p| reviews_parked(grids.as_deref(), &p.row)) else {
                return Ok(None);
            };
            let row = parked.row;
            let (kind, record) = (row.kind, row.record);
            if kind == Kind::Grid {
                return Err(StorageError::Said {
                    code: ErrorCode::Forbidden,
                    en: "grids are drawn in the grid tree by an administrator, not applied from a tablet"
                        .into(),
                    zh: "网格由管理员在网格树中维护,不能从平板的修改中应用".into(),
                });
            }
            // A row older than the horizon may name a record deleted and
            // forgotten since: applying it would bring that back.
            if self.limits.horizon.after_ms.is_some_and(|h| now_ms.saturating_sub(row.at_ms) > h) {
                return Err(StorageError::Said {
                    code: ErrorCode::Conflict,
                    en: "this refusal is older than the server keeps deleted records: its record may have been deleted and forgotten since; dismiss it and enter the change again".into(),
                    zh: "该被拒修改早于服务器保留已删除记录的期限,其记录可能已被删除并清理;请忽略它并重新录入".into(),
                });
            }
            if let Some(stored) = w.kind_of(record)?
                && stored != kind
            {
                return Err(StorageError::Said {
                    code: ErrorCode::Conflict,
                    en: format!("record {record} is a {}, not a {}: the change cannot be applied", stored.as_str(), kind.as_str()),
                    zh: format!("记录{record}是其他类型的记录,不能应用该修改"),
                });
            }
            // Only what the refused change carried (its field names are
            // kept even when its values were too large to park).
            let carried = parked_fields(&row.payload);
            for name in values.keys() {
                if !kind.def().fields.iter().any(|f| f.name == name) {
                    return Err(
                        ValidationError::UnknownField { kind: kind.as_str(), field: name.clone() }.into()
                    );
                }
                if !carried.contains(name) {
                    return Err(StorageError::Said {
                        code: ErrorCode::Invalid,
                        en: format!(
                            "`{name}` was not part of the refused change: only its own fields are applied"
                        ),
                        zh: format!("被拒修改中没有字段 {name},只能应用该修改本身的字段"),
                    });
                }
            }
            let current = w.export(kind, record)?;
            let value_of = |name: &str| {
                current
                    .as_ref()
                    .and_then(|c| c.fields.iter().find(|f| f.field == name))
                    .map(|f| f.register.value())
            };
            if value_of("deleted") == Some(&Value::Bool(true)) {
                return Err(StorageError::Said {
                    code: ErrorCode::Conflict,
                    en: format!(
                        "{} {record} has been deleted since; restore it before applying a change to it",
                        kind.as_str()
                    ),
                    zh: "该记录已被删除,恢复后才能应用修改".into(),
                });
            }
            let scope_field = kind.def().scope_field;
            if let Some(grid) = values.get(scope_field)
                && let Some(code) = grid.as_text().map(str::trim)
                && w.grid_level(code)?.is_none()
            {
                return Err(ValidationError::invalid(
                    scope_field,
                    Reason::NoSuchGrid { code: code.to_owned() },
                )
                .into());
            }
            // Staff given part of the tree write within it: the record as
            // it is now, and where the change would put it.
            if let Some(grids) = &grids {
                let mine = |g: Option<&str>| g.is_some_and(|g| grids.iter().any(|x| x == g.trim()));
                if current.is_some() && !mine(w.grid_of(kind, record)?.as_deref()) {
                    return Ok(None);
                }
                if let Some(grid) = values.get(scope_field)
                    && !mine(grid.as_text())
                {
                    return Err(StorageError::Said {
                        code: ErrorCode::Forbidden,
                        en: format!("`{scope_field}` may only be one of your grids"),
                        zh: format!("字段 {scope_field} 只能是您负责的网格"),
                    });
                }
            }
            // The fields a case's flow decides are applied only as the
            // tablet sent them: a step they make is the worker's, taken
            // late; anything else is a step taken on the case. A case new
            // to the flow may be given its grid and be reported.
            let new_case = kind == Kind::Case && w.case_flow(record)?.is_none();
            if kind == Kind::Case {
                let sent = parked_values(&row.payload);
                for (name, value) in &values {
                    let free = new_case
                        && match name.as_str() {
                            "grid" => true,
                            "status" => value.as_text() == Some(crate::cases::Status::Reported.as_str()),
                            _ => false,
                        };
                    if crate::flow::OWNED.contains(&name.as_str()) && sent.get(name) != Some(value) && !free {
                        return Err(StorageError::Said {
                            code: ErrorCode::Invalid,
                            en: format!("a case's `{name}` is applied only as the tablet sent it; to change it, take a step on the case"),
                            zh: format!("事件的字段 {name} 只能按平板提交的值应用;如需改变请在事件上办理"),
                        });
                    }
                }
            }
            // A photo listed on a case becomes readable to its grid: only
            // those already listed, not yet stored, or uploaded by the
            // device that sent the change (the rule a push is held to).
            if let Some(Value::List(listed)) = values.get("attachments") {
                let before = value_of("attachments").and_then(Value::as_list).unwrap_or_default().to_vec();
                for sha256 in listed.iter().filter(|s| !before.contains(s)) {
                    if w.attachment_stored(sha256)?.is_some() && !w.attachment_held(sha256, &row.device_id)? {
                        return Err(StorageError::Said {
                            code: ErrorCode::Forbidden,
                            en: format!("attachment {sha256} is not one device {} uploaded", row.device_id),
                            zh: format!("附件{sha256}不是该设备上传的"),
                        });
                    }
                }
            }
            let fields: Vec<(&str, Value)> = values.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            put_by_centre(w, kind, record, &fields)?;
            if kind == Kind::Case {
                // As the push would have, for the worker who sent it: a
                // case new to the flow is received (and its steps taken) as
                // of when the server first got it; the flow's fields are
                // written back as it has them.
                let owner = match w.device_number(&row.device_id)? {
                    Some(number) => w.device_owner(number.0)?,
                    None => None,
                };
                let user = owner.map_or_else(|| actor.user_id.clone(), |o| o.user_id);
                let when = if new_case { row.at_ms.min(now_ms) } else { now_ms };
                crate::flow::after_push(w, record, when, &user, &row.device_id)?;
            }
            w.dismiss_parked(id)?;
            let names: Vec<String> = values.keys().cloned().collect();
            // Field names, not values: values may be personal.
            audit(
                w,
                now_ms,
                Some(actor),
                "parked_apply",
                Some((kind, record)),
                serde_json::json!({"parked": id, "device": row.device_id, "code": row.code, "fields": names}),
            )?;
            Ok(Some(AppliedParked {
                applied: id,
                kind: kind.as_str().to_owned(),
                record: record.to_string(),
                fields: names,
            }))
        })
    }

    fn users(&self) -> Result<Vec<UserInfo>> {
        self.backend.read(|r| Ok(r.users()?))
    }

    fn upload_status(&self, sha256: &str, uploader: &str) -> Result<Option<AttachmentStatus>> {
        self.backend.read(|r| upload_status(r, sha256, uploader))
    }

    fn upload_begin(&self, sha256: &str, size: u64, uploader: &str, now_ms: u64) -> Result<AttachmentStatus> {
        let quota = self.limits.uploads;
        self.backend.write(|w| {
            if let Some(status) = upload_status(w, sha256, uploader)?
                && (status.complete || status.size == size)
            {
                if status.size != size {
                    return Err(ValidationError::invalid(
                        "size",
                        Reason::Disagrees { other: "the stored attachment" },
                    )
                    .into());
                }
                return Ok(status);
            }
            // A new upload, or one restarted with another size: it must fit
            // beside the uploader's other unfinished ones.
            let (held, declared) = w.uploads_held(uploader, sha256)?;
            if held + 1 > quota.count || declared + size > quota.bytes {
                return Err(StorageError::UploadQuota { held, declared, wanted: size, quota });
            }
            spend(w, uploader, now_ms, Spending::Upload(size), &self.limits.daily)?;
            w.begin_upload(sha256, uploader, size, now_ms)?;
            Ok(AttachmentStatus { size, received: 0, complete: false })
        })
    }

    fn upload_progress(&self, sha256: &str, uploader: &str, received: u64, now_ms: u64) -> Result<()> {
        self.backend.write(|w| Ok(w.upload_progress(sha256, uploader, received, now_ms)?))
    }

    fn stale_uploads(&self, before_ms: u64) -> Result<Vec<(String, String)>> {
        self.backend.read(|r| Ok(r.stale_uploads(before_ms)?))
    }

    fn expire_upload(&self, sha256: &str, uploader: &str, before_ms: u64) -> Result<bool> {
        self.backend.write(|w| Ok(w.expire_upload(sha256, uploader, before_ms)?))
    }

    fn upload_complete(&self, sha256: &str, size: u64, uploader: &str, now_ms: u64) -> Result<()> {
        self.backend.write(|w| Ok(w.complete_upload(sha256, size, uploader, now_ms)?))
    }

    fn attachment_size(&self, sha256: &str) -> Result<Option<u64>> {
        self.backend.read(|r| Ok(r.attachment_stored(sha256)?))
    }

    fn attachment_lost(&self, sha256: &str) -> Result<()> {
        tracing::warn!(sha256, "attachment file missing; forgotten so that devices upload it again");
        self.backend.write(|w| Ok(w.forget_attachment(sha256)?))
    }

    fn purge(&self, now_ms: u64) -> Result<Purged> {
        let horizon = self.limits.horizon;
        self.backend.write(|w| {
            // Guesses older than a day count for nothing any more.
            let day_ago = w.clock_ms()?.unwrap_or(now_ms).saturating_sub(24 * 60 * 60 * 1000);
            w.forget_guesses_before(day_ago)?;
            let seq = w.change_seq()?;
            w.mark_seq(now_ms, seq)?;
            let cut = w.meta(PURGED_THROUGH)?.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let Some(after_ms) = horizon.after_ms else {
                return Ok(Purged { through_seq: cut, moves: 0, records: 0 });
            };
            let before = now_ms.saturating_sub(after_ms);
            let through = w.seq_marked_by(before)?.unwrap_or(0);
            w.forget_marks_before(before)?;
            if through <= cut {
                return Ok(Purged { through_seq: cut, moves: 0, records: 0 });
            }
            let (moves, records) = w.purge_through(through)?;
            w.set_meta(PURGED_THROUGH, &through.to_string())?;
            audit(
                w,
                now_ms,
                None,
                "purge",
                None,
                serde_json::json!({"through_seq": through, "moves": moves, "records": records}),
            )?;
            Ok(Purged { through_seq: through, moves, records })
        })
    }

    fn guesses(&self, what: &str, address: &str, now_ms: u64, window_ms: u64) -> Result<GuessCount> {
        self.backend.read(|r| {
            let now_ms = r.clock_ms()?.unwrap_or(now_ms);
            let (count, first_ms) = r.guesses(what, address, now_ms.saturating_sub(window_ms))?;
            Ok(GuessCount { count, first_ms, now_ms })
        })
    }

    fn reserve_guess(
        &self,
        what: &str,
        address: &str,
        now_ms: u64,
        window_ms: u64,
        limit: u64,
    ) -> Result<std::result::Result<u64, GuessCount>> {
        // Guesses take no sequence number: no writer's turn, only this
        // address's, so logins do not queue behind pushes.
        self.backend.note(|w| {
            w.lock_key(&format!("guess:{what}:{address}"))?;
            let now_ms = w.clock_ms()?.unwrap_or(now_ms);
            let since = now_ms.saturating_sub(window_ms);
            let (count, first_ms) = w.guesses(what, address, since)?;
            if count >= limit {
                return Ok(Err(GuessCount { count, first_ms, now_ms }));
            }
            Ok(Ok(w.note_guess(what, address, now_ms, since)?))
        })
    }

    fn forget_guess(&self, id: u64) -> Result<()> {
        self.backend.note(|w| Ok(w.forget_guess(id)?))
    }

    fn attachment_readable(&self, who: &Principal, sha256: &str) -> Result<bool> {
        self.backend.read(|r| {
            let scope = self.scope_of(r, &who.user_id, who.role)?;
            readable(r, who, &scope, sha256)
        })
    }
}

/// Where `uploader`'s upload of the attachment stands: complete if they
/// hold the stored file, their progress if they are uploading it.
fn upload_status(r: &mut dyn Reads, sha256: &str, uploader: &str) -> Result<Option<AttachmentStatus>> {
    if let Some(size) = r.attachment_stored(sha256)?
        && r.attachment_held(sha256, uploader)?
    {
        return Ok(Some(AttachmentStatus { size, received: size, complete: true }));
    }
    Ok(r.upload(sha256, uploader)?.map(|u| AttachmentStatus {
        size: u.size,
        received: u.received,
        complete: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_as_typed_whatever_the_look_alikes() {
        assert_eq!(normalize_code("abcd-efgh"), "ABCDEFGH");
        assert_eq!(normalize_code("O1IL 0o"), "011100");
        let code = new_enrollment_code();
        assert_eq!(code.len(), 9);
        assert_eq!(normalize_code(&code).len(), 8);
        assert!(normalize_code(&code).bytes().all(|b| CODE_ALPHABET.contains(&b)));
    }
}
