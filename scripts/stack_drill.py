"""The stack drill: template.yaml, translated as SAM would, created in moto's
CloudFormation; then keyroll-local runs on the table and the queue that stack created
and does a rotation end to end. Proves the resources the template creates are the
ones the code uses (key schema, indexes, a FIFO queue with its redrive).

Run by scripts/stack-drill with SAM CLI's virtualenv (aws-sam-translator, boto3):
    stack_drill.py MOTO_URL KEYROLL_LOCAL_BINARY
"""

from __future__ import annotations

import io
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from typing import Any

import boto3
import preflight
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

REGION = "us-east-1"

# Resource types moto's CloudFormation does not model: it skips them and reports the
# stack complete. Each is checked elsewhere (cfn-lint, sam validate, checkov and
# tests/template.rs read them); listed so that a new kind of resource is noticed.
NOT_MODELLED = {
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::ApiGatewayV2::Authorizer",
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Route",
    "AWS::CloudWatch::Alarm",
    "AWS::Logs::MetricFilter",
    "AWS::SNS::Subscription",
    "AWS::Lambda::EventInvokeConfig",
}


def fail(message: str) -> None:
    print(f"stack-drill: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def ok(message: str) -> None:
    print(f"stack-drill: ok: {message}")


def client(service: str, moto: str) -> Any:
    return boto3.client(service, endpoint_url=moto, region_name=REGION)


def translated(moto: str, stack: str) -> dict[str, Any]:
    """template.yaml as `sam package` + the SAM transform would hand it to CloudFormation."""
    with open("template.yaml") as f:
        template = yaml_parse(f.read())
    bucket = f"{stack}-artifacts"
    s3 = client("s3", moto)
    s3.create_bucket(Bucket=bucket)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\nexit 1\n")
    s3.put_object(Bucket=bucket, Key="code.zip", Body=code.getvalue())
    template["Globals"]["Function"]["CodeUri"] = f"s3://{bucket}/code.zip"
    iam = client("iam", moto)
    translator = Translator(
        ManagedPolicyLoader(iam),
        Parser(),
        boto_session=boto3.session.Session(region_name=REGION),
    )
    try:
        result: dict[str, Any] = translator.translate(template, parameter_values={})
        return result
    except InvalidDocumentException as error:
        fail(f"the SAM transform refused template.yaml: {error}")
        raise


def check_mac_writers(template: dict[str, Any]) -> None:
    """The audit MAC key's policy admits principals tagged keyroll:mac=writer: the SAM
    transform must copy that tag from the writing functions onto their roles, and onto
    no other role."""
    writers = {"ApiFunctionRole", "ProcessorFunctionRole", "ScannerFunctionRole"}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        tags = {t["Key"]: t["Value"] for t in resource["Properties"].get("Tags", [])}
        if (tags.get("keyroll:mac") == "writer") != (name in writers):
            fail(
                f"role {name}: keyroll:mac tag {tags.get('keyroll:mac')!r} after the transform"
            )
    ok(
        "the transform tags exactly the api, processor and scanner roles keyroll:mac=writer"
    )


def create_stack(
    moto: str, stack: str, template: dict[str, Any], table: str
) -> dict[str, str]:
    resources = template["Resources"]
    # moto names queues <stack>-<id>-<random>; a FIFO queue's name must end in .fifo.
    for name, suffix in [
        ("NotificationQueue", "notifications"),
        ("NotificationDeadLetterQueue", "dead-letters"),
    ]:
        properties = resources[name]["Properties"]
        if not properties.get("FifoQueue"):
            fail(f"{name} is not a FIFO queue")
        properties["QueueName"] = f"{stack}-{suffix}.fifo"
    kinds = sorted({r["Type"] for r in resources.values()})
    cloudformation = client("cloudformation", moto)
    cloudformation.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": "TableName", "ParameterValue": table},
            {"ParameterKey": "DeletionProtection", "ParameterValue": "false"},
        ],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    status = ""
    for _ in range(120):
        status = cloudformation.describe_stacks(StackName=stack)["Stacks"][0][
            "StackStatus"
        ]
        if not status.endswith("IN_PROGRESS"):
            break
        time.sleep(0.5)
    if status != "CREATE_COMPLETE":
        events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]
        reasons = [
            e.get("ResourceStatusReason")
            for e in events
            if "FAILED" in e["ResourceStatus"]
        ]
        fail(f"the stack ended {status}: {reasons}")
    created = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName=stack)[
            "StackResourceSummaries"
        ]
    }
    skipped = sorted(
        {resources[name]["Type"] for name in resources if name not in created}
    )
    unexpected = [kind for kind in skipped if kind not in NOT_MODELLED]
    if unexpected:
        fail(
            f"moto did not create resources of a kind not listed as unmodelled: {unexpected}"
        )
    ok(
        f"the translated template ({len(resources)} resources, {len(kinds)} kinds) is "
        f"CREATE_COMPLETE in moto; {len(created)} created, skipped as unmodelled: "
        + ", ".join(k.split("::", 1)[1] for k in skipped)
    )
    return created


def check_resources(
    moto: str, created: dict[str, str], template: dict[str, Any]
) -> None:
    table = created["KeyrollTable"]
    description = client("dynamodb", moto).describe_table(TableName=table)["Table"]
    declared = preflight.declared_table(template, 7)
    indexes = sorted(
        i["IndexName"] for i in description.get("GlobalSecondaryIndexes", [])
    )
    wanted = sorted(i["IndexName"] for i in declared["GlobalSecondaryIndexes"])
    if indexes != wanted:
        fail(f"the table has indexes {indexes}, the template declares {wanted}")
    ok(
        f"table {table}: key {[k['AttributeName'] for k in description['KeySchema']]}, {len(indexes)} indexes"
    )
    sqs = client("sqs", moto)
    queue = created["NotificationQueue"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])[
        "Attributes"
    ]
    redrive = json.loads(attributes.get("RedrivePolicy", "{}"))
    if (
        attributes.get("FifoQueue") != "true"
        or int(redrive.get("maxReceiveCount", 0)) != 5
    ):
        fail(
            f"the notification queue is not FIFO with a redrive after 5 receives: {attributes}"
        )
    ok(f"queue {queue.rsplit('/', 1)[-1]}: FIFO, dead-letter after 5 receives")


def check_preflight(moto: str, stack: str, created: dict[str, str]) -> None:
    """scripts/preflight on live tables: an older release's (5 indexes) and the stack's."""
    with open("template.yaml") as f:
        template = yaml_parse(f.read())
    dynamodb = client("dynamodb", moto)
    older = f"{stack}-release-5"
    declared = preflight.declared_table(template, 5)
    dynamodb.create_table(
        TableName=older,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=declared["AttributeDefinitions"],
        KeySchema=declared["KeySchema"],
        GlobalSecondaryIndexes=declared["GlobalSecondaryIndexes"],
    )
    live = dynamodb.describe_table(TableName=older)["Table"]

    def judged(table: dict[str, Any], indexes: int) -> preflight.Verdict:
        return preflight.judge(
            table, preflight.declared_table(template, indexes), indexes
        )

    straight = judged(live, 7)
    if straight.safe or straight.next_indexes != 6:
        fail(f"preflight let a 5-index table take 7 at once: {straight}")
    if not judged(live, 6).safe:
        fail(f"preflight refused the one-index step 5 -> 6: {judged(live, 6)}")
    shrink = judged(live, 4)
    if shrink.safe:
        fail("preflight let a deploy delete an index the code uses")
    current = dynamodb.describe_table(TableName=created["KeyrollTable"])["Table"]
    if not judged(current, 7).safe:
        fail(f"preflight refused the stack's own table: {judged(current, 7)}")
    ok(
        "preflight: a 5-index table is refused TableIndexes=7 (next: 6), "
        "allowed 6, refused 4; the stack's table is allowed 7"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(
    base: str, token: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
        request.add_header("Idempotency-Key", secrets.token_hex(12))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def verify(base: str, token: str, secret: str) -> str:
    status, body = call(base, token, "POST", "/v1/verify", {"secret": secret})
    if status != 200:
        fail(f"POST /v1/verify answered {status}: {body}")
    return str(body["code"])


def rotation_end_to_end(moto: str, binary: str, created: dict[str, str]) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token = "stack-drill-" + secrets.token_hex(12)
    environment = dict(os.environ)
    environment.update(
        {
            "KEYROLL_BACKEND": "aws",
            "KEYROLL_LISTEN": f"127.0.0.1:{port}",
            "KEYROLL_ADMIN_TOKEN": token,
            "KEYROLL_TABLE_NAME": created["KeyrollTable"],
            "KEYROLL_QUEUE_URL": created["NotificationQueue"],
            "KEYROLL_PROCESS_INTERVAL_SECONDS": "1",
            "KEYROLL_MIN_GRACE_SECONDS": "1",
            # The stack's table lives in moto's DynamoDB, not DynamoDB Local.
            "AWS_ENDPOINT_URL_DYNAMODB": moto,
            "AWS_ENDPOINT_URL_SQS": moto,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto,
            "AWS_ENDPOINT_URL_KMS": moto,
            "AWS_ENDPOINT_URL_SESV2": moto,
        }
    )
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [binary], env=environment, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(base + "/openapi.json", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                log.seek(0)
                fail(
                    "keyroll-local did not start:\n"
                    + log.read().decode(errors="replace")
                )
            drive(base, token)
        except SystemExit:
            log.seek(0)
            print(log.read().decode(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            server.terminate()
            server.wait(timeout=10)


def drive(base: str, token: str) -> None:
    organization = "org_stack_" + secrets.token_hex(4)
    status, created = call(
        base,
        token,
        "POST",
        "/v1/keys",
        {
            "organizationId": organization,
            "name": "stack drill",
            "scopes": ["read"],
            "rateLimit": 10,
        },
    )
    if status != 201:
        fail(f"POST /v1/keys answered {status}: {created}")
    key_id, old = created["key"]["id"], created["secret"]
    if verify(base, token, old) != "VALID":
        fail("the new key's secret does not verify")
    ok(f"key {key_id} created in the stack's table; its secret verifies")
    status, rotated = call(
        base,
        token,
        "POST",
        f"/v1/keys/{key_id}/rotations",
        {"immediate": True, "gracePeriodSeconds": 2},
    )
    if status != 201:
        fail(f"POST /v1/keys/{{id}}/rotations answered {status}: {rotated}")
    new = rotated["secret"]
    if (verify(base, token, old), verify(base, token, new)) != ("VALID", "VALID"):
        fail("during the grace both secrets should verify")
    ok("rotation started: old and new secrets both verify during the 2 s grace")
    rotation_id = rotated["rotation"]["id"]
    deadline = time.time() + 30
    state = ""
    while time.time() < deadline:
        _, shown = call(base, token, "GET", f"/v1/rotations/{rotation_id}")
        state = shown["rotation"]["status"]
        if state == "completed":
            break
        time.sleep(0.5)
    if state != "completed":
        fail(f"the processor did not complete the rotation (status {state})")
    if (verify(base, token, old), verify(base, token, new)) != ("REVOKED", "VALID"):
        fail("after the grace the old secret should be revoked and the new one valid")
    ok("the processor completed the rotation: old secret REVOKED, new VALID")
    # The notifications went through the stack's FIFO queue to the feed.
    kinds: list[str] = []
    while time.time() < deadline + 30:
        _, feed = call(
            base, token, "GET", f"/v1/organizations/{organization}/notifications"
        )
        kinds = sorted({n["type"] for n in feed["notifications"]})
        if "rotation.completed" in kinds:
            break
        time.sleep(0.5)
    if "rotation.completed" not in kinds:
        fail(f"the organisation's feed has {kinds}, not the rotation's notifications")
    ok(f"notifications through the stack's queue reached the feed: {', '.join(kinds)}")
    _, trail = call(base, token, "GET", f"/v1/keys/{key_id}/audit")
    if not trail.get("chainValid"):
        fail(f"the audit chain does not verify: {trail}")
    ok(f"audit chain of {len(trail['events'])} events verifies")


def main() -> None:
    moto, binary = sys.argv[1], sys.argv[2]
    stack = "keyroll-drill-" + secrets.token_hex(3)
    template = translated(moto, stack)
    check_mac_writers(template)
    created = create_stack(moto, stack, template, f"{stack}-table")
    check_resources(moto, created, template)
    check_preflight(moto, stack, created)
    rotation_end_to_end(moto, binary, created)
    print("stack-drill: passed")


if __name__ == "__main__":
    main()
