//! Each device's fair share of the database's single writer.
//!
//! A push holds the writer for as long as its checks and its transaction
//! take: a few milliseconds for a worker's day, tens of milliseconds for a
//! page of heavy records. A device that pushes heavy pages back to back
//! would hold it most of the time, and every other device's push would
//! queue behind it. So each device has a budget of writer time: it may
//! spend a burst at once (a backlog after days offline), and then a share
//! of each second; a push that would overdraw waits, before it reads its
//! body, until the device's debt has drained. Honest devices, which hold
//! the writer for milliseconds a sync, never wait.
//!
//! In memory, per process: each server node keeps its own account of each
//! device. On one machine that is the whole story; with several nodes on
//! one PostgreSQL (one writer for the cluster) a device that spreads its
//! pushes over N nodes gets up to N shares. Pushes still take the writer
//! one at a time, so that costs others waiting time, not correctness; a
//! load balancer that keeps a client on one node (or limits it) keeps the
//! share whole (docs/operations.md).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Writer time per device: a burst, then a share of each second.
#[derive(Debug)]
pub struct WriterShare {
    burst: Duration,
    /// The fraction of each second a device may use once its burst is
    /// spent.
    share: f64,
    /// Per device: the writer time owed, as of when.
    debts: Mutex<HashMap<String, (Duration, Instant)>>,
}

impl WriterShare {
    pub fn new(burst: Duration, share: f64) -> Self {
        WriterShare { burst, share, debts: Mutex::default() }
    }

    /// The debt of `device` now, repaid at `share` per second of waiting.
    fn debt(&self, debts: &HashMap<String, (Duration, Instant)>, device: &str, now: Instant) -> Duration {
        debts.get(device).map_or(Duration::ZERO, |(owed, since)| {
            owed.saturating_sub(now.saturating_duration_since(*since).mul_f64(self.share))
        })
    }

    /// How long `device` must wait before its next push may take the
    /// writer: zero while its debt is within the burst.
    pub fn wait(&self, device: &str) -> Duration {
        let debts = self.debts.lock().unwrap_or_else(|p| p.into_inner());
        let over = self.debt(&debts, device, Instant::now()).saturating_sub(self.burst);
        over.div_f64(self.share)
    }

    /// Charges `device` for holding the writer `used`.
    pub fn charge(&self, device: &str, used: Duration) {
        let now = Instant::now();
        let mut debts = self.debts.lock().unwrap_or_else(|p| p.into_inner());
        let owed = self.debt(&debts, device, now) + used;
        debts.insert(device.to_owned(), (owed, now));
        // Devices whose debt is repaid are forgotten: the map holds only
        // those that pushed within the last few seconds' worth of debt.
        if debts.len() > 1024 {
            let share = self.share;
            debts.retain(|_, (owed, since)| {
                owed.saturating_sub(now.saturating_duration_since(*since).mul_f64(share)) > Duration::ZERO
            });
        }
    }
}

impl Default for WriterShare {
    /// A second at once, then a tenth of each second.
    fn default() -> Self {
        WriterShare::new(Duration::from_secs(1), 0.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_that_overdraws_its_burst_waits_for_its_share_and_others_do_not() {
        let share = WriterShare::new(Duration::from_millis(100), 0.5);
        assert_eq!(share.wait("a"), Duration::ZERO);
        share.charge("a", Duration::from_millis(60));
        assert_eq!(share.wait("a"), Duration::ZERO, "within the burst");
        share.charge("a", Duration::from_millis(90));
        // 150 ms owed, 50 over the burst, repaid at half a second per
        // second: about 100 ms to wait (a little less as time passes).
        let wait = share.wait("a");
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100), "{wait:?}");
        assert_eq!(share.wait("b"), Duration::ZERO, "another device is not held back");
        std::thread::sleep(wait);
        assert!(share.wait("a") < Duration::from_millis(5), "{:?}", share.wait("a"));
    }
}
