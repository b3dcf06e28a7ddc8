//! A device's side of sync, in its store: its enrollment and sync state
//! (the session), the edits the server refused, and the local repairs sync
//! asks for (dropping records that left the device's scope, rolling a
//! refused record back to the server's state, re-sending everything after
//! the server was restored, re-stamping edits made with a clock that ran
//! ahead).
//!
//! The network is the client's business; this module only changes the
//! database, each operation in one transaction.

use std::path::Path;

use gridwork_domain::{Kind, RecordId};
use gridwork_protocol::RecordChanges;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::record;
use crate::{Error, Replica, Role, Store};

/// What a device knows of its server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Session {
    pub server: String,
    pub device_id: String,
    #[serde(skip)]
    pub token: String,
    pub user_id: String,
    pub user_name: String,
    pub epoch: String,
    /// The device has every change up to this server sequence.
    pub cursor: u64,
    /// Where the pages of an unfinished pull have got to (`cursor` between
    /// pulls).
    pub page_after: u64,
    pub scope: Vec<String>,
    pub scope_hash: String,
    pub clock_offset_ms: i64,
    pub enrolled_at_ms: u64,
    pub last_sync_ms: Option<u64>,
}

/// An edit the server refused, as the device keeps it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Refused {
    pub at_ms: u64,
    pub id: String,
    pub kind: String,
    pub code: gridwork_protocol::codes::RefusalCode,
    pub field: Option<String>,
    pub message: String,
    pub message_zh: String,
    /// The record as it stood on the device before the roll-back.
    pub local: Option<serde_json::Value>,
}

fn delete_row(tx: &Connection, kind: Kind, id: RecordId) -> Result<bool, Error> {
    let deleted = tx
        .prepare_cached(&format!("DELETE FROM {} WHERE id = ?1", kind.def().table))?
        .execute([id.as_bytes()])?;
    for sql in [
        "DELETE FROM losers WHERE record = ?1",
        "DELETE FROM conflicts WHERE record = ?1",
        "DELETE FROM outbox WHERE record = ?1",
    ] {
        tx.prepare_cached(sql)?.execute([id.as_bytes()])?;
    }
    Ok(deleted > 0)
}

impl Store {
    pub(crate) fn device_only(&self) -> Result<(), Error> {
        match self.role {
            Role::Device => Ok(()),
            Role::Server => Err(Error::WrongRole { wanted: Role::Device }),
        }
    }

    /// The session, once the device is enrolled.
    pub fn session(&self) -> Result<Option<Session>, Error> {
        self.device_only()?;
        let session = self
            .conn
            .query_row(
                "SELECT server, device_id, token, user_id, user_name, epoch, cursor, scope, scope_hash,
                        clock_offset_ms, enrolled_at_ms, last_sync_ms, page_after FROM session",
                [],
                |row| {
                    Ok((
                        Session {
                            server: row.get(0)?,
                            device_id: row.get(1)?,
                            token: row.get(2)?,
                            user_id: row.get(3)?,
                            user_name: row.get(4)?,
                            epoch: row.get(5)?,
                            cursor: row.get::<_, i64>(6)? as u64,
                            page_after: row.get::<_, i64>(12)? as u64,
                            scope: Vec::new(),
                            scope_hash: row.get(8)?,
                            clock_offset_ms: row.get(9)?,
                            enrolled_at_ms: row.get::<_, i64>(10)? as u64,
                            last_sync_ms: row.get::<_, Option<i64>>(11)?.map(|v| v as u64),
                        },
                        row.get::<_, String>(7)?,
                    ))
                },
            )
            .optional()?;
        session
            .map(|(mut session, scope)| {
                session.scope = serde_json::from_str(&scope)
                    .map_err(|e| Error::Corrupt(format!("session scope: {e}")))?;
                Ok(session)
            })
            .transpose()
    }

    /// Records the enrollment: the device's number and its session.
    pub fn start_session(
        &mut self,
        session: &Session,
        device: gridwork_domain::DeviceId,
    ) -> Result<(), Error> {
        self.device_only()?;
        if self.session()?.is_some() {
            return Err(Error::AlreadyEnrolled);
        }
        self.set_device_id(device)?;
        self.conn.execute(
            "INSERT INTO session (singleton, server, device_id, token, user_id, user_name, epoch, cursor, scope,
                                  scope_hash, clock_offset_ms, enrolled_at_ms)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, 0, '[]', '', ?7, ?8)",
            params![
                session.server,
                session.device_id,
                session.token,
                session.user_id,
                session.user_name,
                session.epoch,
                session.clock_offset_ms,
                session.enrolled_at_ms as i64
            ],
        )?;
        Ok(())
    }

    /// Saves that the device has every change up to `cursor` (a pull is
    /// complete, or starts over from 0).
    pub fn set_cursor(&mut self, cursor: u64) -> Result<(), Error> {
        self.conn.execute("UPDATE session SET cursor = ?1, page_after = ?1", [cursor as i64])?;
        Ok(())
    }

    /// Saves where the pages of the pull in progress have got to.
    pub fn set_page_after(&mut self, after: u64) -> Result<(), Error> {
        self.conn.execute("UPDATE session SET page_after = ?1", [after as i64])?;
        Ok(())
    }

    /// Saves the server's clock offset (server minus device) and the time of
    /// a completed sync.
    pub fn note_server_time(&mut self, clock_offset_ms: i64, synced_at_ms: Option<u64>) -> Result<(), Error> {
        self.conn.execute(
            "UPDATE session SET clock_offset_ms = ?1, last_sync_ms = coalesce(?2, last_sync_ms)",
            params![clock_offset_ms, synced_at_ms.map(|t| t as i64)],
        )?;
        Ok(())
    }

    /// The grids this device may now see records of: records of other
    /// grids are dropped (grid records themselves are kept: every device has
    /// the whole tree). Returns how many records were dropped.
    pub fn set_scope(&mut self, scope: &[String], scope_hash: &str) -> Result<usize, Error> {
        self.device_only()?;
        let scope_json = serde_json::to_string(scope).expect("strings serialise");
        let tx = crate::begin(&mut self.conn, TransactionBehavior::Immediate)?;
        let mut dropped = 0;
        for kind in Kind::ALL.into_iter().filter(|&k| k != Kind::Grid) {
            let def = kind.def();
            let allowed = &scope_json;
            let ids: Vec<[u8; 16]> = tx
                .prepare(&format!(
                    "SELECT id FROM {} WHERE \"{}\" IS NULL OR \"{}\" NOT IN (SELECT value FROM json_each(?1))",
                    def.table, def.scope_field, def.scope_field
                ))?
                .query_map([allowed], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            for id in ids {
                dropped += usize::from(delete_row(&tx, kind, RecordId::from_bytes(id))?);
            }
        }
        tx.execute("UPDATE session SET scope = ?1, scope_hash = ?2", params![scope_json, scope_hash])?;
        tx.commit()?;
        Ok(dropped)
    }

    /// Starts pulling everything again from 0, noting what comes back (see
    /// [`Store::note_seen`], [`Store::finish_sweep`]): the server said the
    /// device is too far behind to be told what left its grids.
    pub fn start_sweep(&mut self) -> Result<(), Error> {
        self.device_only()?;
        let tx = crate::begin(&mut self.conn, TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM pull_seen", [])?;
        tx.execute("UPDATE session SET cursor = 0, page_after = 0, sweeping = 1", [])?;
        tx.commit()?;
        Ok(())
    }

    /// Whether a sweep is under way.
    pub fn sweeping(&self) -> Result<bool, Error> {
        self.device_only()?;
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(sweeping), 0) FROM session", [], |row| row.get::<_, i64>(0))?
            != 0)
    }

    /// Notes records a sweeping pull received.
    pub fn note_seen(&mut self, ids: impl IntoIterator<Item = RecordId>) -> Result<(), Error> {
        let tx = crate::begin(&mut self.conn, TransactionBehavior::Deferred)?;
        for id in ids {
            tx.prepare_cached("INSERT OR IGNORE INTO pull_seen (record) VALUES (?1)")?
                .execute([id.as_bytes()])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Ends a sweep: every record of a kind other than grids that did not
    /// come back, and has no unsent edit, is forgotten. Returns how many.
    pub fn finish_sweep(&mut self) -> Result<usize, Error> {
        self.device_only()?;
        let tx = crate::begin(&mut self.conn, TransactionBehavior::Immediate)?;
        let mut dropped = 0;
        for kind in Kind::ALL.into_iter().filter(|&k| k != Kind::Grid) {
            let ids: Vec<[u8; 16]> = tx
                .prepare(&format!(
                    "SELECT id FROM {} WHERE id NOT IN (SELECT record FROM pull_seen)
                       AND id NOT IN (SELECT record FROM outbox)",
                    kind.def().table
                ))?
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            for id in ids {
                dropped += usize::from(delete_row(&tx, kind, RecordId::from_bytes(id))?);
            }
        }
        tx.execute("DELETE FROM pull_seen", [])?;
        tx.execute("UPDATE session SET sweeping = 0", [])?;
        tx.commit()?;
        Ok(dropped)
    }

    /// Forgets a record entirely (it left the device's scope): its values,
    /// registers, losers and unsent edits. Returns whether it was there.
    pub fn drop_record(&mut self, id: RecordId) -> Result<bool, Error> {
        self.device_only()?;
        let Some(kind) = self.kind_of(id)? else { return Ok(false) };
        let tx = crate::begin(&mut self.conn, TransactionBehavior::Immediate)?;
        let dropped = delete_row(&tx, kind, id)?;
        tx.commit()?;
        Ok(dropped)
    }

    /// The server refused the device's edits of a record: the record goes
    /// back to what the server holds (`None`: the server has none the
    /// device may see, so the record goes), and the refusal is kept with the
    /// record as the device had it, which is returned.
    pub fn roll_back(
        &mut self,
        refused: &Refused,
        kind: Kind,
        id: RecordId,
        server: Option<RecordChanges>,
    ) -> Result<Option<serde_json::Value>, Error> {
        self.device_only()?;
        let local = self.get(kind, id)?.map(|r| r.to_json());
        let tx = crate::begin(&mut self.conn, TransactionBehavior::Immediate)?;
        delete_row(&tx, kind, id)?;
        tx.execute(
            "INSERT INTO refused (at_ms, record, kind, code, field, message, message_zh, local)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                refused.at_ms as i64,
                id.to_string(),
                kind.as_str(),
                refused.code.as_str(),
                refused.field,
                refused.message,
                refused.message_zh,
                local.as_ref().map(|l| l.to_string())
            ],
        )?;
        tx.commit()?;
        if let Some(server) = server {
            // The server's state of a record it let the device see: valid,
            // and new to this store now.
            self.apply_remote(vec![server])?;
        }
        Ok(local)
    }

    /// The edits the server refused, newest first.
    pub fn refused(&self) -> Result<Vec<Refused>, Error> {
        self.device_only()?;
        let mut statement = self.conn.prepare(
            "SELECT at_ms, record, kind, code, field, message, message_zh, local FROM refused ORDER BY id DESC",
        )?;
        let refused = statement
            .query_map([], |row| {
                Ok(Refused {
                    at_ms: row.get::<_, i64>(0)? as u64,
                    id: row.get(1)?,
                    kind: row.get(2)?,
                    code: gridwork_protocol::codes::RefusalCode::parse(&row.get::<_, String>(3)?),
                    field: row.get(4)?,
                    message: row.get(5)?,
                    message_zh: row.get(6)?,
                    local: row.get::<_, Option<String>>(7)?.and_then(|l| serde_json::from_str(&l).ok()),
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(refused)
    }

    /// The server was restored from a backup and may have lost anything:
    /// every record this device holds goes back into the outbox, whole, and
    /// the cursor back to 0. Returns how many records were queued.
    pub fn requeue_everything(&mut self) -> Result<usize, Error> {
        self.device_only()?;
        let tx = crate::begin(&mut self.conn, TransactionBehavior::Immediate)?;
        let mut replica = Replica::load(&tx)?;
        let mut queued = 0;
        // Grids are the server's: devices never send them.
        for kind in Kind::ALL.into_iter().filter(|&k| k != Kind::Grid) {
            let all_tags = kind.def().fields.iter().fold(0i64, |bits, f| bits | 1 << f.tag);
            let ids: Vec<[u8; 16]> = tx
                .prepare(&format!("SELECT id FROM {}", kind.def().table))?
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            for id in ids {
                replica.counter += 1;
                record::queue(&tx, kind, RecordId::from_bytes(id), replica.counter, all_tags)?;
                queued += 1;
            }
        }
        replica.save(&tx)?;
        tx.execute("UPDATE session SET cursor = 0, page_after = 0", [])?;
        tx.commit()?;
        Ok(queued)
    }

    /// Records the server's new epoch.
    pub fn set_epoch(&mut self, epoch: &str) -> Result<(), Error> {
        self.conn.execute("UPDATE session SET epoch = ?1", [epoch])?;
        Ok(())
    }

    /// The server refused a record's edits because their timestamps were
    /// ahead of its clock: the clock is corrected (the caller has set the
    /// clock offset), so the device's own winning versions of the record's
    /// fields that the server does not hold (`server`, the record as the
    /// server holds it, says which it does) are stamped again with the
    /// corrected clock and queued again. No one else has seen those, so
    /// changing their timestamps changes no one's state; the ones the server
    /// holds keep theirs, or the device and the server would disagree about
    /// one write.
    pub fn restamp(
        &mut self,
        kind: Kind,
        id: RecordId,
        server: Option<&gridwork_protocol::RecordChanges>,
    ) -> Result<bool, Error> {
        let writer = self.writer()?;
        let now = self.clock.now_ms();
        let Store { conn, sql, .. } = self;
        let tx = crate::begin(conn, TransactionBehavior::Immediate)?;
        let Some(mut row) = record::load(&tx, sql, kind, id)? else { return Ok(false) };
        let mut replica = Replica::load(&tx)?;
        // The clock restarts from what it has seen from others, not from its
        // own stamps, which ran ahead.
        replica.hlc = replica.remote_hlc;
        let mut tags = 0i64;
        let mut changed = 0u64;
        let def = kind.def();
        for (i, field) in row.fields.iter_mut().enumerate() {
            let Some(field) = field else { continue };
            let held = server
                .and_then(|record| record.fields.iter().find(|f| f.field == def.fields[i].name))
                .is_some_and(|f| f.register.has_seen(field.winner.dot()));
            if field.winner.writer == writer && !held {
                replica.hlc = replica.hlc.tick(now);
                field.winner.hlc = replica.hlc;
                tags |= 1 << def.fields[i].tag;
                changed |= 1 << i;
            }
        }
        if changed == 0 {
            return Ok(false);
        }
        record::save(&tx, sql, kind, id, &mut row, changed, 0)?;
        replica.counter += 1;
        record::queue(&tx, kind, id, replica.counter, tags)?;
        replica.save(&tx)?;
        tx.commit()?;
        Ok(true)
    }

    /// Removes a device's database files (the database, its write-ahead log
    /// and shared memory): what a revoked device does.
    pub fn wipe(path: &Path) -> Result<(), Error> {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::Io { path: Path::new(&file).to_owned(), source: e }),
            }
        }
        Ok(())
    }
}
