//! The PIN that opens the app: six digits, kept as an Argon2 hash in the
//! (encrypted) database, with a lock-out that grows with wrong guesses and
//! survives restarts. Wrong PINs never wipe anything: work not yet synced
//! must not be lost to a child playing with the tablet.
//!
//! The PIN encrypts nothing (the database key is random and kept apart,
//! see `vault`); it stops someone who picks up a tablet from using the app.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use gridwork_store::Store;

use crate::error::AppError;

const HASH: &str = "pin.hash";
const WRONG: &str = "pin.wrong";
const RETRY_AT: &str = "pin.retry_at_ms";

/// Wrong PINs allowed in a row before the first lock-out.
pub const FREE_TRIES: u32 = 5;
const FIRST_LOCKOUT_MS: u64 = 30_000;
const LONGEST_LOCKOUT_MS: u64 = 3_600_000;

/// How long the app stays locked after `wrong` wrong PINs in a row: not at
/// all for the first [`FREE_TRIES`] - 1, then 30 s, doubling with each
/// further wrong PIN, at most an hour.
pub fn lockout_ms(wrong: u32) -> Option<u64> {
    let past = wrong.checked_sub(FREE_TRIES)?;
    Some(FIRST_LOCKOUT_MS.saturating_mul(1u64 << past.min(20)).min(LONGEST_LOCKOUT_MS))
}

/// Checks the shape of a new PIN.
pub fn check_new(pin: &str) -> Result<(), AppError> {
    if pin.len() != 6 || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::invalid(Some("pin"), "the PIN is 6 digits", "密码须为6位数字"));
    }
    if pin.bytes().all(|b| b == pin.as_bytes()[0]) || "0123456789".contains(pin) || "9876543210".contains(pin)
    {
        return Err(AppError::invalid(
            Some("pin"),
            "choose a PIN that is harder to guess than repeated or consecutive digits",
            "密码不能是重复或连续的数字,请换一个不易猜到的",
        ));
    }
    Ok(())
}

pub fn is_set(store: &Store) -> Result<bool, AppError> {
    Ok(store.setting(HASH)?.is_some())
}

/// When another PIN may be tried, if the app is locked out now.
pub fn locked_until(store: &Store, now_ms: u64) -> Result<Option<u64>, AppError> {
    let retry_at = store.setting(RETRY_AT)?.and_then(|v| v.parse::<u64>().ok());
    Ok(retry_at.filter(|&at| at > now_ms))
}

/// Hashes a PIN (slow on purpose: run it off the UI thread).
pub fn hash(pin: &str) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(AppError::internal)?;
    let hash: PasswordHash =
        Argon2::default().hash_password_with_salt(pin.as_bytes(), &salt).map_err(AppError::internal)?;
    Ok(hash.to_string())
}

pub fn save(store: &mut Store, hash: &str) -> Result<(), AppError> {
    store.set_setting(HASH, Some(hash))?;
    store.set_setting(WRONG, None)?;
    store.set_setting(RETRY_AT, None)?;
    Ok(())
}

/// The stored hash, to verify against off the UI thread.
pub fn stored(store: &Store) -> Result<Option<String>, AppError> {
    Ok(store.setting(HASH)?)
}

pub fn verify(hash: &str, pin: &str) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|parsed| Argon2::default().verify_password(pin.as_bytes(), &parsed).is_ok())
}

/// Notes the outcome of a PIN tried at `now_ms`: a right one clears the
/// count; a wrong one is counted and answered with what the worker may do.
pub fn note(store: &mut Store, right: bool, now_ms: u64) -> Result<(), AppError> {
    if right {
        store.set_setting(WRONG, None)?;
        store.set_setting(RETRY_AT, None)?;
        return Ok(());
    }
    let wrong = store.setting(WRONG)?.and_then(|v| v.parse::<u32>().ok()).unwrap_or(0).saturating_add(1);
    store.set_setting(WRONG, Some(&wrong.to_string()))?;
    match lockout_ms(wrong) {
        Some(ms) => {
            let retry_at = now_ms + ms;
            store.set_setting(RETRY_AT, Some(&retry_at.to_string()))?;
            Err(locked_out(retry_at, now_ms))
        }
        None => {
            let left = FREE_TRIES - wrong;
            Err(AppError {
                attempts_left: Some(left),
                ..AppError::new(
                    "wrong_pin",
                    format!("wrong PIN; {left} more tries before the app locks for a while"),
                    format!("密码错误,再错{left}次将暂时锁定"),
                )
            })
        }
    }
}

pub fn locked_out(retry_at_ms: u64, now_ms: u64) -> AppError {
    let seconds = retry_at_ms.saturating_sub(now_ms).div_ceil(1000);
    AppError {
        retry_at_ms: Some(retry_at_ms),
        ..AppError::new(
            "pin_locked_out",
            format!("too many wrong PINs: try again in {seconds} s"),
            format!("密码错误次数过多,请{seconds}秒后再试"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockouts_start_after_five_wrong_pins_and_double_up_to_an_hour() {
        assert_eq!((1..5).map(lockout_ms).collect::<Vec<_>>(), vec![None; 4]);
        assert_eq!(lockout_ms(5), Some(30_000));
        assert_eq!(lockout_ms(6), Some(60_000));
        assert_eq!(lockout_ms(7), Some(120_000));
        assert_eq!(lockout_ms(12), Some(3_600_000));
        assert_eq!(lockout_ms(u32::MAX), Some(3_600_000));
    }

    #[test]
    fn pins_are_six_digits_not_trivially_guessed() {
        assert!(check_new("402917").is_ok());
        for bad in ["12345", "1234567", "12a456", "111111", "123456", "654321", "４０２９１７"] {
            let error = check_new(bad).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("pin"), "{bad}");
        }
    }

    #[test]
    fn a_hash_verifies_its_pin_only() {
        let hash = hash("402917").unwrap();
        assert!(hash.starts_with("$argon2"));
        assert!(verify(&hash, "402917"));
        assert!(!verify(&hash, "402918"));
        assert!(!verify("not a hash", "402917"));
    }
}
