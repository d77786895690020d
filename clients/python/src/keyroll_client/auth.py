"""`requests` helper (the `requests` extra): adds the credential's secret and the
`Keyroll-Client` header to a request, and after a 401 refreshes once and retries once.
(`keyroll_client.httpx_auth` is the same for httpx.)

    requests.get(url, auth=RequestsAuth(credential))
"""

from __future__ import annotations

import weakref
from typing import Any

import requests
from requests.auth import AuthBase

from .credential import Credential, bearer_of

#: Requests this helper already retried: never retried again.
_RETRIED: weakref.WeakSet[requests.PreparedRequest] = weakref.WeakSet()


class RequestsAuth(AuthBase):
    """`requests` authentication with a rolling keyroll credential."""

    def __init__(self, credential: Credential) -> None:
        self.credential = credential

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self.credential.headers())
        request.register_hook("response", self._retry_once)  # type: ignore[no-untyped-call]
        return request

    def _retry_once(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401 or response.request in _RETRIED:
            return response
        if not self.credential.on_unauthorized(bearer_of(response.request.headers)):
            return response
        retry = response.request.copy()
        retry.headers.update(self.credential.headers())
        _RETRIED.add(retry)
        response.content  # release the connection  # noqa: B018
        response.close()
        sent: requests.Response = response.connection.send(retry, **kwargs)
        sent.history.append(response)
        return sent
