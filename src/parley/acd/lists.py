"""Number lists: a blacklist (with a treatment), VIPs (a priority), and custom tagged lists."""

from __future__ import annotations

from dataclasses import dataclass, field


def normalize_number(number: str) -> str:
    """Keep a leading ``+`` and the digits: ``"+33 1-23"`` and ``"+33123"`` are one number."""
    text = number.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    return ("+" + digits) if text.startswith("+") else digits


@dataclass(frozen=True, slots=True)
class ListMatch:
    blocked: bool = False
    treatment: str = ""
    vip_priority: int = 0
    tags: frozenset[str] = frozenset()


_NO_MATCH = ListMatch()


@dataclass
class NumberLists:
    """The site's number lists; flows ask :meth:`tags` and the ACD asks :meth:`match`."""

    blacklist: dict[str, str] = field(default_factory=dict)  # number -> treatment
    vip: dict[str, int] = field(default_factory=dict)  # number -> priority boost
    tagged: dict[str, set[str]] = field(default_factory=dict)  # tag -> numbers

    def block(self, number: str, treatment: str = "busy") -> None:
        self.blacklist[normalize_number(number)] = treatment

    def add_vip(self, number: str, priority: int = 10) -> None:
        self.vip[normalize_number(number)] = priority

    def tag(self, tag: str, number: str) -> None:
        self.tagged.setdefault(tag, set()).add(normalize_number(number))

    def untag(self, tag: str, number: str) -> None:
        self.tagged.get(tag, set()).discard(normalize_number(number))

    def tags(self, number: str) -> frozenset[str]:
        """Every custom tag ``number`` carries (for flows: ``if caller in list "x"``)."""
        key = normalize_number(number)
        return frozenset(tag for tag, numbers in self.tagged.items() if key in numbers)

    def match(self, number: str) -> ListMatch:
        if not (self.blacklist or self.vip or self.tagged):
            return _NO_MATCH  # the common case needs no normalising
        key = normalize_number(number)
        treatment = self.blacklist.get(key)
        return ListMatch(blocked=treatment is not None, treatment=treatment or "",
                         vip_priority=self.vip.get(key, 0), tags=self.tags(number))
