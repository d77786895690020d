"""The OpenID provider drill (scripts/oidc-drill runs it): keyroll-local, configured with
the issuer alone, serves customers whose ID tokens come from a real OpenID provider
(oidc-provider) by the authorization code flow with PKCE, as a portal gets them; then
the provider rotates its signing key — the new key first with the old kept, then the old
removed — and keyroll follows without a restart. A flood of tokens naming made-up key
ids costs the provider at most one JWKS fetch a minute (counted in its request log);
tokens from another issuer or for another audience are refused.

    oidc_drill.py KEYROLL_LOCAL_BINARY WORK_DIR

It starts the providers (tests/oidc/provider.mjs, with keys from tests/oidc/keys.mjs)
and keyroll-local itself, and stops them all at the end.
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.cookiejar
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

REDIRECT_URI = "http://127.0.0.1:9/callback"
PORTAL = "keyroll-portal"


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def login(issuer: str, user: str, client_id: str = PORTAL) -> str:
    """An ID token for `user`, by the authorization code flow with PKCE through the
    provider's sign-in and consent pages."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar), NoRedirects()
    )
    verifier = b64url(secrets.token_bytes(32))
    state = b64url(secrets.token_bytes(16))
    query = urllib.parse.urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "scope": "openid keyroll",
            "redirect_uri": REDIRECT_URI,
            "state": state,
            "nonce": b64url(secrets.token_bytes(16)),
            "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
        }
    )

    def send(url: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with opener.open(urllib.request.Request(url, data=data)) as response:
                return response.status, "", response.read().decode()
        except urllib.error.HTTPError as redirect:
            if redirect.code in (302, 303):
                location = urllib.parse.urljoin(url, redirect.headers["Location"])
                return redirect.code, location, ""
            raise

    url = f"{issuer}/auth?{query}"
    for _ in range(12):
        status, location, page = send(url)
        if location.startswith(REDIRECT_URI):
            params = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)
            assert params["state"] == [state], params
            code = params["code"][0]
            break
        if location:
            url = location
            continue
        # A page: the sign-in form, then the consent form.
        action = html.unescape(re.search(r'action="([^"]+)"', page).group(1))  # type: ignore[union-attr]
        prompt = re.search(r'name="prompt" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        form = {"prompt": prompt}
        if prompt == "login":
            form |= {"login": user, "password": "any"}
        status, location, page = send(urllib.parse.urljoin(url, action), form)
        assert location, f"{prompt} form answered {status}: {page[:200]}"
        url = location
    else:
        raise AssertionError("the sign-in never reached the redirect URI")
    basic = base64.b64encode(
        f"{client_id}:{client_id}-secret-0123456789abcdef".encode()
    ).decode()
    request = urllib.request.Request(
        f"{issuer}/token",
        data=urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            }
        ).encode(),
        headers={"Authorization": f"Basic {basic}"},
    )
    with urllib.request.urlopen(request) as response:
        return str(json.load(response)["id_token"])


def header_of(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def call(
    base: str, token: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except ValueError:
            return error.code, raw.decode(errors="replace")


def jwks_fetches(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


OIDC_DIR = Path(__file__).resolve().parent.parent / "tests" / "oidc"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise AssertionError(
                f"{url}: the process exited\n{log.read_text()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(url):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer\n{log.read_text()[-2000:]}")


class Providers:
    """The OpenID providers the drill runs, restartable with other keys."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.running: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, port: int, keys: str, jwks_log: Path) -> str:
        self.stop(port)
        out = self.work / f"provider-{port}.log"
        process = subprocess.Popen(
            [
                "node",
                str(OIDC_DIR / "provider.mjs"),
                str(port),
                str(self.work / f"{keys}.json"),
                str(jwks_log),
            ],
            stdout=out.open("ab"),
            stderr=subprocess.STDOUT,
        )
        self.running[port] = process
        issuer = f"http://127.0.0.1:{port}"
        wait_for(f"{issuer}/.well-known/openid-configuration", process, out)
        return issuer

    def stop(self, port: int) -> None:
        process = self.running.pop(port, None)
        if process is not None:
            process.terminate()
            process.wait()

    def stop_all(self) -> None:
        for port in list(self.running):
            self.stop(port)


def main() -> None:
    binary, work_dir = sys.argv[1:3]
    work = Path(work_dir)
    subprocess.run(["node", str(OIDC_DIR / "keys.mjs"), str(work)], check=True)
    log = work / "jwks.log"
    providers = Providers(work)
    keyroll: subprocess.Popen[bytes] | None = None
    try:
        port, other_port = free_port(), free_port()
        issuer = providers.start(port, "old", log)
        # Another issuer with the same key: its tokens carry a known kid, but not our iss.
        other_issuer = providers.start(other_port, "old", work / "other-jwks.log")
        base = f"http://127.0.0.1:{free_port()}"
        admin = "oidc-drill-" + secrets.token_hex(12)
        keyroll_log = work / "keyroll-local.log"
        keyroll = subprocess.Popen(
            [binary],
            env=os.environ
            | {
                "KEYROLL_LISTEN": base.removeprefix("http://"),
                "KEYROLL_ADMIN_TOKEN": admin,
                "KEYROLL_BACKEND": "memory",
                "KEYROLL_JWT_ISSUER": issuer,
                "KEYROLL_JWT_AUDIENCE": PORTAL,
                "KEYROLL_ALLOW_LOOPBACK_WEBHOOKS": "true",
            },
            stdout=keyroll_log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for(f"{base}/openapi.json", keyroll, keyroll_log)
        drill(base, admin, issuer, other_issuer, log, providers, port)
        assert keyroll.poll() is None, "keyroll-local kept running throughout"
    except BaseException:
        if keyroll is not None:
            print((work / "keyroll-local.log").read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        if keyroll is not None:
            keyroll.terminate()
            keyroll.wait()
        providers.stop_all()


def drill(
    base: str,
    admin: str,
    issuer: str,
    other_issuer: str,
    log: Path,
    providers: Providers,
    port: int,
) -> None:
    started = time.monotonic()
    ok = 0

    def check(condition: bool, what: str) -> None:
        nonlocal ok
        if not condition:
            raise AssertionError(what)
        ok += 1
        print(f"  ok {what}", flush=True)

    # The operator issues a key to each organisation.
    keys = {}
    for org in ("org_acme", "org_other"):
        status, body = call(
            base,
            admin,
            "POST",
            "/v1/keys",
            {"organizationId": org, "name": f"{org} backend", "rateLimit": 100},
        )
        assert status == 201, (status, body)
        keys[org] = body["key"]["id"]
    check(jwks_fetches(log) == 1, "keyroll fetched the provider's keys once, at start")

    alice = login(issuer, "alice")
    check(
        header_of(alice)["kid"] == "drill-old",
        "alice's ID token is signed by the first key",
    )
    status, body = call(base, alice, "GET", "/v1/org/keys")
    listed = [key["id"] for key in body["keys"]]
    check(
        status == 200 and listed == [keys["org_acme"]],
        "alice sees her organisation's key only",
    )
    status, body = call(
        base, alice, "POST", f"/v1/org/keys/{keys['org_acme']}/rotations", {}
    )
    # (The answer carries the new secret: never printed.)
    check(
        status == 201 and bool(body["secret"]), f"alice (admin) rolls her key: {status}"
    )
    bob = login(issuer, "bob")
    check(call(base, bob, "GET", "/v1/org/keys")[0] == 200, "bob (viewer) reads")
    check(
        call(
            base,
            bob,
            "POST",
            f"/v1/org/keys/{keys['org_acme']}/revoke",
            {"reason": "x"},
        )[0]
        == 403,
        "bob (viewer) may not revoke",
    )
    mallory = login(issuer, "mallory")
    check(
        call(base, mallory, "GET", f"/v1/org/keys/{keys['org_acme']}")[0] == 404,
        "another organisation's admin gets 404 for alice's key",
    )
    check(
        call(base, login(issuer, "alice", "another-app"), "GET", "/v1/org/keys")[0]
        == 401,
        "a token for another audience (client) is refused",
    )
    check(
        call(base, login(other_issuer, "alice"), "GET", "/v1/org/keys")[0] == 401,
        "a token from another issuer, though signed by a key keyroll knows, is refused",
    )

    # The provider rotates: the new key first, the old one kept.
    providers.start(port, "both", log)
    alice_new = login(issuer, "alice")
    check(
        header_of(alice_new)["kid"] == "drill-new",
        "the provider now signs with the new key",
    )
    # keyroll fetches again at most once a minute: wait out the minute since its start.
    time.sleep(max(0.0, 61 - (time.monotonic() - started)))
    before = jwks_fetches(log)
    check(
        call(base, alice_new, "GET", "/v1/org/keys")[0] == 200,
        "the new key is accepted without restarting keyroll",
    )
    check(jwks_fetches(log) == before + 1, "one JWKS fetch for the new key")
    check(
        call(base, alice, "GET", "/v1/org/keys")[0] == 200,
        "the old key still verifies while published",
    )

    # The old key is withdrawn. keyroll learns it at its next fetch: a scheduled one
    # (hourly), or the one a token naming an unknown key causes — at most one a minute.
    providers.start(port, "new", log)

    # A flood of made-up key ids for over a minute: each refused, the provider asked
    # at most once a minute.
    flood_started = time.monotonic()
    before = jwks_fetches(log)
    sent = refused = 0
    while time.monotonic() - flood_started < 75:
        header = b64url(json.dumps({"alg": "RS256", "kid": f"made-up-{sent}"}).encode())
        forged = f"{header}.{alice_new.split('.')[1]}.{b64url(b'x' * 256)}"
        refused += call(base, forged, "GET", "/v1/org/keys")[0] == 401
        sent += 1
    seconds = time.monotonic() - flood_started
    fetched = jwks_fetches(log) - before
    check(refused == sent, f"{sent} tokens naming made-up keys all refused")
    check(
        1 <= fetched <= 1 + int(seconds // 60),
        f"the flood cost the provider {fetched} JWKS fetches in {seconds:.0f} s",
    )
    check(
        call(base, alice, "GET", "/v1/org/keys")[0] == 401,
        "a token signed by the withdrawn key is refused once keyroll has fetched again",
    )
    check(
        call(base, login(issuer, "alice"), "GET", "/v1/org/keys")[0] == 200,
        "tokens signed by the new key are accepted; keyroll never restarted",
    )
    print(
        f"oidc drill: {ok} checks passed; the provider served its JWKS {jwks_fetches(log)} times",
        flush=True,
    )


if __name__ == "__main__":
    main()
