"""`keyroll-client enroll`: makes the key's delivery key pair, registers its public
half with keyroll (`PUT /v1/self/delivery-key`, with the key's secret) and writes the
private half (mode 0600) where the library reads it.

    KEYROLL_SECRET=sk_live_… keyroll-client enroll --base-url https://keyroll.example.com \\
        --key-file /etc/app/delivery-key.jwk
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

from joserfc.jwk import ECKey

from .credential import CLIENT_HEADER, CLIENT_NAME, TIMEOUT_SECONDS
from .store import FileStore


def enroll(base_url: str, secret: str, key_file: str) -> str:
    """Registers a new delivery key for the key `secret` belongs to; returns its
    thumbprint. The private half is written to `key_file` only once keyroll took the
    public half, and never over an existing file."""
    if os.path.exists(key_file):
        raise SystemExit(f"keyroll-client: {key_file} exists; not overwriting a delivery key")
    key = ECKey.generate_key("P-256")
    public = key.as_dict(private=False)
    body = json.dumps({"jwk": {name: public[name] for name in ("kty", "crv", "x", "y")}})
    request = urllib.request.Request(
        base_url.rstrip("/") + "/v1/self/delivery-key",
        method="PUT",
        data=body.encode("utf-8"),
        headers={
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/json",
            CLIENT_HEADER: CLIENT_NAME,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            registered = json.loads(answer.read().decode("utf-8"))
    except urllib.error.HTTPError as refused:
        detail = refused.read().decode("utf-8", "replace")
        raise SystemExit(
            f"keyroll-client: keyroll refused the delivery key ({refused.code}): {detail}"
        ) from None
    FileStore(key_file).save(json.dumps(key.as_dict(private=True)))
    thumbprint: str = registered["thumbprint"]
    return thumbprint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="keyroll-client")
    commands = parser.add_subparsers(dest="command", required=True)
    enrolling = commands.add_parser("enroll", help="register a delivery key for your API key")
    enrolling.add_argument("--base-url", required=True)
    enrolling.add_argument(
        "--secret-env",
        default="KEYROLL_SECRET",
        help="the environment variable holding the key's secret (never an argument)",
    )
    enrolling.add_argument("--key-file", required=True, help="where to write the private half")
    arguments = parser.parse_args(argv)
    secret = os.environ.get(arguments.secret_env)
    if not secret:
        print(
            f"keyroll-client: set {arguments.secret_env} to the key's secret",
            file=sys.stderr,
        )
        return 2
    thumbprint = enroll(arguments.base_url, secret, arguments.key_file)
    print(f"registered delivery key {thumbprint}; private half in {arguments.key_file}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
