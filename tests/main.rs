//! Gridwork's integration tests, in one binary.

mod admin;
mod architecture;
mod cases;
mod clock;
mod console;
mod decoders;
mod hostile;
mod open311;
mod openapi;
mod postgres_merge;
mod registry;
mod scaleout;
mod sync;
