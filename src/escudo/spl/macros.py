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

MAX_DEPTH = 50  # Splunk gives up on deeper nesting too; beyond this it is a recursive macro.


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


def _expand(text: str, macros: Mapping[str, Macro], depth: int) -> str:
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
            out.append(ch)
            i += 1
            continue
        end = text.find("`", i + 1)
        if end == -1:
            raise _Located(
                SplSyntaxError, "unterminated macro call (missing closing backtick)", i, i + 1
            )
        call = text[i + 1 : end]
        if not call.strip():
            raise _Located(SplSyntaxError, "empty macro call ``", i, end + 1)
        if depth >= MAX_DEPTH:
            raise _Located(
                UnsupportedSplError,
                f"macro expansion deeper than {MAX_DEPTH} levels (recursive macro `{call}`?)",
                i,
                end + 1,
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
            out.append(_expand(body, macros, depth + 1))
        except _Located as inner:
            # Point at the call in this text; say which macro the problem came from.
            raise _Located(
                inner.kind, f"{inner.message} (in macro `{call.strip()}`)", i, end + 1
            ) from None
        i = end + 1
    return "".join(out)


class _Located(Exception):
    """Internal: an error at [start, end) of the text being expanded at this level."""

    def __init__(self, kind: type[SplError], message: str, start: int, end: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.start = start
        self.end = end


def expand_macros(text: str, macros: Mapping[str, Macro], *, origin: str | None = None) -> str:
    """Expand every backtick macro in ``text``, recursively.

    Errors (undefined macro, wrong argument count, recursion) point at the outermost call in
    ``text`` with a caret.

    >>> m = {"shells": Macro("shells", 'process_name IN ("sh", "bash")')}
    >>> expand_macros("search `shells` x=1", m)
    'search process_name IN ("sh", "bash") x=1'
    """
    try:
        return _expand(text, macros, 0)
    except _Located as exc:
        raise exc.kind(
            exc.message, source=text, offset=exc.start, end=exc.end, origin=origin
        ) from None
