//! What the server lets connections, bodies, uploads and refusals cost, in
//! one place: the defaults, and what `gridwork-server serve` can change.
//!
//! Each limit bounds a resource across requests, not only within one (the
//! per-request limits live with the requests: body sizes per endpoint in
//! `lib.rs` and `wire.rs`, list lengths while decoding in the domain and
//! merge crates). `docs/sync-protocol.md` says what a device sees of them.

use std::time::Duration;

use crate::storage::StorageLimits;

/// The server's limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Open connections at most. `None`: as many as the descriptor limit
    /// allows (half of what it leaves after a reserve), at most 10,000.
    pub max_connections: Option<usize>,
    /// Open connections from one address at most (0: no limit, for a server
    /// behind a proxy, where every client has the proxy's address).
    pub max_per_address: usize,
    /// How long a connection may take to send a request's headers, and how
    /// long it may sit idle between requests, before it is closed.
    pub idle_timeout: Duration,
    /// How long an answer may wait for the client to read it before the
    /// connection is closed.
    pub write_timeout: Duration,
    /// How long the body of a small request (a login, an enrollment, a
    /// pull, an administration request) may take to arrive.
    pub small_body_timeout: Duration,
    /// Bytes of request bodies held in memory across all requests at once.
    pub body_memory: usize,
    /// How long an unfinished upload may receive nothing before it is
    /// removed, file and record.
    pub upload_expiry: Duration,
    /// What one device may park of its refused changes, hold of unfinished
    /// uploads, and send in a day: kept by the storage.
    pub storage: StorageLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: None,
            max_per_address: 512,
            idle_timeout: Duration::from_secs(20),
            write_timeout: Duration::from_secs(30),
            small_body_timeout: Duration::from_secs(10),
            body_memory: 256 * 1024 * 1024,
            upload_expiry: Duration::from_secs(24 * 60 * 60),
            storage: StorageLimits::default(),
        }
    }
}

/// Descriptors kept aside for the database, photo files, logs and the
/// runtime, beyond two per connection (its socket, and a photo file while
/// it uploads).
const RESERVED_DESCRIPTORS: u64 = 256;
const MAX_CONNECTIONS: usize = 10_000;

impl Limits {
    /// The connection cap for a process allowed `descriptors` open files.
    pub fn connections_for(&self, descriptors: u64) -> usize {
        let fitting = (descriptors.saturating_sub(RESERVED_DESCRIPTORS) / 2).max(16) as usize;
        self.max_connections.unwrap_or(MAX_CONNECTIONS).min(fitting)
    }

    /// How the listener accepts and keeps connections, for a process
    /// allowed `descriptors` open files.
    pub fn listener(&self, descriptors: u64) -> crate::listener::Settings {
        crate::listener::Settings {
            max_connections: self.connections_for(descriptors),
            max_per_address: self.max_per_address,
            idle_timeout: self.idle_timeout,
            write_timeout: self.write_timeout,
            drain: crate::REQUEST_TIMEOUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_fit_in_the_descriptors_left_after_the_reserve() {
        let limits = Limits::default();
        assert_eq!(limits.connections_for(1024), 384);
        assert_eq!(limits.connections_for(1_048_576), 10_000);
        assert_eq!(limits.connections_for(10), 16);
        let fixed = Limits { max_connections: Some(50), ..Limits::default() };
        assert_eq!(fixed.connections_for(1024), 50);
    }
}
