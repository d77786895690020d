//! `keyroll rotations list|show|complete|extend|cancel`.

use serde_json::{json, Value};

use super::{given, Ctx};
use crate::args::RotationsCommand;
use crate::client::segment;
use crate::error::Result;
use crate::output::{details, field, table};

pub async fn run(ctx: &Ctx, command: RotationsCommand) -> Result<()> {
    match command {
        RotationsCommand::List {
            key: Some(key),
            limit,
        } => {
            let answer = ctx
                .api
                .get(&format!("/v1/keys/{}/rotations", segment(&key)), &[])
                .await?;
            let mut rotations = answer["rotations"].as_array().cloned().unwrap_or_default();
            if let Some(limit) = limit {
                rotations.truncate(limit);
            }
            ctx.show(&json!({ "rotations": rotations }), |_| {
                rotation_table(&rotations)
            });
        }
        RotationsCommand::List { key: None, limit } => {
            let rotations = ctx
                .all_pages("/v1/rotations", &[], "rotations", limit)
                .await?;
            ctx.show(&json!({ "rotations": rotations }), |_| {
                rotation_table(&rotations)
            });
        }
        RotationsCommand::Show { rotation } => {
            let answer = ctx
                .api
                .get(&format!("/v1/rotations/{}", segment(&rotation)), &[])
                .await?;
            ctx.show(&answer, |a| rotation_details(&a["rotation"]));
        }
        RotationsCommand::Complete {
            rotation,
            force,
            reason,
        } => {
            let body = given(json!({ "force": force, "reason": reason }));
            act(ctx, &rotation, "complete", body).await?;
        }
        RotationsCommand::Extend {
            rotation,
            by,
            reason,
        } => {
            let body = json!({ "gracePeriodSeconds": by, "reason": reason });
            act(ctx, &rotation, "extend", body).await?;
        }
        RotationsCommand::Cancel {
            rotation,
            force,
            reason,
        } => {
            let body = given(json!({ "force": force, "reason": reason }));
            act(ctx, &rotation, "cancel", body).await?;
        }
    }
    Ok(())
}

async fn act(ctx: &Ctx, rotation: &str, action: &str, body: Value) -> Result<()> {
    let answer = ctx
        .api
        .post(
            &format!("/v1/rotations/{}/{action}", segment(rotation)),
            body,
        )
        .await?;
    ctx.show(&answer, |a| rotation_details(&a["rotation"]));
    Ok(())
}

fn rotation_table(rotations: &[Value]) -> String {
    let rows: Vec<Vec<String>> = rotations
        .iter()
        .map(|r| {
            vec![
                field(r, "id"),
                field(r, "keyId"),
                field(r, "status"),
                field(r, "trigger"),
                format!("v{} -> v{}", field(r, "fromVersion"), field(r, "toVersion")),
                field(r, "scheduledAt"),
                field(r, "graceEndsAt"),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "KEY",
            "STATUS",
            "TRIGGER",
            "VERSIONS",
            "SCHEDULED",
            "GRACE ENDS",
        ],
        &rows,
    )
}

pub fn rotation_details(rotation: &Value) -> String {
    details(&[
        ("rotation", field(rotation, "id")),
        ("key", field(rotation, "keyId")),
        ("status", field(rotation, "status")),
        ("trigger", field(rotation, "trigger")),
        ("reason", field(rotation, "reason")),
        ("actor", field(rotation, "actor")),
        (
            "versions",
            format!(
                "v{} ({}) -> v{} ({})",
                field(rotation, "fromVersion"),
                field(rotation, "oldPrefix"),
                field(rotation, "toVersion"),
                field(rotation, "newPrefix")
            ),
        ),
        ("scheduled", field(rotation, "scheduledAt")),
        ("grace ends", field(rotation, "graceEndsAt")),
        ("completed", field(rotation, "completedAt")),
        ("retire", field(rotation, "retire")),
    ])
}
