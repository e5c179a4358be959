"""The lake's columns, from the data contracts: what ``make query`` declares to DuckDB.

A delivered line is what the scrubber wrote, not what the producer sent, so a column's type is the
type of the values the scrubber can leave in that field, derived from the contract:

- a field without personal data keeps its declared type (string VARCHAR, integer BIGINT, number
  DOUBLE, boolean BOOLEAN, date DATE, datetime TIMESTAMPTZ, any JSON; an object with declared
  fields a STRUCT of them, an array with declared ``items[*]`` fields a list of such STRUCTs, an
  object or array without declared fields JSON);
- a personal-data field holds what its actions write: every action but ``drop`` writes a string
  (a token ``~gs1.…``/``~ds1.…`` for encrypt, ``k:…`` for pseudonymise, a mask, a generalised
  value such as ``"1990"`` or ``"30-39"``, the redaction token), and the value as sent remains
  only when there is no ``always`` action (with consent). So a sealed field (``always: encrypt``)
  is VARCHAR whatever its declared type; a field that can hold both a string and its declared
  type is VARCHAR for a scalar (DuckDB writes the number or boolean as text) and JSON otherwise;
- the consent field can hold the redaction token (a malformed consent value is redacted): a typed
  consent field is widened in the same way.

Across contracts (and versions), a column of one name takes the union of its types: equal types
stay; STRUCTs merge field by field (a field of one contract only is NULL in the others); lists
merge their items; BIGINT with DOUBLE is DOUBLE; other differing scalars are VARCHAR; anything
else (a STRUCT against a string, say) is JSON. Names are matched as DuckDB and Athena do, without
regard to case. Fields a contract does not declare (``undeclared_fields: keep``) are not columns.

Nothing here imports DuckDB: the SQL is text, testable without a lake on disk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from privacy.common import META_FIELD
from privacy.contract import Contract, FieldSpec

# A lake type: a scalar DuckDB type name, or ("STRUCT", ((name, type), ...)), or ("LIST", type)
LakeType = str | tuple
JSON = "JSON"
VARCHAR = "VARCHAR"
SCALARS = {"string": VARCHAR, "integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE",
           "datetime": "TIMESTAMPTZ", "any": JSON}
# what the scrubber itself adds to every delivered line (privacy.contract.RESERVED)
META_COLUMNS: dict[str, LakeType] = {
    META_FIELD: ("STRUCT", (("contract", VARCHAR), ("applied", "MAP(VARCHAR, VARCHAR)"))),
    "data_redacted": "BOOLEAN",
    "redacted_at": "TIMESTAMPTZ",
}
# the quarantine's error records (Firehose's format), without rawData: the record as sent, in clear
QUARANTINE_COLUMNS: dict[str, LakeType] = {
    "errorCode": VARCHAR, "errorMessage": VARCHAR, "attemptsMade": "BIGINT", "arrivalTimestamp": "BIGINT",
    "attemptEndingTimestamp": "BIGINT", "lambdaArn": VARCHAR,
}
EVENTS = "events"
QUARANTINE = "quarantine"
_PARTITION_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(!\{timestamp:[^}]*\})?")


class SchemaError(ValueError):
    """The contracts cannot be laid out as the lake's columns. The message names contract and field."""


@dataclass(frozen=True)
class Partitions:
    """The Hive partition columns of a prefix (``year=!{timestamp:yyyy}/…``): timestamp parts are INTEGER."""

    types: tuple[tuple[str, str], ...]

    @classmethod
    def of_prefix(cls, prefix: str) -> Partitions:
        return cls(tuple((m.group(1), "INTEGER" if m.group(2) else VARCHAR) for m in _PARTITION_RE.finditer(prefix)))

    def names(self) -> set[str]:
        return {n.casefold() for n, _ in self.types}


# ---------------------------------------------------------------------------------------------
# One contract
# ---------------------------------------------------------------------------------------------


def _children(by_path: dict[str, FieldSpec], prefix: str) -> list[FieldSpec]:
    """The fields directly under ``prefix`` (``a.`` for an object, ``a[*].`` for an array's items;
    ``""`` for the top level), in declaration order."""
    return [f for p, f in by_path.items() if p.startswith(prefix) and "." not in p[len(prefix):]]


def _declared(f: FieldSpec, by_path: dict[str, FieldSpec]) -> LakeType:
    """The type of the field's value as sent (its children typed as they land)."""
    if f.type == "object":
        kids = _children(by_path, f.path + ".")
        return ("STRUCT", tuple((k.path.rsplit(".", 1)[-1], _landed(k, by_path)) for k in kids)) if kids else JSON
    if f.type == "array":
        kids = _children(by_path, f.path + "[*].")
        if not kids:
            return JSON
        return ("LIST", ("STRUCT", tuple((k.path.rsplit(".", 1)[-1], _landed(k, by_path)) for k in kids)))
    return SCALARS[f.type]


def _landed(f: FieldSpec, by_path: dict[str, FieldSpec], consent_path: str = "") -> LakeType:
    """The type of what the scrubber leaves in the field."""
    declared = _declared(f, by_path)
    if f.pii is None and f.path != consent_path:
        return declared
    # every action but drop writes a string; the value as sent stays only when no action applies
    # with consent (no ``always``); a consent value can be redacted (the token)
    keeps_value = f.pii is None or f.pii.always is None
    writes_string = f.path == consent_path or f.pii.action != "drop" or f.pii.always is not None
    if not keeps_value:
        return VARCHAR if writes_string else declared
    if not writes_string or declared in (VARCHAR, JSON):
        return declared
    return VARCHAR if isinstance(declared, str) else JSON


def contract_columns(contract: Contract) -> dict[str, LakeType]:
    """The contract's top-level fields and the type each has in the lake."""
    by_path = {f.path: f for f in contract.fields}
    cols: dict[str, LakeType] = {}
    for f in _children(by_path, ""):
        cols[f.path] = _landed(f, by_path, contract.consent.path)
    # nested consent paths (consent.purposes) are widened where they sit: walk them once more
    return cols if "." not in contract.consent.path else _with_nested_consent(contract, by_path, cols)


def _with_nested_consent(contract: Contract, by_path: dict[str, FieldSpec], cols: dict[str, LakeType]) -> dict[str, LakeType]:
    """Re-type the object that holds a nested consent field, so the field can hold the token."""
    consent = by_path.get(contract.consent.path)
    if consent is None or consent.type == "any":
        return cols

    def retype(f: FieldSpec) -> LakeType:
        if f.path == consent.path:
            return _landed(f, by_path, consent.path)
        if not consent.path.startswith(f.path + ".") or f.type != "object" or f.pii is not None:
            return _landed(f, by_path)
        return ("STRUCT", tuple((k.path.rsplit(".", 1)[-1], retype(k)) for k in _children(by_path, f.path + ".")))

    top = contract.consent.path.split(".", 1)[0]
    return {**cols, top: retype(by_path[top])}


# ---------------------------------------------------------------------------------------------
# Across contracts
# ---------------------------------------------------------------------------------------------

_NUMBERS = {"BIGINT", "DOUBLE"}


def merge(a: LakeType, b: LakeType) -> LakeType:
    """The type of a column that holds values of type ``a`` and of type ``b`` (see the module doc)."""
    if a == b:
        return a
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0] == "STRUCT":
        return ("STRUCT", tuple(merge_columns([dict(a[1]), dict(b[1])]).items()))
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0] == "LIST":
        return ("LIST", merge(a[1], b[1]))
    if isinstance(a, str) and isinstance(b, str) and JSON not in (a, b) and not a.startswith("MAP") and not b.startswith("MAP"):
        return "DOUBLE" if {a, b} == _NUMBERS else VARCHAR
    return JSON


def merge_columns(column_sets: Iterable[dict[str, LakeType]]) -> dict[str, LakeType]:
    """The union of several column sets, names matched without regard to case (first spelling kept)."""
    out: dict[str, LakeType] = {}
    spelled: dict[str, str] = {}
    for cols in column_sets:
        for name, t in cols.items():
            key = name.casefold()
            if key in spelled:
                out[spelled[key]] = merge(out[spelled[key]], t)
            else:
                spelled[key] = name
                out[name] = t
    return out


def lake_columns(contracts: Sequence[Contract], partitions: Partitions) -> dict[str, LakeType]:
    """Every column of the ``events`` view but the partitions: the union of every contract's
    top-level fields, then the scrubber's own fields."""
    cols = merge_columns(contract_columns(c) for c in contracts)
    for c in contracts:
        for f in c.fields:
            if "." not in f.path and f.path.casefold() in partitions.names():
                raise SchemaError(f"{c.source or c.ref}: fields.{f.path}: has the name of a partition column of the lake's "
                                  "data prefix; rename the field or the partition")
    return {**cols, **META_COLUMNS}


def type_columns(contracts: Sequence[Contract]) -> dict[str, dict[str, LakeType]]:
    """Per event type, its columns and their types over every version of its contract."""
    sets: dict[str, list[dict[str, LakeType]]] = {}
    for c in contracts:
        sets.setdefault(c.type, []).append(contract_columns(c))
    return {t: merge_columns(cols) for t, cols in sets.items()}


# ---------------------------------------------------------------------------------------------
# SQL
# ---------------------------------------------------------------------------------------------


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def render(t: LakeType) -> str:
    """The DuckDB type text of a lake type."""
    if isinstance(t, str):
        return t
    if t[0] == "LIST":
        return render(t[1]) + "[]"
    return "STRUCT(" + ", ".join(f"{ident(n)} {render(s)}" for n, s in t[1]) + ")"


def read_json_sql(paths: Sequence[str], columns: dict[str, LakeType], partitions: Partitions) -> str:
    """``read_json`` over GZIP JSON-lines files with the columns declared (no sampling, no guessing)."""
    files = "[" + ", ".join(literal(p) for p in paths) + "]"
    cols = "{" + ", ".join(f"{literal(n)}: {literal(render(t))}" for n, t in columns.items()) + "}"
    hive = "{" + ", ".join(f"{literal(n)}: {literal(t)}" for n, t in partitions.types) + "}"
    return (f"read_json({files}, columns={cols}, format='newline_delimited', compression='gzip', "
            f"hive_partitioning=true" + (f", hive_types={hive}" if partitions.types else "") + ")")


def _empty_sql(columns: dict[str, LakeType], partitions: Partitions) -> str:
    """A relation with the columns and no rows: the view when the lake holds no such object yet."""
    cols = [f"CAST(NULL AS {render(t)}) AS {ident(n)}" for n, t in columns.items()]
    cols += [f"CAST(NULL AS {t}) AS {ident(n)}" for n, t in partitions.types]
    return "(SELECT " + ", ".join(cols) + " WHERE false)"


def view_sql(name: str, paths: Sequence[str], columns: dict[str, LakeType], partitions: Partitions) -> str:
    source = read_json_sql(paths, columns, partitions) if paths else _empty_sql(columns, partitions)
    return f"CREATE OR REPLACE VIEW {ident(name)} AS SELECT * FROM {source}"


def structure(t: LakeType) -> str:
    """The JSON structure ``from_json`` takes for a lake type."""
    if isinstance(t, str):
        return '"' + t + '"'
    if t[0] == "LIST":
        return "[" + structure(t[1]) + "]"
    return "{" + ", ".join(f'"{n}": {structure(s)}' for n, s in t[1]) + "}"


def _typed(name: str, own: LakeType, union: LakeType) -> str:
    """The column as the event type declares it: the ``events`` column itself when the union kept
    its type, else re-read as this type (a sibling's field of the same name made it wider)."""
    if own == union:
        return ident(name)
    source = ident(name) if union == JSON else f"to_json({ident(name)})"
    return f"from_json({source}, {literal(structure(own))}) AS {ident(name)}"


def type_view_sql(event_type: str, columns: dict[str, LakeType], union: dict[str, LakeType], partitions: Partitions) -> str:
    """A view of one event type's records (every version): its own columns with its own types,
    the scrubber's, and the partitions, chosen by the contract its provenance names (events of
    the default contract carry no type field)."""
    spelled = {n.casefold(): n for n in union}
    cols = [_typed(spelled[n.casefold()], t, union[spelled[n.casefold()]]) for n, t in columns.items()]
    cols += [ident(c) for c in (*META_COLUMNS, *(n for n, _ in partitions.types))]
    return (f"CREATE OR REPLACE VIEW {ident(event_type)} AS SELECT {', '.join(cols)} FROM {EVENTS} "
            f"WHERE starts_with({ident(META_FIELD)}.contract, {literal(event_type + '/')})")


def views_sql(contracts: Sequence[Contract], data_paths: Sequence[str], quarantine_paths: Sequence[str],
              data_prefix: str, quarantine_prefix: str) -> list[str]:
    """Every statement that defines the views: ``events`` (every delivered record), one per event
    type (not one named ``events`` or ``quarantine``), and ``quarantine`` (the error records'
    metadata: never their raw data)."""
    parts = Partitions.of_prefix(data_prefix)
    union = lake_columns(contracts, parts)
    stmts = [view_sql(EVENTS, data_paths, union, parts)]
    for t, cols in type_columns(contracts).items():
        if t not in (EVENTS, QUARANTINE):
            stmts.append(type_view_sql(t, cols, union, parts))
    stmts.append(view_sql(QUARANTINE, quarantine_paths, QUARANTINE_COLUMNS, Partitions.of_prefix(quarantine_prefix)))
    return stmts
