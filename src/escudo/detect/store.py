"""The store: a DuckDB file keeping results, risk events and findings across runs.

Rows are keyed by stable ids (``risk.stable_id``), and inserts are ``INSERT OR IGNORE``, so replaying
the same logs twice adds nothing. DuckDB lets one process open a database file for writing; escudo
takes an OS lock (``fcntl.flock`` on ``<store>.lock``) around each short transaction, so concurrent
escudo processes queue instead of failing, and retries while a foreign process holds DuckDB's own lock.

>>> import tempfile
>>> store = Store(Path(tempfile.mkdtemp()) / "escudo.duckdb")
>>> store.risk_table().num_rows
0
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import duckdb
import platformdirs
import pyarrow as pa

from escudo.datamodels.cim import get_dataset
from escudo.detect.findings import RISK_DATASET, RISK_INCIDENT, risk_incidents_of
from escudo.detect.result import DetectionResult
from escudo.detect.risk import event_time, field_text, parse_time, stable_id
from escudo.engines import DEFAULT_ENGINE
from escudo.engines.duckdb import connect as sandboxed_connect
from escudo.errors import InputError

# Risk fields ES writes as multivalue (declared with the dataset); every other field is text.
MULTIVALUE_RISK_FIELDS = get_dataset(RISK_DATASET).multivalue
LOCK_TIMEOUT_SECONDS = 120.0
TABLES = ("results", "risk", "findings")
# DuckDB's file starts with three 4 KiB headers (main, then two alternating database headers),
# then its blocks of ``block_size`` (DuckDB's storage docs, "Storage Format").
HEADER_BYTES = 3 * 4096
# DuckDB's words when another process holds its file lock (the only IOException worth waiting on).
BUSY_MESSAGE = "could not set lock on file"
# DuckDB's words for a file it cannot read as a database -> the line escudo prints (DuckDB 1.x/2.x
# messages, checked in tests/detect/test_store.py against real damaged files).
TRUNCATED = "store is damaged: the file is truncated"
STORE_FAULTS: tuple[tuple[str, str], ...] = (
    ("not a valid DuckDB database file", "not an escudo store: the file is not a DuckDB database"),
    ("Could not read enough bytes", TRUNCATED),
    ("Corrupt database file", "store is damaged: a block's checksum does not match"),
)


def default_path() -> Path:
    """``$XDG_DATA_HOME/escudo/escudo.duckdb`` (platformdirs' user data dir)."""
    return Path(platformdirs.user_data_dir("escudo")) / "escudo.duckdb"


def risk_schema() -> pa.Schema:
    """The ``Risk.All_Risk`` columns: ``_time`` UTC timestamp, multivalue as lists, the rest text."""
    fields = [pa.field("_time", pa.timestamp("us", tz="UTC"))]
    for name in get_dataset(RISK_DATASET).all_fields[1:]:
        kind = pa.list_(pa.string()) if name in MULTIVALUE_RISK_FIELDS else pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _sql_type(kind: pa.DataType) -> str:
    if pa.types.is_timestamp(kind):
        return "TIMESTAMPTZ"
    return "VARCHAR[]" if pa.types.is_list(kind) else "VARCHAR"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the three tables if missing (idempotent)."""
    # A store connection is opened in UTC with its configuration locked: SET only when needed.
    if con.execute("SELECT current_setting('TimeZone')").fetchall() != [("UTC",)]:
        con.execute("SET TimeZone = 'UTC'")
    columns = ", ".join(f"{_quote(f.name)} {_sql_type(f.type)}" for f in risk_schema())
    con.execute(
        "CREATE TABLE IF NOT EXISTS results (result_id VARCHAR PRIMARY KEY, detection VARCHAR, "
        "detection_id VARCHAR, _time TIMESTAMPTZ, info_min_time TIMESTAMPTZ, "
        "info_max_time TIMESTAMPTZ, stored_at TIMESTAMPTZ, row_index BIGINT, row_json VARCHAR)"
    )
    # risk_event_id is one of the Risk.All_Risk fields; the full event (row fields too) is kept as JSON.
    con.execute(
        f"CREATE TABLE IF NOT EXISTS risk ({columns}, event_json VARCHAR, PRIMARY KEY (risk_event_id))"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS findings (finding_id VARCHAR PRIMARY KEY, _time TIMESTAMPTZ, "
        "rule VARCHAR, severity VARCHAR, finding_json VARCHAR)"
    )


def to_json(record: Mapping[str, Any]) -> str:
    """A record as JSON (times ISO-8601)."""
    return json.dumps(record, default=field_text, ensure_ascii=False)


def from_json(text: str) -> dict[str, Any]:
    """The inverse of :func:`to_json`, with ``_time`` parsed back to a UTC datetime."""
    record: dict[str, Any] = json.loads(text)
    if "_time" in record:
        record["_time"] = parse_time(record["_time"])
    return record


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table, key: str) -> int:
    if rows.num_rows == 0:
        return 0
    con.register("escudo_incoming", rows)
    try:
        names = ", ".join(_quote(n) for n in rows.column_names)
        found = con.execute(
            f"INSERT OR IGNORE INTO {table} ({names}) "
            f"SELECT {names} FROM (SELECT DISTINCT ON ({_quote(key)}) * FROM escudo_incoming)"
        ).fetchall()
    finally:
        con.unregister("escudo_incoming")
    return int(found[0][0]) if found else 0


def insert_results(con: duckdb.DuckDBPyConnection, results: Sequence[DetectionResult]) -> int:
    """Store every result row; returns how many were new."""
    names = ("result_id", "detection", "detection_id", "_time", "info_min_time", "info_max_time")
    rows: dict[str, list[Any]] = {k: [] for k in (*names, "stored_at", "row_index", "row_json")}
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
    utc = pa.timestamp("us", tz="UTC")
    types = {
        "_time": utc,
        "info_min_time": utc,
        "info_max_time": utc,
        "stored_at": utc,
        "row_index": pa.int64(),
    }
    table = pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in rows.items()})
    return _insert(con, "results", table, "result_id")


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


def insert_risk(con: duckdb.DuckDBPyConnection, events: Sequence[Mapping[str, Any]]) -> int:
    """Store risk events; returns how many were new."""
    return _insert(con, "risk", risk_rows(events), "risk_event_id")


def _findings_table(findings: Sequence[Mapping[str, Any]]) -> pa.Table:
    return pa.table(
        {
            "finding_id": pa.array([f["finding_id"] for f in findings], pa.string()),
            "_time": pa.array(
                [parse_time(f.get("_time")) for f in findings], pa.timestamp("us", tz="UTC")
            ),
            "rule": pa.array([f.get("rule") for f in findings], pa.string()),
            "severity": pa.array([f.get("severity") for f in findings], pa.string()),
            "finding_json": pa.array([to_json(f) for f in findings], pa.string()),
        }
    )


def insert_findings(con: duckdb.DuckDBPyConnection, findings: Sequence[Mapping[str, Any]]) -> int:
    """Store findings (each has ``finding_id``, ``_time``, ``rule``, ``severity``); returns how many were new."""
    return _insert(con, "findings", _findings_table(findings), "finding_id")


def stored_risk(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """The ``risk`` table of a store connection as the ``Risk.All_Risk`` data set, oldest first."""
    names = ", ".join(_quote(f.name) for f in risk_schema())
    table = con.sql(f"SELECT {names} FROM risk ORDER BY _time, risk_event_id").to_arrow_table()
    return table.cast(risk_schema())


def stored_risk_incidents(
    con: duckdb.DuckDBPyConnection, engine: str = DEFAULT_ENGINE
) -> list[dict[str, Any]]:
    """The risk incident rules over every risk event of a store connection, run on a new
    ``engine`` (the store is storage; the rules are queries any engine runs)."""
    return risk_incidents_of(stored_risk(con), engine)


def replace_risk_findings(con: duckdb.DuckDBPyConnection) -> tuple[list[dict[str, Any]], int]:
    """Run the risk incident rules over every stored risk event and make the stored risk incident
    findings exactly their answer: stale ones go, changed ones are updated, new ones added.

    So the store's findings are a function of its set of risk events, whatever the order and the
    number of runs that added them (docs/semantics.md "Findings from the whole store"). Returns the
    findings and how many of their ids are new. Call it inside :meth:`Store.transaction`.
    """
    incidents = stored_risk_incidents(con)
    table = _findings_table(incidents)
    con.register("escudo_incoming", table)
    try:
        kept = "json_extract_string(finding_json, '$.finding_type') = ?"
        con.execute(
            f"DELETE FROM findings WHERE {kept} "
            "AND finding_id NOT IN (SELECT finding_id FROM escudo_incoming)",
            [RISK_INCIDENT],
        )
        # Updated in place, not deleted and inserted again: older DuckDB releases (duckdb>=1.1 is
        # allowed) can refuse a key deleted and re-inserted in one transaction (DuckDB docs,
        # "Indexes": over-eager unique constraint checking).
        con.execute(
            "UPDATE findings SET _time = i._time, rule = i.rule, severity = i.severity, "
            "finding_json = i.finding_json FROM escudo_incoming i "
            "WHERE findings.finding_id = i.finding_id "
            "AND findings.finding_json IS DISTINCT FROM i.finding_json"
        )
    finally:
        con.unregister("escudo_incoming")
    return incidents, _insert(con, "findings", table, "finding_id")


class Store:
    """A DuckDB file of results, risk events and findings, safe to share between escudo processes.

    >>> import tempfile
    >>> Store(Path(tempfile.mkdtemp()) / "s.duckdb").findings()
    []
    """

    def __init__(self, path: Path | None = None, *, timeout: float = LOCK_TIMEOUT_SECONDS) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.timeout = timeout

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection inside one transaction, under the exclusive store lock."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"cannot create store folder: {exc.strerror}", path=str(self.path)
            ) from exc
        with self._locked(fcntl.LOCK_EX):
            con = self._connect(read_only=False)
            try:
                with self._store_errors():
                    self._check(con, writing=True)
                    create_schema(con)
                    con.execute("BEGIN TRANSACTION")
                try:
                    yield con
                except BaseException as exc:
                    with contextlib.suppress(duckdb.Error):
                        con.execute("ROLLBACK")
                    if isinstance(exc, duckdb.Error):  # the store's own SQL failing on the file
                        raise store_error(exc, self.path) from None
                    raise
                with self._store_errors():
                    con.execute("COMMIT")
                    con.execute("CHECKPOINT")
            finally:
                con.close()

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A read-only connection under the shared lock; ``None`` while the store does not exist."""
        if not self.path.exists():
            yield None
            return
        with self._locked(fcntl.LOCK_SH):
            con = self._connect(read_only=True)
            try:
                with self._store_errors():
                    self._check(con, writing=False)
                    yield con
            finally:
                con.close()

    def _check(self, con: duckdb.DuckDBPyConnection, *, writing: bool) -> None:
        """Refuse a file DuckDB opened but escudo must not use as its store.

        Truncated: shorter than its header says (DuckDB reads blocks lazily, so a cut file opens
        and fails, or silently misses rows, later). Foreign: reading needs the three tables;
        writing, which creates missing ones, refuses a file holding any other table, so escudo
        never adds its tables to someone else's database.
        """
        # Free blocks past the last used one are cut off the file, so only used ones must fit.
        blocks, block_size = con.execute(
            "SELECT used_blocks, block_size FROM pragma_database_size()"
        ).fetchall()[0]
        if self.path.stat().st_size < HEADER_BYTES + int(blocks) * int(block_size):
            raise InputError(TRUNCATED, path=str(self.path))
        names = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        foreign = sorted(names - set(TABLES))
        if writing and foreign:
            raise InputError(
                f"not an escudo store (it holds other tables: {', '.join(foreign)})",
                path=str(self.path),
            )
        if not writing and not names.issuperset(TABLES):
            raise InputError(
                "not an escudo store (no results/risk/findings tables)", path=str(self.path)
            )

    @contextmanager
    def _store_errors(self) -> Iterator[None]:
        """DuckDB failing on the store file (damaged, truncated, foreign) is one line naming it."""
        try:
            yield
        except duckdb.Error as exc:
            raise store_error(exc, self.path) from None

    def write(
        self,
        *,
        results: Sequence[DetectionResult] = (),
        risk_events: Sequence[Mapping[str, Any]] = (),
        findings: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[int, int, int]:
        """Store all three kinds in one transaction; returns the new (results, risk, findings) counts.

        Risk events re-run the risk incident rules over the whole store
        (:func:`replace_risk_findings`); the findings count includes the incidents they added.
        """
        with self.transaction() as con:
            counts = (
                insert_results(con, results),
                insert_risk(con, risk_events),
                insert_findings(con, findings),
            )
            if not risk_events:
                return counts
            return (counts[0], counts[1], counts[2] + replace_risk_findings(con)[1])

    def risk_table(self) -> pa.Table:
        """Every risk event as the ``Risk.All_Risk`` dataset (register it with the engine under that name)."""
        with self.reading() as con:
            if con is None:
                return risk_schema().empty_table()
            return stored_risk(con)

    def risk_events(self) -> list[dict[str, Any]]:
        """Every risk event with all its fields (the result row's too), oldest first."""
        return self._records("SELECT event_json FROM risk ORDER BY _time, risk_event_id")

    def findings(self) -> list[dict[str, Any]]:
        """Every finding, oldest first."""
        return self._records("SELECT finding_json FROM findings ORDER BY _time, finding_id")

    def results(self, detection: str | None = None) -> list[dict[str, Any]]:
        """Stored result rows (``detection``, ``info_min_time``, ``info_max_time``, ``row``) in the order
        they were first stored: a run's rows keep the order the hunt printed them in."""
        sql = (
            "SELECT detection, info_min_time, info_max_time, row_json FROM results "
            "WHERE ? IS NULL OR lower(detection) = lower(?) ORDER BY stored_at, row_index, result_id"
        )
        with self.reading() as con:
            if con is None:
                return []
            found = con.execute(sql, [detection, detection]).fetchall()
        return [
            {"detection": d, "info_min_time": lo, "info_max_time": hi, "row": from_json(row)}
            for d, lo, hi, row in found
        ]

    def _records(self, sql: str) -> list[dict[str, Any]]:
        with self.reading() as con:
            if con is None:
                return []
            return [from_json(text) for (text,) in con.execute(sql).fetchall()]

    @contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        try:
            handle: IO[bytes] = self.lock_path.open("a+b")
        except OSError as exc:
            raise InputError(
                f"cannot open store lock: {exc.strerror}", path=str(self.lock_path)
            ) from exc
        try:
            _retry(lambda: fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB), OSError, self)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            handle.close()

    def _connect(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        # Another (non-escudo) process may hold DuckDB's own file lock: wait for it like for ours.
        def connect() -> duckdb.DuckDBPyConnection:
            try:
                return sandboxed_connect(str(self.path), read_only=read_only, utc=True)
            except duckdb.IOException as exc:
                if BUSY_MESSAGE in str(exc).lower():
                    raise _Busy(str(exc)) from exc
                raise store_error(exc, self.path) from None
            except duckdb.Error as exc:
                raise store_error(exc, self.path) from None

        return _retry(connect, _Busy, self)


def store_error(exc: duckdb.Error, path: Path) -> InputError:
    """One line saying why DuckDB cannot use the file at ``path`` as a store.

    >>> store_error(duckdb.IOException('IO Error: The file "s" exists, but it is not a valid '
    ...     'DuckDB database file!'), Path("s")).render()
    's: not an escudo store: the file is not a DuckDB database'
    """
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    for known, reason in STORE_FAULTS:
        if known in first:
            return InputError(reason, path=str(path))
    detail = re.sub(r"^[A-Za-z ]*Error: ", "", first)  # DuckDB's "IO Error: " and the like
    return InputError(f"cannot use store: {detail}", path=str(path))


class _Busy(Exception):
    """DuckDB's own file lock is held by another process."""


def _retry(action: Any, errors: type[BaseException], store: Store) -> Any:
    """Run ``action`` until it stops raising ``errors``, backing off up to the store's timeout."""
    deadline = time.monotonic() + store.timeout
    delay = 0.005
    while True:
        try:
            return action()
        except errors as exc:
            if time.monotonic() >= deadline:
                raise InputError(
                    f"store is busy (locked by another process): {exc}", path=str(store.path)
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
