//! `liveness score IMG [IMG2] [--tag T]...`: the pipeline on local files, no broker.

use std::path::Path;
use std::process::ExitCode;

use liveness::api::{ErrorBody, StatusCode};
use liveness::config::Settings;
use liveness::{Engine, ScoreError};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: super::Images,
    /// Pretty-print the JSON.
    #[arg(long)]
    pretty: bool,
}

/// Exit code for a request refused as invalid (the BWS error body is printed).
const EXIT_INVALID: u8 = 2;

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(config)?;
    let request = args.input.request()?;
    let engine = Engine::new(settings.scoring, 1)?;
    let print = |v: &dyn erased::Json| -> anyhow::Result<()> {
        println!("{}", v.to_json(args.pretty)?);
        Ok(())
    };
    match engine.score(&request) {
        Ok(response) => {
            print(&response)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(ScoreError::InvalidArgument(message)) => {
            print(&ErrorBody::new(StatusCode::InvalidArgument, message))?;
            Ok(ExitCode::from(EXIT_INVALID))
        }
        Err(e @ ScoreError::Internal(_)) => {
            print(&ErrorBody::new(StatusCode::Internal, e.to_string()))?;
            Ok(ExitCode::FAILURE)
        }
    }
}

mod erased {
    /// Serialises either body type the same way.
    pub trait Json {
        fn to_json(&self, pretty: bool) -> serde_json::Result<String>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self, pretty: bool) -> serde_json::Result<String> {
            if pretty {
                serde_json::to_string_pretty(self)
            } else {
                serde_json::to_string(self)
            }
        }
    }
}
