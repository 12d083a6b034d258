"""store/parse: an audit log's chunks through the source's plan in worker processes, in order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from escudo.sources.auditd_events import EventPlan
from escudo.sources.framing import ReadError
from escudo.store.parse import _planned

RECORDS = Path(__file__).parents[1] / "fixtures" / "auditd" / "records.log"


@pytest.mark.parametrize("cores", [1, 2])
def test_chunks_planned_in_order_then_the_read_error(
    monkeypatch: pytest.MonkeyPatch, cores: int
) -> None:
    """Each chunk comes back with its plan's rows, in input order (worker processes plan the
    chunks after the first); an error reading the chunks comes after every chunk read before it,
    as when this process planned them."""
    monkeypatch.setattr("escudo.store.parse.os.cpu_count", lambda: cores)
    lines = RECORDS.read_bytes().splitlines(keepends=True)
    chunks = [b"".join(lines[i : i + 3]) for i in range(0, len(lines), 3)] * 4
    plan = EventPlan(("record_type", "pid", "command_line"), None, None, 1)

    def read() -> Iterator[bytes]:
        yield from chunks
        raise ReadError("cannot read: gone")

    got = []
    with pytest.raises(ReadError, match="gone"):
        for data, (batch, stats) in _planned(plan, read(), "audit.log"):
            got.append((data, batch.to_pylist(), stats.events))
    expected = [(c, plan(c, "audit.log")[0].to_pylist(), 0) for c in chunks]
    assert got == expected and len(chunks) > 10
