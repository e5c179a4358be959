"""The Glue (Hive) columns of the lake's ``events`` table, from the data contracts.

The columns are ``tools.lake_schema``'s, the ones ``make query`` declares to DuckDB (same fields,
same merge across contracts and versions, same partitions), written as the Hive types Athena
reads through the OpenX JSON SerDe, so that one SQL text runs in both:

- VARCHAR ``string``, BIGINT ``bigint``, DOUBLE ``double``, BOOLEAN ``boolean``, DATE ``date``,
  a STRUCT ``struct<…>``, a list ``array<…>``, the provenance map ``map<string,string>``, an
  INTEGER partition ``int``;
- JSON ``string``: the SerDe hands an object or array read into a string column over as its JSON
  text (DuckDB's JSON type is text too);
- TIMESTAMPTZ ``string``: a Hive table has no timestamp with a time zone, and a datetime in the
  lake is the ISO 8601 text as sent, offset included; the SerDe's ``timestamp`` parsing of that
  text is not documented, and a value it cannot parse fails the whole query. Athena reads such a
  column with ``from_iso8601_timestamp(col)``.

Glue stores column and struct field names in lower case, and the SerDe matches JSON keys without
regard to case (its default), as ``lake_schema`` merges them. Contract field names are already
ASCII letters, digits and ``_`` (privacy.document refuses others), which Athena can hold.

``subject_paths`` gives the subject export's Athena search (``rights.athena``) the contracts'
subject fields as paths into these columns: it is computed here, at synth, where the types are.

Free of ``aws_cdk`` and DuckDB imports: the types are text, testable alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from privacy.contract import Contract
from rights.finder import SubjectPath
from tools.lake_schema import JSON, LakeType, Partitions, lake_columns

_HIVE_SCALARS = {
    "VARCHAR": "string", "BIGINT": "bigint", "DOUBLE": "double", "BOOLEAN": "boolean", "DATE": "date",
    "TIMESTAMPTZ": "string", JSON: "string", "MAP(VARCHAR, VARCHAR)": "map<string,string>", "INTEGER": "int",
}


def hive_type(t: LakeType) -> str:
    """The Hive type text of a lake type (``lake_schema``'s LakeType)."""
    if isinstance(t, str):
        return _HIVE_SCALARS[t]
    if t[0] == "LIST":
        return f"array<{hive_type(t[1])}>"
    return "struct<" + ",".join(f"{n.lower()}:{hive_type(s)}" for n, s in t[1]) + ">"


def glue_columns(contracts: Sequence[Contract], data_prefix: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(columns, partition keys) of the ``events`` table: (lower-case name, Hive type) pairs, the
    columns in ``lake_columns`` order (every contract's top-level fields, then the scrubber's)."""
    parts = Partitions.of_prefix(data_prefix)
    cols = [(n.lower(), hive_type(t)) for n, t in lake_columns(contracts, parts).items()]
    return cols, [(n.lower(), _HIVE_SCALARS[t]) for n, t in parts.types]


def _named(fields, name: str) -> LakeType | None:
    """A column's or struct field's type by name, without regard to case (as Glue and the SerDe)."""
    return next((t for n, t in fields if n.casefold() == name.casefold()), None)


def subject_path(names: Sequence[str], columns: dict[str, LakeType]) -> SubjectPath | None:
    """The subject field ``names`` (its path, split) as the table holds it, or None when its column
    cannot hold a string there (so no record holds a key link in it): struct fields dereferenced,
    the rest of the path read as JSON text below a column that another contract made JSON."""
    t = _named(columns.items(), names[0])
    for i, name in enumerate(names[1:], start=1):
        if t == JSON:
            return SubjectPath(tuple(names), json_from=i)
        if not (isinstance(t, tuple) and t[0] == "STRUCT"):
            return None
        t = _named(t[1], name)
    return SubjectPath(tuple(names)) if t is not None and hive_type(t) == "string" else None


def subject_paths(contracts: Sequence[Contract], data_prefix: str) -> list[SubjectPath]:
    """Every contract's subject field as a path into the ``events`` table, each once (names
    matched without regard to case), in contract order; those that cannot hold a link left out."""
    columns = lake_columns(contracts, Partitions.of_prefix(data_prefix))
    out: dict[tuple[str, ...], SubjectPath] = {}
    for c in contracts:
        p = subject_path(c.subject.split("."), columns)
        if p is not None:
            out.setdefault(tuple(n.casefold() for n in p.names), p)
    return list(out.values())
