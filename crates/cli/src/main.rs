//! `gridwork`: the command line. Binary glue over the library crates; every
//! command prints JSON on stdout, errors go to stderr with a non-zero exit.

mod demo;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gridwork", version, about = "Gridwork: grid management records that work offline")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Two devices edit the same resident offline, sync through an in-memory
    /// server store, and end identical; the centre settles the conflict.
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo => demo::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gridwork: {error:#}");
            ExitCode::FAILURE
        }
    }
}
