"""Which lake objects a command reads, and reading them a few at a time.

Firehose writes the lake under its data prefix, e.g. ``data/year=!{timestamp:yyyy}/month=...
/day=!{timestamp:dd}/hour=!{timestamp:HH}/``, by the time it *received* the records (UTC), not the
events' own time. A date range therefore selects partitions: one listing per day, of the prefix
rendered for that day up to its first expression finer than a day. A prefix with no day in it
(only a year or a month, or nothing) gives coarser listings, deduplicated: a range then reads more
than its days, never less. Without a range, everything under the prefix's static folder is read.

At lake scale this is a scan (one LIST per day and one GET per object, read ``READ_AHEAD`` objects
ahead on threads): fine for one subject's request or a batch reveal, not for interactive queries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from .ports import Lake, UnreadableObject

# the default data prefix's layout, assumed under a prefix given as a static folder only
DEFAULT_LAYOUT = "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
READ_AHEAD = 8
MAX_RANGE_DAYS = 3660
_EXPR = re.compile(r"!\{([^}]*)\}")
_DAY_TOKENS = {"yyyy": "%Y", "MM": "%m", "dd": "%d"}
_TOKEN = re.compile(r"yyyy|MM|dd|HH|mm|ss")


class RangeError(ValueError):
    """A date range that cannot be scanned (the message names the bound, never a subject)."""


def static_folder(prefix: str) -> str:
    """The prefix up to the last '/' before its first expression (what every object is under)."""
    static = prefix.split("!{", 1)[0]
    return static[: static.rfind("/") + 1]


def template_of(prefix: str) -> str:
    """The data prefix as a template: given with its expressions, as is; given as a static folder
    ("data/"), with the default hourly layout under it."""
    if "!{" in prefix:
        return prefix
    return (prefix if not prefix or prefix.endswith("/") else prefix + "/") + DEFAULT_LAYOUT


def _render_day(template: str, day: date) -> str:
    """The template rendered for ``day`` up to its first expression that is not a date of a day
    or coarser, cut back to a folder."""
    out, i = [], 0
    for m in _EXPR.finditer(template):
        out.append(template[i : m.start()])
        expr = m.group(1)
        fmt = expr.removeprefix("timestamp:")
        if not expr.startswith("timestamp:") or any(t not in _DAY_TOKENS for t in _TOKEN.findall(fmt)):
            break
        for java, py in _DAY_TOKENS.items():
            fmt = fmt.replace(java, py)
        out.append(day.strftime(fmt))
        i = m.end()
    else:
        out.append(template[i:])
    rendered = "".join(out)
    return rendered[: rendered.rfind("/") + 1]


def partition_prefixes(prefix: str, start: date | None = None, end: date | None = None) -> list[str]:
    """The prefixes to list for [start, end] (both included; UTC days); the whole data prefix
    without a range."""
    template = template_of(prefix)
    if start is None and end is None:
        return [static_folder(template)]
    if start is None or end is None:
        raise RangeError("from: a range needs both ends")
    if start > end:
        raise RangeError("from: is after to")
    days = (end - start).days + 1
    if days > MAX_RANGE_DAYS:
        raise RangeError(f"to: a range of {days:,} days; at most {MAX_RANGE_DAYS:,} (leave both out to read the whole lake)")
    seen: dict[str, None] = {}
    for n in range(days):
        seen.setdefault(_render_day(template, start + timedelta(days=n)))
    return list(seen)


def object_keys(lake: Lake, prefixes: Iterable[str]) -> list[str]:
    """Every object key under the prefixes, once, in order."""
    seen: dict[str, None] = {}
    for p in prefixes:
        for key in lake.keys(p):
            seen.setdefault(key)
    return list(seen)


def read_objects(lake: Lake, keys: list[str], stop: Callable[[], bool] | None = None,
                 window: int = READ_AHEAD) -> Iterator[tuple[str, bytes | None]]:
    """(key, content) of each object in order, read up to ``window`` ahead on threads; content
    None for an object that does not decompress (the caller reports it). Before each object,
    ``stop()`` may end the scan (the caller then reports it incomplete)."""
    if not keys:
        return
    with ThreadPoolExecutor(max_workers=min(window, len(keys))) as pool:
        pending = [pool.submit(lake.read, k) for k in keys[:window]]
        for i, key in enumerate(keys):
            if stop is not None and stop():
                for f in pending:
                    f.cancel()
                return
            try:
                body = pending.pop(0).result()
            except UnreadableObject:
                body = None
            nxt = i + window
            if nxt < len(keys):
                pending.append(pool.submit(lake.read, keys[nxt]))
            yield key, body
