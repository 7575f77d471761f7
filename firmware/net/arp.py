"""ARP (RFC 826) on the LAN port: answers requests for the gateway's address and resolves LAN hosts
through a small cache whose entries expire (time.ticks_ms).

While a host is being resolved, ONE packet waits in a preallocated slot and goes out when the reply
arrives (so the first packet of a flow, e.g. the first ping through the tunnel, is not lost); a newer
packet to an unresolved host replaces it, and a held packet older than PENDING_MS is discarded, both
counted as `arp_drop`. One slot costs one frame buffer; a queue per host would cost a buffer per
packet on a 112 KB heap."""
import time

from micropython import const

from net import const as c
from net import port as lanport
from net.ipv4 import in_net, ip_eq

TTL_MS = const(60000)        # a learned entry lives this long (Linux' base reachable time is 30 s)
REQUEST_MS = const(1000)     # at most one request per second for the host being resolved
PENDING_MS = const(3000)     # the held packet is stale after this long

_ARP_END = const(42)         # Ethernet header + the 28-byte ARP packet for IPv4 over Ethernet
# Offsets in a frame: Ethernet header, then ARP fields (sender/target hardware and protocol address).
_OP = const(20)
_SHA = const(22)
_SPA = const(28)
_THA = const(32)
_TPA = const(38)
_IP_DST = const(30)          # IPv4 destination address in an Ethernet frame


class Arp:
    """ARP for `ip` (bytes(4)) in the subnet `mask` (bytes(4)) with station address `mac`; frames go
    out through send(frame, n) -> bool; counts into the dict `counters`."""

    def __init__(self, mac, ip, mask, send, counters, entries=8, clock=None):
        self.mac = mac
        self._send = send
        self.ip = ip
        self.mask = mask
        self.net = bytes(ip[i] & mask[i] for i in range(4))
        self.counters = counters
        for name in ("arp_in", "arp_replies", "arp_requests", "arp_miss", "arp_drop", "arp_bad"):
            counters[name] = 0
        self._clock = clock or time.ticks_ms
        self._n = entries
        self._ips = bytearray(4 * entries)
        self._macs = bytearray(6 * entries)
        mv = memoryview(self._macs)
        # One view per entry, made once: an equal-length slice store from a view allocates nothing
        # and costs a memcpy instead of a bytecode loop.
        self._mac_v = [mv[i * 6:i * 6 + 6] for i in range(entries)]
        self._exp = [0] * entries
        self._live = bytearray(entries)
        self._last = 0
        self._req = bytearray(lanport.ETH_ZLEN)
        self._pend = bytearray(lanport.BUF_SIZE)
        self._pend_mv = memoryview(self._pend)
        self._pend_len = 0
        self._pend_t = 0
        self._req_t = 0

    # -- cache --

    def _find(self, buf, off):
        """Index of the live entry for the address at buf[off], or -1 (the last hit is tried first).
        No locals for the tables and a while loop: on every packet to the LAN, the frame stays within
        the 11 words MicroPython keeps off the heap."""
        i = self._last
        if self._live[i] and ip_eq(buf, off, self._ips, i << 2):
            return i
        i = 0
        while i < self._n:
            if self._live[i] and ip_eq(buf, off, self._ips, i << 2):
                self._last = i
                return i
            i += 1
        return -1

    def lookup(self, buf, off, now):
        """Index of the unexpired entry for the address at buf[off], or -1."""
        i = self._find(buf, off)
        if i >= 0 and time.ticks_diff(self._exp[i], now) > 0:
            return i
        return -1

    def _learn(self, i, buf, now):
        """Store sender hardware/protocol address of the ARP frame in buf into entry i (-1: pick a
        free, expired or else the oldest entry)."""
        if i < 0:
            i = 0
            best = None
            for k in range(self._n):
                if not self._live[k]:
                    i = k
                    break
                left = time.ticks_diff(self._exp[k], now)
                if best is None or left < best:
                    i = k
                    best = left
        lanport.copy(self._ips, i << 2, buf, _SPA, 4)
        lanport.copy(self._macs, i * 6, buf, _SHA, 6)
        self._exp[i] = time.ticks_add(now, TTL_MS)
        self._live[i] = 1

    def entry_mac(self, i):
        return bytes(self._mac_v[i])

    # -- input --

    def input(self, frame, n):
        """Handle the ARP frame in frame[0:n]: learn the sender (RFC 826 merge: refresh a known
        host; add one only when it asked for us), answer a request for our address in place, and
        release the held packet if its next hop just answered."""
        cnt = self.counters
        b = frame
        if (n < _ARP_END or b[14] != 0 or b[15] != c.ARPHRD_ETHER or b[16] != c.ETH_P_IP >> 8
                or b[17] != c.ETH_P_IP & 0xFF or b[18] != c.ETH_ALEN or b[19] != 4):
            cnt["arp_bad"] += 1
            return
        cnt["arp_in"] += 1
        op = (b[_OP] << 8) | b[_OP + 1]
        to_us = ip_eq(b, _TPA, self.ip)
        now = self._clock()
        # Only unicast hardware addresses of hosts in our subnet, never our own address.
        if not (b[_SHA] & 1) and in_net(b, _SPA, self.net, self.mask) and not ip_eq(b, _SPA, self.ip):
            i = self._find(b, _SPA)
            if i >= 0 or to_us:
                self._learn(i, b, now)
            if self._pend_len and ip_eq(b, _SPA, self._pend, _IP_DST):
                self._release(now)
        if op == c.ARPOP_REQUEST and to_us:
            lanport.copy(b, _THA, b, _SHA, 10)         # target := requester (hardware + protocol address)
            lanport.copy(b, _SHA, self.mac, 0, 6)
            lanport.copy(b, _SPA, self.ip, 0, 4)
            b[_OP + 1] = c.ARPOP_REPLY
            lanport.copy(b, 0, b, _THA, 6)
            lanport.copy(b, 6, self.mac, 0, 6)
            cnt["arp_replies"] += 1
            self._send(b, _ARP_END)

    # -- output --

    def send_ip(self, frame, n):
        """Send the IPv4 packet at frame[14:n] to its on-link destination: fill in the Ethernet
        header from the cache, or hold the frame and ask who has the address."""
        i = self.lookup(frame, _IP_DST, self._clock())
        if i >= 0:
            frame[0:6] = self._mac_v[i]
            frame[6:12] = self.mac
            frame[12] = c.ETH_P_IP >> 8
            frame[13] = c.ETH_P_IP & 0xFF
            return self._send(frame, n)
        self._hold(frame, n)
        return False

    def _hold(self, frame, n):
        """send_ip() without a cache entry: hold the frame and ask who has the address."""
        now = self._clock()
        cnt = self.counters
        cnt["arp_miss"] += 1
        same = self._pend_len and ip_eq(frame, _IP_DST, self._pend, _IP_DST)
        if self._pend_len:
            cnt["arp_drop"] += 1
        self._pend_mv[0:n] = memoryview(frame)[0:n]
        self._pend_len = n
        self._pend_t = now
        if not same or time.ticks_diff(now, self._req_t) >= REQUEST_MS:
            self._req_t = now
            self.request(frame, _IP_DST)

    def _release(self, now):
        n = self._pend_len
        self._pend_len = 0
        if time.ticks_diff(now, self._pend_t) > PENDING_MS:
            self.counters["arp_drop"] += 1
            return
        self.send_ip(self._pend, n)

    def request(self, buf, off):
        """Broadcast "who has buf[off:off+4]"."""
        r = self._req
        for i in range(6):
            r[i] = 0xFF
        lanport.copy(r, 6, self.mac, 0, 6)
        r[12] = c.ETH_P_ARP >> 8
        r[13] = c.ETH_P_ARP & 0xFF
        r[15] = c.ARPHRD_ETHER
        r[16] = c.ETH_P_IP >> 8
        r[18] = c.ETH_ALEN
        r[19] = 4
        r[_OP + 1] = c.ARPOP_REQUEST
        lanport.copy(r, _SHA, self.mac, 0, 6)
        lanport.copy(r, _SPA, self.ip, 0, 4)
        lanport.copy(r, _TPA, buf, off, 4)
        self.counters["arp_requests"] += 1
        self._send(r, lanport.ETH_ZLEN)

    def announce(self):
        """Gratuitous ARP (RFC 5227 announcement) so LAN hosts refresh the gateway's address."""
        self.request(self.ip, 0)
