//! `liveness enqueue IMG [IMG2] [--tag T] [--reference-number R] [--wait]`: publish a job
//! (confirmed) and optionally wait for and print its result.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use liveness::config::Settings;
use liveness::queue::client::{JobOptions, enqueue};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: super::Images,
    /// Echoed in the result's `reference-number` header.
    #[arg(long)]
    reference_number: Option<String>,
    /// JWT sent as `authorization: Bearer <token>` (needed when the workers check auth).
    #[arg(long, env = "LIVENESS_TOKEN")]
    token: Option<String>,
    /// Answer 408 instead of scoring when no worker started the job within this many seconds.
    #[arg(long)]
    deadline_seconds: Option<u64>,
    /// Wait for the result and print it.
    #[arg(long)]
    wait: bool,
    /// How long to wait for the result, seconds.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(config)?;
    let request = args.input.request()?;
    let body = serde_json::to_vec(&request)?;
    let opts = JobOptions {
        reference_number: args.reference_number.clone(),
        token: args.token.clone(),
        deadline: args.deadline_seconds.map(deadline_in).transpose()?,
        wait: args.wait.then(|| Duration::from_secs(args.timeout)),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (job_id, reply) = runtime.block_on(enqueue(&settings.amqp, &body, &opts))?;
    eprintln!("jobid {job_id}");
    match reply {
        None => Ok(ExitCode::SUCCESS),
        Some(reply) => {
            eprintln!("status {}", reply.status);
            println!("{}", String::from_utf8_lossy(&reply.body));
            Ok(if reply.status == 200 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
    }
}

/// The deadline `seconds` from now; an error, not an overflow, when that is past what a date
/// can hold.
fn deadline_in(seconds: u64) -> anyhow::Result<DateTime<Utc>> {
    i64::try_from(seconds)
        .ok()
        .and_then(chrono::Duration::try_seconds)
        .and_then(|d| Utc::now().checked_add_signed(d))
        .ok_or_else(|| anyhow!("--deadline-seconds {seconds} is too far in the future"))
}
