"""schemathesis hooks for scripts/api-fuzz: fresh idempotency keys, GitHub's
signature on leak reports, and real public keys for delivery-key registrations.

keyroll-local trusts one test key of this run (KEYROLL_GITHUB_PUBLIC_KEYS); every
positive leak report schemathesis generates is signed with its private key over the
exact bytes that are sent, so the route is exercised past its signature check. Negative
cases keep the headers schemathesis generated, so they are refused (401) as they should.
"""

import base64
import json
import os
import uuid

import schemathesis
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

_KEY_FILE = os.environ.get("KEYROLL_FUZZ_GITHUB_KEY")
_KEY_ID = os.environ.get("KEYROLL_FUZZ_GITHUB_KEY_ID", "")
_KEY = None
if _KEY_FILE:
    with open(_KEY_FILE, "rb") as handle:
        _KEY = serialization.load_pem_private_key(handle.read(), password=None)


def _positive(case) -> bool:
    meta = getattr(case, "meta", None)
    generation = getattr(meta, "generation", None)
    mode = getattr(generation, "mode", None)
    return bool(mode is not None and mode.is_positive)


@schemathesis.hook
def before_call(context, case, kwargs):
    if not _positive(case):
        return
    headers = case.headers or {}
    for name in list(headers):
        # A client sends a fresh Idempotency-Key with each new request (reusing one
        # for another body is refused 422, as the IETF draft asks): so does this one.
        if name.lower() == "idempotency-key":
            headers[name] = str(uuid.uuid4())
    if case.path.endswith("/delivery-key") and isinstance(case.body, dict):
        # A random point is almost never on P-256 (a 422, rightly): a positive case
        # sends a real public key, so the route is exercised past its check.
        numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
        b64 = lambda n: base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()
        case.body["jwk"] = {"kty": "EC", "crv": "P-256", "x": b64(numbers.x), "y": b64(numbers.y)}
        return
    if _KEY is None or case.path != "/v1/leaks":
        return
    try:
        # What `requests` sends for `json=`: the standard library's dumps, NaN refused.
        raw = json.dumps(case.body, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError):
        return
    signature = _KEY.sign(raw, ec.ECDSA(hashes.SHA256()))
    if case.headers is None:
        case.headers = {}
    case.headers["Github-Public-Key-Identifier"] = _KEY_ID
    case.headers["Github-Public-Key-Signature"] = base64.b64encode(signature).decode("ascii")
