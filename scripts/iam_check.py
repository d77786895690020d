"""Least privilege, checked: what each function was recorded calling (scripts/aws_recorder.py
during scripts/lambda-smoke) against what template.yaml grants it.

A call no statement allows is an AccessDenied in production; a grant no recorded call
used is excess privilege, unless EXERCISED_ELSEWHERE names the code path that needs it
and the test that runs it (paths lambda-smoke's fixtures do not reach).

    iam_check.py TEMPLATE LOG
"""

from __future__ import annotations

import fnmatch
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml

# (function, action, resource): why it is granted though lambda-smoke did not call it.
EXERCISED_ELSEWHERE: dict[tuple[str, str, str], str] = {
    (
        "api",
        "dynamodb:BatchWriteItem",
        "table",
    ): "POST /v1/admin/process removes carried-out outbox entries "
    "in batches, as the processor does (tests/processor_aws.rs)",
    (
        "api",
        "dynamodb:DeleteItem",
        "table",
    ): "removing a contact or webhook endpoint, a lease or a held-secret "
    "marker (tests/contract_dynamodb.rs delivery_store, tests/processor_aws.rs)",
    (
        "api",
        "sqs:SendMessage",
        "queue",
    ): "POST /v1/admin/process publishes the outbox (keyroll-local's e2e on moto)",
    (
        "api",
        "secretsmanager:CreateSecret",
        "secret",
    ): "held secrets of self-service and policy rotations, webhook "
    "signing secrets (tests/contract_dynamodb.rs with moto's vault, tests/notifier.rs)",
    (
        "api",
        "secretsmanager:TagResource",
        "secret",
    ): "CreateSecret with tags needs it (SecretsManagerVault::put)",
    (
        "api",
        "secretsmanager:GetSecretValue",
        "secret",
    ): "revealing a held secret, the sealed successor "
    "(tests/contract_dynamodb.rs successor_handout)",
    (
        "api",
        "secretsmanager:DeleteSecret",
        "secret",
    ): "a held secret once delivered or its rotation ended, a "
    "retired webhook signing secret (tests/processor_aws.rs)",
    (
        "api",
        "ses:SendEmail",
        "identity",
    ): "mailing a customer's new contact its confirmation code "
    "(tests/notifier.rs a_customers_contact_gets_only_..., on moto's SES)",
    (
        "notifier",
        "dynamodb:GetItem",
        "table",
    ): "reading a delivery and its endpoint before sending "
    "(tests/notifier.rs; lambda-smoke's organisation has no destination)",
    (
        "notifier",
        "dynamodb:UpdateItem",
        "table",
    ): "claiming and settling a delivery (tests/notifier.rs)",
    (
        "notifier",
        "secretsmanager:GetSecretValue",
        "secret:webhook",
    ): "signing a webhook (tests/notifier.rs)",
    (
        "notifier",
        "ses:SendEmail",
        "identity",
    ): "emailing a contact (tests/notifier.rs, on moto's SES)",
    (
        "processor",
        "secretsmanager:DeleteSecret",
        "secret",
    ): "a held secret once its rotation ended, orphaned "
    "held secrets (tests/processor_aws.rs)",
    (
        "scanner",
        "dynamodb:DeleteItem",
        "table",
    ): "a refused policy commit's held-secret marker (tests/compliance.rs)",
    (
        "scanner",
        "dynamodb:UpdateItem",
        "table",
    ): "the upgrade sweep indexing an older release's keys "
    "(tests/contract_dynamodb.rs the_sweep_indexes_...)",
    (
        "scanner",
        "secretsmanager:CreateSecret",
        "secret",
    ): "a policy rotation's held secret (tests/compliance.rs "
    "on moto; lambda-smoke's key is not overdue)",
    (
        "scanner",
        "secretsmanager:TagResource",
        "secret",
    ): "CreateSecret with tags needs it",
    (
        "scanner",
        "secretsmanager:DeleteSecret",
        "secret",
    ): "a refused policy commit's held secret (tests/compliance.rs)",
    (
        "scanner",
        "kms:GenerateMac",
        "key",
    ): "deriving the local MAC key at start (DerivedMac::derive; "
    "lambda-smoke's scanner runs it when invoked)",
    (
        "notifier",
        "dynamodb:Query",
        "index",
    ): "the retry schedule's query of pending deliveries by retry shard "
    "(tests/notifier/starvation.rs runs it on DynamoDB Local; lambda-smoke "
    "invokes the notifier with a queue batch only)",
    (
        "api",
        "kms:VerifyMac",
        "key",
    ): "an audit head MACed by KMS itself before the local key (version 1) "
    "verifies once, until the key's next change (tests/contract_dynamodb.rs "
    "a_head_kms_maced_before_the_upgrade_still_verifies_and_is_extended)",
}


class Loader(yaml.SafeLoader):
    pass


def _tag(loader: Loader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


Loader.add_multi_constructor("!", _tag)


@dataclass
class Grant:
    actions: set[str]
    kinds: set[str]
    leading_keys: list[str] = field(default_factory=list)
    attributes: set[str] | None = None


def resource_kinds(resource: Any) -> set[str]:
    text = json.dumps(resource)
    kinds = set()
    if "KeyrollTable" in text:
        kinds.add("index" if "/index/" in text else "table")
        if isinstance(resource, list):
            kinds = {k for r in resource for k in resource_kinds(r)}
    if "NotificationQueue" in text:
        kinds.add("queue")
    if ":secret:" in text:
        kinds.add("secret:webhook" if "webhook/" in text else "secret")
    if "AuditMacKey" in text or "ExistingMacKeyArn" in text:
        kinds.add("key")
    if ":identity/" in text:
        kinds.add("identity")
    return kinds


def grants(template: dict[str, Any]) -> dict[str, list[Grant]]:
    out: dict[str, list[Grant]] = {}
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        function = resource["Metadata"]["BuildProperties"]["Binary"]
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []):
                actions = statement["Action"]
                actions = set(actions if isinstance(actions, list) else [actions])
                condition = statement.get("Condition", {})
                leading = (condition.get("ForAllValues:StringLike") or {}).get(
                    "dynamodb:LeadingKeys", []
                )
                attributes = (condition.get("ForAllValues:StringEquals") or {}).get(
                    "dynamodb:Attributes"
                )
                out.setdefault(function, []).append(
                    Grant(
                        actions=actions,
                        kinds=resource_kinds(statement["Resource"]),
                        leading_keys=list(leading),
                        attributes=set(attributes) if attributes else None,
                    )
                )
    return out


def allows(grant: Grant, call: dict[str, str]) -> bool:
    kind = call["resource"]
    kinds = (
        {kind, "secret:webhook"}
        if kind == "secret" and "webhook/" in call.get("name", "")
        else {kind}
    )
    if call["action"] not in grant.actions or not (kinds & grant.kinds):
        return False
    if grant.leading_keys and not any(
        fnmatch.fnmatchcase(call.get("pk", ""), p) for p in grant.leading_keys
    ):
        return False
    return not (
        grant.attributes is not None
        and call.get("attributes")
        and not set(call["attributes"].split(",")) <= grant.attributes
    )


def main() -> int:
    template_path, log_path = sys.argv[1], sys.argv[2]
    with open(template_path) as f:
        template = yaml.load(f, Loader=Loader)
    granted = grants(template)
    with open(log_path) as f:
        calls = [json.loads(line) for line in f if line.strip()]
    problems: list[str] = []
    used: set[tuple[str, str, str]] = set()
    for call in calls:
        function = call["function"]
        matching = [g for g in granted.get(function, []) if allows(g, call)]
        if not matching:
            problems.append(
                f"{function}: {call['action']} on {call['resource']} {call} is not granted: AccessDenied in AWS"
            )
            continue
        for grant in matching:
            for kind in grant.kinds:
                used.add((function, call["action"], kind))
    for function, function_grants in sorted(granted.items()):
        for grant in function_grants:
            for action in sorted(grant.actions):
                for kind in sorted(grant.kinds):
                    key = (function, action, kind)
                    if key not in used and key not in EXERCISED_ELSEWHERE:
                        problems.append(
                            f"{function}: {action} on {kind} is granted but never called: excess privilege"
                        )
    for key in sorted(EXERCISED_ELSEWHERE):
        function, action, kind = key
        if not any(
            action in g.actions and kind in g.kinds for g in granted.get(function, [])
        ):
            problems.append(
                f"{function}: {action} on {kind} is listed as needed elsewhere but not granted: drop the entry"
            )
    counted: dict[str, set[str]] = {}
    for call in calls:
        counted.setdefault(call["function"], set()).add(call["action"])
    for function in sorted(counted):
        print(
            f"iam-check: {function}: {len(counted[function])} actions called: {', '.join(sorted(counted[function]))}"
        )
    for (function, action, kind), why in sorted(EXERCISED_ELSEWHERE.items()):
        print(
            f"iam-check: {function}: {action} on {kind} granted for a path lambda-smoke does not reach: {why}"
        )
    if problems:
        for problem in problems:
            print(f"iam-check: FAIL: {problem}", file=sys.stderr)
        return 1
    print(
        f"iam-check: {len(calls)} recorded calls all granted; every grant used or accounted for"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
