//! `keyroll import FILE.csv`: the file in batches of the import route's size, a
//! progress bar (a line per batch when not on a terminal), resumable (a progress file
//! beside the CSV records the rows done; a re-run goes on from there, and a batch sent
//! twice is reported as duplicates, never imported twice), then a summary. The file is
//! read with the route's own CSV rules (`keyroll_core::csv`), so row numbers agree.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use keyroll_core::csv;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::Ctx;
use crate::args::ImportArgs;
use crate::client::Body;
use crate::error::{CliError, FieldProblem, Result};
use crate::output::details;

/// What earlier runs did, kept beside the file until the import ends.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Progress {
    /// The SHA-256 of the file the import began with: another file, or this one
    /// edited, is not resumed.
    file_sha256: String,
    rows_done: usize,
    imported: u64,
    duplicates: u64,
    invalid: u64,
    /// The first invalid rows, with why.
    problems: Vec<String>,
}

/// How many invalid rows are named (the counts cover them all).
const NAMED_PROBLEMS: usize = 20;

fn progress_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".keyroll-progress");
    PathBuf::from(name)
}

pub async fn run(ctx: &Ctx, args: ImportArgs) -> Result<()> {
    let failed =
        |path: &Path, e: std::io::Error| CliError::Failed(format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(&args.file).map_err(|e| failed(&args.file, e))?;
    let mut records = csv::records(&text)
        .map_err(|e| CliError::Usage(format!("{}: {e}", args.file.display())))?
        .into_iter();
    let header = records
        .next()
        .ok_or_else(|| CliError::Usage(format!("{}: empty file", args.file.display())))?;
    let rows: Vec<String> = records.map(|record| csv::encode(&record)).collect();
    let header = csv::encode(&header);
    let file_sha256 = hex::encode(Sha256::digest(text.as_bytes()));
    let saved = progress_path(&args.file);
    let mut progress = match std::fs::read_to_string(&saved) {
        Ok(saved_text) if !args.restart => {
            let earlier: Progress = serde_json::from_str(&saved_text).map_err(|e| {
                CliError::Usage(format!("{}: {e}; pass --restart", saved.display()))
            })?;
            if earlier.file_sha256 != file_sha256 || earlier.rows_done > rows.len() {
                return Err(CliError::Usage(format!(
                    "{} is from another version of the file; pass --restart to import it from the first row",
                    saved.display()
                )));
            }
            eprintln!(
                "import: resuming after row {} of {}",
                earlier.rows_done,
                rows.len()
            );
            earlier
        }
        _ => Progress {
            file_sha256,
            ..Progress::default()
        },
    };
    let bar = Bar::new(rows.len());
    bar.show(&progress);
    let mut stopped = None;
    for batch in rows[progress.rows_done..].chunks(args.batch as usize) {
        let mut body =
            String::with_capacity(header.len() + batch.iter().map(|r| r.len() + 1).sum::<usize>());
        body.push_str(&header);
        body.push('\n');
        for row in batch {
            body.push_str(row);
            body.push('\n');
        }
        let answer = match ctx
            .api
            .send("POST", "/v1/keys/import", &[], Body::Csv(body))
            .await
        {
            Ok(answer) => answer,
            Err(error) => {
                stopped = Some(in_file_rows(error, progress.rows_done));
                break;
            }
        };
        let count = |name: &str| answer[name].as_u64().unwrap_or(0);
        progress.imported += count("imported");
        progress.duplicates += count("duplicates");
        progress.invalid += count("invalid");
        for row in answer["rows"].as_array().into_iter().flatten() {
            if row["outcome"] == "invalid" && progress.problems.len() < NAMED_PROBLEMS {
                // The route numbers a batch's rows from 1; the file's, after the header.
                let n = progress.rows_done + row["row"].as_u64().unwrap_or(0) as usize;
                progress.problems.push(format!(
                    "row {n}: {}",
                    row["error"].as_str().unwrap_or("invalid")
                ));
            }
        }
        progress.rows_done += batch.len();
        save(&saved, &progress)?;
        bar.show(&progress);
    }
    bar.finish();
    if stopped.is_none() {
        let _ = std::fs::remove_file(&saved);
    }
    for problem in &progress.problems {
        eprintln!("import: {problem}");
    }
    if progress.invalid as usize > progress.problems.len() {
        eprintln!(
            "import: … and {} more invalid rows",
            progress.invalid as usize - progress.problems.len()
        );
    }
    let summary = json!({
        "rows": rows.len(),
        "rowsDone": progress.rows_done,
        "imported": progress.imported,
        "duplicates": progress.duplicates,
        "invalid": progress.invalid,
    });
    ctx.show(&summary, |s: &Value| {
        details(&[
            ("rows", s["rows"].to_string()),
            ("imported", s["imported"].to_string()),
            ("duplicates", s["duplicates"].to_string()),
            ("invalid", s["invalid"].to_string()),
        ])
    });
    if let Some(error) = stopped {
        eprintln!(
            "import: stopped after row {}; fix the file or try again, and the next run goes on from there",
            progress.rows_done
        );
        return Err(error);
    }
    if progress.invalid > 0 {
        return Err(CliError::Problems(format!(
            "{} rows were invalid",
            progress.invalid
        )));
    }
    Ok(())
}

/// A refused batch's fields (`keys[i].name`, numbered in the batch from 0) named by
/// their row in the file (`row N name`).
fn in_file_rows(error: CliError, rows_done: usize) -> CliError {
    match error {
        CliError::Api {
            status,
            title,
            detail,
            fields,
        } => CliError::Api {
            status,
            title,
            detail,
            fields: fields
                .into_iter()
                .map(|problem| FieldProblem {
                    field: row_of(&problem.field, rows_done),
                    ..problem
                })
                .collect(),
        },
        other => other,
    }
}

/// `keys[i].name` as `row N name`; any other field as it is.
fn row_of(field: &str, rows_done: usize) -> String {
    let Some((index, rest)) = field
        .strip_prefix("keys[")
        .and_then(|tail| tail.split_once(']'))
    else {
        return field.to_owned();
    };
    let Ok(index) = index.parse::<usize>() else {
        return field.to_owned();
    };
    let row = rows_done + index + 1;
    match rest.strip_prefix('.') {
        Some(name) => format!("row {row} {name}"),
        None => format!("row {row}"),
    }
}

/// Written aside and renamed over, so an interrupted write never leaves half a file.
fn save(path: &Path, progress: &Progress) -> Result<()> {
    let failed = |e: std::io::Error| CliError::Failed(format!("{}: {e}", path.display()));
    let aside = path.with_extension("keyroll-progress.tmp");
    std::fs::write(&aside, serde_json::to_vec(progress).unwrap_or_default()).map_err(failed)?;
    std::fs::rename(&aside, path).map_err(failed)
}

/// Progress on standard error: a bar on a terminal, a line per batch otherwise.
struct Bar {
    total: usize,
    terminal: bool,
}

impl Bar {
    fn new(total: usize) -> Self {
        Self {
            total,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn show(&self, p: &Progress) {
        let counts = format!(
            "{}/{} rows ({} imported, {} duplicates, {} invalid)",
            p.rows_done, self.total, p.imported, p.duplicates, p.invalid
        );
        let mut err = std::io::stderr();
        if self.terminal {
            let width = 30;
            let filled = (p.rows_done * width)
                .checked_div(self.total)
                .unwrap_or(width);
            let _ = write!(
                err,
                "\r[{}{}] {counts}",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
        } else {
            let _ = writeln!(err, "import: {counts}");
        }
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_batchs_fields_are_named_by_their_row_in_the_file() {
        let problem = |field: &str, message: &str| FieldProblem {
            field: field.into(),
            message: message.into(),
        };
        let mut fields = vec![
            problem("keys[0].prefix", "bad"),
            problem("keys[12].name", "too long"),
        ];
        fields.extend((0..6).map(|_| problem("keys[13]", "not an object")));
        let error = CliError::Api {
            status: 422,
            title: "Invalid request".into(),
            detail: None,
            fields,
        };
        assert_eq!(
            in_file_rows(error, 2000).to_string(),
            "422 Invalid request: row 2001 prefix: bad; row 2013 name: too long; row 2014: not an object; row 2014: not an object; row 2014: not an object; and 3 more"
        );
        assert_eq!(row_of("body", 5), "body");
        assert_eq!(row_of("keys[x].name", 5), "keys[x].name");
    }
}
