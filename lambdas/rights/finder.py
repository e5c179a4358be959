"""The port "which lake objects hold this key link", and the SQL that answers it in Athena.

An export (``rights.core``) needs the objects that hold a record whose subject field is the
subject's key link. Without a finder it lists every object of the date range and reads each in
full (a scan). With one, a query engine reads the range's partitions and names the objects whose
records carry the link in a subject column; the export reads only those, and still checks every
record itself (the subject field, by its contract), so a finder that names too many objects costs
reads, never a wrong record. One that names too few would lose records: adapters fail rather than
answer partly (``FinderError``).

Adapters: ``rights.athena.AthenaFinder`` (deployed: the catalog's ``events`` table, in the
workgroup), ``tools.lake_finder.LocalFinder`` (offline: DuckDB over the twin's copy of the lake).

The subject columns (``SubjectPath``) come from the contracts and the table's column types, computed
at synth (``stacks.catalog_columns.subject_paths``) and handed to the function as JSON: a subject
field ``customer.id`` is ``"customer"."id"`` when ``customer`` is a struct column, and read with
``json_extract_scalar`` when another contract made that column JSON text. The link is never
written into the SQL: it is an execution parameter, written as a SQL string literal (Athena takes
each parameter as a literal: a string in single quotes, a quote in it doubled).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

Stop = Callable[[], bool]
RESULT_COLUMN = "lake_object"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}", re.ASCII)
_DAY_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=!\{timestamp:(yyyy|MM|dd)\}")


class FinderError(RuntimeError):
    """The search did not answer (failed, cancelled, timed out, answered outside the lake). The
    message names the engine's state, the query id, keys: never the link or a record's content."""


@dataclass
class Found:
    """The objects to read (keys, in key order), and what the search did (counts, ids, no values)."""

    keys: list[str]
    report: dict[str, Any] = field(default_factory=dict)


class LinkFinder(Protocol):
    def find(self, link: str, start: date | None, end: date | None, stop: Stop | None = None) -> Found:
        """The keys of every object under the data prefix, in the range's partitions (all, without a
        range), that holds a record whose subject field is ``link``; more is allowed, fewer never."""


@dataclass(frozen=True)
class SubjectPath:
    """A subject field as a column path: the column, then struct fields. ``json_from``: the index
    of the first name that is read from JSON text (its parent is a JSON string column), or None."""

    names: tuple[str, ...]
    json_from: int | None = None

    def __post_init__(self):
        if not self.names or any(type(n) is not str or not _NAME.fullmatch(n) for n in self.names):
            raise ValueError("a subject path is one or more plain names (letters, digits, _)")
        if self.json_from is not None and not 1 <= self.json_from < len(self.names):
            raise ValueError("json_from must index a name below the column")


def dump_paths(paths: Sequence[SubjectPath]) -> str:
    return json.dumps([{"names": list(p.names), "json_from": p.json_from} for p in paths], separators=(",", ":"))


def load_paths(text: str) -> list[SubjectPath]:
    """The JSON ``dump_paths`` wrote (raises ValueError when it is not that)."""
    doc = json.loads(text)
    if type(doc) is not list or any(type(d) is not dict or set(d) != {"names", "json_from"} for d in doc):
        raise ValueError("a list of {names, json_from}")
    return [SubjectPath(tuple(d["names"]), d["json_from"]) for d in doc]


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal (Trino, DuckDB): single quotes, a quote inside doubled. Nothing else
    is special in one (no backslash escapes), so this is the whole of the quoting."""
    return "'" + text.replace("'", "''") + "'"


def athena_expr(p: SubjectPath) -> str:
    """The subject field's value as Athena reads it from the ``events`` table (Glue's column and
    struct field names are lower case)."""
    cut = len(p.names) if p.json_from is None else p.json_from
    column = ".".join(ident(n.lower()) for n in p.names[:cut])
    if p.json_from is None:
        return column
    # inside the JSON text, the keys as the records spell them (the contract's spelling)
    return f"json_extract_scalar({column}, {literal('$.' + '.'.join(p.names[cut:]))})"


@dataclass(frozen=True)
class DayParts:
    """The partition columns of the data prefix that hold a year, a month, a day (or None)."""

    year: str | None = None
    month: str | None = None
    day: str | None = None

    @classmethod
    def of_prefix(cls, prefix: str) -> DayParts:
        found = {tok: name.lower() for name, tok in _DAY_PART.findall(prefix)}
        return cls(found.get("yyyy"), found.get("MM"), found.get("dd"))


def range_predicate(parts: DayParts, start: date | None, end: date | None) -> tuple[str, list[str]]:
    """SQL over the partition columns keeping the days [start, end] (a superset when the prefix has
    no day or month), and its parameters. The year alone bounds what partition projection
    enumerates; year, month and day as one number select the days."""
    if start is None or end is None or parts.year is None:
        return "", []
    y = ident(parts.year)
    sql, params = f"{y} BETWEEN ? AND ?", [str(start.year), str(end.year)]
    if parts.month is not None:
        if parts.day is not None:
            key, lo, hi = (f"{y} * 10000 + {ident(parts.month)} * 100 + {ident(parts.day)}",
                           start.year * 10000 + start.month * 100 + start.day, end.year * 10000 + end.month * 100 + end.day)
        else:
            key, lo, hi = f"{y} * 100 + {ident(parts.month)}", start.year * 100 + start.month, end.year * 100 + end.month
        sql += f" AND {key} BETWEEN ? AND ?"
        params += [str(lo), str(hi)]
    return sql, params


def athena_query(database: str, table: str, paths: Sequence[SubjectPath], parts: DayParts, link: str,
                 start: date | None, end: date | None) -> tuple[str, list[str]]:
    """(SQL, ExecutionParameters): the distinct objects ("$path") of the table whose records hold
    ``link`` in a subject column, in the range's partitions. Every value is a parameter, each
    written as the literal Athena takes."""
    if not paths:
        raise ValueError("no subject column to search")
    subject = " OR ".join(f"{athena_expr(p)} = ?" for p in paths)
    params = [literal(link)] * len(paths)
    where = f"({subject})"
    rng, rng_params = range_predicate(parts, start, end)
    if rng:
        where += f" AND {rng}"
        params += rng_params
    sql = f'SELECT DISTINCT "$path" AS {RESULT_COLUMN} FROM {ident(database)}.{ident(table)} WHERE {where}'
    return sql, params
