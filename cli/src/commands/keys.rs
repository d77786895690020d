//! `keyroll keys list|show|create|update|revoke`.

use serde_json::{json, Map, Value};

use super::{given, Ctx};
use crate::args::KeysCommand;
use crate::client::segment;
use crate::error::{CliError, Result};
use crate::output::{details, field, table};

pub async fn run(ctx: &Ctx, command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::List {
            organization,
            status,
            prefix,
            limit,
        } => {
            let mut query = Vec::new();
            for (name, value) in [
                ("organizationId", organization),
                ("status", status),
                ("prefix", prefix),
            ] {
                if let Some(value) = value {
                    query.push((name, value));
                }
            }
            let keys = ctx.all_pages("/v1/keys", &query, "keys", limit).await?;
            ctx.show(&json!({ "keys": keys }), |_| key_table(&keys));
        }
        KeysCommand::Show { key } => {
            let answer = ctx
                .api
                .get(&format!("/v1/keys/{}", segment(&key)), &[])
                .await?;
            ctx.show(&answer, |a| key_details(&a["key"]));
        }
        KeysCommand::Create {
            organization,
            name,
            rate_limit,
            scopes,
            class,
            expires_at,
        } => {
            let body = given(json!({
                "organizationId": organization, "name": name, "rateLimit": rate_limit,
                "scopes": scopes, "class": class, "expiresAt": expires_at,
            }));
            let answer = ctx.api.post("/v1/keys", body).await?;
            ctx.show(&answer, |a| {
                format!(
                    "{}\nsecret (shown once): {}\n",
                    key_details(&a["key"]).trim_end(),
                    field(a, "secret")
                )
            });
        }
        KeysCommand::Update {
            key,
            name,
            rate_limit,
            scopes,
            expires_at,
            labels,
        } => {
            let mut body = Map::new();
            if let Some(name) = name {
                body.insert("name".into(), json!(name));
            }
            if let Some(rate_limit) = rate_limit {
                body.insert("rateLimit".into(), json!(rate_limit));
            }
            if !scopes.is_empty() {
                body.insert("scopes".into(), json!(scopes));
            }
            match expires_at.as_deref() {
                Some("never") => {
                    body.insert("expiresAt".into(), Value::Null);
                }
                Some(at) => {
                    body.insert("expiresAt".into(), json!(at));
                }
                None => {}
            }
            if !labels.is_empty() {
                let mut metadata = Map::new();
                for label in labels {
                    let (name, value) = label.split_once('=').ok_or_else(|| {
                        CliError::Usage(format!("--label {label:?}: write name=value"))
                    })?;
                    // A merge patch: null removes the label.
                    let value = if value.is_empty() {
                        Value::Null
                    } else {
                        json!(value)
                    };
                    metadata.insert(name.into(), value);
                }
                body.insert("metadata".into(), Value::Object(metadata));
            }
            if body.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change: pass --name, --rate-limit, --scope, --expires-at or --label".into(),
                ));
            }
            let answer = ctx
                .api
                .send(
                    "PATCH",
                    &format!("/v1/keys/{}", segment(&key)),
                    &[],
                    crate::client::Body::Json(Value::Object(body)),
                )
                .await?;
            ctx.show(&answer, |a| key_details(&a["key"]));
        }
        KeysCommand::Revoke { key, reason } => {
            let answer = ctx
                .api
                .post(
                    &format!("/v1/keys/{}/revoke", segment(&key)),
                    json!({ "reason": reason }),
                )
                .await?;
            ctx.show(&answer, |a| key_details(&a["key"]));
        }
    }
    Ok(())
}

fn key_table(keys: &[Value]) -> String {
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            let current = k["versions"]
                .as_array()
                .and_then(|v| v.iter().find(|v| v["stage"] == "current"))
                .map(|v| field(v, "prefix"))
                .unwrap_or_else(|| "-".into());
            vec![
                field(k, "id"),
                field(k, "organizationId"),
                field(k, "name"),
                field(k, "status"),
                current,
                field(k, "activeRotationId"),
                field(k, "createdAt"),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "ORGANIZATION",
            "NAME",
            "STATUS",
            "CURRENT",
            "ROTATION",
            "CREATED",
        ],
        &rows,
    )
}

pub fn key_details(key: &Value) -> String {
    let mut out = details(&[
        ("id", field(key, "id")),
        ("organization", field(key, "organizationId")),
        ("name", field(key, "name")),
        ("status", field(key, "status")),
        ("class", field(key, "class")),
        ("scopes", field(key, "scopes")),
        ("rate limit", field(key, "rateLimit")),
        ("created", field(key, "createdAt")),
        ("expires", field(key, "expiresAt")),
        ("rotation", field(key, "activeRotationId")),
    ]);
    if let Some(versions) = key["versions"].as_array() {
        let rows: Vec<Vec<String>> = versions
            .iter()
            .map(|v| {
                vec![
                    field(v, "version"),
                    field(v, "prefix"),
                    field(v, "stage"),
                    field(v, "createdAt"),
                    field(v, "expiresAt"),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &["VERSION", "PREFIX", "STAGE", "CREATED", "EXPIRES"],
            &rows,
        ));
    }
    out
}
