"""Trusted networks: addresses that limits never throttle or ban (a floor behind one NAT
address, the site's own proxies).

Pure: parses and matches addresses with :mod:`ipaddress`, nothing else.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedNetworks:
    """A set of networks (``10.0.0.0/8``, ``192.0.2.7``, ``2001:db8::/32``).

    A network that does not parse raises ValueError naming it, so a typo in the
    configuration fails at start rather than leaving a floor throttled.
    """

    def __init__(self, networks: Iterable[str] = ()) -> None:
        parsed: list[IPNetwork] = []
        for text in networks:
            try:
                parsed.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError:
                raise ValueError(f"trusted network {text!r} is not an address or a network "
                                 "such as 10.0.0.0/8") from None
        self.networks = tuple(parsed)

    def __contains__(self, address: object) -> bool:
        if not self.networks or not isinstance(address, str):
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __repr__(self) -> str:
        return f"TrustedNetworks({[str(n) for n in self.networks]!r})"

