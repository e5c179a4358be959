"""What a deploy rehearsal on moto shows, computed from the synthesized template and what moto
reports back. Pure: no AWS calls, no CDK (``tools.deploy_local`` runs the CLI and the calls).

moto's CloudFormation creates the resources it has a model for and skips the others, with a
warning in its own log; ``list-stack-resources`` then lists each skipped one as an entry with no
logical id. So what moto skipped is the template's logical ids minus the ones it lists
(``skipped``). A reference to a skipped resource resolves to nothing on moto, and a resource that
holds one can fail (IAM refuses a statement left with no resource: the keyring's secret is skipped,
and the scrubber's policy names it), so before the deploy each such reference in a resource moto
does create is replaced by a stand-in ARN that says what it stands for (``stand_in``). Outputs are
left as they are: an output that depends on a skipped resource is missing on moto, and
``check_outputs`` says so instead of failing.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

STAND_IN_MARK = "moto-skipped"
_SUB_REF = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.([A-Za-z0-9.]+))?\}")
_SERVICE = {"KinesisFirehose": "firehose", "CloudWatch": "cloudwatch", "Logs": "logs"}


def _getatt_id(value) -> str:
    return value[0] if isinstance(value, list) else str(value).split(".", 1)[0]


def referenced_ids(value) -> set[str]:
    """The logical ids a template value refers to (Ref, Fn::GetAtt, ${...} in Fn::Sub)."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        for k, v in value.items():
            if k == "Ref" and isinstance(v, str):
                found.add(v)
            elif k == "Fn::GetAtt":
                found.add(_getatt_id(v))
            elif k == "Fn::Sub":
                text = v[0] if isinstance(v, list) and v else v
                if isinstance(text, str):
                    found.update(m.group(1) for m in _SUB_REF.finditer(text))
                if isinstance(v, list) and len(v) > 1:
                    found |= referenced_ids(v[1])
            else:
                found |= referenced_ids(v)
    elif isinstance(value, list):
        for v in value:
            found |= referenced_ids(v)
    return found


def literal(value, account: str, region: str) -> str | None:
    """A template value as a string, if it is one or an ``Fn::Join`` of strings and the account,
    region and partition pseudo parameters (how the stack names its buckets); else None."""
    pseudo = {"AWS::AccountId": account, "AWS::Region": region, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        (k, v), = value.items()
        if k == "Ref" and v in pseudo:
            return pseudo[v]
        if k == "Fn::Join" and isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], list):
            parts = [literal(x, account, region) for x in v[1]]
            return None if None in parts else v[0].join(parts)
    return None


def stand_in_arn(resource_type: str, logical_id: str, account: str, region: str) -> str:
    """What a reference to a resource moto skipped becomes: an ARN that passes IAM's checks and
    names what it stands for (``arn:aws:secretsmanager:…:moto-skipped/<logical id>``)."""
    service = resource_type.split("::")[1] if resource_type.count("::") == 2 else "unknown"
    return f"arn:aws:{_SERVICE.get(service, service.lower())}:{region}:{account}:{STAND_IN_MARK}/{logical_id}"


@dataclass(frozen=True)
class StandIns:
    template: dict  # the template with the stand-ins (the input is left as it was)
    references: int  # how many references were replaced
    in_resources: tuple[str, ...]  # the created resources that held them (logical ids)
    of_resources: tuple[str, ...]  # the skipped resources they referred to (logical ids)


def stand_in(template: Mapping, unsupported: Collection[str], account: str, region: str) -> StandIns:
    """``template`` with every reference to a resource of an ``unsupported`` type, inside the
    properties of a resource moto creates, replaced by ``stand_in_arn``. Outputs, conditions and
    the skipped resources themselves are kept as they are."""
    resources = template.get("Resources", {})
    skipped_ids = {lid for lid, r in resources.items() if r.get("Type") in unsupported}
    count = 0
    of: set[str] = set()

    def arn(lid: str) -> str:
        nonlocal count
        count += 1
        of.add(lid)
        return stand_in_arn(resources[lid]["Type"], lid, account, region)

    def sub_text(text: str) -> str:
        return _SUB_REF.sub(lambda m: arn(m.group(1)) if m.group(1) in skipped_ids else m.group(0), text)

    def walk(value):
        if isinstance(value, Mapping):
            if len(value) == 1:
                (k, v), = value.items()
                if k == "Ref" and v in skipped_ids:
                    return arn(v)
                if k == "Fn::GetAtt" and _getatt_id(v) in skipped_ids:
                    return arn(_getatt_id(v))
                if k == "Fn::Sub" and isinstance(v, str):
                    return {k: sub_text(v)}
                if k == "Fn::Sub" and isinstance(v, list) and v and isinstance(v[0], str):
                    return {k: [sub_text(v[0]), *(walk(x) for x in v[1:])]}
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    out = dict(template)
    new_resources, holders = {}, []
    for lid, r in resources.items():
        if lid in skipped_ids or "Properties" not in r:
            new_resources[lid] = r
            continue
        before = count
        new_resources[lid] = {**r, "Properties": walk(r["Properties"])}
        if count > before:
            holders.append(lid)
    out["Resources"] = new_resources
    return StandIns(out, count, tuple(holders), tuple(sorted(of)))


def skipped(template: Mapping, created: Collection[str]) -> dict[str, list[str]]:
    """Per resource type, the template's logical ids that moto did not create (``created``: the
    logical ids ``list-stack-resources`` names; moto lists a skipped resource with none)."""
    out: dict[str, list[str]] = {}
    for lid, r in template.get("Resources", {}).items():
        if lid not in created:
            out.setdefault(r.get("Type", "?"), []).append(lid)
    return {t: sorted(ids) for t, ids in sorted(out.items())}


@dataclass
class OutputCheck:
    ok: list[str] = field(default_factory=list)  # present, with the value expected
    missing: list[str] = field(default_factory=list)  # expected, absent or empty
    wrong: list[str] = field(default_factory=list)  # present, with another value: "<key>: <why>"
    not_produced: dict[str, list[str]] = field(default_factory=dict)  # key -> the skipped types it depends on
    unexpected: list[str] = field(default_factory=list)  # on the stack, not in the template

    @property
    def passed(self) -> bool:
        return not (self.missing or self.wrong or self.unexpected)


def check_outputs(template: Mapping, outputs: Mapping[str, str], physical: Mapping[str, str],
                  expected: Mapping[str, str] | None = None) -> OutputCheck:
    """The stack's ``outputs`` (key -> value, from describe-stacks) against the template's.

    ``physical``: logical id -> physical id of what moto created. An output that refers to a
    resource moto did not create is reported as not produced (moto cannot give it a value), not
    as missing. Every other output must be there, and equal to what the template says: a literal,
    the physical id of the resource it ``Ref``s, an ARN ending with the physical id of the resource
    whose ``Arn`` it reads; and to ``expected`` (key -> value, e.g. the names the configuration
    gives), when given."""
    expected = expected or {}
    resources = template.get("Resources", {})
    result = OutputCheck()
    declared = template.get("Outputs", {})
    for key, spec in declared.items():
        value = spec.get("Value")
        deps = referenced_ids(value)
        absent = sorted(d for d in deps if d in resources and d not in physical)
        if absent:
            result.not_produced[key] = sorted({resources[d]["Type"] for d in absent})
            continue
        got = outputs.get(key)
        if not got:
            result.missing.append(key)
            continue
        why = _mismatch(value, got, physical)
        if why is None and key in expected and got != expected[key]:
            why = f"is {got}, the configuration names {expected[key]}"
        if why is None:
            result.ok.append(key)
        else:
            result.wrong.append(f"{key}: {why}")
    result.unexpected = sorted(k for k in outputs if k not in declared)
    return result


def _mismatch(value, got: str, physical: Mapping[str, str]) -> str | None:
    """Why ``got`` is not what the template's output ``value`` gives, or None."""
    if isinstance(value, str):
        return None if got == value else f"is {got}, the template says {value}"
    if isinstance(value, Mapping) and len(value) == 1:
        (k, v), = value.items()
        if k == "Ref" and v in physical:
            return None if got == physical[v] else f"is {got}, {v} is {physical[v]}"
        if k == "Fn::GetAtt" and isinstance(v, list) and v[1:] == ["Arn"] and v[0] in physical:
            pid = physical[v[0]]
            ok = got.startswith("arn:") and (got == pid or got.endswith((f"/{pid}", f":{pid}")))
            return None if ok else f"is {got}, not the ARN of {v[0]} ({pid})"
    return None  # an expression this check does not evaluate: present and non-empty is all it asks
