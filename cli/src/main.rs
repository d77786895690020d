//! `keyroll`: see lib.rs. Exit codes are error.rs's.

use std::process::ExitCode;

use clap::Parser;
use keyroll_cli::args::Cli;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match keyroll_cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("keyroll: {error}");
            error.exit_code()
        }
    }
}
