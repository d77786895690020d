//! `keyroll compliance [--org ORG] [--status S] [--csv FILE]`.

use std::io::Write;

use serde_json::{json, Value};

use super::Ctx;
use crate::args::ComplianceArgs;
use crate::client::Body;
use crate::error::{CliError, Result};
use crate::output::{details, field, table};

pub async fn run(ctx: &Ctx, args: ComplianceArgs) -> Result<()> {
    let mut query = Vec::new();
    if let Some(organization) = &args.organization {
        query.push(("organizationId", organization.clone()));
    }
    if let Some(status) = &args.status {
        query.push(("status", status.clone()));
    }
    if let Some(path) = &args.csv {
        let lines = write_csv(ctx, &query, path).await?;
        let summary = json!({ "file": path.display().to_string(), "keys": lines });
        ctx.show(&summary, |_| {
            format!("wrote {lines} keys to {}\n", path.display())
        });
        return Ok(());
    }
    let report = ctx.api.get("/v1/compliance", &query).await?;
    let keys = ctx
        .all_pages("/v1/compliance", &query, "keys", None)
        .await?;
    let mut whole = report.clone();
    whole["keys"] = json!(keys);
    whole["nextCursor"] = Value::Null;
    ctx.show(&whole, |r| {
        let mut out = details(&[
            ("generated", field(r, "generatedAt")),
            ("active keys", field(r, "activeKeys")),
            ("compliant", field(r, "compliant")),
            ("in progress", field(r, "inProgress")),
            ("blocked", field(r, "blocked")),
            ("non-compliant", field(r, "nonCompliant")),
            ("coverage", format!("{} %", field(r, "coveragePercent"))),
            (
                "max age",
                format!(
                    "{} days ({} embedded)",
                    field(r, "maxAgeDays"),
                    field(r, "embeddedMaxAgeDays")
                ),
            ),
        ]);
        let rows: Vec<Vec<String>> = keys
            .iter()
            .map(|k| {
                vec![
                    field(k, "keyId"),
                    field(k, "organizationId"),
                    field(k, "class"),
                    field(k, "prefix"),
                    field(k, "ageDays"),
                    field(k, "status"),
                    field(k, "rotationId"),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &[
                "KEY",
                "ORGANIZATION",
                "CLASS",
                "PREFIX",
                "AGE (DAYS)",
                "STATUS",
                "ROTATION",
            ],
            &rows,
        ));
        out
    });
    Ok(())
}

/// Every page of the CSV report into `path` (one header row); how many keys.
async fn write_csv(ctx: &Ctx, query: &[(&str, String)], path: &std::path::Path) -> Result<usize> {
    let failed = |e: std::io::Error| CliError::Failed(format!("{}: {e}", path.display()));
    let mut file = std::fs::File::create(path).map_err(failed)?;
    let mut cursor: Option<String> = None;
    let mut keys = 0;
    let mut first = true;
    loop {
        let mut query = query.to_vec();
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.clone()));
        }
        let (text, headers) = ctx
            .api
            .send_text("GET", "/v1/compliance.csv", &query, Body::Empty)
            .await?;
        let mut lines = text.lines();
        // Only the first page starts with the header row.
        if first {
            writeln!(file, "{}", lines.next().unwrap_or_default()).map_err(failed)?;
            first = false;
        }
        for line in lines.filter(|l| !l.is_empty()) {
            writeln!(file, "{line}").map_err(failed)?;
            keys += 1;
        }
        cursor = headers
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_cursor);
        if cursor.is_none() {
            return Ok(keys);
        }
    }
}

/// The `cursor` of a `Link: <…?cursor=…>; rel="next"` header.
fn next_cursor(link: &str) -> Option<String> {
    let part = link.split(',').find(|p| p.contains("rel=\"next\""))?;
    let target = part.split('<').nth(1)?.split('>').next()?;
    let url = url::Url::parse("http://keyroll.invalid")
        .ok()?
        .join(target)
        .ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "cursor")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_pages_cursor_is_read_from_the_link_header() {
        assert_eq!(
            next_cursor("</v1/compliance.csv?status=overdue&cursor=abc%3D>; rel=\"next\"")
                .as_deref(),
            Some("abc=")
        );
        assert_eq!(next_cursor("</v1/compliance.csv>; rel=\"prev\""), None);
    }
}
