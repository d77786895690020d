//! `keyroll rotate KEY [--grace 72h] [--at TIME] [--emergency --reason …]`.

use serde_json::json;

use super::rotations::rotation_details;
use super::{given, Ctx};
use crate::args::RotateArgs;
use crate::client::segment;
use crate::error::Result;
use crate::output::field;

pub async fn run(ctx: &Ctx, args: RotateArgs) -> Result<()> {
    let key = segment(&args.key);
    let answer = if args.emergency {
        let body = given(json!({ "reason": args.reason, "gracePeriodSeconds": args.grace }));
        ctx.api
            .post(&format!("/v1/keys/{key}/emergency-rotation"), body)
            .await?
    } else {
        // Without --at the new secret is current now, and shown in the answer.
        let body = given(json!({
            "scheduledAt": args.at,
            "immediate": args.at.is_none().then_some(true),
            "gracePeriodSeconds": args.grace,
            "reason": args.reason,
        }));
        ctx.api
            .post(&format!("/v1/keys/{key}/rotations"), body)
            .await?
    };
    ctx.show(&answer, |a| {
        let mut out = rotation_details(&a["rotation"]);
        if a["secret"].is_string() {
            out.push_str(&format!(
                "new secret (shown once): {}\n",
                field(a, "secret")
            ));
        }
        out
    });
    Ok(())
}
