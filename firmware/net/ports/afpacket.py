"""LAN port on Linux (the sim board): an AF_PACKET raw socket bound to one interface, normally a veth.
Needs root (CAP_NET_RAW). The interface should carry no IPv4 address of its own, so the kernel stays
out of the gateway's way; frames the kernel itself sends there (IPv6 router solicitations...) come
back in as PACKET_OUTGOING and fail the gateway's destination-MAC filter."""
import socket
import struct
import sys

from micropython import const

from net import const as c

AF_PACKET = const(17)
SOCK_RAW = const(3)
# Frames the kernel holds while the firmware is busy or descheduled: the default (rmem_default,
# ~208 KB) is ~90 full frames, 4 ms at the sim board's top rate, less than a scheduler time slice on
# a loaded host. This is ten times that (the kernel doubles the figure for its bookkeeping; rmem_max
# caps it). Kernel memory: the firmware's heap does not see it.
_RCVBUF = const(1 << 20)
_len = len      # a module global is found faster than the builtin (ipsec/sad.py)


def _sysfs(ifname, leaf):
    with open("/sys/class/net/" + ifname + "/" + leaf) as f:
        return f.read().strip()


def _htons(v):
    return v if sys.byteorder == "big" else ((v & 0xFF) << 8) | (v >> 8)


class AfPacketPort:
    """The port on interface `ifname`; `mac` defaults to the interface's own address (a veth filters
    nothing, so another address works there too)."""

    def __init__(self, ifname, mac=None):
        ifindex = int(_sysfs(ifname, "ifindex"))
        if mac is None:
            mac = bytes(int(x, 16) for x in _sysfs(ifname, "address").split(":"))
        self.mac = mac
        proto = _htons(c.ETH_P_ALL)
        s = socket.socket(AF_PACKET, SOCK_RAW, proto)
        # struct sockaddr_ll in native layout: family, protocol (network order), ifindex, hatype,
        # pkttype, halen, addr[8]
        s.bind(struct.pack("HHiHBB8s", AF_PACKET, proto, ifindex, 0, 0, 0, b""))
        s.setsockopt(c.SOL_SOCKET, c.SO_RCVBUF, _RCVBUF)
        s.setblocking(False)
        self._sock = s
        self.pollable = s

    def recv_into(self, buf):
        # One frame per call, so recv(): readinto() would not allocate, but it is a stream read that
        # goes on until buf is full, so with two frames queued it glues the second one, cut to what
        # is left of buf, onto the first and that frame is lost (40% of a 20 Mbit/s UDP stream).
        # The bytes object recv() returns is the one allocation, as recvfrom's on the WAN side; a
        # W5500 reads frames into buf without it. No frame waiting (EAGAIN), or a pending socket
        # error (ENETDOWN when the link drops, reported once): 0.
        try:
            f = self._sock.recv(_len(buf))
        except OSError:
            return 0
        n = _len(f)
        buf[0:n] = f
        return n

    def send(self, buf, n):
        # write(buf, n) is the stream write with a length: no slice, no allocation.
        try:
            return self._sock.write(buf, n) == n
        except OSError:
            return False

    def close(self):
        self._sock.close()
