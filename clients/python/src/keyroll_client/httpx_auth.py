"""`httpx` helper (the `httpx` extra): adds the credential's secret and the
`Keyroll-Client` header, and after a 401 refreshes once and retries once.

    httpx.Client(auth=HttpxAuth(credential))
"""

from __future__ import annotations

from collections.abc import Generator

import httpx

from .credential import Credential, bearer_of


class HttpxAuth(httpx.Auth):
    """`httpx` authentication with a rolling credential (sync clients; with an async
    client the one refresh after a 401 blocks its loop while it runs)."""

    def __init__(self, credential: Credential) -> None:
        self.credential = credential

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(self.credential.headers())
        response = yield request
        used = bearer_of(request.headers)
        if response.status_code == 401 and self.credential.on_unauthorized(used):
            request.headers.update(self.credential.headers())
            yield request
