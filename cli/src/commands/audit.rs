//! `keyroll audit KEY [--verify]`.

use serde_json::{json, Value};

use super::Ctx;
use crate::args::AuditArgs;
use crate::client::segment;
use crate::error::{CliError, Result};
use crate::output::{details, field, table};

pub async fn run(ctx: &Ctx, args: AuditArgs) -> Result<()> {
    let path = format!("/v1/keys/{}/audit", segment(&args.key));
    // The first page carries the chain's report (over the whole chain); each page
    // checks the chain again, so pages are as large as the route allows.
    let first = ctx.api.get(&path, &[("limit", "1000".into())]).await?;
    let mut events = first["events"].as_array().cloned().unwrap_or_default();
    let mut cursor = first["nextCursor"].as_str().map(str::to_owned);
    while let Some(next) = cursor {
        let page = ctx
            .api
            .get(&path, &[("limit", "1000".into()), ("cursor", next)])
            .await?;
        events.extend(page["events"].as_array().cloned().unwrap_or_default());
        cursor = page["nextCursor"].as_str().map(str::to_owned);
    }
    let whole = json!({
        "keyId": first["keyId"],
        "chainValid": first["chainValid"],
        "chain": first["chain"],
        "events": events,
    });
    ctx.show(&whole, |w| {
        let rows: Vec<Vec<String>> = events
            .iter()
            .map(|e| {
                vec![
                    field(e, "seq"),
                    field(e, "at"),
                    field(e, "action"),
                    field(e, "actor"),
                    field(e, "rotationId"),
                    field(e, "reason"),
                ]
            })
            .collect();
        let mut out = table(
            &["SEQ", "AT", "ACTION", "ACTOR", "ROTATION", "REASON"],
            &rows,
        );
        if args.verify {
            out.push('\n');
            out.push_str(&chain_details(w));
        }
        out
    });
    if args.verify && first["chainValid"] != Value::Bool(true) {
        return Err(CliError::Problems(format!(
            "the audit chain of {} does not verify (first broken event: {})",
            args.key,
            field(&first["chain"], "firstBroken")
        )));
    }
    Ok(())
}

fn chain_details(whole: &Value) -> String {
    let chain = &whole["chain"];
    details(&[
        ("chain valid", field(whole, "chainValid")),
        ("authenticated", field(chain, "authenticated")),
        ("events", field(chain, "events")),
        ("first broken", field(chain, "firstBroken")),
    ])
}
