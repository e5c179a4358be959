"""The deploy rehearsal's result (``tools.deploy_local.rehearse``) and its report: one line per
item, naming resources, types and outputs; nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tools.deployed import ResourceCheck
from tools.rehearsal import OutputCheck, StandIns
from twin.resources import ACCOUNT, REGION


@dataclass
class Rehearsal:
    endpoint: str
    server: str
    prefix: str
    stack: str
    out_dir: Path
    timings: dict[str, float]
    deploy: str  # created / updated / unchanged (the CLI updates a stack with an SSM parameter even when nothing changed)
    assets: int
    stand_ins: StandIns
    template: dict  # as synthesized
    created: dict[str, str]  # logical id -> physical id
    skipped: dict[str, list[str]]  # type -> logical ids
    predicted: set[str]  # the types moto was expected to skip
    outputs: OutputCheck
    resources: ResourceCheck

    @property
    def lost(self) -> dict[str, list[str]]:
        """Resources of types moto has a model for that the stack does not hold (not created, or
        lost in an update: moto cannot update some types in place, e.g. a log group)."""
        return {t: ids for t, ids in self.skipped.items() if t not in self.predicted}

    @property
    def passed(self) -> bool:
        return self.outputs.passed and self.resources.passed and not self.lost


_DEPLOYED = {"created": "created", "updated": "updated",
             "unchanged": "unchanged (the same template, applied again: nothing to change)"}


def _counts(by_type: dict[str, int]) -> str:
    return ", ".join(f"{n} {t.removeprefix('AWS::')}" for t, n in sorted(by_type.items()))


def report(r: Rehearsal, elapsed: float) -> str:
    """What the rehearsal did and found, one line per item (no values but names of resources)."""
    total = len(r.template.get("Resources", {}))
    created_types: dict[str, int] = {}
    for lid in r.created:
        t = r.template["Resources"].get(lid, {}).get("Type", "?")
        created_types[t] = created_types.get(t, 0) + 1
    o, res, si = r.outputs, r.resources, r.stand_ins
    declared = len(r.template.get("Outputs", {}))
    lines = [
        f"Deploy rehearsal on the local cloud {r.endpoint} ({r.server})",
        f"  stack               {r.stack}, name prefix {r.prefix!r}; none of its names was held outside the stack",
        f"  cdk bootstrap {r.timings['cdk bootstrap']:7.1f} s  aws://{ACCOUNT}/{REGION}: CDKToolkit (staging bucket, publishing roles)",
        f"  cdk synth     {r.timings['cdk synth']:7.1f} s  {r.assets} Lambda assets bundled locally, kept in {r.out_dir}",
        f"  cdk deploy    {r.timings['cdk deploy']:7.1f} s  --method direct: stack {_DEPLOYED[r.deploy]}; assets in the staging bucket",
        f"  stand-ins           {si.references} reference(s) to {len(si.of_resources)} skipped resource(s), in "
        f"{len(si.in_resources)} created one(s): {', '.join(si.in_resources) or '-'}",
        f"  moto created        {len(r.created)} of {total} resources: {_counts(created_types)}",
        f"  {'moto skipped:':<20}" + ", ".join(f"{t}{f' ({len(ids)})' if len(ids) > 1 else ''}" for t, ids in r.skipped.items()
                                     if t in r.predicted),
        f"  outputs             {len(o.ok)} of {declared} as the template and the configuration say"
        + (f"; {len(o.not_produced)} not produced (each names a skipped resource): "
           + ", ".join(f"{k} ({'/'.join(t.removeprefix('AWS::') for t in ts)})" for k, ts in o.not_produced.items())
           if o.not_produced else ""),
        f"  resources           {sum(res.found.values())} of {len(r.created)} found with their services' APIs: {_counts(res.found)}"
        + (f"; not looked up: {_counts(res.unchecked)}" if res.unchecked else ""),
        f"  Lambda code         {res.code_from_assets} function(s) run the asset the CLI uploaded (same SHA-256)",
    ]
    problems = ([f"output {k}: missing" for k in o.missing] + [f"output {w}" for w in o.wrong]
                + [f"output {k}: not in the template" for k in o.unexpected]
                + [f"resource {m}: not found" for m in res.missing] + [f"resource {w}" for w in res.wrong])
    how = ("lost in the update (moto cannot update them in place; `make down`, then run again, deploys afresh)"
           if r.deploy == "updated" else "not created, though moto has a model for them")
    problems += [f"{len(ids)} {t} {how}: {', '.join(ids)}" for t, ids in r.lost.items()]
    lines += [f"  PROBLEM             {p}" for p in problems]
    lines += [f"  elapsed       {elapsed:7.1f} s",
              f"  result              {'ok' if r.passed else 'FAILED: ' + str(len(problems)) + ' problem(s)'}"]
    return "\n".join(lines)
