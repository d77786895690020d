"""One Python instance of the fleet drill: calls the company's API every 200 ms with a
rolling keyroll credential until told to stop, then prints what it saw as one JSON line.

    python fleet_instance.py <company-url> <keyroll-url> <secret> <key-file> <name> <stop-file>
"""

import json
import os
import sys
import time

import requests

from keyroll_client import Credential
from keyroll_client.auth import RequestsAuth


def main() -> None:
    company, keyroll, secret, key_file, name, stop = sys.argv[1:7]
    started = time.monotonic()
    with open(key_file, encoding="utf-8") as handle:
        private = handle.read()
    credential = Credential(
        base_url=keyroll, secret=secret, delivery_private_key=private, max_poll_seconds=2.0
    )
    auth = RequestsAuth(credential)
    session = requests.Session()
    session.headers["User-Agent"] = f"{name}/1.0"
    sent = failures = 0
    swapped_at = None
    while not os.path.exists(stop):
        sent += 1
        try:
            answer = session.get(f"{company}/charge", auth=auth, timeout=10)
            failures += answer.status_code != 200
        except requests.RequestException:
            failures += 1
        if swapped_at is None and credential.secret() != secret:
            swapped_at = time.monotonic() - started
        time.sleep(0.2)
    credential.close()
    print(json.dumps({"name": name, "sent": sent, "failures": failures, "swappedAfter": swapped_at}))


if __name__ == "__main__":
    main()
