"""Contracts shared by every source: raw-text prefilters, per-run input accounting, and the
:class:`Source` protocol a source type implements (with :data:`Requirements`, what the compiler
asks of an event, source-neutrally)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pyarrow as pa

# Byte sequences whose line always passes a RawFilter: a numeric character reference (kept from
# when Sysmon values were decoded; they now keep references as written, so it is only cautious),
# and the UTF-8 of U+212A and U+0130, which DuckDB's lower() folds to ASCII letters.
ALWAYS_PASS: tuple[bytes, ...] = (b"&#", b"\xe2\x84\xaa", b"\xc4\xb0")


@dataclass(frozen=True)
class RawFilter:
    """A prefilter on an event's raw text, in conjunctive normal form.

    An event is kept iff, for every clause, at least one of the clause's needles occurs in the raw
    text, compared case-insensitively (ASCII). The compiler only builds a filter where it is sound:
    a needle is a literal the detection requires, as the raw text holds it (Sysmon values keep
    their XML escapes, so a literal is its own needle). A raw line holding a numeric character
    reference (``&#``) is always kept, and so is one holding U+212A KELVIN SIGN or U+0130 (UTF-8
    ``E2 84 AA``, ``C4 B0``), which DuckDB's Unicode lower()/ILIKE fold to ASCII ``k`` and ``i``
    (docs/semantics.md, "Raw-text prefilter").

    >>> f = RawFilter(clauses=(("ngrok",), ("http", "tcp")))
    >>> f.matches(b"... <Data Name='Image'>/tmp/NGROK</Data> ... tcp 22")
    True
    """

    clauses: tuple[tuple[str, ...], ...] = ()

    def matches(self, raw: bytes) -> bool:
        """Reference (slow) implementation; sources may apply the same test vectorised.

        >>> RawFilter(clauses=(("ngrok",),)).matches("/tmp/NGRO\u212a".encode())
        True
        """
        if not self.clauses or any(seq in raw for seq in ALWAYS_PASS):
            return True
        low = raw.lower()
        return all(any(n.lower().encode() in low for n in clause) for clause in self.clauses)


@dataclass
class Problem:
    """One malformed input record (or an input that could not be read), kept for the summary.

    ``line`` 0 means the problem has no line (a file that cannot be opened, a gzip CRC mismatch).

    >>> str(Problem("a.log", 7, "event cut short")), str(Problem("b.gz", 0, "gzip CRC check failed"))
    ('a.log:7: event cut short', 'b.gz: gzip CRC check failed')
    """

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.reason}"


@dataclass
class ReadStats:
    """What a read saw: events, lines skipped as not ours, malformed records (first few kept),
    lines that are not text, and inputs that could not be read (all kept, one per input)."""

    events: int = 0
    skipped: int = 0
    malformed: int = 0
    filtered: int = 0  # events dropped by a RawFilter before extraction
    other: int = 0  # events of an EventID (record type) outside the data set being read
    invalid_utf8: int = 0  # events kept with invalid UTF-8 decoded as U+FFFD
    lines: int = 0  # input lines, when the source counted them (0: the reader counts)
    not_utf8: int = 0  # lines holding invalid UTF-8 (an event in one is still read)
    binary: int = 0  # lines holding NUL bytes: binary data (an event in one is still read)
    problems: list[Problem] = field(default_factory=list)
    unreadable: list[Problem] = field(default_factory=list)  # one per input, never capped
    max_problems: int = 5

    def add_problem(self, path: str, line: int, reason: str) -> None:
        self.malformed += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(Problem(path, line, reason))

    def add_text_problem(self, path: str, line: int, binary: bool, reason: str) -> None:
        """A line that is not UTF-8 text: counted and reported like a malformed record."""
        if binary:
            self.binary += 1
        else:
            self.not_utf8 += 1
        self.problems.append(Problem(path, line, reason))  # trimmed by the caller, in line order

    def add_unreadable(self, path: str, reason: str, line: int = 0) -> None:
        """An input (or part of one) that could not be read: reported once per path."""
        if all(p.path != path for p in self.unreadable):
            self.unreadable.append(Problem(path, line, reason))

    @property
    def problem_count(self) -> int:
        """Malformed records and lines that are not text (what the problem list samples)."""
        return self.malformed + self.not_utf8 + self.binary

    def merge(self, other: ReadStats) -> None:
        self.events += other.events
        self.skipped += other.skipped
        self.filtered += other.filtered
        self.malformed += other.malformed
        self.other += other.other
        self.invalid_utf8 += other.invalid_utf8
        self.lines += other.lines
        self.not_utf8 += other.not_utf8
        self.binary += other.binary
        room = self.max_problems - len(self.problems)
        self.problems.extend(other.problems[: max(0, room)])
        for p in other.unreadable:
            self.add_unreadable(p.path, p.reason, p.line)

    def strict_failure(self) -> str | None:
        """Why ``--strict`` fails this read (exit 2), or None when the input was clean."""
        parts = []
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} inputs could not be read (in full)")
        if self.malformed:
            parts.append(f"{self.malformed} malformed input records")
        if self.not_utf8 or self.binary:
            parts.append(f"{self.not_utf8 + self.binary} lines with invalid UTF-8 or binary data")
        if not parts and self.invalid_utf8:
            parts.append(f"{self.invalid_utf8} events with invalid UTF-8")
        return "--strict: " + ", ".join(parts) if parts else None

    def summary(self) -> str:
        """The stderr summary line, then each unreadable input and the first problems, one per
        line (``path: reason``, ``path:line: reason``)."""
        head = (
            f"escudo: read {self.events} events; skipped {self.skipped} non-event lines; "
            f"{self.malformed} malformed"
        )
        if self.other:
            head += f"; {self.other} events of other types"
        if self.filtered:
            head += f"; {self.filtered} dropped by the raw-text prefilter"
        if self.not_utf8:
            head += f"; {self.not_utf8} lines with invalid UTF-8 (replaced by U+FFFD)"
        elif self.invalid_utf8:
            head += f"; {self.invalid_utf8} with invalid UTF-8 (replaced by U+FFFD)"
        if self.binary:
            head += f"; {self.binary} lines of binary data"
        if self.unreadable:
            head += f"; {len(self.unreadable)} inputs not read in full"
        lines = [head]
        lines += [f"  {p}" for p in self.unreadable]
        lines += [f"  {p}" for p in self.problems]
        if self.problem_count > len(self.problems):
            lines.append(f"  ... and {self.problem_count - len(self.problems)} more")
        return "\n".join(lines)


# -- The source protocol ---------------------------------------------------------------------------

FieldLiteral = tuple[str, str]
"""``(cim_field, literal)``: the field's value must contain ``literal`` (ASCII case-insensitive)."""

Requirements = tuple[tuple[FieldLiteral, ...], ...]
"""What the compiler knows every event a search can accept satisfies, source-neutrally: a CNF
(every clause holds, a clause holds when one of its ``(field, literal)`` does) over CIM field
names of one data set (without the object prefix: ``process_name``). ``()``: no constraint.
A source turns it into :class:`RawFilter` needles in its own encoding (:meth:`Source.needles`)."""


def mapped_needles(
    sourcetype: str,
    dataset: str,
    requirements: Requirements,
    encode: Callable[[str], str | None],
    *,
    fills: tuple[str, ...] = (),
    unplaced: frozenset[str] = frozenset(),
) -> RawFilter:
    """What :meth:`Source.needles` computes for a source whose CIM fields are substrings of its
    raw text: each ``(field, literal)`` through the source's mapping of ``dataset``, where a field
    derived as a substring of a raw field (``Raw``, ``Basename``, ``Lower``) takes
    ``encode(literal)`` as its needle. A clause is dropped (sound) when one of its fields is
    derived otherwise, from a raw field in ``unplaced``, or when ``encode`` gives None, or when
    one of CIM's ``fills`` (``"unknown"``, ``"zero"``: ``0`` for a port that is not a number)
    could give the field a value holding the literal without the raw text holding it.

    >>> mapped_needles("sysmon:linux", "Endpoint.Processes", ((("process_name", "ngrok"),),),
    ...                str).clauses
    (('ngrok',),)
    """
    from escudo.datamodels import mappings
    from escudo.errors import EscudoError

    try:
        mapping = mappings.get_mapping(sourcetype, dataset)
    except EscudoError:  # no mapping: no events of this data set, nothing to filter
        return RawFilter()
    substring = mappings.Raw, mappings.Basename, mappings.Lower
    fields = {
        name for name, d in mapping.fields if isinstance(d, substring) and d.field not in unplaced
    }
    filled: dict[str, str] = {}
    if "unknown" in fills:
        filled |= {f: "unknown" for f in mappings.FILL_UNKNOWN.get(mapping.dataset, ())}
    if "zero" in fills:
        filled |= {f: "0" for f in mappings.FILL_ZERO_IF_NOT_NUMBER.get(mapping.dataset, ())}
    clauses = []
    for clause in requirements:
        found = [
            encode(literal)
            if field in fields and literal.lower() not in filled.get(field, "\0")
            else None
            for field, literal in clause
        ]
        if clause and all(n is not None for n in found):
            clauses.append(tuple(dict.fromkeys(n for n in found if n is not None)))
    return RawFilter(tuple(dict.fromkeys(clauses)))


SNIFF_BYTES = 64 << 10  # how much of an input's (decompressed) start Source.sniff sees


@runtime_checkable
class Source(Protocol):
    """A source type (a Splunk sourcetype): everything escudo knows about one log format.

    A source owns its framing (one line per event, or records grouped into events), the shared
    transports (syslog variants, journald JSON: ``escudo.sources.framing``), field extraction,
    time and host (the ``time``/``host`` raw fields its mappings name), record types (strings:
    Sysmon EventIDs ``"1"``, OCSF ``class_uid``, ...), and how the compiler's source-neutral
    :data:`Requirements` become raw needles in its encoding. Register an instance in
    ``escudo.sources.registry.SOURCES``; its CIM mappings go in ``escudo.datamodels.mappings``
    (``Mapping(sourcetype=<name>, ...)``, one per data set it feeds).

    A minimal source (the doctest runs it)::

        >>> import pyarrow as pa
        >>> class Lines:
        ...     name, source = "demo:lines", "demo"
        ...     all_fields = ("SystemTime", "Computer", "Message")
        ...     def sniff(self, head: bytes) -> bool:
        ...         return head.startswith(b"DEMO ")
        ...     def needles(self, dataset: str, requirements: Requirements) -> RawFilter:
        ...         return RawFilter()  # or: literals, encoded as the raw text holds them
        ...     def plan(self, fields, record_types, raw_filter, extractor):
        ...         def process(data: bytes, name: str):  # a picklable callable in practice
        ...             rows = [dict.fromkeys(("host", *fields)) for line in data.splitlines()]
        ...             schema = pa.schema([(f, pa.string()) for f in ("host", *fields)])
        ...             return pa.RecordBatch.from_pylist(rows, schema=schema), ReadStats()
        ...         return process
        >>> isinstance(Lines(), Source)
        True
        >>> Lines().plan(("Message",), None, None, "fast")(b"DEMO a\\n", "x")[0].num_rows
        1

    The contract of ``plan(fields, record_types, raw_filter, extractor)``: a picklable processor
    ``(data: bytes, name: str) -> (RecordBatch, ReadStats)`` over a chunk of whole lines (see
    ``escudo.sources.reader``): one row per event of a type in ``record_types`` (None: every
    type) that passes ``raw_filter``, columns ``host`` (the transport's host, NULL when none)
    then ``fields`` in order, all strings; the time field holds ISO 8601 UTC text. Stats count
    ``events``, ``skipped`` (lines that are not events), ``filtered``, ``other`` (events of other
    record types) and malformed records with chunk-relative line numbers. It may also ``stream``
    (``read_range``, see the reader) when it has a faster path.
    """

    name: str  # the sourcetype, e.g. "sysmon:linux"
    source: str  # the Splunk ``source`` value rows carry
    all_fields: tuple[str, ...]  # every raw field (the ``raw`` pseudo data set)

    def sniff(self, head: bytes) -> bool:
        """Whether an input starting with ``head`` (up to :data:`SNIFF_BYTES`, decompressed,
        possibly cut mid-line) is this source's, in any transport."""
        ...

    def needles(self, dataset: str, requirements: Requirements) -> RawFilter:
        """The raw prefilter for ``dataset``'s events given the compiler's requirements: each
        ``(field, literal)`` through this source's mapping of ``field``, a literal encoded as the
        raw text holds it; a clause with a literal this source cannot place is dropped (sound)."""
        ...

    def plan(
        self,
        fields: tuple[str, ...],
        record_types: frozenset[str] | None,
        raw_filter: RawFilter | None,
        extractor: str,
    ) -> Callable[[bytes, str], tuple[pa.RecordBatch, ReadStats]]:
        """A chunk processor (see the class docstring)."""
        ...


# -- Raw events (what Splunk's raw-event searches read) ----------------------------------------------

RAW_EVENTS = "raw_events"
"""The data set of raw events: one row per event as Splunk indexes it, before any data model.

Columns, in order: ``host`` (the transport's host, NULL when none), ``_time`` (ISO 8601 UTC text,
the event time as Splunk's add-on for the sourcetype takes it) and ``_raw`` (the event text as
Splunk's add-on indexes it). Searches that start from events (``sourcetype=linux:audit ...``)
extract every other field from ``_raw`` at search time, as Splunk does (docs/semantics.md)."""


@runtime_checkable
class RawEventSource(Protocol):
    """A :class:`Source` that can also give its raw events (the :data:`RAW_EVENTS` data set).

    ``raw_plan(raw_filter)`` returns a picklable chunk processor with the contract of
    :meth:`Source.plan` whose rows have the columns ``host``, ``_time``, ``_raw`` (all strings):
    one row per record Splunk would index as one event (an auditd record line, a Sysmon event),
    every row passing ``raw_filter`` (None: no filter)."""

    def raw_plan(
        self, raw_filter: RawFilter | None
    ) -> Callable[[bytes, str], tuple[pa.RecordBatch, ReadStats]]:
        """A chunk processor of raw events (see the class docstring)."""
        ...
