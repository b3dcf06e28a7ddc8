//! Gridwork's integration tests, in one binary.

mod admin;
mod architecture;
mod hostile;
mod sync;
