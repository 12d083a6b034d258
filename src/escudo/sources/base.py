"""Contracts shared by every source: raw-text prefilters and per-run input accounting."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    """One malformed input record, kept for the summary."""

    path: str
    line: int
    reason: str


@dataclass
class ReadStats:
    """What a read saw: events, lines skipped as not ours, malformed records (first few kept)."""

    events: int = 0
    skipped: int = 0
    malformed: int = 0
    filtered: int = 0  # events dropped by a RawFilter before extraction
    other: int = 0  # events of an EventID (record type) outside the data set being read
    invalid_utf8: int = 0  # events kept with invalid UTF-8 decoded as U+FFFD
    lines: int = 0  # input lines, when the source counted them (0: the reader counts)
    problems: list[Problem] = field(default_factory=list)
    max_problems: int = 5

    def add_problem(self, path: str, line: int, reason: str) -> None:
        self.malformed += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(Problem(path, line, reason))

    def merge(self, other: ReadStats) -> None:
        self.events += other.events
        self.skipped += other.skipped
        self.filtered += other.filtered
        self.malformed += other.malformed
        self.other += other.other
        self.invalid_utf8 += other.invalid_utf8
        self.lines += other.lines
        room = self.max_problems - len(self.problems)
        self.problems.extend(other.problems[: max(0, room)])

    def summary(self) -> str:
        """The stderr summary line (plus the first problems, one per line)."""
        head = (
            f"escudo: read {self.events} events; skipped {self.skipped} non-event lines; "
            f"{self.malformed} malformed"
        )
        if self.other:
            head += f"; {self.other} events of other types"
        if self.filtered:
            head += f"; {self.filtered} dropped by the raw-text prefilter"
        if self.invalid_utf8:
            head += f"; {self.invalid_utf8} with invalid UTF-8 (replaced by U+FFFD)"
        lines = [head]
        lines += [f"  {p.path}:{p.line}: {p.reason}" for p in self.problems]
        if self.malformed > len(self.problems):
            lines.append(f"  ... and {self.malformed - len(self.problems)} more")
        return "\n".join(lines)
