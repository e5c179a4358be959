"""The ``query`` block of the pipeline's configuration: the Athena workgroup's limits, and how a
subject export finds the subject's objects (``export_finder``: ``athena``, a query over the
catalog's ``events`` table by the subject's key link; ``scan``, every object of the range).

``stacks.config`` reads it and re-exports ``QueryConfig``. Free of ``aws_cdk`` imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config_contracts import _Reader

# Athena's smallest per-query scan cutoff is 10 MB; the upper bound here (10 TiB) is ours: a
# cutoff is a guard against a runaway scan, and one larger than that guards nothing.
_BYTES_SCANNED_CUTOFF_MB = (10, 10 * 1024 * 1024)
_RESULTS_EXPIRATION_DAYS = (1, 365)
EXPORT_FINDERS = ("athena", "scan")
# the rights function runs 15 minutes at most; it also stops waiting when its own time runs short
_EXPORT_QUERY_TIMEOUT_S = (10, 840)


@dataclass(frozen=True)
class QueryConfig:
    """The Athena workgroup: how long query results are kept, and how much one query may scan."""

    results_expiration_days: int = 7  # results are copies of lake data: kept briefly
    bytes_scanned_cutoff_mb: int = 10240  # a query that would scan more is cancelled (and billed to there)
    export_finder: str = "athena"  # the catalog is always deployed: exports query it
    export_query_timeout_seconds: int = 300  # the longest an export waits for its query (then stops it)

    @property
    def bytes_scanned_cutoff(self) -> int:
        return self.bytes_scanned_cutoff_mb * 1024 * 1024


def read_query(raw: Any, path: str) -> QueryConfig:
    q = _Reader(raw, path)
    d = QueryConfig()
    cfg = QueryConfig(
        results_expiration_days=q.int_in("results_expiration_days", d.results_expiration_days, *_RESULTS_EXPIRATION_DAYS),
        bytes_scanned_cutoff_mb=q.int_in("bytes_scanned_cutoff_mb", d.bytes_scanned_cutoff_mb, *_BYTES_SCANNED_CUTOFF_MB),
        export_finder=q.choice("export_finder", d.export_finder, EXPORT_FINDERS),
        export_query_timeout_seconds=q.int_in("export_query_timeout_seconds", d.export_query_timeout_seconds,
                                              *_EXPORT_QUERY_TIMEOUT_S),
    )
    q.done()
    return cfg
