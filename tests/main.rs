//! Gridwork's integration tests, in one binary.

mod architecture;
mod sync;
