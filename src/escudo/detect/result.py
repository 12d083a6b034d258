"""What running one detection produced: the contract between hunting, risk, findings, tests and outputs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from escudo.content.model import Detection

if TYPE_CHECKING:
    from escudo.compile import CompiledSearch

# What a run can print (``escudo hunt --emit``); a store keeps all three (``escudo.detect.emit``).
EmitKind = Literal["results", "risk", "findings"]
EMIT_KINDS: tuple[EmitKind, ...] = ("results", "risk", "findings")


@dataclass
class DetectionResult:
    """One detection's result rows over one run.

    ``info_min_time``/``info_max_time`` are the run's search window (Splunk's ``$info_min_time$`` and
    ``$info_max_time$``): the ``--earliest``/``--latest`` bounds when given, else the first and last
    event time seen in the data the search read.
    """

    detection: Detection
    compiled: CompiledSearch
    rows: pa.Table
    info_min_time: datetime | None = None
    info_max_time: datetime | None = None

    def table(self) -> pa.Table:
        """The rows with the search's output fields first (the order ``escudo hunt`` prints)."""
        columns = [c for c in self.compiled.output_fields or () if c in self.rows.column_names]
        columns += [c for c in self.rows.column_names if c not in columns]
        return self.rows.select(columns)

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts, in output column order."""
        return self.rows.to_pylist()
