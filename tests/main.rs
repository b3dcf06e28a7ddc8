//! Gridwork's integration tests, in one binary.

mod admin;
mod architecture;
mod decoders;
mod hostile;
mod sync;
