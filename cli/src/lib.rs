//! `keyroll`, the operator's command line. Every subcommand is one or a few requests to
//! keyroll's API (its paths and bodies are the OpenAPI document's; `tests/walk.rs` runs
//! every subcommand against keyroll-local, so a path or a field that drifts fails it),
//! shown as a table or, with `--json`, as keyroll's own JSON.
//!
//! | piece | file |
//! |---|---|
//! | the command line | `args.rs` |
//! | requests, auth, problems | `client.rs` |
//! | SigV4 for the deployed API | `sigv4.rs` |
//! | tables and fields | `output.rs` |
//! | `72h`, `30m` | `duration.rs` |
//! | exit codes | `error.rs` |
//! | one file per subcommand | `commands/` |

pub mod args;
pub mod client;
pub mod commands;
pub mod duration;
pub mod error;
pub mod output;
pub mod sigv4;

use args::Cli;
use client::{Api, Auth};
use error::Result;

/// Runs `cli`, writing what it shows to standard output.
pub async fn run(cli: Cli) -> Result<()> {
    if let args::Command::Completions { shell } = cli.command {
        use clap::CommandFactory;
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "keyroll",
            &mut std::io::stdout(),
        );
        return Ok(());
    }
    let auth = match cli.token.clone() {
        Some(token) => Auth::Token(token),
        None => Auth::SigV4(sigv4::Signer::from_environment(cli.region.clone(), &cli.url).await?),
    };
    let ctx = commands::Ctx {
        api: Api::new(cli.url.clone(), auth)?,
        json: cli.json,
    };
    commands::run(&ctx, cli.command).await
}
