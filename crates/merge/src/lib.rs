//! The merge engine: every field of every record is a register ordered by a
//! version vector, with a hybrid logical clock to settle truly concurrent
//! writes the same way everywhere.
//!
//! - [`vv`]: version vectors, per field, holding only the devices that wrote
//!   the field;
//! - [`hlc`]: hybrid logical clocks, and the rule that bounds the damage of a
//!   device clock set in the future;
//! - [`register`]: a field's register, its merge and its conflicts.
//!
//! This crate is pure: no IO, no clock, no randomness. Callers pass the time
//! in. It does not know what a field means (values are a type parameter) nor
//! whether a writer may write it: validation and authorisation happen in the
//! store and the server before anything reaches a register.
//!
//! ```
//! use gridwork_domain::DeviceId;
//! use gridwork_merge::{Hlc, Register};
//!
//! // Two tablets start from the same phone number...
//! let base = Register::first_write("13800000001", DeviceId(7), Hlc::new(1_000, 0));
//! let (mut tablet_a, mut tablet_b) = (base.clone(), base);
//! // ...and both change it while offline.
//! tablet_a.write("13800000002", DeviceId(7), Hlc::new(2_000, 0));
//! tablet_b.write("13800000003", DeviceId(9), Hlc::new(3_000, 0));
//! // Exchanged in either order, they agree: the later write wins and the
//! // other is kept as a conflict for the centre.
//! let mut ab = tablet_a.clone();
//! ab.merge(tablet_b.clone());
//! tablet_b.merge(tablet_a);
//! assert_eq!(ab, tablet_b);
//! assert_eq!(*ab.value(), "13800000003");
//! assert_eq!(ab.losers()[0].value, "13800000002");
//! ```

pub mod hlc;
pub mod register;
pub mod vv;

#[cfg(test)]
mod proptests;

pub use hlc::{ClockAhead, Hlc, MAX_AHEAD_MS, check_not_ahead};
pub use register::{Malformed, Merged, Register, Version};
pub use vv::{Causality, VersionVector};
