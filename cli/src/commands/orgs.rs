//! `keyroll orgs contacts ORG list|add|remove` and `keyroll orgs webhooks ORG
//! list|add|remove|rotate-secret`.

use serde_json::{json, Value};

use super::{given, Ctx};
use crate::args::{ContactsCommand, OrgsCommand, WebhooksCommand};
use crate::client::{segment, Body};
use crate::error::Result;
use crate::output::{field, table};

pub async fn run(ctx: &Ctx, command: OrgsCommand) -> Result<()> {
    match command {
        OrgsCommand::Contacts {
            organization,
            command,
        } => {
            contacts(
                ctx,
                &format!("/v1/organizations/{}/contacts", segment(&organization)),
                command,
            )
            .await
        }
        OrgsCommand::Webhooks {
            organization,
            command,
        } => {
            webhooks(
                ctx,
                &format!("/v1/organizations/{}/webhooks", segment(&organization)),
                command,
            )
            .await
        }
    }
}

/// The types asked for; none named is all of them, which the body says by leaving
/// `types` out.
fn all_when_empty(types: Vec<String>) -> Option<Vec<String>> {
    (!types.is_empty()).then_some(types)
}

/// The list `name` of an answer.
fn items<'a>(answer: &'a Value, name: &str) -> &'a [Value] {
    answer[name]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Removes `id` under `path` (a contact or an endpoint).
async fn remove(ctx: &Ctx, path: &str, id: &str) -> Result<()> {
    ctx.api
        .send(
            "DELETE",
            &format!("{path}/{}", segment(id)),
            &[],
            Body::Empty,
        )
        .await?;
    ctx.show(&json!({ "removed": id }), |_| format!("removed {id}\n"));
    Ok(())
}

async fn contacts(ctx: &Ctx, path: &str, command: ContactsCommand) -> Result<()> {
    match command {
        ContactsCommand::List => {
            let answer = ctx.api.get(path, &[]).await?;
            ctx.show(&answer, |a| contact_table(items(a, "contacts")));
        }
        ContactsCommand::Add { email, types } => {
            let answer = ctx
                .api
                .post(
                    path,
                    given(json!({ "email": email, "types": all_when_empty(types) })),
                )
                .await?;
            ctx.show(&answer, |a| contact_table(std::slice::from_ref(a)));
        }
        ContactsCommand::Remove { contact } => remove(ctx, path, &contact).await?,
    }
    Ok(())
}

fn contact_table(contacts: &[Value]) -> String {
    let rows: Vec<Vec<String>> = contacts
        .iter()
        .map(|c| {
            vec![
                field(c, "id"),
                field(c, "email"),
                field(c, "confirmed"),
                field(c, "types"),
            ]
        })
        .collect();
    table(&["ID", "EMAIL", "CONFIRMED", "TYPES"], &rows)
}

async fn webhooks(ctx: &Ctx, path: &str, command: WebhooksCommand) -> Result<()> {
    match command {
        WebhooksCommand::List => {
            let answer = ctx.api.get(path, &[]).await?;
            ctx.show(&answer, |a| webhook_table(items(a, "webhooks")));
        }
        WebhooksCommand::Add { endpoint, types } => {
            let answer = ctx
                .api
                .post(
                    path,
                    given(json!({ "url": endpoint, "types": all_when_empty(types) })),
                )
                .await?;
            ctx.show(&answer, with_secret);
        }
        WebhooksCommand::Remove { webhook } => remove(ctx, path, &webhook).await?,
        WebhooksCommand::RotateSecret { webhook } => {
            let answer = ctx
                .api
                .send(
                    "POST",
                    &format!("{path}/{}/rotate-secret", segment(&webhook)),
                    &[],
                    Body::Empty,
                )
                .await?;
            ctx.show(&answer, with_secret);
        }
    }
    Ok(())
}

/// An endpoint and its new signing secret, shown once.
fn with_secret(answer: &Value) -> String {
    let webhook = if answer["webhook"].is_object() {
        &answer["webhook"]
    } else {
        answer
    };
    format!(
        "{}signing secret (shown once): {}\n",
        webhook_table(std::slice::from_ref(webhook)),
        field(answer, "secret")
    )
}

fn webhook_table(webhooks: &[Value]) -> String {
    let rows: Vec<Vec<String>> = webhooks
        .iter()
        .map(|w| {
            vec![
                field(w, "id"),
                field(w, "url"),
                field(w, "disabledAt"),
                field(w, "types"),
            ]
        })
        .collect();
    table(&["ID", "URL", "DISABLED", "TYPES"], &rows)
}
