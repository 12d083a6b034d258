"""Backtick macro expansion, as Splunk does it before parsing a search.

A call is `` `name` `` or `` `name(a, b)` ``; it is looked up by Splunk's key ``name`` or
``name(N)`` (N arguments), each ``$arg$`` of the definition is replaced by the argument text, and
the result is expanded again (macros nest, in any position, e.g. inside a ``tstats where``).
Source: Splunk Knowledge Manager Manual, "Use search macros in searches" and "Define search macros".

Two macros need no definition:

* ``<detection>_filter``: contentctl creates each detection's filter macro as ``search *``
  (``contentctl/objects/detection_abstract.py``), so an undefined macro ending in ``_filter``
  expands to ``search *``; a user macro file can override it.
* ``drop_dm_object_name(X)`` ships with Splunk_SA_CIM, not ESCU; escudo builds it in as
  ``rename X.* AS *`` (quotes around X dropped) unless a macro file defines it.

>>> expand_macros("| tstats count | `drop_dm_object_name(Processes)` | `x_filter`", {})
'| tstats count | rename Processes.* AS * | search *'
"""

from __future__ import annotations

from collections.abc import Mapping

from escudo.content.model import Macro
from escudo.errors import SplError, SplSyntaxError, UnsupportedSplError

# Macro calls nest at most this deep (a call inside a definition inside a definition ...); deeper is
# almost surely a recursion the cycle check cannot see (arguments that change at each level).
MAX_DEPTH = 50


def _split_arguments(text: str) -> list[str]:
    """Split ``a, "b,c", f(x,y)`` at top-level commas; arguments are stripped, quotes kept."""
    args: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and i + 1 < len(text):
                current.append(text[i : i + 2])
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append("".join(current).strip())
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    args.append("".join(current).strip())
    return args


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _builtin(name: str, args: list[str]) -> str | None:
    """Definitions escudo provides when no macro file does."""
    if name == "drop_dm_object_name" and len(args) == 1:
        return f"rename {_unquote(args[0])}.* AS *"
    if name.endswith("_filter") and not args:
        return "search *"
    return None


def _expand_call(call: str, macros: Mapping[str, Macro]) -> str:
    """The definition text for one call (no recursion); raises KeyError-like SplError text."""
    call = call.strip()
    args: list[str] = []
    name = call
    if call.endswith(")") and "(" in call:
        name, _, inner = call.partition("(")
        name = name.strip()
        args = _split_arguments(inner[:-1])
        if args == [""]:
            args = []
    key = f"{name}({len(args)})" if args else name
    macro = macros.get(key)
    if macro is None:
        builtin = _builtin(name, args)
        if builtin is not None:
            return builtin
        known = sorted(k for k in macros if k == name or k.startswith(name + "("))
        hint = f" (defined: {', '.join(known)})" if known else ""
        raise LookupError(f"undefined macro `{key}`{hint}")
    definition = macro.definition
    for arg_name, value in zip(macro.arguments, args, strict=True):
        definition = definition.replace(f"${arg_name}$", value)
    return definition


def _expand(text: str, macros: Mapping[str, Macro], chain: tuple[str, ...]) -> str:
    """Expand the calls in ``text``; ``chain`` holds the calls being expanded around it (outermost
    first), so a call already in it is a cycle and its length is the nesting depth."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':  # a backtick inside a quoted string is literal text
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
            continue
        if ch != "`":
            # Copy the run up to the next quote or backtick at once (linear in the text).
            j = i + 1
            while j < n and text[j] not in '"`':
                j += 1
            out.append(text[i:j])
            i = j
            continue
        end = text.find("`", i + 1)
        if end == -1:
            raise _Located(
                SplSyntaxError, "unterminated macro call (missing closing backtick)", i, i + 1
            )
        call = text[i + 1 : end]
        if not call.strip():
            raise _Located(SplSyntaxError, "empty macro call ``", i, end + 1)
        name = " ".join(call.split())
        if name in chain:
            cycle = (*chain[chain.index(name) :], name)
            raise _Located(
                UnsupportedSplError, f"recursive macro: {_show(cycle)}", i, end + 1, chained=True
            )
        if len(chain) >= MAX_DEPTH:
            raise _Located(
                UnsupportedSplError,
                f"macro expansion deeper than {MAX_DEPTH} levels: {_show((*chain, name))}",
                i,
                end + 1,
                chained=True,
            )
        try:
            body = _expand_call(call, macros)
        except LookupError as exc:
            raise _Located(UnsupportedSplError, str(exc.args[0]), i, end + 1) from None
        except ValueError:  # zip(strict=True): argument count differs from the definition
            raise _Located(
                SplSyntaxError, f"wrong number of arguments in `{call}`", i, end + 1
            ) from None
        try:
            out.append(_expand(body, macros, (*chain, name)))
        except _Located as inner:
            # Point at the call in this text; the chain of macros is named once, at the top.
            raise _Located(
                inner.kind, inner.message, i, end + 1, (name, *inner.chain), inner.chained
            ) from None
        i = end + 1
    return "".join(out)


def _show(chain: tuple[str, ...], keep: int = 4) -> str:
    """```a` -> `b` -> `c```, the middle of a long chain elided."""
    names = [f"`{c}`" for c in chain]
    if len(names) > 2 * keep + 1:
        names = [*names[:keep], f"... ({len(chain) - 2 * keep} more)", *names[-keep:]]
    return " -> ".join(names)


class _Located(Exception):
    """Internal: an error at [start, end) of the text being expanded at this level, raised from
    inside the macro calls ``chain`` (outermost first); ``chained`` when the message names them."""

    def __init__(
        self,
        kind: type[SplError],
        message: str,
        start: int,
        end: int,
        chain: tuple[str, ...] = (),
        chained: bool = False,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.start = start
        self.end = end
        self.chain = chain
        self.chained = chained


def expand_macros(text: str, macros: Mapping[str, Macro], *, origin: str | None = None) -> str:
    """Expand every backtick macro in ``text``, recursively.

    Errors (undefined macro, wrong argument count, recursion) point at the outermost call in
    ``text`` with a caret and name the chain of calls once (``in macro `a` -> `b```); a call
    that is already being expanded is a cycle, reported with the cycle.

    >>> m = {"shells": Macro("shells", 'process_name IN ("sh", "bash")')}
    >>> expand_macros("search `shells` x=1", m)
    'search process_name IN ("sh", "bash") x=1'
    """
    try:
        return _expand(text, macros, ())
    except _Located as exc:
        message = exc.message
        if exc.chain and not exc.chained:
            message = f"{message} (in macro {_show(exc.chain)})"
        raise exc.kind(message, source=text, offset=exc.start, end=exc.end, origin=origin) from None
