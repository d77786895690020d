"""Before `sam deploy`: would DynamoDB accept the table update this deploy asks for?

DynamoDB changes one global secondary index per table update, cannot change an index
in place, and cannot add one while another is being built; CloudFormation then rolls
the whole stack back. This reads the live table (DescribeTable), works out the table
template.yaml declares for `TableIndexes=N` (the code's TABLE, which tests/template.rs
keeps equal to the template), and says whether the deploy is safe, or what to deploy
first.

    scripts/preflight [--table NAME] [--indexes N]

Exit 0: safe (prints what the deploy changes). Exit 1: refused (prints why and the
next step). Exit 2: it could not tell (no access, no such parameter value).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any

# The order the indexes were introduced in: a table from an older release has a
# prefix of it, and TableIndexes=N declares the first N.
INTRODUCED = ["due", "age", "org", "compliance", "compliance_org", "list", "org_list"]


@dataclass
class Verdict:
    safe: bool
    lines: list[str]
    next_indexes: int | None = None


def _condition(
    name: str, conditions: dict[str, Any], parameters: dict[str, str]
) -> bool:
    return bool(_evaluate(conditions[name], conditions, parameters))


def _evaluate(node: Any, conditions: dict[str, Any], parameters: dict[str, str]) -> Any:
    """The few intrinsic functions the table and its conditions use."""
    if isinstance(node, dict) and len(node) == 1:
        ((function, argument),) = node.items()
        if function == "Ref":
            return parameters.get(argument, argument)
        if function == "Condition":
            return _condition(argument, conditions, parameters)
        if function == "Fn::Equals":
            a, b = (_evaluate(x, conditions, parameters) for x in argument)
            return a == b
        if function == "Fn::Not":
            return not _evaluate(argument[0], conditions, parameters)
        if function == "Fn::Or":
            return any(_evaluate(x, conditions, parameters) for x in argument)
        if function == "Fn::And":
            return all(_evaluate(x, conditions, parameters) for x in argument)
    return node


def _resolve(node: Any, conditions: dict[str, Any], parameters: dict[str, str]) -> Any:
    """`node` with every Fn::If decided and AWS::NoValue removed."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, then, otherwise = node["Fn::If"]
            chosen = then if _condition(name, conditions, parameters) else otherwise
            return _resolve(chosen, conditions, parameters)
        if node == {"Ref": "AWS::NoValue"}:
            return None
        return {k: _resolve(v, conditions, parameters) for k, v in node.items()}
    if isinstance(node, list):
        resolved = [_resolve(x, conditions, parameters) for x in node]
        return [x for x in resolved if x is not None]
    return node


def declared_table(template: dict[str, Any], indexes: int) -> dict[str, Any]:
    """The table's properties in template.yaml for TableIndexes=`indexes`."""
    allowed = template["Parameters"]["TableIndexes"]["AllowedValues"]
    if str(indexes) not in allowed:
        raise ValueError(f"TableIndexes must be one of {allowed}")
    parameters = {"TableIndexes": str(indexes)}
    table = template["Resources"]["KeyrollTable"]["Properties"]
    return dict(_resolve(table, template.get("Conditions", {}), parameters))


def _index_shape(index: dict[str, Any]) -> tuple[Any, ...]:
    keys = tuple((k["AttributeName"], k["KeyType"]) for k in index["KeySchema"])
    projection = index.get("Projection", {})
    return (
        keys,
        projection.get("ProjectionType", "ALL"),
        tuple(sorted(projection.get("NonKeyAttributes", []))),
    )


def judge(
    live: dict[str, Any] | None, declared: dict[str, Any], indexes: int
) -> Verdict:
    """Whether updating the `live` table (DescribeTable's Table, or None when it does
    not exist) to `declared` is an update DynamoDB accepts."""
    wanted = {i["IndexName"]: i for i in declared.get("GlobalSecondaryIndexes", [])}
    if live is None:
        return Verdict(
            True,
            [
                f"no table yet: the stack creates it with its {len(wanted)} indexes at once"
            ],
        )
    lines: list[str] = []
    live_keys = [(k["AttributeName"], k["KeyType"]) for k in live["KeySchema"]]
    declared_keys = [(k["AttributeName"], k["KeyType"]) for k in declared["KeySchema"]]
    if live_keys != declared_keys:
        return Verdict(
            False,
            [
                f"the table's key is {live_keys}, keyroll's is {declared_keys}: not keyroll's table"
            ],
        )
    existing = {i["IndexName"]: i for i in live.get("GlobalSecondaryIndexes", [])}
    have = len(existing)
    for name, index in existing.items():
        if index.get("IndexStatus") != "ACTIVE" or index.get("Backfilling"):
            return Verdict(
                False,
                [
                    (
                        f"index {name} is {index.get('IndexStatus')}{' (backfilling)' if index.get('Backfilling') else ''}: "
                        "DynamoDB builds one index at a time; run this again once it is ACTIVE"
                    )
                ],
            )
        if name not in wanted:
            return Verdict(
                False,
                [
                    (
                        f"the table has index {name}, which TableIndexes={indexes} does not declare: "
                        f"the deploy would delete it; deploy TableIndexes={have} or more"
                    )
                ],
                next_indexes=max(have, indexes),
            )
        if _index_shape(index) != _index_shape(wanted[name]):
            return Verdict(
                False,
                [
                    (
                        f"index {name} differs from keyroll's ({_index_shape(index)} vs {_index_shape(wanted[name])}): "
                        "DynamoDB cannot change an index in place; this is not a table keyroll made"
                    )
                ],
            )
    known = all(name in INTRODUCED for name in existing)
    if not known or sorted(existing, key=INTRODUCED.index) != INTRODUCED[:have]:
        return Verdict(
            False,
            [
                f"the table's indexes {sorted(existing)} are not a release's: expected the first {have} of {INTRODUCED}"
            ],
        )
    to_add = [n for n in wanted if n not in existing]
    if len(to_add) > 1:
        step = have + 1
        return Verdict(
            False,
            [
                f"the deploy would add {len(to_add)} indexes ({', '.join(to_add)}); DynamoDB adds one per update",
                (
                    f"deploy with --parameter-overrides TableIndexes={step} first, wait until {INTRODUCED[have]} is ACTIVE "
                    "(this script says so), then deploy the next"
                ),
            ],
            next_indexes=step,
        )
    if to_add:
        lines.append(
            f"the deploy adds index {to_add[0]} (DynamoDB builds it in the background; "
            "until it is ACTIVE the routes that need it answer 503)"
        )
    else:
        lines.append(
            f"the table already has the {have} indexes TableIndexes={indexes} declares"
        )
    return Verdict(True, lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--table", default=os.environ.get("KEYROLL_TABLE_NAME", "keyroll")
    )
    parser.add_argument("--indexes", type=int, default=len(INTRODUCED))
    parser.add_argument("--template", default="template.yaml")
    args = parser.parse_args()

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError
    from samtranslator.yaml_helper import yaml_parse

    with open(args.template) as f:
        template = yaml_parse(f.read())
    try:
        declared = declared_table(template, args.indexes)
    except ValueError as error:
        print(f"preflight: {error}", file=sys.stderr)
        return 2
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    try:
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"),
            region_name=region,
        )
        live = dynamodb.describe_table(TableName=args.table)["Table"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            print(
                f"preflight: cannot read table {args.table}: {error}", file=sys.stderr
            )
            return 2
        live = None
    except BotoCoreError as error:
        print(f"preflight: cannot reach DynamoDB: {error}", file=sys.stderr)
        return 2
    verdict = judge(live, declared, args.indexes)
    for line in verdict.lines:
        print(f"preflight: {'ok' if verdict.safe else 'refused'}: {line}")
    return 0 if verdict.safe else 1


if __name__ == "__main__":
    sys.exit(main())
