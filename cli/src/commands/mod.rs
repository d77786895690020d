//! One file per subcommand: its requests and how its answer is shown.

mod audit;
mod compliance;
mod import;
mod keys;
mod orgs;
mod rotate;
mod rotations;

use serde_json::Value;

use crate::args::Command;
use crate::client::Api;
use crate::error::{CliError, Result};

/// What every subcommand runs with.
pub struct Ctx {
    pub api: Api,
    /// Print keyroll's JSON rather than tables.
    pub json: bool,
}

impl Ctx {
    /// Prints `value` as JSON with `--json`, else what `human` makes of it.
    pub fn show(&self, value: &Value, human: impl FnOnce(&Value) -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            print!("{}", human(value));
        }
    }

    /// Every item of a listing, page by page through `nextCursor`, up to `limit`.
    pub async fn all_pages(
        &self,
        path: &str,
        query: &[(&str, String)],
        items: &str,
        limit: Option<usize>,
    ) -> Result<Vec<Value>> {
        Ok(self.pages(path, query, items, limit).await?.1)
    }

    /// [`Ctx::all_pages`], with the first page's answer (a report's totals).
    pub async fn pages(
        &self,
        path: &str,
        query: &[(&str, String)],
        items: &str,
        limit: Option<usize>,
    ) -> Result<(Value, Vec<Value>)> {
        let mut first: Option<Value> = None;
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = query.to_vec();
            let want = limit.map_or(PAGE, |l| (l - found.len()).min(PAGE));
            query.push(("limit", want.to_string()));
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor.clone()));
            }
            let page = self.api.get(path, &query).await?;
            let list = page[items].as_array().ok_or_else(|| {
                CliError::Failed(format!("{path}: no `{items}` in keyroll's answer"))
            })?;
            found.extend(list.iter().cloned());
            cursor = page["nextCursor"].as_str().map(str::to_owned);
            let first = first.get_or_insert(page);
            if cursor.is_none() || limit.is_some_and(|l| found.len() >= l) {
                return Ok((first.clone(), found));
            }
        }
    }
}

/// `body` without its null members: the options left out are not sent. (Not for a
/// merge patch, where null removes.)
pub fn given(mut body: Value) -> Value {
    if let Value::Object(members) = &mut body {
        members.retain(|_, value| !value.is_null());
    }
    body
}

/// Items asked for per page: every listing takes at least this many.
const PAGE: usize = 100;

pub async fn run(ctx: &Ctx, command: Command) -> Result<()> {
    match command {
        Command::Keys(command) => keys::run(ctx, command).await,
        Command::Rotate(args) => rotate::run(ctx, args).await,
        Command::Rotations(command) => rotations::run(ctx, command).await,
        Command::Compliance(args) => compliance::run(ctx, args).await,
        Command::Audit(args) => audit::run(ctx, args).await,
        Command::Import(args) => import::run(ctx, args).await,
        Command::Orgs(command) => orgs::run(ctx, command).await,
        Command::Completions { .. } => Ok(()),
    }
}
