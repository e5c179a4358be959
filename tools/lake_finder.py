"""Offline, the export's Athena search (``rights.finder``) with DuckDB: the lake objects that hold a
key link, found in the twin's copy of the lake (``./out``, what ``make query`` reads).

The local cloud has no query engine (moto runs no SQL), so the stand-in for Athena is DuckDB over
the copy every ``make run``/``make push`` leaves in ``./out/<bucket>/``. The copy can lag the local
cloud's lake (a command that wrote objects without refreshing it, a folder given by ``--out``
elsewhere), so the lake itself decides what there is: its objects in the range are listed (one
LIST a day, as the scan does), those with a copy are searched by DuckDB, and those without one are
named too (the export reads and checks them in full, as the scan would). Copies the lake no longer
holds are ignored. An object's key is never rewritten (Firehose names each one once), so a copy
under a key holds what the lake holds, unless someone edited it: the copy is trusted (its size
cannot be checked against the object's, as it is written re-compressed, and under SSE-KMS an ETag
is not the bytes' MD5). ``--finder scan`` reads the lake itself.

The query is ``SELECT DISTINCT filename FROM read_json([...]) WHERE json_extract_string(<subject
column>, '$…') = ?``: the link is a prepared-statement parameter, and the subject columns are read
as JSON, whatever type a contract gives them (a value that is not a string never equals a link).
An error while reading the copy fails the search with the kind of error only: DuckDB's message can
quote a value from the lake.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from privacy.contract import Contract
from rights.finder import FinderError, Found, Stop, SubjectPath, ident, literal
from rights.lake import object_keys, partition_prefixes
from rights.ports import Lake

FILE_COLUMN = "lake file"  # a space: no contract field (nor JSON key the columns declare) is named so


def contract_paths(contracts: Sequence[Contract]) -> list[SubjectPath]:
    """Every contract's subject field, each once (names matched without regard to case)."""
    out: dict[tuple[str, ...], SubjectPath] = {}
    for c in contracts:
        names = tuple(c.subject.split("."))
        out.setdefault(tuple(n.casefold() for n in names), SubjectPath(names))
    return list(out.values())


def search_sql(files: Sequence[str], paths: Sequence[SubjectPath]) -> str:
    """The DuckDB query over GZIP JSON-lines ``files``: one ``?`` per path, each the link. The file
    column's name has a space, which no contract field's can (``privacy.document``), so it never
    shadows a subject column."""
    columns = {}
    for p in paths:
        columns.setdefault(p.names[0], "JSON")
    cols = "{" + ", ".join(f"{literal(n)}: {literal(t)}" for n, t in columns.items()) + "}"
    source = (f"read_json([{', '.join(literal(f) for f in files)}], columns={cols}, format='newline_delimited', "
              f"compression='gzip', filename={literal(FILE_COLUMN)})")
    where = " OR ".join(f"json_extract_string({ident(p.names[0])}, {literal('$' + ''.join('.' + n for n in p.names[1:]))}) = ?"
                        for p in paths)
    return f"SELECT DISTINCT {ident(FILE_COLUMN)} FROM {source} WHERE {where}"


class LocalFinder:
    """``rights.finder.LinkFinder`` over the local cloud's lake and its copy in ``copy_root``
    (``<out>/<bucket>``)."""

    def __init__(self, lake: Lake, copy_root: Path, data_prefix: str, contracts: Sequence[Contract]):
        self.lake = lake
        self.copy_root = Path(copy_root)
        self.data_prefix = data_prefix
        self.paths = contract_paths(contracts)

    def _copy_of(self, key: str) -> Path | None:
        p = self.copy_root / key
        try:
            inside = self.copy_root.resolve() in p.resolve().parents
        except OSError:
            return None
        return p if inside and p.is_file() and not p.is_symlink() else None

    def find(self, link: str, start: date | None, end: date | None, stop: Stop | None = None) -> Found:  # noqa: ARG002 - the port's signature
        keys = object_keys(self.lake, partition_prefixes(self.data_prefix, start, end))
        copies = {k: p for k in keys if (p := self._copy_of(k)) is not None}
        matched = self._search(link, copies) if copies and self.paths else set()
        chosen = [k for k in keys if k in matched or k not in copies]
        return Found(chosen, {"finder": "duckdb", "objects_in_range": len(keys), "objects_in_copy": len(copies),
                              "objects_found": len(matched), "objects_not_in_copy": len(keys) - len(copies)})

    def _search(self, link: str, copies: dict[str, Path]) -> set[str]:
        import duckdb

        by_file = {str(p): k for k, p in copies.items()}
        try:
            con = duckdb.connect()
            try:
                rows = con.execute(search_sql(list(by_file), self.paths), [link] * len(self.paths)).fetchall()
            finally:
                con.close()
        except duckdb.Error as exc:
            raise FinderError(f"export: DuckDB could not search the local copy of the lake in {self.copy_root} "
                              f"({type(exc).__name__}; its message is not shown: it can quote a value from the lake): "
                              "nothing was exported; export with --finder scan") from None
        found = set()
        for (name,) in rows:
            if name not in by_file:
                raise FinderError(f"export: DuckDB named a file it was not given, under {self.copy_root}: nothing was exported")
            found.add(by_file[name])
        return found
