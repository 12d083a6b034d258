"""escudo's SQL dialects: sqlglot's DuckDB and Spark, subclassed.

A few Splunk behaviours are expression classes of escudo's own (``replace()`` with ``\\1``
back-references, ``printf``, order-keeping ``mvdedup``, ``strptime`` formats); sqlglot has no spelling
for them. Each module that defines such a class lists how each engine writes it (``SQL_WRITERS`` in
``compile/functions.py`` and ``compile/timefmt.py``), and the dialects below add those writers to
their generator's ``TRANSFORMS``, the way sqlglot's own dialects extend their base
(``sqlglot/generators/spark.py``). sqlglot's ``DuckDB`` and ``Spark`` are left as shipped: another
library in the same process writing ``.sql("duckdb")`` gets stock sqlglot.

``DIALECTS`` maps the names escudo uses (``--dialect duckdb|spark``) to these classes; every SQL text
escudo writes goes through :func:`dialect_for`.

>>> from sqlglot import exp
>>> from escudo.compile.functions import lower_function
>>> lower_function("printf", [exp.Literal.string("%d"), exp.column("n")]).sql(EscudoSpark)
"FORMAT_STRING('%d', n)"
>>> dialect_for("duckdb") is EscudoDuckDB
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.dialects.spark import Spark
from sqlglot.generator import Generator

from escudo.compile import functions, rawsearch, semantics, timefmt


def _folded_like(gen: Generator, node: exp.Like) -> str:
    """``LOWER(x) LIKE p`` (Splunk's case-insensitive match, ``semantics._wildcard_match``) as
    ``x ILIKE p`` when ``p`` is an ASCII literal already in lower case: DuckDB's ILIKE folds both
    sides with LOWER's own mapping, so it keeps the same rows, without a lowered copy of every
    value (a hunt's queries: 20-50% less CPU). docs/semantics.md, "ILIKE for the folded match"."""
    pattern = node.expression
    if (
        isinstance(node.this, exp.Lower)
        and isinstance(pattern, exp.Literal)
        and pattern.is_string
        and pattern.name.isascii()
        and pattern.name == pattern.name.lower()
    ):
        return f"{gen.sql(node.this, 'this')} ILIKE {gen.sql(pattern)}"
    return str(gen.like_sql(node))


def _unescaped_superset(pattern: str) -> str | None:
    r"""``pattern`` (LIKE, ``\`` escaping) with each escaped character as ``_``, which matches it
    and more: a pattern without ESCAPE that keeps every row ``pattern`` keeps (``None`` when a
    backslash ends it).

    >>> _unescaped_superset("%ld\\_preload%"), _unescaped_superset("a\\")
    ('%ld_preload%', None)
    """
    out, chars = [], iter(pattern)
    for char in chars:
        if char == "\\":
            if next(chars, None) is None:
                return None
            char = "_"
        out.append(char)
    return "".join(out)


def _folded_escape(gen: Generator, node: exp.Escape) -> str:
    """A folded match with ESCAPE (``_`` or ``%`` in the value) as ``(x ILIKE q AND x ILIKE p
    ESCAPE '\\')``, ``q`` the pattern with escaped characters as ``_``: DuckDB runs an ILIKE with
    ESCAPE through its general matcher, 10-20 times slower than ``q``'s ``contains`` rewrite (0.95
    against 0.04 CPU-s on a 10M-event store), and ``q`` keeps every row ``p`` keeps, so the rows
    are ``p``'s (NULL where ``p`` is NULL) while ``p`` sees only the few ``q`` passed."""
    text = str(gen.escape_sql(node))
    like, escape = node.this, node.expression
    if not (
        isinstance(like, exp.Like)
        and isinstance(escape, exp.Literal)
        and escape.name == "\\"
        and text.startswith(f"{gen.sql(like.this, 'this')} ILIKE ")
    ):
        return text
    superset = _unescaped_superset(like.expression.name)
    if superset is None or superset == like.expression.name:
        return text
    column = gen.sql(like.this, "this")
    return f"({column} ILIKE {gen.sql(exp.Literal.string(superset))} AND {text})"


class EscudoDuckDB(DuckDB):
    """DuckDB SQL plus the writers of escudo's own expression classes."""

    class Generator(DuckDB.Generator):  # type: ignore[misc,valid-type]
        TRANSFORMS: ClassVar[dict[type[exp.Expr], Callable[..., str]]] = {
            **DuckDB.Generator.TRANSFORMS,
            **semantics.SQL_WRITERS["duckdb"],
            **functions.SQL_WRITERS["duckdb"],
            **timefmt.SQL_WRITERS["duckdb"],
            exp.Like: _folded_like,
            exp.Escape: _folded_escape,
            **rawsearch.SQL_WRITERS["duckdb"],
        }


# Where Spark's functions read text or times unlike DuckDB's, EscudoSpark writes them so that Spark
# returns DuckDB's answer (docs/semantics.md, "Spark agrees with DuckDB"):
# - epoch seconds keep microseconds: DuckDB's EPOCH is a DOUBLE with the fraction, Spark's
#   UNIX_TIMESTAMP a whole BIGINT, so Spark sums UNIX_MILLIS and UNIX_MICROS as DuckDB does;
# - a DOUBLE as text: semantics.DoubleText (DuckDB's digits, not Java's 1.5E9);
# - regular expressions are Java's there and RE2 in DuckDB: see java_regex;
# - LOWER/UPPER: Java's full case mapping turns 'İ' into 'i' + U+0307, a word-final 'Σ' into 'ς'
#   and 'ß' into 'SS' where DuckDB maps one character to one ('i', 'σ', 'ẞ'); those characters are
#   mapped DuckDB's way first.
_LOWER_FIRST = ("İΣ", "iσ")
_UPPER_FIRST = ("ß", "ẞ")


def java_regex(pattern: str) -> str:
    r"""An RE2 pattern (what DuckDB runs) as a Java pattern (what Spark runs) that matches the same.

    ``(?d)`` (UNIX_LINES) makes ``\n`` the only line terminator, as in RE2: without it Java's ``.``
    refuses ``\r``, U+0085, U+2028 and U+2029. ``(?u)`` folds case over Unicode under ``(?i)``,
    as RE2 does (Java folds ASCII only). Outside multiline mode RE2's ``$`` is the end of the text
    and Java's also matches before a final line break, so ``$`` is written ``\z`` there.

    >>> print(java_regex("^svc_.*$"))
    (?du)^svc_.*\z
    >>> print(java_regex(r"(?m)^a$|[$]|\$"))
    (?du)(?m)^a$|[$]|\$
    """
    multiline = _enables_multiline(pattern)
    out: list[str] = ["(?du)"]
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]" or out[-1] == "["
        elif char == "[":
            in_class = True
        elif char == "$" and not multiline:
            char = "\\z"
        out.append(char)
        index += 1
    return "".join(out)


def _enables_multiline(pattern: str) -> bool:
    """Whether an inline flag group (``(?m)``, ``(?im:...)``) turns multiline mode on."""
    start = pattern.find("(?")
    while start >= 0:
        flags = ""
        for char in pattern[start + 2 :]:
            if not char.isalpha():
                break
            flags += char
        if "m" in flags:
            return True
        start = pattern.find("(?", start + 2)
    return False


def _with_java_regex(
    write: Callable[..., str], key: str = "expression"
) -> Callable[[Generator, exp.Expr], str]:
    """``write`` (sqlglot's Spark writer of a regex node) with a literal pattern made Java's."""

    def writer(gen: Generator, node: exp.Expr) -> str:
        pattern = node.args.get(key)
        if isinstance(pattern, exp.Literal) and pattern.is_string:
            node = node.copy()
            node.set(key, exp.Literal.string(java_regex(pattern.name)))
        return write(gen, node)

    return writer


def _case_mapped(name: str, first: tuple[str, str]) -> Callable[[Generator, exp.Expr], str]:
    def writer(gen: Generator, node: exp.Expr) -> str:
        source, target = (gen.sql(exp.Literal.string(text)) for text in first)
        return f"{name}(TRANSLATE({gen.sql(node, 'this')}, {source}, {target}))"

    return writer


def _epoch_seconds(gen: Generator, node: exp.Expr) -> str:
    # DuckDB's EPOCH of a TIMESTAMP WITH TIME ZONE (a data set's _time column) is whole
    # milliseconds / 1000 plus the remaining microseconds / 1e6, each a DOUBLE; of a TIMESTAMP (a
    # computed time: MAKE_TIMESTAMP, STRPTIME) microseconds / 1e6. The same sums on Spark give the
    # same DOUBLE to the last bit.
    time = gen.sql(node, "this")
    if isinstance(node.this, exp.Column):
        return (
            f"(UNIX_MILLIS({time}) / 1000 + (UNIX_MICROS({time}) - UNIX_MILLIS({time}) * 1000)"
            " / 1000000)"
        )
    return f"(UNIX_MICROS({time}) / 1000000)"


_SPARK = Spark.Generator.TRANSFORMS


class EscudoSpark(Spark):
    """Spark SQL (3.x) plus the writers of escudo's own expression classes, and the functions
    that Spark would answer differently from DuckDB written to agree with it."""

    class Generator(Spark.Generator):  # type: ignore[misc,valid-type]
        TRANSFORMS: ClassVar[dict[type[exp.Expr], Callable[..., str]]] = {
            **_SPARK,
            **semantics.SQL_WRITERS["spark"],
            **functions.SQL_WRITERS["spark"],
            **timefmt.SQL_WRITERS["spark"],
            **rawsearch.SQL_WRITERS["spark"],
            exp.TimeToUnix: _epoch_seconds,
            exp.Lower: _case_mapped("LOWER", _LOWER_FIRST),
            exp.Upper: _case_mapped("UPPER", _UPPER_FIRST),
            exp.RegexpLike: _with_java_regex(_SPARK[exp.RegexpLike]),
            exp.RegexpExtract: _with_java_regex(_SPARK[exp.RegexpExtract]),
            exp.RegexpExtractAll: _with_java_regex(_SPARK[exp.RegexpExtractAll]),
            exp.RegexpReplace: _with_java_regex(_SPARK[exp.RegexpReplace]),
            exp.RegexpSplit: _with_java_regex(_SPARK[exp.RegexpSplit]),
            functions.SplunkReplace: _with_java_regex(
                functions.SQL_WRITERS["spark"][functions.SplunkReplace]
            ),
        }


# The dialect names escudo accepts, and the class that writes each.
DIALECTS: dict[str, type[Dialect]] = {"duckdb": EscudoDuckDB, "spark": EscudoSpark}


def dialect_for(name: str) -> type[Dialect]:
    """escudo's dialect class for ``name`` (``"duckdb"`` or ``"spark"``, any case).

    >>> dialect_for("Spark").__name__
    'EscudoSpark'
    """
    try:
        return DIALECTS[name.lower()]
    except KeyError:
        known = ", ".join(DIALECTS)
        raise ValueError(f"unknown SQL dialect {name!r} (escudo writes {known})") from None


__all__ = ["DIALECTS", "EscudoDuckDB", "EscudoSpark", "dialect_for", "java_regex"]
