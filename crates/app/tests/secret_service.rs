//! The database key in the desktop's Secret Service (here GNOME Keyring,
//! which `scripts/test` starts on a private D-Bus session): made there,
//! found there after a restart, never a key file, and gone with the
//! revoked database.

use gridwork_app::vault::{KeyStore, Vault};

#[test]
fn the_key_lives_in_the_secret_service_when_one_answers() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no D-Bus session: run under `dbus-run-session` with gnome-keyring-daemon unlocked, as scripts/test does"
    );
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::new(dir.path());
    let (key, store) = vault.create().unwrap();
    assert_eq!(store, KeyStore::SecretService, "the Secret Service answered, so the key is kept there");
    assert!(!dir.path().join("database.key").exists(), "no key file beside it");
    // A restart: a new vault on the same directory finds the same key.
    let again = Vault::new(dir.path());
    assert_eq!(again.load().unwrap().unwrap().bytes(), key.bytes());
    // Another install of the app has a key of its own.
    let other_dir = tempfile::tempdir().unwrap();
    let (other, _) = Vault::new(other_dir.path()).create().unwrap();
    assert_ne!(other.bytes(), key.bytes());
    assert_eq!(again.load().unwrap().unwrap().bytes(), key.bytes(), "not replaced by the other install's");
    // Forgotten with the database.
    again.delete().unwrap();
    assert!(again.load().unwrap().is_none());
    Vault::new(other_dir.path()).delete().unwrap();
}
