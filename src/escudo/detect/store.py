"""The store: a directory of Parquet data sets keeping results, risk events and findings across runs.

Layout (docs/semantics.md "The store is a directory of Parquet files")::

    DIR/escudo-store.json                       {"format": "escudo-store", "version": 1}
    DIR/results/date=YYYY-MM-DD/part-<txn>-0.parquet
    DIR/risk/date=YYYY-MM-DD/part-<txn>-0.parquet the Risk.All_Risk columns, plus event_json
    DIR/findings/date=YYYY-MM-DD/part-<txn>-0.parquet
    DIR/_txn/                                   staging and commit intents (escudo.store.txn)

Plain Parquet with Hive-style ``date=`` folders (the UTC day of ``_time``), so DuckDB's
``read_parquet``, Spark, Polars, Trino and ``pyarrow.dataset`` read it without escudo. Rows are keyed
by stable ids (``risk.stable_id``) and a write adds only ids the store lacks, so replaying the same logs
twice adds nothing. Writers hold an exclusive ``fcntl.flock`` on ``DIR/.lock`` and commit atomically;
readers hold it shared while they read, so they see whole commits only.

>>> import tempfile
>>> store = Store(Path(tempfile.mkdtemp()) / "store")
>>> store.risk_table().num_rows
0
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import platformdirs
import pyarrow as pa

from escudo.datamodels.cim import get_dataset
from escudo.detect.result import DetectionResult
from escudo.detect.risk import (
    RISK_DATASET,
    RISK_INCIDENT,
    event_time,
    field_text,
    parse_time,
    stable_id,
)
from escudo.engines import DEFAULT_ENGINE
from escudo.errors import InputError
from escudo.store.layout import FORMAT, MARKER, NO_DATE, VERSION, hidden, write_atomic
from escudo.store.txn import Transaction, pending, roll_forward

__all__ = ["RISK_DATASET", "Store", "default_path", "from_json", "risk_rows", "to_json"]

# Risk fields ES writes as multivalue (declared with the dataset); every other field is text.
MULTIVALUE_RISK_FIELDS = get_dataset(RISK_DATASET).multivalue
LOCK_TIMEOUT_SECONDS = 120.0
KEYS = {"results": "result_id", "risk": "risk_event_id", "findings": "finding_id"}
UTC_TIME = pa.timestamp("us", tz="UTC")
# What every DuckDB database file carries at byte 8 (DuckDB's storage docs, "Storage Format").
DUCKDB_MAGIC = b"DUCK"
OLD_DUCKDB_STORE = (
    "a DuckDB store of escudo 0.1 (before the store became a directory); copy it into a store "
    "directory with: escudo store migrate {path} NEW_DIR"
)
DAMAGED = "store is damaged: not a readable Parquet file (truncated or overwritten)"


def default_path() -> Path:
    """``$XDG_DATA_HOME/escudo/store`` (platformdirs' user data dir)."""
    return Path(platformdirs.user_data_dir("escudo")) / "store"


def old_default_path() -> Path:
    """Where escudo 0.1 kept its DuckDB store file by default."""
    return Path(platformdirs.user_data_dir("escudo")) / "escudo.duckdb"


def risk_schema() -> pa.Schema:
    """The ``Risk.All_Risk`` columns: ``_time`` UTC timestamp, multivalue as lists, the rest text."""
    fields = [pa.field("_time", UTC_TIME)]
    for name in get_dataset(RISK_DATASET).all_fields[1:]:
        kind = pa.list_(pa.string()) if name in MULTIVALUE_RISK_FIELDS else pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


RESULTS_SCHEMA = pa.schema(
    [
        ("result_id", pa.string()),
        ("detection", pa.string()),
        ("detection_id", pa.string()),
        ("_time", UTC_TIME),
        ("info_min_time", UTC_TIME),
        ("info_max_time", UTC_TIME),
        ("stored_at", UTC_TIME),
        ("row_index", pa.int64()),
        ("row_json", pa.string()),
    ]
)
FINDINGS_SCHEMA = pa.schema(
    [
        ("finding_id", pa.string()),
        ("_time", UTC_TIME),
        ("rule", pa.string()),
        ("severity", pa.string()),
        ("finding_type", pa.string()),
        ("finding_json", pa.string()),
    ]
)


def schemas() -> dict[str, pa.Schema]:
    """Each data set's columns (the files hold exactly these; ``date`` is the folder's)."""
    return {
        "results": RESULTS_SCHEMA,
        "risk": risk_schema().append(pa.field("event_json", pa.string())),
        "findings": FINDINGS_SCHEMA,
    }


def to_json(record: Mapping[str, Any]) -> str:
    """A record as JSON (times ISO-8601)."""
    return json.dumps(record, default=field_text, ensure_ascii=False)


def from_json(text: str) -> dict[str, Any]:
    """The inverse of :func:`to_json`, with ``_time`` parsed back to a UTC datetime."""
    record: dict[str, Any] = json.loads(text)
    if "_time" in record:
        record["_time"] = parse_time(record["_time"])
    return record


def results_rows(results: Sequence[DetectionResult]) -> pa.Table:
    """Every result row as a row of the ``results`` data set."""
    rows: dict[str, list[Any]] = {name: [] for name in RESULTS_SCHEMA.names}
    now = datetime.now(UTC)
    for result in results:
        for index, row in enumerate(result.records()):
            rows["result_id"].append(stable_id(result.detection.id, row))
            rows["detection"].append(result.detection.name)
            rows["detection_id"].append(result.detection.id)
            rows["_time"].append(event_time(row, result.info_max_time))
            rows["info_min_time"].append(result.info_min_time)
            rows["info_max_time"].append(result.info_max_time)
            rows["stored_at"].append(now)
            rows["row_index"].append(index)
            rows["row_json"].append(to_json(row))
    return pa.table(rows, schema=RESULTS_SCHEMA)


def risk_rows(events: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Risk events as a ``Risk.All_Risk`` table (plus ``event_json``)."""
    schema = risk_schema()
    columns: dict[str, list[Any]] = {f.name: [] for f in schema}
    for event in events:
        for f in schema:
            value = event.get(f.name)
            if f.name == "_time":
                columns[f.name].append(parse_time(value))
            elif f.name in MULTIVALUE_RISK_FIELDS:
                listed = value if isinstance(value, list | tuple) else [value]
                columns[f.name].append([field_text(v) for v in listed if v is not None])
            else:
                columns[f.name].append(None if value is None else field_text(value))
    arrays = {f.name: pa.array(columns[f.name], f.type) for f in schema}
    arrays["event_json"] = pa.array([to_json(e) for e in events], pa.string())
    return pa.table(arrays)


def findings_rows(findings: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Findings (each has ``finding_id``, ``_time``, ``rule``, ``severity``) as a table."""
    return pa.table(
        {
            "finding_id": [f["finding_id"] for f in findings],
            "_time": [parse_time(f.get("_time")) for f in findings],
            "rule": [f.get("rule") for f in findings],
            "severity": [f.get("severity") for f in findings],
            "finding_type": [f.get("finding_type") for f in findings],
            "finding_json": [to_json(f) for f in findings],
        },
        schema=FINDINGS_SCHEMA,
    )


def unique_rows(table: pa.Table, key: str, known: set[str]) -> pa.Table:
    """The rows of ``table`` whose ``key`` is not in ``known``, the first of each (adds to ``known``)."""
    keep = []
    for index, value in enumerate(table.column(key).to_pylist()):
        if value not in known:
            known.add(value)
            keep.append(index)
    return table.take(pa.array(keep, pa.int64()))


def _days(table: pa.Table) -> dict[str, pa.Table]:
    """``table`` split by the UTC day of ``_time`` (the ``date=`` folder names)."""
    days = [
        NO_DATE if t is None else t.astimezone(UTC).strftime("%Y-%m-%d")
        for t in table.column("_time").to_pylist()
    ]
    split: dict[str, list[int]] = {}
    for index, day in enumerate(days):
        split.setdefault(day, []).append(index)
    return {day: table.take(pa.array(rows, pa.int64())) for day, rows in sorted(split.items())}


class Store:
    """A directory of results, risk events and findings, safe to share between escudo processes.

    >>> import tempfile
    >>> Store(Path(tempfile.mkdtemp()) / "store").findings()
    []
    """

    def __init__(self, path: Path | None = None, *, timeout: float = LOCK_TIMEOUT_SECONDS) -> None:
        self.path = Path(path) if path is not None else default_path()
        # Without --store, escudo 0.1's default file is not silently left behind (see _check).
        self.old_default = old_default_path() if path is None else None
        self.lock_path = self.path / ".lock"
        self.timeout = timeout

    # --- writing -----------------------------------------------------------------------------

    def write(
        self,
        *,
        results: Sequence[DetectionResult] = (),
        risk_events: Sequence[Mapping[str, Any]] = (),
        findings: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[int, int, int]:
        """Store all three kinds in one commit; returns the new (results, risk, findings) counts.

        Risk events re-run the risk incident rules over the whole store and replace the stored risk
        incident findings with their answer; the findings count includes the incidents they added.
        """
        counts, _ = self.write_tables(
            results_rows(results), risk_rows(risk_events), findings, rerun=bool(risk_events)
        )
        return counts

    def write_tables(
        self,
        results: pa.Table,
        risk: pa.Table,
        findings: Sequence[Mapping[str, Any]],
        *,
        rerun: bool,
    ) -> tuple[tuple[int, int, int], list[dict[str, Any]]]:
        """Add the rows of ``results`` and ``risk`` (the data sets' columns) and the ``findings``
        whose ids are new, then (``rerun``) run the risk incident rules over every stored risk event
        and make the stored risk incident findings exactly their answer (docs/semantics.md
        "Findings from the whole store"). One commit; returns the new counts and the incidents."""
        names = risk_schema().names
        with self._writing() as txn:
            # The stored risk events are read once: their ids, and (rerun) the rules' input.
            stored_risk = self._read("risk", names) if rerun else None
            fresh: dict[str, pa.Table] = {}
            for kind, table in (("results", results), ("risk", risk)):
                ids: list[Any] = []
                if kind == "risk" and stored_risk is not None:
                    ids = stored_risk.column(KEYS[kind]).to_pylist()
                elif table.num_rows:  # nothing to add: no need to know what is stored
                    ids = self._column(kind, KEYS[kind])
                fresh[kind] = unique_rows(table.select(schemas()[kind].names), KEYS[kind], set(ids))
                self._stage(txn, kind, fresh[kind])
            stored = self._records("findings", "finding_json")
            old = {f["finding_id"]: to_json(f) for f in stored}
            merged = dict(old)
            for finding in findings:
                merged.setdefault(finding["finding_id"], to_json(finding))
            incidents: list[dict[str, Any]] = []
            if stored_risk is not None:
                every = pa.concat_tables([stored_risk, fresh["risk"].select(names)])
                every = every.sort_by([("_time", "ascending"), ("risk_event_id", "ascending")])
                from escudo.detect.findings import risk_incidents_of  # sqlglot: when needed

                incidents = risk_incidents_of(every, DEFAULT_ENGINE)
                merged = {
                    key: text
                    for key, text in merged.items()
                    if json.loads(text).get("finding_type") != RISK_INCIDENT
                }
                merged.update((f["finding_id"], to_json(f)) for f in incidents)
            new_findings = sum(1 for i in merged if i not in old)
            if merged != old:  # replace the findings data set as a whole
                for part in self._files("findings"):
                    txn.delete(str(part.relative_to(self.path)))
                self._stage(txn, "findings", findings_rows([from_json(t) for t in merged.values()]))
            txn.commit()
        return (fresh["results"].num_rows, fresh["risk"].num_rows, new_findings), incidents

    def _stage(self, txn: Transaction, kind: str, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        import pyarrow.parquet as pq  # (here: a hunt without a store reads no Parquet)

        for day, rows in _days(table).items():
            staged = txn.stage(f"{kind}/date={day}/part-{txn.id}-0.parquet")
            pq.write_table(rows, staged)

    @contextmanager
    def _writing(self) -> Iterator[Transaction]:
        """A transaction on the store under the exclusive lock (the store is created if missing)."""
        self._check(creating=True)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            marker = self.path / MARKER
            if not marker.exists():
                # Whole or absent, even if two writers create the store at once or one dies.
                write_atomic(
                    marker, (json.dumps({"format": FORMAT, "version": VERSION}) + "\n").encode()
                )
        except OSError as exc:
            raise InputError(f"cannot create store: {exc.strerror}", path=str(self.path)) from exc
        with self._locked(fcntl.LOCK_EX):
            roll_forward(self.path)
            txn = Transaction(self.path)
            try:
                yield txn
            except BaseException:
                txn.abort()
                raise

    # --- reading -----------------------------------------------------------------------------

    def risk_table(self) -> pa.Table:
        """Every risk event as the ``Risk.All_Risk`` dataset (register it with the engine under that name)."""
        with self._reading():
            return self._read("risk", risk_schema().names)

    def risk_events(self) -> list[dict[str, Any]]:
        """Every risk event with all its fields (the result row's too), oldest first."""
        with self._reading():
            return self._records("risk", "event_json")

    def findings(self) -> list[dict[str, Any]]:
        """Every finding, oldest first."""
        with self._reading():
            return self._records("findings", "finding_json")

    def results(self, detection: str | None = None) -> list[dict[str, Any]]:
        """Stored result rows (``detection``, ``info_min_time``, ``info_max_time``, ``row``) in the order
        they were first stored: a run's rows keep the order the hunt printed them in."""
        with self._reading():
            table = self._read("results", RESULTS_SCHEMA.names)
        rows = table.to_pylist()
        if detection is not None:
            rows = [r for r in rows if (r["detection"] or "").lower() == detection.lower()]
        rows.sort(key=lambda r: (r["stored_at"], r["row_index"], r["result_id"]))
        return [
            {
                "detection": r["detection"],
                "info_min_time": r["info_min_time"],
                "info_max_time": r["info_max_time"],
                "row": from_json(r["row_json"]),
            }
            for r in rows
        ]

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """The shared lock while reading (nothing while the store does not exist); a commit a
        writer decided but did not finish is finished first."""
        if not self._check(creating=False):
            yield
            return
        if pending(self.path):
            with self._locked(fcntl.LOCK_EX):
                roll_forward(self.path)
        with self._locked(fcntl.LOCK_SH):
            yield

    def _check(self, *, creating: bool) -> bool:
        """Whether the store exists; refuse a path escudo must not use as its store.

        A DuckDB file is the store of escudo 0.1 (see ``escudo store migrate``); any other file,
        or a non-empty directory without ``escudo-store.json``, is not a store: escudo neither reads
        it nor writes into it. An empty directory is a new store.
        """
        path = self.path
        if path.is_file():
            try:
                with path.open("rb") as handle:
                    head = handle.read(12)
            except OSError as exc:
                raise InputError(f"cannot read store: {exc.strerror}", path=str(path)) from exc
            if head[8:12] == DUCKDB_MAGIC:
                raise InputError(OLD_DUCKDB_STORE.format(path=path), path=str(path))
            raise InputError("not an escudo store: a file, not a store directory", path=str(path))
        if not path.exists():
            old = self.old_default
            if old is not None and old.is_file():
                raise InputError(
                    "the default store is now a directory; copy this DuckDB store of escudo 0.1 "
                    f"into it with: escudo store migrate {old} {path}",
                    path=str(old),
                )
            return False
        if not path.is_dir():
            raise InputError("not an escudo store: not a directory", path=str(path))
        marker = path / MARKER
        if not marker.exists():
            if any(not hidden(p.name) for p in path.iterdir()):
                raise InputError(
                    f"not an escudo store: a directory without {MARKER}", path=str(path)
                )
            return False
        try:
            found = json.loads(marker.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            found = None
        if not isinstance(found, dict) or found.get("format") != FORMAT:
            raise InputError(f"not an escudo store: {MARKER} is not escudo's", path=str(marker))
        if found.get("version") != VERSION:
            raise InputError(
                f"store version {found.get('version')!r} is not {VERSION} "
                "(written by another escudo release)",
                path=str(marker),
            )
        return True

    def _files(self, kind: str) -> list[Path]:
        """The committed Parquet files of data set ``kind`` (names starting ``_`` or ``.`` skipped)."""
        folder = self.path / kind
        if not folder.is_dir():
            return []
        return sorted(
            p
            for p in folder.rglob("*.parquet")
            if p.is_file() and not any(hidden(part) for part in p.relative_to(folder).parts)
        )

    def _read(self, kind: str, columns: Sequence[str]) -> pa.Table:
        """``columns`` of every committed row of ``kind``, ordered by ``_time`` then the key."""
        schema = schemas()[kind]
        wanted = pa.schema([schema.field(name) for name in columns])
        tables = [wanted.empty_table()]
        import pyarrow.parquet as pq

        for part in self._files(kind):
            try:
                table = pq.ParquetFile(part).read(columns=list(columns))
                tables.append(table.cast(wanted))
            except (OSError, ValueError, KeyError, pa.ArrowException):
                raise InputError(DAMAGED, path=str(part)) from None
        table = pa.concat_tables(tables)
        order = [(name, "ascending") for name in ("_time", KEYS[kind]) if name in columns]
        return table.sort_by(order) if order else table

    def _column(self, kind: str, name: str) -> list[Any]:
        return self._read(kind, [name]).column(name).to_pylist()

    def _records(self, kind: str, json_column: str) -> list[dict[str, Any]]:
        table = self._read(kind, ["_time", KEYS[kind], json_column])
        return [from_json(text) for text in table.column(json_column).to_pylist()]

    @contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        try:
            handle: IO[bytes] = self.lock_path.open("a+b")
        except OSError as exc:
            raise InputError(
                f"cannot open store lock: {exc.strerror}", path=str(self.lock_path)
            ) from exc
        try:
            deadline = time.monotonic() + self.timeout
            delay = 0.005
            while True:
                try:
                    fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if time.monotonic() >= deadline:
                        raise InputError(
                            f"store is busy (locked by another process): {exc}",
                            path=str(self.path),
                        ) from exc
                    time.sleep(delay)
                    delay = min(delay * 2, 0.25)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            handle.close()


def migrate_duckdb(old: Path, store: Store) -> tuple[int, int, int]:
    """Copy the DuckDB store file of escudo 0.1 at ``old`` into ``store`` (a directory); returns
    the new (results, risk, findings) counts. ``old`` is only read. Risk incident findings are not
    copied: the rules run again over the copied risk events (the same answer, by the "Findings
    from the whole store" rule); TTP findings are copied."""
    import duckdb

    from escudo.engines.duckdb import connect

    if not old.is_file():
        raise InputError("no such store file", path=str(old))
    with old.open("rb") as handle:
        if handle.read(12)[8:12] != DUCKDB_MAGIC:
            raise InputError("not a DuckDB store of escudo 0.1", path=str(old))
    try:
        con = connect(str(old), read_only=True, utc=True)
        try:
            results = con.sql(
                f"SELECT {', '.join(RESULTS_SCHEMA.names)} FROM results"
            ).to_arrow_table()
            events = [
                from_json(t) for (t,) in con.execute("SELECT event_json FROM risk").fetchall()
            ]
            findings = [
                from_json(t) for (t,) in con.execute("SELECT finding_json FROM findings").fetchall()
            ]
        finally:
            con.close()
    except duckdb.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"cannot read the old store: {first}", path=str(old)) from None
    direct = [f for f in findings if f.get("finding_type") != RISK_INCIDENT]
    counts, _ = store.write_tables(
        results.cast(RESULTS_SCHEMA), risk_rows(events), direct, rerun=bool(events)
    )
    return counts
