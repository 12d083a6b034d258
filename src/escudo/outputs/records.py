"""Writers for grouped dict records: ``escudo hunt``/``search``/``drilldown`` output.

A group is ``(title, columns, rows)``: one detection's (or drilldown's) result rows, or one block of
risk events or findings. Formats: ``jsonl`` (one object per row, ``{"detection": title, <columns in
order>}``, no ``detection`` key when the title is ``None``), ``csv`` (one header, the union of every
group's columns, multivalue cells newline-joined as Splunk's CSV export does) and ``table`` (a block
per titled group headed ``== <title> (N results)``, cells never cut).

Why not :mod:`escudo.outputs.tabular`: its writers take Arrow batches of one schema; these rows are
Python dicts whose fields differ between groups (risk events and findings mix types per field), the
CSV header spans groups, and the table keeps whole cells (README's hunt example) where ``tabular``
cuts them at 48 characters for ``escudo events``.

>>> import io
>>> out = io.StringIO()
>>> write_records(out, [("D", ["user", "n"], [{"user": "alice", "n": 1}])], "jsonl")
>>> out.getvalue()
'{"detection": "D", "user": "alice", "n": 1}\\n'
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TextIO

FORMATS = ("table", "jsonl", "csv")

Group = tuple[str | None, list[str], list[dict[str, Any]]]


def jsonable(value: Any) -> Any:
    """``value`` with times as ISO-8601 text and bytes decoded, containers converted deeply.

    >>> jsonable([datetime(2024, 5, 1), b"x"])
    ['2024-05-01T00:00:00', 'x']
    """
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def cell_text(value: Any, mv_sep: str) -> str:
    """One value as text: NULL is empty, multivalue values are joined with ``mv_sep``.

    >>> cell_text(["a", None, 2], "\\n")
    'a\\n\\n2'
    """
    value = jsonable(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return mv_sep.join(cell_text(v, mv_sep) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def write_records(out: TextIO, groups: Sequence[Group], fmt: str) -> None:
    """Write ``groups`` in ``fmt`` (one of :data:`FORMATS`; the CLI's click choice checks it)."""
    if fmt == "jsonl":
        _write_jsonl(out, groups)
    elif fmt == "csv":
        _write_csv(out, groups)
    else:
        _write_tables(out, groups)


def _write_jsonl(out: TextIO, groups: Sequence[Group]) -> None:
    for title, columns, rows in groups:
        for row in rows:
            obj = {"detection": title} if title is not None else {}
            obj.update({c: jsonable(row.get(c)) for c in columns})
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _write_csv(out: TextIO, groups: Sequence[Group]) -> None:
    header = list(dict.fromkeys(c for _, columns, _ in groups for c in columns))
    titled = any(title is not None for title, _, _ in groups)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((["detection"] if titled else []) + header)
    for title, _, rows in groups:
        for row in rows:
            cells = [cell_text(row.get(c), "\n") for c in header]
            writer.writerow(([title or ""] if titled else []) + cells)


def _write_tables(out: TextIO, groups: Sequence[Group]) -> None:
    for title, columns, rows in groups:
        if title is not None:
            noun = "result" if len(rows) == 1 else "results"
            out.write(f"== {title} ({len(rows)} {noun})\n")
        if rows:
            _write_table(out, columns, rows)
        if title is not None:
            out.write("\n")


def _write_table(out: TextIO, columns: list[str], rows: list[dict[str, Any]]) -> None:
    cells = [[cell_text(row.get(c), ", ").replace("\n", "\\n") for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for r in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() + "\n")
