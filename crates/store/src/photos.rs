//! A device's photos and settings, kept in its own (encrypted) database:
//! photos taken for cases wait here, named by their SHA-256, until the
//! server confirms it holds them; settings are small key/value pairs an
//! app keeps beside its records (the PIN's hash, wrong-PIN counts).
//!
//! Sending photos is the client's business; shrinking them the app's. This
//! module only stores, lists and marks.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Error, Store};

/// A photo as stored on the device, without its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Photo {
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub added_at_ms: u64,
    pub uploaded_at_ms: Option<u64>,
}

/// The SHA-256 of bytes, as lowercase hex (how attachments are named).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Keeps a photo (already shrunk by the caller) until it is uploaded.
    /// The same bytes added twice are kept once. Returns the photo.
    pub fn add_photo(&mut self, bytes: &[u8], width: u32, height: u32) -> Result<Photo, Error> {
        self.device_only()?;
        let sha256 = sha256_hex(bytes);
        let now = self.clock.now_ms();
        self.conn
            .prepare_cached(
                "INSERT INTO photos (sha256, bytes, width, height, added_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (sha256) DO NOTHING",
            )?
            .execute(params![sha256, bytes, width, height, now as i64])?;
        self.photo_info(&sha256)?.ok_or_else(|| Error::Corrupt(format!("photo {sha256} vanished")))
    }

    /// A photo's description, if the device has it.
    pub fn photo_info(&self, sha256: &str) -> Result<Option<Photo>, Error> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT sha256, width, height, length(bytes), added_at_ms, uploaded_at_ms FROM photos WHERE sha256 = ?1",
            )?
            .query_row([sha256], photo_from_row)
            .optional()?)
    }

    /// A photo's bytes, if the device has them.
    pub fn photo_bytes(&self, sha256: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .conn
            .prepare_cached("SELECT bytes FROM photos WHERE sha256 = ?1")?
            .query_row([sha256], |row| row.get(0))
            .optional()?)
    }

    /// Photos the server does not hold yet, oldest first.
    pub fn photos_to_upload(&self, limit: usize) -> Result<Vec<Photo>, Error> {
        let mut statement = self.conn.prepare_cached(
            "SELECT sha256, width, height, length(bytes), added_at_ms, uploaded_at_ms FROM photos
             WHERE uploaded_at_ms IS NULL ORDER BY added_at_ms, sha256 LIMIT ?1",
        )?;
        let photos = statement.query_map([limit as i64], photo_from_row)?.collect::<Result<_, _>>()?;
        Ok(photos)
    }

    /// How many photos wait for upload.
    pub fn photos_pending(&self) -> Result<u64, Error> {
        Ok(self.conn.query_row("SELECT count(*) FROM photos WHERE uploaded_at_ms IS NULL", [], |row| {
            row.get::<_, i64>(0)
        })? as u64)
    }

    /// The server holds the whole photo.
    pub fn mark_uploaded(&mut self, sha256: &str) -> Result<(), Error> {
        let now = self.clock.now_ms();
        self.conn
            .prepare_cached(
                "UPDATE photos SET uploaded_at_ms = ?1 WHERE sha256 = ?2 AND uploaded_at_ms IS NULL",
            )?
            .execute(params![now as i64, sha256])?;
        Ok(())
    }

    /// A setting's value.
    pub fn setting(&self, key: &str) -> Result<Option<String>, Error> {
        self.device_only()?;
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
            .query_row([key], |row| row.get(0))
            .optional()?)
    }

    /// Sets (or with `None` removes) a setting.
    pub fn set_setting(&mut self, key: &str, value: Option<&str>) -> Result<(), Error> {
        self.device_only()?;
        match value {
            Some(value) => self
                .conn
                .prepare_cached(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                )?
                .execute([key, value])?,
            None => self.conn.prepare_cached("DELETE FROM settings WHERE key = ?1")?.execute([key])?,
        };
        Ok(())
    }
}

fn photo_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Photo> {
    Ok(Photo {
        sha256: row.get(0)?,
        width: row.get(1)?,
        height: row.get(2)?,
        bytes: row.get::<_, i64>(3)? as u64,
        added_at_ms: row.get::<_, i64>(4)? as u64,
        uploaded_at_ms: row.get::<_, Option<i64>>(5)?.map(|v| v as u64),
    })
}
