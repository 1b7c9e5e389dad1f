"""The floating address on a real (virtual) LAN: two network namespaces on a bridge, a node
and a neighbour (parley.net.floating_ip, parley.testing.netns).

The node's side runs in this process, moved into the node's namespace for each call: the
address is added and removed over rtnetlink, and the gratuitous ARP it sends moves the
neighbour's ARP cache entry, which pointed elsewhere, to the node's MAC.
"""

from __future__ import annotations

import time
from ipaddress import IPv4Interface

import pytest

from parley.net.floating_ip import FloatingIp, FloatingIpError, announcement_frame
from parley.testing.needs import needs
from parley.testing.netns import NETNS, Lan, inside, ip
from parley.testing.netns import lan as lan

FLOATING = IPv4Interface("10.77.0.100/24")
ELSEWHERE = "02:00:00:00:00:99"


def test_an_announcement_is_an_arp_request_for_the_address_from_the_mac() -> None:
    mac = bytes.fromhex("02aabbccddee")
    frame = announcement_frame(mac, FLOATING.ip)
    assert len(frame) == 60  # Ethernet's minimum, padded
    assert frame[:6] == b"\xff" * 6  # broadcast
    assert frame[6:12] == mac
    assert frame[12:14] == b"\x08\x06"  # ARP
    assert frame[14:22] == bytes.fromhex("0001080006040001")  # Ethernet/IPv4, a request
    # sender: the node's MAC and the address; target: no MAC, the same address
    assert frame[22:42] == mac + FLOATING.ip.packed + bytes(6) + FLOATING.ip.packed


def until(check: object, within_s: float = 2.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        time.sleep(0.01)
    return False


@needs(NETNS)
def test_the_address_is_added_announced_and_removed_on_the_device(lan: Lan) -> None:
    node, neighbour = lan.add("node", 1), lan.add("neighbour", 2)
    # the neighbour believes the address is at another machine's MAC
    ip("-n", neighbour.namespace, "neigh", "add", FLOATING.ip.exploded, "lladdr", ELSEWHERE,
       "dev", "eth0", "nud", "stale")
    address = FloatingIp(FLOATING, "eth0")
    with inside(node.namespace):
        assert address.open() is False  # nothing to remove at start
        address.hold()
        address.hold()  # already there is fine
    assert address.held
    assert str(FLOATING) in node.addresses()
    # the announcement moved the neighbour's entry to the node
    assert until(lambda: neighbour.neighbour(str(FLOATING.ip)) == node.mac()), \
        neighbour.neighbour(str(FLOATING.ip))
    with inside(node.namespace):
        assert address.drop() is True
        assert address.drop() is False  # not there is fine
    assert not address.held
    assert str(FLOATING) not in node.addresses()

    # a node that starts (as the standby) removes the address it still has from before
    ip("-n", node.namespace, "addr", "add", str(FLOATING), "dev", "eth0")
    again = FloatingIp(FLOATING, "eth0")
    with inside(node.namespace):
        assert again.open() is True
    assert node.addresses() == [str(node.address)]
    address.close()
    again.close()

    with inside(node.namespace), pytest.raises(FloatingIpError,
                                               match=r"ha\.interface 'eth9': no such network"):
        FloatingIp(FLOATING, "eth9").open()
