"""A keyroll API key that rolls itself over in process.

The credential polls `GET /v1/self/key` with the secret it holds, every
`pollAfterSeconds` spread by ±50 % so a fleet does not poll in step. When a successor
waits, it fetches `GET /v1/self/successor` (a compact JWE only the delivery key's
private half opens), swaps the new secret in under a lock, and saves it through its
store. A failed refresh keeps the secret it has and backs off. `on_unauthorized()`
forces one refresh, shared by every caller that asks at the same time.
"""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from . import __version__
from .store import NoStore, SecretStore

CLIENT_HEADER = "Keyroll-Client"
CLIENT_NAME = f"keyroll-client-python/{__version__}"
JWE_ALGORITHMS = ["ECDH-ES+A256KW", "A256GCM"]

#: The longest wait between two polls, and the longest back-off after failures.
MAX_WAIT_SECONDS = 3600.0
#: The first back-off after a failed refresh; it doubles up to `MAX_BACKOFF_SECONDS`.
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 300.0
#: Each request's own limit.
TIMEOUT_SECONDS = 10.0


class KeyrollError(Exception):
    """keyroll answered with a problem (RFC 9457) or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def bearer_of(headers: Mapping[str, str]) -> str | None:
    """The secret a request carried in `Authorization: Bearer …`."""
    value = headers.get("Authorization") or ""
    return value[len("Bearer ") :] if value.startswith("Bearer ") else None


def load_private_key(key: str | bytes | Mapping[str, Any]) -> ECKey:
    """The delivery key's private half: a JWK (a mapping or its JSON) or a PKCS#8 PEM."""
    imported: ECKey
    if isinstance(key, Mapping):
        imported = ECKey.import_key(dict(key))
        return imported
    text = key.decode("utf-8") if isinstance(key, bytes) else key
    stripped = text.strip()
    if stripped.startswith("{"):
        imported = ECKey.import_key(json.loads(stripped))
    else:
        imported = ECKey.import_key(stripped.encode("utf-8"))
    return imported


class Credential:
    """The secret to send now, kept current with no restart.

    `base_url` is keyroll's (the API provider's keyroll endpoint); `secret` the key's
    secret at start (a newer one in `store` wins); `delivery_private_key` the private
    half of the key's delivery key (a JWK or a PKCS#8 PEM). `max_poll_seconds` caps the
    wait between polls (tests and drills use a short one). With `start=False` no
    background thread runs: call `refresh()` yourself.
    """

    def __init__(
        self,
        *,
        base_url: str,
        secret: str,
        delivery_private_key: str | bytes | Mapping[str, Any],
        store: SecretStore | None = None,
        max_poll_seconds: float = MAX_WAIT_SECONDS,
        start: bool = True,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._key = load_private_key(delivery_private_key)
        self._thumbprint = self._key.thumbprint()
        self._store: SecretStore = store if store is not None else NoStore()
        self._secret = self._store.load() or secret
        self._max_poll = max_poll_seconds
        self._lock = threading.Lock()
        self._refreshing: threading.Event | None = None
        self._last_result = False
        self._stop = threading.Event()
        self._failures = 0
        self._poll_after = 0.0
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._run, name="keyroll-refresher", daemon=True)
            self._thread.start()

    def secret(self) -> str:
        """The secret to send with the next request."""
        with self._lock:
            return self._secret

    def headers(self) -> dict[str, str]:
        """`Authorization` and `Keyroll-Client` for a request made now."""
        return {"Authorization": f"Bearer {self.secret()}", CLIENT_HEADER: CLIENT_NAME}

    def on_unauthorized(self, used: str | None = None) -> bool:
        """A request was refused (401): refresh once now, shared with every caller that
        asks meanwhile. Whether the secret changed (then retry the request once).
        `used`, the secret the refused request carried, lets a caller that comes after
        the swap retry at once instead of refreshing again."""
        with self._lock:
            if used is not None and used != self._secret:
                return True
            running = self._refreshing
            if running is None:
                running = self._refreshing = threading.Event()
                leader = True
            else:
                leader = False
        if not leader:
            running.wait()
            with self._lock:
                return self._last_result
        changed = False
        try:
            changed = self.refresh()
        except Exception:  # noqa: BLE001 - never left holding the followers
            changed = False
        finally:
            with self._lock:
                self._last_result = changed
                self._refreshing = None
            running.set()
        return changed

    def refresh(self) -> bool:
        """Polls once; fetches, opens and swaps in a waiting successor. Whether the
        secret changed. Raises `KeyrollError` when keyroll cannot answer."""
        held = self.secret()
        state = self._call("GET", "/v1/self/key", held)
        self._poll_after = float(state.get("pollAfterSeconds", MAX_WAIT_SECONDS))
        if not state.get("successor"):
            return False
        sealed = self._call("GET", "/v1/self/successor", held)
        token = sealed.get("jwe")
        if not isinstance(token, str):
            raise KeyrollError("the successor came without a JWE")
        try:
            opened = jwe.decrypt_compact(token, self._key, algorithms=JWE_ALGORITHMS)
        except (JoseError, ValueError):
            raise KeyrollError("the successor does not open with this delivery key") from None
        if opened.headers().get("kid") != self._thumbprint:
            raise KeyrollError("the successor is sealed to another delivery key")
        if opened.plaintext is None:
            raise KeyrollError("the successor's JWE is empty")
        new = opened.plaintext.decode("utf-8")
        with self._lock:
            if self._secret != held:
                return True  # another refresh swapped it meanwhile
            self._secret = new
        self._store.save(new)
        return True

    def close(self) -> None:
        """Stops the background refresher."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT_SECONDS)

    def __enter__(self) -> Credential:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self) -> None:
        wait = 0.0
        while not self._stop.wait(wait):
            try:
                self.refresh()
                self._failures = 0
                base = min(self._poll_after, self._max_poll)
            except Exception:  # noqa: BLE001 - the refresher outlives any failure
                # Never logged: the error may name the request.
                self._failures += 1
                base = min(
                    FIRST_BACKOFF_SECONDS * 2 ** (self._failures - 1),
                    MAX_BACKOFF_SECONDS,
                    self._max_poll,
                )
            # ±50 %: a fleet started together spreads out.
            wait = base * random.uniform(0.5, 1.5)

    def _call(self, method: str, path: str, secret: str) -> dict[str, Any]:
        request = urllib.request.Request(
            self._base_url + path,
            method=method,
            headers={
                "Authorization": f"Bearer {secret}",
                CLIENT_HEADER: CLIENT_NAME,
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
                body = json.loads(answer.read().decode("utf-8"))
        except urllib.error.HTTPError as refused:
            raise KeyrollError(f"{method} {path} answered {refused.code}", refused.code) from None
        except urllib.error.URLError as unreachable:
            raise KeyrollError(f"{method} {path}: {unreachable.reason}") from None
        if not isinstance(body, dict):
            raise KeyrollError(f"{method} {path} answered something that is not an object")
        return body
