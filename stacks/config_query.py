"""The ``query`` block of the pipeline's configuration: the Athena workgroup's limits.

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


@dataclass(frozen=True)
class QueryConfig:
    """The Athena workgroup: how long query results are kept, and how much one query may scan."""

    results_expiration_days: int = 7  # results are copies of lake data: kept briefly
    bytes_scanned_cutoff_mb: int = 10240  # a query that would scan more is cancelled (and billed to there)

    @property
    def bytes_scanned_cutoff(self) -> int:
        return self.bytes_scanned_cutoff_mb * 1024 * 1024


def read_query(raw: Any, path: str) -> QueryConfig:
    q = _Reader(raw, path)
    d = QueryConfig()
    cfg = QueryConfig(
        results_expiration_days=q.int_in("results_expiration_days", d.results_expiration_days, *_RESULTS_EXPIRATION_DAYS),
        bytes_scanned_cutoff_mb=q.int_in("bytes_scanned_cutoff_mb", d.bytes_scanned_cutoff_mb, *_BYTES_SCANNED_CUTOFF_MB),
    )
    q.done()
    return cfg
