"""The fleet drill: ten instances of a customer's service (five Python, five TypeScript,
keyroll's client libraries) share one API key and one delivery key pair, and call a
small "company API" on loopback that verifies each request with keyroll
(`POST /v1/verify`, passing the caller). A self-service rotation with a 60 s grace and
`retire: when_moved` starts; every instance must swap to the sealed successor without
restarting, no request may fail, and the old secret must be retired once all ten have
moved. Prints requests sent, failures and each instance's time to swap.

    python fleet_drill.py <keyroll-url> <operator-token> <work-dir>
"""

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional

import requests
from joserfc.jwk import ECKey

INSTANCES = 5  # of each language
GRACE_SECONDS = 60
QUIET_SECONDS = 60
DEADLINE_SECONDS = 420


def fail(message: str) -> None:
    sys.exit(f"fleet drill: {message}")


def main() -> None:
    keyroll, token, work = sys.argv[1:4]
    operator = requests.Session()
    operator.headers["Authorization"] = f"Bearer {token}"

    def call(method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        answer = operator.request(method, keyroll + path, json=body, timeout=30)
        if answer.status_code >= 300:
            fail(f"{method} {path} answered {answer.status_code}: {answer.text}")
        result: Dict[str, Any] = answer.json()
        return result

    created = call(
        "POST",
        "/v1/keys",
        {"organizationId": "org_drill", "name": "fleet", "rateLimit": 1000},
    )
    key_id, secret = created["key"]["id"], created["secret"]
    # The client enrols its delivery key with the key's own secret.
    delivery = ECKey.generate_key("P-256")
    key_file = os.path.join(work, "delivery.jwk")
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(json.dumps(delivery.as_dict(private=True)))
    public = delivery.as_dict(private=False)
    enrolled = requests.put(
        f"{keyroll}/v1/self/delivery-key",
        json={"jwk": {name: public[name] for name in ("kty", "crv", "x", "y")}},
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )
    if enrolled.status_code != 201:
        fail(f"enrolment answered {enrolled.status_code}: {enrolled.text}")

    # The company's API: verifies every request with keyroll, for its caller.
    class Company(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            auth = self.headers.get("Authorization", "")
            presented = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
            verdict = operator.post(
                f"{keyroll}/v1/verify",
                json={
                    "secret": presented,
                    "caller": {
                        "ip": self.client_address[0],
                        "userAgent": self.headers.get("User-Agent"),
                        "client": self.headers.get("Keyroll-Client"),
                    },
                },
                timeout=30,
            ).json()
            status = 200 if verdict.get("valid") else 401
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return None

    company = ThreadingHTTPServer(("127.0.0.1", 0), Company)
    threading.Thread(target=company.serve_forever, daemon=True).start()
    company_url = f"http://127.0.0.1:{company.server_address[1]}"

    stop = os.path.join(work, "stop")
    here = os.path.dirname(os.path.abspath(__file__))
    instances: List[subprocess.Popen[str]] = []
    for n in range(INSTANCES):
        common = [company_url, keyroll, secret, key_file]
        instances.append(
            subprocess.Popen(
                [sys.executable, os.path.join(here, "fleet_instance.py"), *common, f"py-{n}", stop],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
        instances.append(
            subprocess.Popen(
                ["node", os.path.join(here, "fleet-instance.mjs"), *common, f"ts-{n}", stop],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    # Every instance is seen on the old secret before the rotation.
    time.sleep(65)
    started = time.monotonic()
    rotation = call(
        "POST",
        f"/v1/keys/{key_id}/rotations",
        {
            "immediate": True,
            "gracePeriodSeconds": GRACE_SECONDS,
            "selfService": True,
            "retire": "when_moved",
            "quietSeconds": QUIET_SECONDS,
        },
    )["rotation"]
    retired_after = None
    while time.monotonic() - started < DEADLINE_SECONDS:
        status = call("GET", f"/v1/rotations/{rotation['id']}")["rotation"]["status"]
        if status == "completed":
            retired_after = time.monotonic() - started
            break
        time.sleep(2)
    # A few more seconds of traffic after the retirement: nothing may fail then either.
    time.sleep(5)
    with open(stop, "w"):
        pass
    results = [json.loads(instance.communicate(timeout=60)[0]) for instance in instances]
    callers = call("GET", f"/v1/keys/{key_id}/callers")
    trail = call("GET", f"/v1/keys/{key_id}/audit")
    completion = next(
        (e for e in trail["events"] if e["action"] == "rotation.completed"), {"reason": None}
    )
    company.shutdown()

    print("| instance | requests | failures | swapped after |")
    print("|---|---|---|---|")
    for result in results:
        after = result["swappedAfter"]
        swapped = "never" if after is None else f"{after:.1f} s from its start"
        print(f"| {result['name']} | {result['sent']} | {result['failures']} | {swapped} |")
    sent = sum(r["sent"] for r in results)
    failures = sum(r["failures"] for r in results)
    print(f"\n{len(results)} instances, {sent} requests, {failures} failed")
    print(f"callers: {callers['summary']}")
    print(
        "old secret retired "
        + ("never" if retired_after is None else f"{retired_after:.0f} s after the rotation started")
        + f": {completion['reason']}"
    )
    if failures:
        fail(f"{failures} requests failed")
    if any(r["swappedAfter"] is None for r in results):
        fail("an instance never swapped")
    if retired_after is None:
        fail(f"the old secret was not retired within {DEADLINE_SECONDS} s")
    if not str(completion["reason"]).startswith("retired the old secret: all "):
        fail(f"retired for another reason: {completion['reason']}")
    print("fleet drill: every instance swapped with no restart, 0 requests failed")


if __name__ == "__main__":
    main()
