"""The credential against a stand-in for keyroll's self routes on loopback (real HTTP,
real JWE from joserfc): it swaps a sealed successor in, refuses one sealed to another
key, keeps its secret when keyroll fails, and shares one refresh among callers.

The library's run against keyroll-local itself is the fleet drill."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from joserfc import jwe
from joserfc.jwk import ECKey

from keyroll_client import Credential, FileStore, KeyrollError
from keyroll_client.auth import RequestsAuth
from keyroll_client.credential import CLIENT_NAME
from keyroll_client.httpx_auth import HttpxAuth


class FakeKeyroll:
    """What keyroll's self routes answer, for one key rotating from `old` to `new`."""

    def __init__(self, delivery_public: ECKey, kid: str) -> None:
        self.public = delivery_public
        self.kid = kid
        self.valid = {"sk_live_old"}
        #: What the company's own API (behind keyroll's authorizer) accepts.
        self.api_valid = {"sk_live_old"}
        self.successor: str | None = None
        self.fail = False
        self.fetches = 0
        self.clients: list[str] = []
        self.lock = threading.Lock()

    def answer(self, path: str, secret: str, client: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.clients.append(client)
            if self.fail:
                return 503, {"title": "unavailable"}
            if path == "/api/charges":
                ok = secret in self.api_valid
                return (200, {"charged": True}) if ok else (401, {"title": "unauthenticated"})
            if secret not in self.valid:
                return 401, {"title": "unauthenticated"}
            waiting = self.successor is not None and secret == "sk_live_old"
            if path == "/v1/self/key":
                return 200, {
                    "keyId": "key_1",
                    "stage": "previous" if waiting else "current",
                    "expiresAt": None,
                    "successor": {
                        "rotationId": "rot_1",
                        "graceEndsAt": "2026-12-04T00:00:00Z",
                    }
                    if waiting
                    else None,
                    "pollAfterSeconds": 0 if waiting else 3600,
                }
            if path == "/v1/self/successor" and waiting and self.successor is not None:
                self.fetches += 1
                token = jwe.encrypt_compact(
                    {"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": self.kid},
                    self.successor.encode(),
                    self.public,
                )
                return 200, {"keyId": "key_1", "rotationId": "rot_1", "jwe": token}
            return 404, {"title": "not found"}


@pytest.fixture
def delivery_key() -> ECKey:
    generated: ECKey = ECKey.generate_key("P-256")
    return generated


@pytest.fixture
def keyroll(delivery_key: ECKey) -> Iterator[tuple[FakeKeyroll, str]]:
    public = ECKey.import_key(delivery_key.as_dict(private=False))
    fake = FakeKeyroll(public, delivery_key.thumbprint())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            auth = self.headers.get("Authorization", "")
            secret = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
            status, body = fake.answer(self.path, secret, self.headers.get("Keyroll-Client", ""))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def credential(base_url: str, key: ECKey, **more: Any) -> Credential:
    return Credential(
        base_url=base_url,
        secret="sk_live_old",
        delivery_private_key=json.dumps(key.as_dict(private=True)),
        start=False,
        **more,
    )


def test_a_sealed_successor_is_opened_swapped_in_and_saved(
    keyroll: tuple[FakeKeyroll, str], delivery_key: ECKey, tmp_path: Any
) -> None:
    fake, url = keyroll
    path = str(tmp_path / "secret")
    rolling = credential(url, delivery_key, store=FileStore(path))
    assert rolling.refresh() is False, "nothing waits yet"
    fake.successor = "sk_live_new"
    fake.valid.add("sk_live_new")
    assert rolling.refresh() is True
    assert rolling.secret() == "sk_live_new"
    assert open(path).read() == "sk_live_new"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert rolling.refresh() is False, "the new secret has no successor"
    assert set(fake.clients) == {CLIENT_NAME}
    # A restart starts with the saved secret, not the one it was configured with.
    assert credential(url, delivery_key, store=FileStore(path)).secret() == "sk_live_new"


def test_a_successor_sealed_to_another_key_is_refused(
    keyroll: tuple[FakeKeyroll, str], delivery_key: ECKey
) -> None:
    fake, url = keyroll
    fake.kid = "someone-elses-thumbprint"
    fake.successor = "sk_live_new"
    rolling = credential(url, delivery_key)
    with pytest.raises(KeyrollError):
        rolling.refresh()
    assert rolling.secret() == "sk_live_old"


def test_an_attacker_without_the_private_key_cannot_open_it(
    keyroll: tuple[FakeKeyroll, str], delivery_key: ECKey
) -> None:
    fake, url = keyroll
    fake.successor = "sk_live_new"
    attacker = ECKey.generate_key("P-256")
    rolling = credential(url, attacker)
    with pytest.raises(KeyrollError):
        rolling.refresh()
    assert rolling.secret() == "sk_live_old"


def test_a_failed_refresh_keeps_the_secret(
    keyroll: tuple[FakeKeyroll, str], delivery_key: ECKey
) -> None:
    fake, url = keyroll
    fake.fail = True
    rolling = credential(url, delivery_key)
    with pytest.raises(KeyrollError) as refused:
        rolling.refresh()
    assert refused.value.status == 503
    assert rolling.secret() == "sk_live_old"
    assert rolling.on_unauthorized() is False


def test_concurrent_401s_share_one_refresh(
    keyroll: tuple[FakeKeyroll, str], delivery_key: ECKey
) -> None:
    fake, url = keyroll
    fake.successor = "sk_live_new"
    fake.valid.add("sk_live_new")
    rolling = credential(url, delivery_key)
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(rolling.on_unauthorized("sk_live_old")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert rolling.secret() == "sk_live_new"
    assert fake.fetches == 1, "one fetch for all"
    assert all(results), results


def test_the_http_helpers_retry_once_after_a_401(
    keyroll: tuple[FakeKeyroll, str], delivery_key: ECKey
) -> None:
    import httpx

    fake, url = keyroll
    rolling = credential(url, delivery_key)
    # The API already refuses the old secret; the successor waits for this instance.
    fake.successor = "sk_live_new"
    fake.valid = {"sk_live_old", "sk_live_new"}
    fake.api_valid = {"sk_live_new"}
    answered = requests.get(f"{url}/api/charges", auth=RequestsAuth(rolling), timeout=5)
    assert answered.status_code == 200, "refreshed once, retried once"
    assert rolling.secret() == "sk_live_new"
    with httpx.Client(auth=HttpxAuth(rolling)) as client:
        assert client.get(f"{url}/api/charges").status_code == 200
    # Refused even after a refresh: the 401 is answered, not retried forever.
    fake.api_valid = set()
    assert (
        requests.get(f"{url}/api/charges", auth=RequestsAuth(rolling), timeout=5).status_code == 401
    )


def test_the_background_refresher_swaps_without_being_asked(
    keyroll: tuple[FakeKeyroll, str], delivery_key: ECKey
) -> None:
    fake, url = keyroll
    fake.successor = "sk_live_new"
    fake.valid.add("sk_live_new")
    with Credential(
        base_url=url,
        secret="sk_live_old",
        delivery_private_key=json.dumps(delivery_key.as_dict(private=True)),
        max_poll_seconds=0.05,
    ) as rolling:
        for _ in range(200):
            if rolling.secret() == "sk_live_new":
                break
            threading.Event().wait(0.02)
        assert rolling.secret() == "sk_live_new"


def test_an_unexpected_failure_never_strands_the_callers_waiting_on_a_refresh(
    keyroll: tuple[FakeKeyroll, str], delivery_key: ECKey
) -> None:
    fake, url = keyroll
    rolling = credential(url, delivery_key)

    def broken() -> bool:
        raise RuntimeError("a bug in the refresh")

    rolling.refresh = broken  # type: ignore[method-assign]
    assert rolling.on_unauthorized("sk_live_old") is False
    # The next caller is not left waiting on the failed one.
    assert rolling.on_unauthorized("sk_live_old") is False
