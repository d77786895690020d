"""A recording proxy in front of DynamoDB Local and moto: one port per Lambda function,
so every AWS request a function sends is written down as the IAM action it needs and
the resource it touches, then forwarded unchanged. scripts/lambda-smoke points each
function's AWS_ENDPOINT_URL_* at its port; scripts/iam_check.py compares what was
recorded with template.yaml's policies.

    aws_recorder.py LOG DYNAMODB_URL MOTO_URL FUNCTION=PORT [FUNCTION=PORT ...]
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A transaction's items need the actions of their kinds; there is no action for the
# transaction itself.
TRANSACT_KINDS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# Batch operations that IAM checks as their single counterpart.
SQS_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage"}


def dynamodb_calls(operation: str, body: dict[str, Any]) -> list[dict[str, str]]:
    def leading(key: dict[str, Any] | None) -> str:
        return str((key or {}).get("pk", {}).get("S", ""))

    if operation == "TransactWriteItems":
        calls = []
        for item in body.get("TransactItems", []):
            ((kind, detail),) = item.items()
            calls.append(
                {
                    "action": "dynamodb:" + TRANSACT_KINDS[kind],
                    "resource": "table",
                    "pk": leading(detail.get("Key") or detail.get("Item")),
                }
            )
        return calls
    if operation == "TransactGetItems":
        return [
            {
                "action": "dynamodb:GetItem",
                "resource": "table",
                "pk": leading(i["Get"].get("Key")),
            }
            for i in body.get("TransactItems", [])
        ]
    resource = "index" if body.get("IndexName") else "table"
    call = {"action": "dynamodb:" + operation, "resource": resource}
    if "Key" in body or "Item" in body:
        call["pk"] = leading(body.get("Key") or body.get("Item"))
    if operation == "Query":
        call["pk"] = queried_partition(body)
    if operation == "UpdateItem":
        call["attributes"] = ",".join(sorted(top_level_attributes(body)))
    return [call]


def queried_partition(body: dict[str, Any]) -> str:
    """The partition key value a Query names, as IAM's dynamodb:LeadingKeys sees it: the
    value its key condition compares the partition key with (the first equality)."""

    match = re.search(r"(#?\w+)\s*=\s*(:\w+)", body.get("KeyConditionExpression", ""))
    if not match:
        return ""
    value = body.get("ExpressionAttributeValues", {}).get(match.group(2), {})
    return str(value.get("S", ""))


def top_level_attributes(body: dict[str, Any]) -> set[str]:
    """The item attributes an UpdateItem names, as IAM's dynamodb:Attributes sees them:
    its key and the first name of every path in its expressions (`#d.#day` names the
    map `dailyUses`, not the day inside it)."""
    names = body.get("ExpressionAttributeNames", {})
    found = set(body.get("Key", {}))
    for clause in ("UpdateExpression", "ConditionExpression"):
        expression = body.get(clause, "")
        for match in re.finditer(r"(?<![.\w#])#\w+", expression):
            found.add(names.get(match.group(0), match.group(0)))
    return found


def calls_of(target: str, path: str, body: bytes) -> list[dict[str, str]]:
    """The IAM actions one request needs."""
    document: dict[str, Any] = {}
    if body:
        try:
            document = json.loads(body)
        except ValueError:
            document = {}
    if target.startswith("DynamoDB_"):
        return dynamodb_calls(target.split(".", 1)[1], document)
    if target.startswith("AmazonSQS."):
        operation = target.split(".", 1)[1]
        return [
            {
                "action": "sqs:" + SQS_ACTIONS.get(operation, operation),
                "resource": "queue",
            }
        ]
    if target.startswith("secretsmanager."):
        name = str(document.get("SecretId") or document.get("Name") or "")
        return [
            {
                "action": "secretsmanager:" + target.split(".", 1)[1],
                "resource": "secret",
                "name": name,
            }
        ]
    if target.startswith("TrentService."):
        return [{"action": "kms:" + target.split(".", 1)[1], "resource": "key"}]
    if path.startswith("/v2/email/outbound-emails"):
        return [{"action": "ses:SendEmail", "resource": "identity"}]
    return [{"action": "unknown:" + (target or path), "resource": "?"}]


class Recorder:
    def __init__(self, log: str, dynamodb: str, moto: str) -> None:
        self.log = open(log, "a", buffering=1)  # noqa: SIM115 (open for the process's life)
        self.lock = threading.Lock()
        self.dynamodb = urllib.parse.urlsplit(dynamodb)
        self.moto = urllib.parse.urlsplit(moto)

    def handler(self, function: str) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Forward(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = self.headers.get("X-Amz-Target", "")
                upstream = (
                    recorder.dynamodb
                    if target.startswith("DynamoDB_")
                    else recorder.moto
                )
                with recorder.lock:
                    for call in calls_of(target, self.path, body):
                        call["function"] = function
                        recorder.log.write(json.dumps(call) + "\n")
                connection = http.client.HTTPConnection(
                    upstream.hostname, upstream.port, timeout=30
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = upstream.netloc
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in (
                        "transfer-encoding",
                        "connection",
                        "content-length",
                    ):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                connection.close()

            do_GET = do_POST = do_PUT = do_DELETE = forward

        return Forward


def main() -> None:
    log, dynamodb, moto, *functions = sys.argv[1:]
    recorder = Recorder(log, dynamodb, moto)
    servers = []
    for spec in functions:
        function, port = spec.split("=")
        server = ThreadingHTTPServer(
            ("127.0.0.1", int(port)), recorder.handler(function)
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    print("recording", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
