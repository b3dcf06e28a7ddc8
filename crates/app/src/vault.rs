//! Where the database key lives: outside the database file, in the
//! desktop's Secret Service when one answers, else in a key file readable
//! by the user only (the weaker option, said so in the app's settings and
//! in ARCHITECTURE.md). A marker file records which was chosen, so that a
//! key that cannot be found is an error, never a reason to make a new key
//! over a database that still holds unsynced work.
//!
//! The key is random (256 bits, [`DatabaseKey::random`]); the PIN plays no
//! part in it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use gridwork_store::DatabaseKey;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::AppError;

const SERVICE: &str = "org.gridwork.app";
const ACCOUNT: &str = "database-key";
const MARKER: &str = "key-store";
const KEY_FILE: &str = "database.key";

/// Which store holds the key. (The Secret Service entry is named per
/// install, so two installs of the app for one user never share a key.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStore {
    SecretService,
    KeyFile,
}

impl KeyStore {
    fn as_str(self) -> &'static str {
        match self {
            KeyStore::SecretService => "secret_service",
            KeyStore::KeyFile => "key_file",
        }
    }
}

/// The key's home: the app's config directory (beside, never inside, the
/// data directory that holds the database).
#[derive(Debug, Clone)]
pub struct Vault {
    dir: PathBuf,
    /// Whether to try the Secret Service at all (`GRIDWORK_KEY_STORE=file`
    /// turns it off).
    try_secret_service: bool,
}

impl Vault {
    pub fn new(dir: &Path) -> Vault {
        let wanted = std::env::var("GRIDWORK_KEY_STORE").unwrap_or_default();
        let try_secret_service =
            wanted != "file" && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty());
        Vault { dir: dir.to_owned(), try_secret_service }
    }

    /// A vault that only ever uses the key file (tests).
    pub fn key_file_only(dir: &Path) -> Vault {
        Vault { dir: dir.to_owned(), try_secret_service: false }
    }

    /// Where the key was put, if a key was ever made.
    pub fn store(&self) -> Option<KeyStore> {
        self.marker().map(|(store, _)| store)
    }

    /// The marker: where the key is, and the Secret Service entry's name.
    fn marker(&self) -> Option<(KeyStore, String)> {
        let text = fs::read_to_string(self.dir.join(MARKER)).ok()?;
        let mut words = text.split_whitespace();
        match (words.next()?, words.next()) {
            ("secret_service", Some(id)) => Some((KeyStore::SecretService, format!("{ACCOUNT}-{id}"))),
            ("secret_service", None) => Some((KeyStore::SecretService, ACCOUNT.to_owned())),
            ("key_file", _) => Some((KeyStore::KeyFile, String::new())),
            _ => None,
        }
    }

    /// The key, if one was made. A key that was made but cannot be read
    /// now (the Secret Service is gone, the key file was deleted) is an
    /// error that says so.
    pub fn load(&self) -> Result<Option<DatabaseKey>, AppError> {
        match self.marker() {
            None => Ok(None),
            Some((KeyStore::KeyFile, _)) => read_key_file(&self.dir.join(KEY_FILE)).map(Some),
            Some((KeyStore::SecretService, account)) => secret_service::load(&account).map(Some),
        }
    }

    /// Makes a new random key and keeps it: in the Secret Service if it
    /// answers, else in the key file.
    pub fn create(&self) -> Result<(DatabaseKey, KeyStore), AppError> {
        fs::create_dir_all(&self.dir)
            .map_err(|e| AppError::internal(format!("{}: {e}", self.dir.display())))?;
        let key = DatabaseKey::random();
        let mut install = [0u8; 8];
        getrandom::fill(&mut install).map_err(AppError::internal)?;
        let id: String = install.iter().map(|b| format!("{b:02x}")).collect();
        let account = format!("{ACCOUNT}-{id}");
        let (store, marker) = if self.try_secret_service && secret_service::save(&account, &key).is_ok() {
            (KeyStore::SecretService, format!("{} {id}", KeyStore::SecretService.as_str()))
        } else {
            write_private(&self.dir.join(KEY_FILE), hex(key.bytes()).as_bytes())?;
            (KeyStore::KeyFile, KeyStore::KeyFile.as_str().to_owned())
        };
        write_private(&self.dir.join(MARKER), marker.as_bytes())?;
        // The directory entry too, so that a power cut cannot keep the
        // database and lose the marker that finds its key.
        #[cfg(unix)]
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok((key, store))
    }

    /// Forgets the key (after the database was wiped).
    pub fn delete(&self) -> Result<(), AppError> {
        if let Some((KeyStore::SecretService, account)) = self.marker() {
            secret_service::delete(&account)?;
        }
        for name in [KEY_FILE, MARKER] {
            match fs::remove_file(self.dir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(AppError::internal(format!("{name}: {e}"))),
            }
        }
        Ok(())
    }
}

fn missing(where_: &str, detail: impl std::fmt::Display) -> AppError {
    AppError::new(
        "key_missing",
        format!(
            "the key that opens this tablet's records cannot be read ({where_}: {detail}); the records are kept, untouched: ask the centre's IT staff before doing anything else"
        ),
        format!(
            "无法读取打开本机数据的密钥({where_}:{detail});本机数据原样保留,请先联系中心技术人员,不要自行处理"
        ),
    )
}

fn read_key_file(path: &Path) -> Result<DatabaseKey, AppError> {
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| missing("key file", e))?);
    parse_hex(text.trim()).ok_or_else(|| missing("key file", "not a 64-digit hex key"))
}

fn hex(bytes: &[u8; 32]) -> Zeroizing<String> {
    Zeroizing::new(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn parse_hex(text: &str) -> Option<DatabaseKey> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    let key = DatabaseKey::new(bytes);
    zeroize::Zeroize::zeroize(&mut bytes);
    Some(key)
}

/// Writes a file only its owner can read (created so from the start).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AppError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| AppError::internal(format!("{}: {e}", path.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| AppError::internal(format!("{}: {e}", path.display())))
}

#[cfg(target_os = "linux")]
mod secret_service {
    //! The desktop's Secret Service (GNOME Keyring, KWallet) over D-Bus.

    use gridwork_store::DatabaseKey;
    use keyring_core::Entry;
    use zeroize::Zeroizing;

    use super::{SERVICE, hex, missing, parse_hex};
    use crate::error::AppError;

    fn entry(account: &str) -> Result<Entry, String> {
        if keyring_core::get_default_store().is_none() {
            let store = zbus_secret_service_keyring_store::Store::new().map_err(|e| e.to_string())?;
            keyring_core::set_default_store(store);
        }
        Entry::new(SERVICE, account).map_err(|e| e.to_string())
    }

    pub fn save(account: &str, key: &DatabaseKey) -> Result<(), String> {
        let entry = entry(account)?;
        if entry.get_secret().is_ok() {
            return Err(format!("an entry {account} exists already: it is not replaced"));
        }
        entry.set_secret(hex(key.bytes()).as_bytes()).map_err(|e| e.to_string())?;
        // Read back: a store that accepts and forgets is no store.
        let back = Zeroizing::new(entry.get_secret().map_err(|e| e.to_string())?);
        if back.as_slice() != hex(key.bytes()).as_bytes() {
            return Err("the Secret Service gave back another key".into());
        }
        Ok(())
    }

    pub fn load(account: &str) -> Result<DatabaseKey, AppError> {
        let entry = entry(account).map_err(|e| missing("Secret Service", e))?;
        let secret = Zeroizing::new(entry.get_secret().map_err(|e| missing("Secret Service", e))?);
        let text = std::str::from_utf8(&secret).map_err(|e| missing("Secret Service", e))?;
        parse_hex(text.trim()).ok_or_else(|| missing("Secret Service", "not a 64-digit hex key"))
    }

    pub fn delete(account: &str) -> Result<(), AppError> {
        let entry = entry(account).map_err(AppError::internal)?;
        match entry.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(AppError::internal(e)),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod secret_service {
    //! Elsewhere the platform's keystore belongs here (Android's keystore);
    //! until it is wired in, every key goes to the key file.

    use gridwork_store::DatabaseKey;

    use crate::error::AppError;

    pub fn save(_: &str, _: &DatabaseKey) -> Result<(), String> {
        Err("no platform keystore in this build".into())
    }

    pub fn load(_: &str) -> Result<DatabaseKey, AppError> {
        Err(super::missing("keystore", "no platform keystore in this build"))
    }

    pub fn delete(_: &str) -> Result<(), AppError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_private_reads_back_and_a_lost_one_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::key_file_only(dir.path());
        assert!(vault.load().unwrap().is_none(), "no key before one is made");
        let (key, store) = vault.create().unwrap();
        assert_eq!(store, KeyStore::KeyFile);
        assert_eq!(vault.load().unwrap().unwrap().bytes(), key.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        let error = vault.load().unwrap_err();
        assert_eq!(error.code.as_str(), "key_missing");
        assert!(error.message_zh.contains("原样保留"), "{error:?}");
        vault.delete().unwrap();
        assert!(vault.load().unwrap().is_none());
    }

    #[test]
    fn a_damaged_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::key_file_only(dir.path());
        vault.create().unwrap();
        fs::write(dir.path().join(KEY_FILE), "not hex").unwrap();
        assert_eq!(vault.load().unwrap_err().code, "key_missing");
        assert!(parse_hex(&"é".repeat(32)).is_none(), "multi-byte text is not sliced mid-character");
    }
}
