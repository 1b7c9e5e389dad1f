"""The SIP parser's compiled parts (``_headscan.c``), each None where it was not built.

Each gives the value of a text of the common shape (the value's class passed in), or None
for any other text, which the Python parsers then read from the start: they alone decide
what other texts mean and which error they get, and give the same values for the common
shape (``tests/sip/test_fuzz.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Scan = Callable[[bytes, dict[str, tuple[str, str]], Callable[[str], tuple[str, str] | None],
                 int, int],
                tuple[str, tuple[tuple[str, str], ...], dict[str, tuple[str, ...]]] | None]

#: the start line, the header lines and their index, from a message's head
scan: Scan | None
#: a SipUri (the class passed first), a NameAddr (its URI of the second class), a Via
uri: Callable[[type[Any], str], Any] | None
name_addr: Callable[[type[Any], type[Any], str], Any] | None
via: Callable[[type[Any], str], Any] | None
try:
    from parley.sip._headscan import name_addr, scan, uri, via
except ImportError:  # not built (no C compiler at install): the same parse in Python
    scan = uri = name_addr = via = None

#: Whether this install parses SIP with its compiled parts.
BUILT = scan is not None
