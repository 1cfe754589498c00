//! The `liveness` command line: a thin edge over the library.

mod cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "liveness",
    version,
    about = "BWS-compatible face liveness detection"
)]
struct Cli {
    /// Extra configuration file (TOML), layered over config/default.toml; environment
    /// variables LIVENESS__SECTION__KEY override both.
    #[arg(long, global = true, env = "LIVENESS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Consumes LivenessDetection jobs from RabbitMQ and publishes their results.
    Worker,
    /// Scores one or two image files without a broker and prints the BWS response JSON.
    Score(cmd::score::Args),
    /// Publishes a job (confirmed) and, with --wait, prints its result.
    Enqueue(cmd::enqueue::Args),
    /// Serves BWS's REST endpoint POST /api/v1/livenessdetection in front of the job queue.
    Gateway,
}

fn main() -> ExitCode {
    // Before anything else: on a CPU without the features this build uses, the first job would
    // die of an illegal instruction instead.
    if let Err(e) = liveness::cpu::check() {
        eprintln!("liveness: error: {e}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Worker => cmd::worker::run(cli.config.as_deref()).map(|()| ExitCode::SUCCESS),
        Command::Score(args) => cmd::score::run(cli.config.as_deref(), args),
        Command::Enqueue(args) => cmd::enqueue::run(cli.config.as_deref(), args),
        Command::Gateway => cmd::gateway::run(cli.config.as_deref()).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("liveness: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
