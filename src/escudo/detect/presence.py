"""Which detections of a hunt can match the rows read: the literals their requirements need, looked
up in the loaded rows, so a detection that cannot match runs over an empty data set instead.

A compiled search's :data:`~escudo.sources.base.Requirements` for a data set is a CNF of
``(CIM field, literal)``: every row the search can accept holds, for each clause, one of its
literals in that field's value (ASCII case-insensitive; ``compile/pushdown.py``). The raw prefilter
drops the rows that fail it, soundly, so the search's result over the rows read equals its result
over the rows that satisfy the CNF. When some clause has no literal in any value of its field in the
whole data set, no row satisfies the CNF, and the result is the search's result over an EMPTY data
set (``stats count`` still gives its one row of 0): that is how :func:`~escudo.detect.hunt.run_compiled`
runs it, without scanning the rows (docs/semantics.md, "Detections that cannot match").

The lookup works on each batch's distinct values of a field, ASCII-lowered and joined with NUL
bytes; a literal is struck off once found. Values holding a byte sequence DuckDB's ``lower()``
folds to ASCII (``sources.base.ALWAYS_PASS``: the Kelvin sign, the dotted capital I), a list
(multivalue) column or a missing one count as holding every literal. A byte budget bounds the
work: past it, every literal still looked for counts as present (a detection is only ever run
over its rows for lack of proof).

>>> import pyarrow as pa
>>> from escudo.compile import compile_search
>>> ngrok = compile_search("| tstats count from datamodel=Endpoint.Processes where Processes.process_name=ngrok")
>>> presence = LiteralPresence([ngrok])
>>> batch = pa.record_batch({"process_name": ["bash", "NGROK"]})
>>> _ = list(presence.observe("Endpoint.Processes", [batch]))
>>> presence.can_match(ngrok)
True
>>> presence = LiteralPresence([ngrok])
>>> _ = list(presence.observe("Endpoint.Processes", [pa.record_batch({"process_name": ["bash"]})]))
>>> presence.can_match(ngrok)
False
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from escudo.sources.base import ALWAYS_PASS, RAW_EVENTS, RawFilter

if TYPE_CHECKING:
    from escudo.engines.base import Runnable

# Bytes of joined distinct values scanned for literals, summed over literals and batches, before
# the lookup gives up (every literal still looked for then counts as present). Python's ``in`` on
# bytes scans 1-2 GB/s: this bounds the lookup to a fraction of a second whatever the input.
DEFAULT_BUDGET = 1 << 28
# Rows looked at together (their distinct values once): the columns held meanwhile are the
# engine's batches' (no copy), ~15 MB of an ESCU hunt's Sysmon process fields.
LOOK_ROWS = 1 << 17
# A field narrows the rows a search is run over (:class:`Narrowing`) when its distinct values are
# at most this share of the rows: looking for each literal in them then costs a fraction of a scan.
DISTINCT_SHARE = 0.5
PROBE_ROWS = 1 << 14  # (first looked at in this many rows)
# ... and runs a search over the rows its requirements admit when they are at most this share.
NARROW_SHARE = 0.5

_SEPARATOR = b"\x00"


def requirements_of(compiled: Runnable) -> dict[str, tuple[tuple[tuple[str, str], ...], ...]]:
    return dict(getattr(compiled, "requirements", None) or {})


def strike_found(values: pa.Array, literals: set[bytes], budget: int) -> int:
    """Strike off the ``literals`` (ASCII-lowered UTF-8) that some of ``values`` (text; nulls
    ignored) holds, ASCII case aside; the budget left is returned.

    Values holding a sequence DuckDB's ``lower()`` folds to ASCII (``ALWAYS_PASS``) prove nothing:
    every literal is struck off. So is one holding a NUL (the joined values' separator), and every
    one the ``budget`` (bytes of joined values still to scan) does not reach: a literal is only
    ever left when its absence is proved.

    >>> literals = {b"ngrok", b"tmate"}
    >>> strike_found(pa.array(["bash", "NGROK", None]), literals, 100), literals
    (80, {b'tmate'})
    """
    lowered = pc.ascii_lower(values.drop_null())
    if not len(lowered) or not literals:
        return budget
    offsets = pa.array([0, len(lowered)], pa.int32())
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, lowered), _SEPARATOR.decode())[0]
    blob: bytes = joined.as_buffer().to_pybytes()
    if any(sequence in blob for sequence in ALWAYS_PASS):
        literals.clear()
        return budget
    for literal in list(literals):
        budget -= len(blob)
        if budget < 0 or _SEPARATOR in literal or literal in blob:
            literals.discard(literal)
    return budget


def ruled_out(compiled: Runnable, dataset: str, absent: Callable[[str, str], bool]) -> bool:
    """Whether some clause of ``compiled``'s requirements on ``dataset`` has only literals that
    ``absent(field, literal)`` says no row holds: the search then cannot accept a row."""
    return any(
        clause and all(absent(field, literal) for field, literal in clause)
        for clause in requirements_of(compiled).get(dataset, ())
    )


class Presence(Protocol):
    """What a hunt asks of a literal look-up: this one (rows read from logs) or the store's
    (``store.read.StorePresence``)."""

    def can_match(self, compiled: Runnable, /) -> bool: ...


class LiteralPresence:
    """The literals ``searches`` require, per data set and field, struck off as :meth:`observe`
    finds them in the rows; :meth:`can_match` says whether a search may return rows of its own.

    Only searches over one data set of ``datasets`` (default: any) are ever ruled out: every row
    of those must go through :meth:`observe` (a data set with no rows observed has none)."""

    def __init__(
        self,
        searches: Iterable[Runnable],
        datasets: Iterable[str] | None = None,
        budget: int = DEFAULT_BUDGET,
    ) -> None:
        # data set -> field -> literals (ASCII-lowered UTF-8) not found yet
        self.pending: dict[str, dict[str, set[bytes]]] = {}
        self.budget = budget
        # data set -> the columns added and not looked at yet, and their rows (add)
        self._held: dict[str, list[pa.RecordBatch]] = {}
        self._rows: dict[str, int] = {}
        watched = None if datasets is None else frozenset(datasets)
        self.watched: frozenset[str] = frozenset()
        for compiled in searches:
            if len(compiled.datasets) != 1:
                continue
            dataset = compiled.datasets[0]
            if watched is not None and dataset not in watched:
                continue
            self.watched |= {dataset}
            for clause in requirements_of(compiled).get(dataset, ()):
                for field, literal in clause:
                    needle = literal.encode("utf-8").lower()
                    if _SEPARATOR not in needle:
                        self.pending.setdefault(dataset, {}).setdefault(field, set()).add(needle)

    def observe(self, dataset: str, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """``batches`` (rows of ``dataset``) as they are, each :meth:`add`-ed on the way."""
        for batch in batches:
            self.add(dataset, batch)
            yield batch
        self._flush(dataset)

    def add(self, dataset: str, batch: pa.RecordBatch) -> None:
        """Look at ``batch`` (rows of ``dataset``), ``LOOK_ROWS`` rows at a time (the distinct
        values of many small batches are mostly the same): :meth:`finish` looks at the rest."""
        fields = [f for f, pending in self.pending.get(dataset, {}).items() if pending]
        if not fields or not batch.num_rows:
            return
        # only the columns looked at are held (a batch holds each column's buffers)
        part = batch.select([f for f in fields if f in batch.schema.names])
        held = self._held.get(dataset)
        if held and part.schema != held[0].schema:
            self._flush(dataset)
        self._held.setdefault(dataset, []).append(part)
        self._rows[dataset] = self._rows.get(dataset, 0) + batch.num_rows
        if self._rows[dataset] >= LOOK_ROWS:
            self._flush(dataset)

    def finish(self) -> None:
        """Look at the rows :meth:`add` still holds (once every row was added)."""
        for dataset in list(self._held):
            self._flush(dataset)

    def _flush(self, dataset: str) -> None:
        held = self._held.pop(dataset, [])
        self._rows.pop(dataset, None)
        if held:
            self._look(dataset, held)

    def _look(self, dataset: str, batches: list[pa.RecordBatch]) -> None:
        fields = self.pending.get(dataset)
        if not fields:
            return
        rows = pa.Table.from_batches(batches)
        for field, literals in fields.items():
            if not literals:
                continue
            if field not in rows.schema.names or not pa.types.is_string(
                rows.schema.field(field).type
            ):
                literals.clear()  # not plain text here: no proof either way
                continue
            self.budget = strike_found(pc.unique(rows.column(field)), literals, self.budget)
            if self.budget < 0:  # no proof past the budget: whatever is left may be there
                self.pending.clear()
                return

    def absent(self, dataset: str, field: str, literal: str) -> bool:
        """Whether no row observed of ``dataset`` holds ``literal`` in ``field`` (ASCII case
        aside), as far as the lookup proved."""
        needle = literal.encode("utf-8").lower()
        return needle in self.pending.get(dataset, {}).get(field, ())

    def may_rule_out(self, compiled: Runnable) -> bool:
        """Whether :meth:`can_match` may say False of ``compiled`` (one watched data set, some
        requirement on it), whatever the rows observed."""
        if len(compiled.datasets) != 1 or compiled.datasets[0] not in self.watched:
            return False
        return any(requirements_of(compiled).get(compiled.datasets[0], ()))

    def can_match(self, compiled: Runnable) -> bool:
        """False when some clause of ``compiled``'s requirements on its one data set has no
        literal in the rows observed: its result is then its result over no rows."""
        if not self.may_rule_out(compiled):
            return True
        dataset = compiled.datasets[0]
        return not ruled_out(compiled, dataset, lambda f, lit: self.absent(dataset, f, lit))


def _none(count: int) -> pa.Array:
    """``count`` False values (no row)."""
    return pa.repeat(pa.scalar(False, pa.bool_()), count)


def _key(clauses: Iterable[Iterable[tuple[str, str]]]) -> tuple[tuple[tuple[str, str], ...], ...]:
    """A CNF in one spelling (its clauses and their literals sorted)."""
    return tuple(sorted(tuple(sorted(clause)) for clause in clauses))


class Haystack:
    """A string column (ASCII-lowered ``_raw``) searched for needles, as ``pc.match_substring``
    searches it (the bytes of the needle anywhere in the value's; NULL where the value is NULL),
    by DuckDB's ``contains`` over the column registered in place on a private in-memory database
    (``engines.duckdb.connect``: no extension, no file access, no progress bar on stdout):
    a vectorised search on every core, ~0.02-0.04 s a needle over 1M audit records (200 MB), where
    Arrow's byte-at-a-time matcher takes ~0.7 s and ``bytes.find`` ~0.2 s. Safe to call from
    several threads (one search at a time: DuckDB spreads each over its threads).

    >>> column = pa.chunked_array([["a ngrok", None], ["ng", "rok ngrokngrok"]])
    >>> Haystack(column).holding("ngrok").to_pylist(), Haystack(column).holding("gro").to_pylist()
    ([True, None, False, True], [True, None, False, True])
    >>> Haystack(column).holding("gng").to_pylist()  # "ng" + "rok ..." straddle: no value holds it
    [False, None, False, False]
    """

    def __init__(self, column: pa.Array | pa.ChunkedArray) -> None:
        from escudo.engines.duckdb import connect

        if column.type not in (pa.string(), pa.large_string()):
            raise TypeError(f"Haystack: a string column, not {column.type}")
        self._lock = threading.Lock()
        self._con = connect()
        self._con.register("haystack", pa.table({"text": column}))

    def holding(self, needle: str) -> pa.ChunkedArray:
        """Which values hold ``needle`` (NULL where the value is NULL), in the column's order."""
        with self._lock:
            found = self._con.sql(
                "SELECT contains(text, $needle) AS held FROM haystack", params={"needle": needle}
            ).to_arrow_table()
        return found.column(0)


class Narrowing:
    """The rows of ``table`` (one data set's rows, as a hunt registers them) that a search's
    requirements admit: for each clause, some literal of it in its field's value, ASCII case aside,
    as :func:`strike_found` looks (a value holding an ``ALWAYS_PASS`` sequence admits every
    literal). A search's result over those rows is its result over the whole table: every row it
    can accept is among them (docs/semantics.md, "Rows a search is run over"), as the raw prefilter
    drops the others before a one-detection hunt reads them. Raw events (``dataset`` is
    ``RAW_EVENTS``): the rows whose ``_raw`` their source's raw filter of the requirements keeps.

    Each field's distinct values are found once (a dictionary) and each literal is looked for
    in those, once for all the searches that name it. A clause whose field is missing, not plain
    text, or has more distinct values than ``DISTINCT_SHARE`` of the rows (looking in them costs
    about what the engine's own filter does) admits every row. :meth:`rows` gives no narrower
    table when the clauses admit more than ``NARROW_SHARE`` of the rows (the copy would cost more
    than the scan it saves). Safe to call from several threads.

    >>> table = pa.table({"process_name": ["bash", "CURL", None, "bash", "wget", "bash"]})
    >>> curl_or_wget = ((("process_name", "curl"), ("process_name", "wget")),)
    >>> Narrowing(table).rows(curl_or_wget).to_pylist()
    [{'process_name': 'CURL'}, {'process_name': 'wget'}]
    """

    def __init__(self, table: pa.Table, dataset: str | None = None) -> None:
        self.table = table
        # raw events (RAW_EVENTS): a row's requirements are its source's raw filter of ``_raw``
        names = table.schema.names
        self.raw = dataset == RAW_EVENTS and "_raw" in names and "sourcetype" in names
        # field -> (each row's index in the dictionary, the dictionary ASCII-lowered, which of its
        # values admit every literal); None: the field cannot narrow
        self._fields: dict[str, tuple[pa.Array, pa.Array, pa.Array] | None] = {}
        self._found: dict[tuple[str, str], pa.Array] = {}  # (field, literal) -> dictionary mask
        self._masks: dict[tuple[tuple[tuple[str, str], ...], ...], pa.Array | None] = {}
        # raw events: needle -> the rows whose _raw holds it; _raw ASCII-lowered
        self._needles: dict[str, pa.ChunkedArray] = {}
        self._always: pa.ChunkedArray | None = None  # the rows holding an ALWAYS_PASS sequence
        self._kinds: pa.DictionaryArray | None = None  # sourcetype, dictionary-encoded
        self._lowered: Haystack | None = None

    def rows(self, clauses: Iterable[Iterable[tuple[str, str]]]) -> pa.Table | None:
        """The rows the CNF ``clauses`` admit (a new table); None when that is not narrower than
        ``NARROW_SHARE`` of the rows: the search is then run over the whole table."""
        key = self.rows_key(clauses)
        return None if key == "all" else self.table.filter(self.mask(clauses))

    def rows_key(self, clauses: Iterable[Iterable[tuple[str, str]]]) -> Hashable:
        """Which rows :meth:`rows` gives ``clauses``, as a key: equal keys, the same rows (the
        whole table: ``"all"``)."""
        key = _key(clauses)
        mask = self.mask(key)
        if mask is None or (pc.sum(mask).as_py() or 0) > NARROW_SHARE * self.table.num_rows:
            return "all"
        return key

    def mask(self, clauses: Iterable[Iterable[tuple[str, str]]]) -> pa.Array | None:
        """Which rows the CNF ``clauses`` admit; None when no clause narrows (every row)."""
        key = _key(clauses)
        if key not in self._masks:
            self._masks[key] = self._raw_mask(key) if self.raw else self._fields_mask(key)
        return self._masks[key]

    def _fields_mask(self, clauses: tuple[tuple[tuple[str, str], ...], ...]) -> pa.Array | None:
        """The rows every clause that narrows admits (:meth:`_clause`); None when none does."""
        masks = [m for m in (self._clause(clause) for clause in clauses) if m is not None]
        mask = masks[0] if masks else None
        for other in masks[1:]:
            mask = pc.and_(mask, other)
        return mask

    def _raw_mask(self, clauses: tuple[tuple[tuple[str, str], ...], ...]) -> pa.Array | None:
        """Raw events: the rows of each sourcetype that its source's raw filter of the
        requirements keeps (``normalize.raw_events_filter``, the reader's prefilter: no row when
        the search reads no event of that source; ``RawFilter.matches`` of ``_raw``, vectorised);
        every row of a sourcetype escudo does not know."""
        from escudo.datamodels.normalize import raw_events_filter
        from escudo.sources.registry import SOURCES

        if not clauses:
            return None
        if self._kinds is None:  # (two threads may both work it out: the same result)
            self._kinds = pc.dictionary_encode(self.table.column("sourcetype").combine_chunks())
        kinds = self._kinds
        mask = _none(self.table.num_rows)
        for index, name in enumerate(kinds.dictionary.to_pylist()):
            source = SOURCES.get(name)
            raw_filter = raw_events_filter(source, clauses) if source is not None else None
            if source is not None and raw_filter is None:
                continue  # no event of this source can be read
            rows = pc.equal(kinds.indices, pa.scalar(index, kinds.indices.type))
            if raw_filter is not None and raw_filter.clauses:
                rows = pc.and_(rows, self._kept(raw_filter))
            mask = pc.or_(mask, pc.fill_null(rows, False))
        return mask

    def _kept(self, raw_filter: RawFilter) -> pa.Array:
        """The rows whose ``_raw`` ``raw_filter`` keeps (every clause has a needle in it, ASCII
        case aside; an ``ALWAYS_PASS`` sequence keeps the row)."""
        kept: pa.Array | None = None
        for clause in raw_filter.clauses:
            held = self._held(clause[0])
            for needle in clause[1:]:
                held = pc.or_(held, self._held(needle))
            kept = held if kept is None else pc.and_(kept, held)
        always = self._always
        if always is None:  # (no ASCII letter in them: looked for in the lowered text)
            always = _none(self.table.num_rows)
            for sequence in ALWAYS_PASS:
                found = self._holding(sequence.decode("utf-8"))
                always = pc.or_(always, pc.fill_null(found, False))
            self._always = always
        return always if kept is None else pc.or_(always, pc.fill_null(kept, True))

    def _held(self, needle: str) -> pa.Array:
        """Which rows' ``_raw`` holds ``needle`` (as ``RawFilter.matches`` compares: the needle
        lower-cased, ``_raw`` ASCII-lowered), NULL where ``_raw`` is."""
        low = needle.lower()
        if low not in self._needles:
            self._needles[low] = self._holding(low)
        return self._needles[low]

    def _holding(self, needle: str) -> pa.ChunkedArray:
        """Which rows' ``_raw`` ASCII-lowered holds ``needle`` (NULL where ``_raw`` is); the
        lowered text is made once (two threads may both make it)."""
        if self._lowered is None:
            self._lowered = Haystack(pc.ascii_lower(self.table.column("_raw")))
        return self._lowered.holding(needle)

    def _clause(self, clause: tuple[tuple[str, str], ...]) -> pa.Array | None:
        """Which rows hold some literal of ``clause`` (None: every row may)."""
        if not clause:
            return None
        per_field: dict[str, list[str]] = {}
        for field, literal in clause:
            per_field.setdefault(field, []).append(literal)
        mask: pa.Array | None = None
        for field, literals in per_field.items():
            encoded = self._field(field)
            if encoded is None:
                return None
            indices, lowered, always = encoded
            admitted = always
            for literal in literals:
                admitted = pc.or_(admitted, self._literal(field, literal, lowered))
            # a NULL value (its index NULL) holds no literal
            rows = pc.fill_null(pc.take(admitted, indices), False)
            mask = rows if mask is None else pc.or_(mask, rows)
        return mask

    def _literal(self, field: str, literal: str, lowered: pa.Array) -> pa.Array:
        key = (field, literal)
        if key not in self._found:
            needle = literal.encode("utf-8").lower().decode("utf-8")  # as strike_found lowers it
            self._found[key] = pc.match_substring(lowered, needle)
        return self._found[key]

    def _field(self, field: str) -> tuple[pa.Array, pa.Array, pa.Array] | None:
        if field not in self._fields:  # (two threads may both work it out: the same result)
            self._fields[field] = self._encoded(field)
        return self._fields[field]

    def _encoded(self, field: str) -> tuple[pa.Array, pa.Array, pa.Array] | None:
        schema = self.table.schema
        if field not in schema.names or not pa.types.is_string(schema.field(field).type):
            return None
        column = self.table.column(field)
        # the first rows tell a field of mostly distinct values (raw text) cheaply
        probe = column.slice(0, PROBE_ROWS)
        distinct = pc.count_distinct(probe, mode="only_valid").as_py()
        if distinct > DISTINCT_SHARE * max(len(probe), 1):
            return None
        encoded = pc.dictionary_encode(column.combine_chunks())
        dictionary = encoded.dictionary
        if len(dictionary) > DISTINCT_SHARE * max(len(encoded), 1):
            return None
        always = _none(len(dictionary))
        for sequence in ALWAYS_PASS:
            always = pc.or_(always, pc.match_substring(dictionary, sequence.decode("utf-8")))
        return encoded.indices, pc.ascii_lower(dictionary), always


__all__ = [
    "DEFAULT_BUDGET",
    "DISTINCT_SHARE",
    "NARROW_SHARE",
    "LiteralPresence",
    "Narrowing",
    "Presence",
    "requirements_of",
    "ruled_out",
    "strike_found",
]
