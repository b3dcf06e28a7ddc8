//! Where the store gets the time: the system clock in the product, a clock
//! the test moves by hand in tests and demos. The merge engine never reads a
//! clock; the store reads this one once per local edit.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in Unix milliseconds.
pub trait Clock: Debug + Send + Sync {
    fn now_ms(&self) -> u64;
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(now_ms: u64) -> Self {
        ManualClock(AtomicU64::new(now_ms))
    }

    pub fn set(&self, now_ms: u64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Another clock corrected by an offset: a device's clock set to the
/// server's time, as learnt from the server's answers.
#[derive(Debug)]
pub struct OffsetClock {
    inner: Arc<dyn Clock>,
    offset_ms: AtomicI64,
}

impl OffsetClock {
    pub fn new(inner: Arc<dyn Clock>, offset_ms: i64) -> Self {
        OffsetClock { inner, offset_ms: AtomicI64::new(offset_ms) }
    }

    pub fn set_offset(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::SeqCst);
    }

    pub fn offset(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }

    /// The uncorrected clock's time.
    pub fn raw_ms(&self) -> u64 {
        self.inner.now_ms()
    }
}

impl Clock for OffsetClock {
    fn now_ms(&self) -> u64 {
        self.inner.now_ms().saturating_add_signed(self.offset())
    }
}
