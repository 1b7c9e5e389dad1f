"""The hot-standby pair's floating service address (docs/deployment.md, "The floating
address"): added to a network device while this node is active, removed the moment it stops
serving, and announced with gratuitous ARP so that the neighbours' ARP caches (phones,
carriers' gateways, the router) move to this node's MAC at once.

The address is added and removed over rtnetlink (``RTM_NEWADDR`` / ``RTM_DELADDR`` on a
``NETLINK_ROUTE`` socket, as ``ip addr add|del`` does): one local system call that answers
at once, so it can be made synchronously at the exact moment the node stops serving, even
inside a signal handler. That needs ``CAP_NET_ADMIN``. The announcement is an ARP request
whose sender and target are both the floating address (RFC 5227's "ARP announcement"),
broadcast on the device from an ``AF_PACKET`` socket; that needs ``CAP_NET_RAW``. Both
capabilities are tried at start (:meth:`FloatingIp.open`), so a missing one stops the node
there with the remedy in the message, not at its first takeover.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct
from ipaddress import IPv4Address, IPv4Interface

import structlog

from parley.clock import Clock
from parley.errors import ParleyError

log = structlog.get_logger("parley.net.floating_ip")

#: how many announcements follow a takeover, and how far apart (the first goes out at once;
#: the repeats cover a switch port or a neighbour that missed the first)
ANNOUNCEMENTS = 3
ANNOUNCEMENT_SPACING_S = 0.5

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARP_REQUEST = 1
BROADCAST_MAC = b"\xff" * 6
ETHERNET_MIN_FRAME = 60  # without the frame check sequence
SIOCGIFHWADDR = 0x8927
ARPHRD_ETHER = 1

# rtnetlink (linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h)
NLMSG_ERROR = 2
RTM_NEWADDR = 20
RTM_DELADDR = 21
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_BROADCAST = 4
RT_SCOPE_UNIVERSE = 0
_NLMSGHDR = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, interface index
_RTATTR = struct.Struct("=HH")  # length, type

CAPABILITIES_HINT = ("give the service user CAP_NET_ADMIN and CAP_NET_RAW (systemd: "
                     "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW), or run it as root")


class FloatingIpError(ParleyError):
    """The floating address cannot be held: the message names the setting or the
    capability at fault."""


def announcement_frame(mac: bytes, address: IPv4Address) -> bytes:
    """A gratuitous ARP request as an Ethernet frame: broadcast, from ``mac``, saying
    "``address`` is at ``mac``" (sender and target protocol address both ``address``, target
    hardware address zero), padded to Ethernet's minimum size."""
    if len(mac) != 6:
        raise ValueError(f"an Ethernet MAC has 6 bytes, not {len(mac)}")
    ip = address.packed
    ethernet = BROADCAST_MAC + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, ARP_REQUEST, mac, ip, bytes(6), ip)
    return (ethernet + arp).ljust(ETHERNET_MIN_FRAME, b"\x00")


def _attribute(kind: int, value: bytes) -> bytes:
    length = _RTATTR.size + len(value)
    return (_RTATTR.pack(length, kind) + value).ljust((length + 3) & ~3, b"\x00")


def address_message(kind: int, index: int, address: IPv4Interface, sequence: int) -> bytes:
    """An ``RTM_NEWADDR`` (added only if absent) or ``RTM_DELADDR`` request for ``address``
    on the device of index ``index``, asking the kernel for an acknowledgement."""
    flags = NLM_F_REQUEST | NLM_F_ACK
    if kind == RTM_NEWADDR:
        flags |= NLM_F_CREATE | NLM_F_EXCL
    ip = address.ip.packed
    body = _IFADDRMSG.pack(socket.AF_INET, address.network.prefixlen, 0, RT_SCOPE_UNIVERSE,
                           index)
    body += _attribute(IFA_LOCAL, ip) + _attribute(IFA_ADDRESS, ip)
    if kind == RTM_NEWADDR and address.network.prefixlen <= 30:
        body += _attribute(IFA_BROADCAST, address.network.broadcast_address.packed)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags, sequence, 0) + body


def acknowledgement(reply: bytes, sequence: int) -> int:
    """The error number in the kernel's answer to request ``sequence`` (0: done)."""
    offset = 0
    while offset + _NLMSGHDR.size <= len(reply):
        length, kind, _flags, seq, _port = _NLMSGHDR.unpack_from(reply, offset)
        if length < _NLMSGHDR.size:
            break
        if kind == NLMSG_ERROR and seq == sequence:
            (code,) = struct.unpack_from("=i", reply, offset + _NLMSGHDR.size)
            return -int(code)
        offset += (length + 3) & ~3
    raise FloatingIpError("the kernel's rtnetlink answer carried no acknowledgement")


def hardware_address(interface: str) -> bytes:
    """The device's Ethernet MAC (``SIOCGIFHWADDR``: the device of this network namespace,
    whatever ``/sys`` shows)."""
    request = struct.pack("16s16x", interface.encode())
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            answer = fcntl.ioctl(probe.fileno(), SIOCGIFHWADDR, request)
    except OSError as exc:
        raise FloatingIpError(f"ha.interface {interface!r}: cannot read its MAC address "
                              f"({os.strerror(exc.errno or 0)})") from exc
    family = struct.unpack_from("=H", answer, 16)[0]
    mac = answer[18:24]
    if family != ARPHRD_ETHER or mac == bytes(6):
        raise FloatingIpError(f"ha.interface {interface!r} is not an Ethernet device: a "
                              "floating address announced by ARP needs one")
    return mac


class FloatingIp:
    """``address`` (an IPv4 interface address, e.g. 192.0.2.10/24) held on ``interface``
    while this node is active. :attr:`held` is what this node did last: added it (and not
    removed it since)."""

    def __init__(self, address: IPv4Interface, interface: str) -> None:
        self.address = address
        self.interface = interface
        self.held = False
        self.index = 0
        self.mac = b""
        self._packets: socket.socket | None = None
        self._sequence = 0

    def __str__(self) -> str:
        return f"{self.address} on {self.interface}"

    # --- start and end ---------------------------------------------------------------------

    def open(self) -> bool:
        """At start, as the standby: find the device and its MAC, open the announcing
        socket (``CAP_NET_RAW``) and remove the address if the device still has it, from
        before a crash (``CAP_NET_ADMIN``). True when it was there."""
        try:
            self.index = socket.if_nametoindex(self.interface)
        except OSError as exc:
            raise FloatingIpError(f"ha.interface {self.interface!r}: no such network device on "
                                  "this host (see `ip link`)") from exc
        self.mac = hardware_address(self.interface)
        try:
            packets = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # sends only
        except PermissionError as exc:
            raise FloatingIpError(f"announcing the floating address {self} (gratuitous ARP) "
                                  f"needs CAP_NET_RAW: {CAPABILITIES_HINT}") from exc
        try:
            packets.bind((self.interface, 0))
        except OSError as exc:
            packets.close()
            raise FloatingIpError(f"ha.interface {self.interface!r}: cannot send on it "
                                  f"({os.strerror(exc.errno or 0)})") from exc
        self._packets = packets
        return self.drop()

    def close(self) -> None:
        if self._packets is not None:
            self._packets.close()
            self._packets = None

    # --- the address -----------------------------------------------------------------------

    def hold(self) -> None:
        """Add the address to the device (already there is fine) and announce it once."""
        code = self._request(RTM_NEWADDR)
        if code not in (0, errno.EEXIST):
            raise self._failure("add", code)
        self.held = True
        log.warning("ha_floating_ip_added", address=str(self.address),
                    interface=self.interface, already_there=code == errno.EEXIST)
        self.announce()

    def drop(self) -> bool:
        """Remove the address from the device (not there is fine); True when it was."""
        code = self._request(RTM_DELADDR)
        self.held = False
        if code == errno.EADDRNOTAVAIL:
            return False
        if code != 0:
            raise self._failure("remove", code)
        log.warning("ha_floating_ip_removed", address=str(self.address),
                    interface=self.interface)
        return True

    def _request(self, kind: int) -> int:
        if not self.index:
            raise FloatingIpError(f"the floating address {self} is not open")
        self._sequence += 1
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as link:
            link.settimeout(2.0)  # the kernel answers at once; never hang the node on it
            link.bind((0, 0))
            link.send(address_message(kind, self.index, self.address, self._sequence))
            return acknowledgement(link.recv(65536), self._sequence)

    def _failure(self, action: str, code: int) -> FloatingIpError:
        if code == errno.EPERM:
            return FloatingIpError(f"cannot {action} the floating address {self}: adding and "
                                   f"removing it needs CAP_NET_ADMIN; {CAPABILITIES_HINT}")
        if code == errno.ENODEV:
            return FloatingIpError(f"cannot {action} the floating address {self}: ha.interface "
                                   f"{self.interface!r} is gone")
        return FloatingIpError(f"cannot {action} the floating address {self}: "
                               f"{os.strerror(code)}")

    # --- the announcements -----------------------------------------------------------------

    def announce(self) -> bool:
        """Broadcast one gratuitous ARP for the address; False (logged) when the device
        refused it (it is down, say): the neighbours still find the address by asking."""
        if self._packets is None:
            return False
        try:
            self._packets.sendto(announcement_frame(self.mac, self.address.ip),
                                 (self.interface, ETH_P_ARP))
        except OSError as exc:
            log.warning("ha_garp_failed", address=str(self.address), interface=self.interface,
                        error=os.strerror(exc.errno or 0))
            return False
        return True

    async def repeat_announcements(self, clock: Clock, *, count: int = ANNOUNCEMENTS - 1,
                                   spacing_s: float = ANNOUNCEMENT_SPACING_S) -> None:
        """After :meth:`hold`'s first announcement, ``count`` more, ``spacing_s`` apart,
        while the address is held."""
        for _ in range(count):
            await clock.sleep(spacing_s)
            if not self.held:
                return
            self.announce()
