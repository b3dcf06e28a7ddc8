//! Applies the append-only SQL migrations of `migrations/` when a store is
//! opened, each in its own transaction, and refuses a database written by a
//! newer program.

use rusqlite::{Connection, OptionalExtension, params};

use crate::Error;

/// One embedded SQL file.
#[derive(Debug)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

mod embedded {
    use super::Migration;
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

pub use embedded::{COMMON, DEVICE, SERVER};

/// Brings every set to its latest version. Returns how many files ran.
pub fn migrate(conn: &mut Connection, sets: &[(&'static str, &[Migration])]) -> Result<usize, Error> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            set_name TEXT NOT NULL,
            version INTEGER NOT NULL,
            name TEXT NOT NULL,
            PRIMARY KEY (set_name, version)
        ) STRICT",
    )?;
    let mut applied = 0;
    for &(set, migrations) in sets {
        let current: u32 = conn
            .query_row("SELECT max(version) FROM schema_migrations WHERE set_name = ?1", [set], |row| {
                row.get::<_, Option<u32>>(0)
            })
            .optional()?
            .flatten()
            .unwrap_or(0);
        let known = migrations.last().map_or(0, |m| m.version);
        if current > known {
            return Err(Error::SchemaTooNew { set, found: current, known });
        }
        for migration in migrations.iter().filter(|m| m.version > current) {
            let tx = conn.transaction()?;
            tx.execute_batch(migration.sql)
                .map_err(|source| Error::Migration { name: migration.name, source })?;
            tx.execute(
                "INSERT INTO schema_migrations (set_name, version, name) VALUES (?1, ?2, ?3)",
                params![set, migration.version, migration.name],
            )?;
            tx.commit()?;
            applied += 1;
        }
    }
    Ok(applied)
}
