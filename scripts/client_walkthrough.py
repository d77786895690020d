"""A customer's first session with keyroll, through a client generated from its
OpenAPI document by openapi-python-client (PyPI): create a key, rotate it, verify
both secrets during the grace, read the audit trail, revoke the key (both secrets
refused at once), and see a refusal as a typed problem naming its field. Run by scripts/client-walkthrough, which generates the
`keyroll_client` package and starts keyroll-local.

    python client_walkthrough.py <base-url> <operator-token>
"""

import sys
import uuid

from keyroll_client import AuthenticatedClient
from keyroll_client.api.audit import audit
from keyroll_client.api.keys import create_key, get_key, revoke_key
from keyroll_client.api.rotations import schedule_rotation
from keyroll_client.api.verify import verify
from keyroll_client.models import (
    AuditResponse,
    CreateKeyRequest,
    KeyWithSecretResponse,
    KeyResponse,
    Problem,
    RevokeKeyRequest,
    RotationWithSecretResponse,
    ScheduleRotationRequest,
    VerifyRequest,
    VerifyResponse,
)


def expect(value, kind, what):
    """The typed answer `what` should have been, or the problem that came instead."""
    if not isinstance(value, kind):
        sys.exit(f"client walkthrough: {what}: expected {kind.__name__}, got {value!r}")
    return value


def check(condition, what):
    if not condition:
        sys.exit(f"client walkthrough: {what}")


def main(base_url, token):
    client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)

    created = expect(
        create_key.sync(
            client=client,
            body=CreateKeyRequest(
                organization_id="org_walkthrough",
                name="walkthrough backend",
                rate_limit=100,
                scopes=["charges:read"],
            ),
            idempotency_key=str(uuid.uuid4()),
        ),
        KeyWithSecretResponse,
        "create a key",
    )
    key_id, old_secret = created.key.id, created.secret
    print(f"created {key_id} ({created.key.versions[0].prefix}…)")

    rotated = expect(
        schedule_rotation.sync(
            key_id,
            client=client,
            body=ScheduleRotationRequest(immediate=True, grace_period_seconds=3600, reason="walkthrough"),
            idempotency_key=str(uuid.uuid4()),
        ),
        RotationWithSecretResponse,
        "rotate it",
    )
    new_secret = rotated.secret
    check(isinstance(new_secret, str) and new_secret != old_secret, "the rotation returns a new secret")
    print(f"rotation {rotated.rotation.id}: {rotated.rotation.status.value}, grace until {rotated.rotation.grace_ends_at}")

    # Zero downtime: during the grace both secrets work.
    for secret, stage in [(old_secret, "previous"), (new_secret, "current")]:
        verified = expect(verify.sync(client=client, body=VerifyRequest(secret=secret)), VerifyResponse, "verify")
        check(verified.valid and verified.key_id == key_id, f"the {stage} secret verifies: {verified!r}")
        check(verified.stage.value == stage, f"the {stage} secret's stage: {verified.stage}")
        print(f"{stage} secret: {verified.code.value}")
    wrong = expect(verify.sync(client=client, body=VerifyRequest(secret=new_secret[:-2] + "xx")), VerifyResponse, "verify")
    check(not wrong.valid, "an altered secret does not verify")

    key = expect(get_key.sync(key_id, client=client), KeyResponse, "read the key")
    check(len(key.key.versions) == 2, "the key holds both versions")

    trail = expect(audit.sync(key_id, client=client), AuditResponse, "read the audit trail")
    actions = [event.action.value for event in trail.events]
    check(actions == ["key.created", "rotation.scheduled", "rotation.started"], f"audit actions: {actions}")
    check(trail.chain_valid and trail.chain.valid, "the audit chain is intact")
    check(all(old_secret not in str(e.to_dict()) and new_secret not in str(e.to_dict()) for e in trail.events),
          "no secret in the audit trail")
    print(f"audit trail: {actions}, chain valid")

    # The integration is decommissioned: revoking the key kills both secrets now.
    revoked = expect(
        revoke_key.sync(
            key_id,
            client=client,
            body=RevokeKeyRequest(reason="walkthrough done"),
            idempotency_key=str(uuid.uuid4()),
        ),
        KeyResponse,
        "revoke the key",
    )
    check(revoked.key.status.value == "revoked", f"the key is revoked: {revoked.key.status}")
    for secret in (old_secret, new_secret):
        verified = expect(verify.sync(client=client, body=VerifyRequest(secret=secret)), VerifyResponse, "verify")
        check(verified.code.value == "REVOKED", f"a revoked key's secret: {verified.code}")
    print(f"revoked {key_id} at {revoked.key.revoked_at}: both secrets REVOKED")

    # A refusal is a typed RFC 9457 problem that names the field.
    refused = expect(
        create_key.sync(
            client=client,
            body=CreateKeyRequest(organization_id="org_walkthrough", name="too fast", rate_limit=0),
        ),
        Problem,
        "a key with rate limit 0",
    )
    fields = [error.field for error in refused.errors]
    check(refused.status == 422 and fields == ["rateLimit"], f"the problem names rateLimit: {refused!r}")
    print(f"refused: {refused.status} {refused.title}: {fields}")
    print("client walkthrough: passed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
