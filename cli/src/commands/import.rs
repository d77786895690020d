//! `keyroll import FILE.csv`: the file in batches of the import route's size, a
//! progress bar (a line per batch when not on a terminal), resumable (a progress file
//! beside the CSV records the rows done; a re-run goes on from there, and a batch sent
//! twice is reported as duplicates, never imported twice), then a summary.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Ctx;
use crate::args::ImportArgs;
use crate::client::Body;
use crate::error::{CliError, Result};
use crate::output::details;

/// What earlier runs did, kept beside the file until the import ends.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Progress {
    /// The file's size when the import began: another file is not resumed.
    file_bytes: u64,
    rows_done: usize,
    imported: u64,
    duplicates: u64,
    invalid: u64,
}

fn progress_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".keyroll-progress");
    PathBuf::from(name)
}

pub async fn run(ctx: &Ctx, args: ImportArgs) -> Result<()> {
    let failed =
        |path: &Path, e: std::io::Error| CliError::Failed(format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(&args.file).map_err(|e| failed(&args.file, e))?;
    let (header, rows) = records(&text);
    let header =
        header.ok_or_else(|| CliError::Usage(format!("{}: empty file", args.file.display())))?;
    let file_bytes = text.len() as u64;
    let saved = progress_path(&args.file);
    let mut progress = match std::fs::read_to_string(&saved) {
        Ok(saved_text) if !args.restart => {
            let earlier: Progress = serde_json::from_str(&saved_text).map_err(|e| {
                CliError::Failed(format!("{}: {e}; pass --restart", saved.display()))
            })?;
            if earlier.file_bytes != file_bytes || earlier.rows_done > rows.len() {
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
            file_bytes,
            ..Progress::default()
        },
    };
    let bar = Bar::new(rows.len());
    let mut problems: Vec<String> = Vec::new();
    bar.show(&progress);
    for batch in rows[progress.rows_done..].chunks(args.batch as usize) {
        let mut body =
            String::with_capacity(header.len() + batch.iter().map(|r| r.len() + 1).sum::<usize>());
        body.push_str(header);
        body.push('\n');
        for row in batch {
            body.push_str(row);
            body.push('\n');
        }
        let answer = ctx
            .api
            .send("POST", "/v1/keys/import", &[], Body::Csv(body))
            .await?;
        let count = |name: &str| answer[name].as_u64().unwrap_or(0);
        progress.imported += count("imported");
        progress.duplicates += count("duplicates");
        progress.invalid += count("invalid");
        for row in answer["rows"].as_array().into_iter().flatten() {
            if row["outcome"] == "invalid" {
                // The route numbers a batch's rows from 1; the file's, after the header.
                let n = progress.rows_done + row["row"].as_u64().unwrap_or(0) as usize;
                problems.push(format!(
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
    let _ = std::fs::remove_file(&saved);
    for problem in problems.iter().take(20) {
        eprintln!("import: {problem}");
    }
    if problems.len() > 20 {
        eprintln!("import: … and {} more invalid rows", problems.len() - 20);
    }
    let summary = json!({
        "rows": rows.len(),
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
    if progress.invalid > 0 {
        return Err(CliError::Problems(format!(
            "{} rows were invalid",
            progress.invalid
        )));
    }
    Ok(())
}

/// Written aside and renamed over, so an interrupted write never leaves half a file.
fn save(path: &Path, progress: &Progress) -> Result<()> {
    let failed = |e: std::io::Error| CliError::Failed(format!("{}: {e}", path.display()));
    let aside = path.with_extension("keyroll-progress.tmp");
    std::fs::write(&aside, serde_json::to_vec(progress).unwrap_or_default()).map_err(failed)?;
    std::fs::rename(&aside, path).map_err(failed)
}

/// The header and the data records of CSV `text` (RFC 4180: a quoted field may hold
/// commas, quotes doubled and line breaks), each without its line break; blank lines
/// are skipped.
fn records(text: &str) -> (Option<&str>, Vec<&str>) {
    let mut found = Vec::new();
    let (mut start, mut quoted) = (0, false);
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => {
                found.push(text[start..i].trim_end_matches('\r'));
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < text.len() {
        found.push(text[start..].trim_end_matches('\r'));
    }
    let mut rows = found.into_iter().filter(|r| !r.trim().is_empty());
    (rows.next(), rows.collect())
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
    fn records_keep_quoted_commas_and_line_breaks() {
        let text = "id,name\r\na,\"x, y\"\n\nb,\"two\nlines\"\nc,\"say \"\"hi\"\"\"";
        let (header, rows) = records(text);
        assert_eq!(header, Some("id,name"));
        assert_eq!(
            rows,
            vec!["a,\"x, y\"", "b,\"two\nlines\"", "c,\"say \"\"hi\"\"\""]
        );
        assert_eq!(records(""), (None, vec![]));
    }
}
