"""spl stage of escudo: tokenizer, parser (every node has a span), AST and macro expansion.

>>> from escudo.spl import expand_macros, parse
>>> [c.name for c in parse(expand_macros("| from datamodel Endpoint.Processes | `x_filter`", {})).commands]
['from', 'search']
"""

from __future__ import annotations

from escudo.spl.macros import expand_macros
from escudo.spl.parser import parse
from escudo.spl.tokens import Token, tokenize

__all__ = ["Token", "expand_macros", "parse", "tokenize"]
