//! `keyroll rotate KEY [--grace 72h] [--at TIME] [--emergency --reason …]`.

use serde_json::json;

use super::rotations::rotation_details;
use super::Ctx;
use crate::args::RotateArgs;
use crate::client::segment;
use crate::error::Result;
use crate::output::field;

pub async fn run(ctx: &Ctx, args: RotateArgs) -> Result<()> {
    let key = segment(&args.key);
    let answer = if args.emergency {
        let mut body = json!({ "reason": args.reason });
        if let Some(grace) = args.grace {
            body["gracePeriodSeconds"] = json!(grace);
        }
        ctx.api
            .post(&format!("/v1/keys/{key}/emergency-rotation"), body)
            .await?
    } else {
        // Without --at the new secret is current now, and shown in the answer.
        let mut body = match &args.at {
            Some(at) => json!({ "scheduledAt": at }),
            None => json!({ "immediate": true }),
        };
        if let Some(grace) = args.grace {
            body["gracePeriodSeconds"] = json!(grace);
        }
        if let Some(reason) = &args.reason {
            body["reason"] = json!(reason);
        }
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
