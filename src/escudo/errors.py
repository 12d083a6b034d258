"""The one error tree of escudo.

Grouped by what the caller can do about it (the habit of httpx's ``_exceptions.py``)::

    EscudoError                 anything escudo raises on purpose; the CLI prints it and exits 2
    ├── SplError                the search text is at fault; carries an SPL line/column and renders a caret
    │   ├── SplSyntaxError      it does not parse
    │   └── UnsupportedSplError it parses, but escudo does not implement that command/function/option
    ├── ContentError            a detection/macro/lookup/story file is at fault (file:line)
    ├── InputError              a log file or command-line argument is at fault (file:line)
    └── EngineError             the SQL engine (DuckDB, Spark) failed while running compiled SQL

Example::

    >>> err = SplSyntaxError("expected ')'", source="| tstats count where (a=1", offset=25)
    >>> print(err.render())
    expected ')' at line 1, column 26
      | tstats count where (a=1
                               ^
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A half-open character range ``[start, end)`` in a source text."""

    start: int
    end: int

    def merge(self, other: Span) -> Span:
        return Span(min(self.start, other.start), max(self.end, other.end))


def line_col(source: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``source``.

    >>> line_col("ab\\ncd", 4)
    (2, 2)
    """
    offset = max(0, min(offset, len(source)))
    line = source.count("\n", 0, offset) + 1
    col = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, col


# An excerpt line longer than this is cut to a window around the caret (a 1 MB one-line search
# must not print 1 MB); the window starts this many characters before the caret.
EXCERPT_WIDTH = 160
EXCERPT_BEFORE = 60


def render_caret(source: str, start: int, end: int | None = None) -> str:
    """The source line holding ``start`` with ``^`` marks under ``[start, end)``.

    A line longer than ``EXCERPT_WIDTH`` is cut to a window around ``start``, ``...`` marking
    the cuts.

    >>> excerpt, marks = render_caret("x" * 10_000 + " bad", 10_001, 10_004).splitlines()
    >>> len(excerpt) < 200, excerpt.endswith("x bad"), marks.endswith(" ^^^")
    (True, True, True)
    """
    start = max(0, min(start, len(source)))
    line_start = source.rfind("\n", 0, start) + 1
    line_end = source.find("\n", start)
    if line_end == -1:
        line_end = len(source)
    lead, tail = "", ""
    if line_end - line_start > EXCERPT_WIDTH:
        cut_start = max(line_start, start - EXCERPT_BEFORE)
        cut_end = min(line_end, cut_start + EXCERPT_WIDTH)
        lead = "..." if cut_start > line_start else ""
        tail = "..." if cut_end < line_end else ""
        line_start, line_end = cut_start, cut_end
    text = source[line_start:line_end]
    width = 1 if end is None else max(1, min(end, line_end) - start)
    # Tabs keep their width in the marker line so the caret stays under the right character.
    pad = " " * len(lead) + "".join(
        "\t" if ch == "\t" else " " for ch in text[: start - line_start]
    )
    return f"  {lead}{text}{tail}\n  {pad}{'^' * width}"


class EscudoError(Exception):
    """Base of every error escudo raises on purpose."""

    def render(self) -> str:
        """The message the CLI prints (one line, maybe followed by an excerpt)."""
        return str(self)


class SplError(EscudoError):
    """An error located in SPL text."""

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        offset: int = 0,
        end: int | None = None,
        origin: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.offset = offset
        self.end = end
        self.origin = origin  # e.g. the detection file the search came from
        self.line, self.column = line_col(source, offset)

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}"
        if self.origin:
            where = f"{self.origin}: {where}"
        return f"{self.message} at {where}"

    def render(self) -> str:
        if not self.source:
            return str(self)
        return f"{self}\n{render_caret(self.source, self.offset, self.end)}"


class SplSyntaxError(SplError):
    """The search text does not parse."""


class UnsupportedSplError(SplError):
    """The search parses but uses a command, function or option escudo does not implement."""


class LocatedError(EscudoError):
    """An error located at ``path:line`` (line may be unknown)."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        loc = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{loc}: {self.message}"


class ContentError(LocatedError):
    """A detection, macro, lookup or story file is invalid."""


class InputError(LocatedError):
    """A log file or a command-line argument is invalid."""


class EngineError(EscudoError):
    """The SQL engine failed while executing compiled SQL."""
