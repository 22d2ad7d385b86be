//! `defender-bridge`: map Defender records on the command line (files, stdin, Vector's `exec`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod emulator;
mod map;
mod pull;
mod schema;

#[derive(Parser)]
#[command(
    name = "defender-bridge",
    version,
    about = "Microsoft Defender records to ECS documents or Sentinel rows"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Map Defender records (files or stdin; NDJSON, concatenated or pretty JSON, arrays,
    /// `{"value":[…]}` pages, `{"records":[…]}` envelopes) to NDJSON on stdout.
    Map(map::MapArgs),
    /// Map the bundled sample records (one of each kind) to ECS and to Sentinel rows.
    Demo(demo::DemoArgs),
    /// Print a Sentinel table's columns as a DCR stream declaration or a KQL declaration.
    Schema(schema::SchemaArgs),
    /// Pull the Defender APIs (or the built-in emulator) and write mapped NDJSON to stdout.
    Pull(pull::PullArgs),
    /// Serve the Defender API emulator on a loopback address (for Fluent Bit, Vector, curl).
    Emulator(emulator::EmulatorArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Map(args) => map::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Pull(args) => pull::run(args),
        Command::Emulator(args) => emulator::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("defender-bridge: {e}");
            ExitCode::from(2)
        }
    }
}
