"""``python -m tools.query SQL``: SQL over the local copy of the lake (``./out``), with DuckDB.

    make query SQL="select event_type, count(*) from events group by 1"

Views (``tools.lake_schema`` says how their columns come from the data contracts):

- ``events``: every delivered record, whatever its type, with the lake's partition columns
  (year, month, day, hour);
- one per event type (``customer_signed_up``, …): that type's records, every version;
- ``quarantine``: the error records' metadata (errorCode, attemptsMade, arrivalTimestamp, …),
  never their raw data (the record as it was sent, in clear).

The columns are declared to DuckDB's ``read_json`` from the contracts, never guessed from a
sample. Timestamps are shown in UTC.

Errors are one line and exit 2: a missing folder, a contract set that cannot be laid out, and a
query DuckDB refuses. DuckDB's own message is printed only for errors about the SQL text (syntax,
names, catalog); an error raised while reading or converting data can quote a value from the lake,
so only its kind is printed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from stacks.config import CONTEXT_KEY, ConfigError, load_contracts, load_from_cdk_json
from tools.lake_schema import SchemaError, views_sql

ROOT = Path(__file__).resolve().parent.parent
MAX_CELL = 60


class QueryError(Exception):
    """One line for the user: names a folder, a flag or a kind of error, never a value from the lake."""


def lake_files(out: Path, root: str) -> list[str]:
    """The GZIP objects under ``<out>/<bucket>/<root>`` for every bucket folder the twin wrote, sorted."""
    if not out.is_dir():
        raise QueryError(f"{out}: no such folder; `make run` writes the local copy of the lake there")
    return sorted(str(p) for p in out.glob(f"*/{root}**/*.gz") if p.is_file())


def connect(out: Path, contracts, data_prefix: str, quarantine_prefix: str, data_root: str, quarantine_root: str):
    """An in-memory DuckDB with the views over the lake copy in ``out``."""
    import duckdb

    data, quarantine = lake_files(out, data_root), lake_files(out, quarantine_root)
    stmts = views_sql(contracts, data, quarantine, data_prefix, quarantine_prefix)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for stmt in stmts:
            con.execute(stmt)
        # The query reads the lake copy's files and nothing else: no other file read or written, no
        # database attached, no extension installed, and the settings locked against SET.
        con.execute("SET allowed_paths = ?", [[str(Path(p).absolute()) for p in data + quarantine]])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except duckdb.Error as exc:
        raise QueryError(f"{out}: cannot define the views over it: {_safe_message(exc)}") from None
    return con


def _safe_message(exc: Exception) -> str:
    """DuckDB's message when it is about the SQL text; otherwise only the kind of error."""
    import duckdb

    kind = type(exc).__name__
    if isinstance(exc, duckdb.PermissionException):
        return ("refused: a query reads the lake copy's views and files only (no other file read or written, "
                "no ATTACH, COPY TO, INSTALL or LOAD, no SET of the locked settings)")
    if isinstance(exc, duckdb.InvalidInputException) and "configuration" in str(exc):
        return "refused: the query's settings are locked"
    if isinstance(exc, (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)):
        return str(exc).strip().splitlines()[0]
    return (f"{kind} while running the query (DuckDB's message is not shown: it can quote a value from the lake; "
            "run the query in a DuckDB shell to see it)")


def run(con, sql: str) -> tuple[list[str], list[tuple]]:
    import duckdb

    try:
        cur = con.execute(sql)
        if cur.description is None:
            return [], []
        return [d[0] for d in cur.description], cur.fetchall()
    except duckdb.Error as exc:
        raise QueryError(_safe_message(exc)) from None


def _cell(v) -> str:
    s = "NULL" if v is None else str(v)
    s = s.replace("\n", "\\n")
    return s if len(s) <= MAX_CELL else s[: MAX_CELL - 1] + "…"


def format_table(columns: Sequence[str], rows: Sequence[tuple], max_rows: int) -> str:
    """Columns and rows as aligned text (numbers right-aligned), at most ``max_rows`` rows."""
    shown = [[_cell(v) for v in r] for r in rows[:max_rows]]
    widths = [max([len(c), *(len(r[i]) for r in shown)]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool) for r in rows[:max_rows] if r[i] is not None)
               for i in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric, strict=True)).rstrip()

    out = [line(columns), line(["-" * w for w in widths]), *(line(r) for r in shown)]
    more = f" ({len(rows) - max_rows:,} more not shown; --max-rows)" if len(rows) > max_rows else ""
    out.append(f"({len(rows):,} row{'' if len(rows) == 1 else 's'}{more})")
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m tools.query", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sql", help="the query (views: events, one per event type, quarantine)")
    ap.add_argument("--out", default="out", help="the twin's output folder (default: out)")
    ap.add_argument("--max-rows", type=int, default=100, help="rows printed at most (default: 100)")
    ap.add_argument("--show-views", action="store_true", help="print the views' SQL (the declared columns) and exit")
    ap.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE",
                    help=f"as cdk -c: {CONTEXT_KEY}='{{...}}' over cdk.json (the contracts and prefixes of the run)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    override = None
    for item in args.context:
        key, eq, value = item.partition("=")
        if not eq or key != CONTEXT_KEY:
            print(f"error: -c {key or item!r}: must be {CONTEXT_KEY}='{{...}}', as with cdk -c", file=sys.stderr)
            return 2
        override = value
    try:
        config = load_from_cdk_json(ROOT / "cdk.json", override)
        contracts = load_contracts(config.contracts)
        d = config.delivery
        if args.show_views:
            for stmt in views_sql(contracts, ["<data objects>"], ["<quarantine objects>"], d.data_prefix, d.quarantine_prefix):
                print(stmt + ";")
            return 0
        con = connect(Path(args.out), contracts, d.data_prefix, d.quarantine_prefix, d.data_root, d.quarantine_root)
        columns, rows = run(con, args.sql)
    except (ConfigError, SchemaError, QueryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if columns:
        print(format_table(columns, rows, args.max_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
