"""The IPv4 gateway between the LAN port and the tunnel (RFC 1812 forwarding, reduced to one LAN and
one tunnel).

The ESP engine plugs in through two calls:
  LAN -> tunnel: fw.tunnel_out(ip, n) -> bool   set by the engine; ip is a memoryview whose first n
                 bytes are a validated, forwarded IPv4 packet (TTL decremented, MSS clamped), valid
                 only during the call. False means no policy covers it (counted as drop_policy).
  tunnel -> LAN: fw.deliver(ip, n)              the engine hands over a decrypted inner packet
                 (ip a memoryview). Decrypting straight into fw.deliver_view (then
                 deliver(fw.deliver_view, n)) saves the copy and its one small allocation. deliver
                 may call tunnel_out before it returns (echo replies, ICMP errors go back).
fw.tunnel_mtu is the largest inner packet the tunnel carries; the engine may lower it.

Without a LAN port ("host mode") the tunnel ends at the device: echo requests to its own addresses
arriving through the tunnel are answered back through it, everything else is dropped and counted.

Choices: fragments are dropped and counted (no reassembly buffers; non-initial fragments carry no
ports for the selectors, RFC 4301 7); too-big packets with DF get ICMP "fragmentation needed" with
the tunnel MTU (RFC 1191), too-big packets without DF are dropped and counted (drop_too_big):
fragmenting would need a second frame buffer and a loop per fragment for traffic that PMTUD and the
MSS clamp make rare. ICMP errors are rate-limited (RFC 1812 4.3.2.8).

The packet path allocates nothing: frames are received into one preallocated buffer, rewritten in
place and sent from it; counters are small ints in one dict.
"""
import time

import micropython
from micropython import const

from net import const as c
from net import icmp
from net.icmp import csum, csum_update

TUNNEL_MTU = const(1400)        # default until the ESP engine sets its own figure
ICMP_ERRORS_PER_S = const(10)

_ETH = const(14)                    # c.ETH_HLEN, folded by the compiler
_MSS_OVERHEAD = const(40)           # IPv4 + TCP headers without options: MSS = MTU - 40
_ERR_BUF = const(20 + 8 + 60 + 8)   # our IP + ICMP headers + quoted header (max) + 8 bytes

COUNTERS = ("rx_frames", "tx_frames", "to_tunnel", "from_tunnel", "to_lan", "echo_replies",
            "icmp_errors", "icmp_ratelimited", "mss_clamped", "drop_short", "drop_not_ours",
            "drop_ethertype", "drop_malformed", "drop_checksum", "drop_fragment", "drop_ttl",
            "drop_too_big", "drop_policy", "drop_no_route", "drop_local", "drop_tx")


def prefix_mask(bits):
    m = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF if bits else 0
    return bytes(((m >> 24) & 0xFF, (m >> 16) & 0xFF, (m >> 8) & 0xFF, m & 0xFF))


def ip_eq(buf, off, ip, io=0):
    """buf[off:off+4] == ip[io:io+4], without slicing (slices allocate)."""
    return (buf[off] == ip[io] and buf[off + 1] == ip[io + 1] and buf[off + 2] == ip[io + 2]
            and buf[off + 3] == ip[io + 3])


def in_net(buf, off, net, mask):
    """True if the address at buf[off] lies in net/mask (both bytes(4))."""
    return ((buf[off] & mask[0]) == net[0] and (buf[off + 1] & mask[1]) == net[1]
            and (buf[off + 2] & mask[2]) == net[2] and (buf[off + 3] & mask[3]) == net[3])


# Why check() drops a packet: the counter for each of its negative results.
_CHECK_DROPS = ("", "drop_short", "drop_malformed", "drop_checksum", "drop_fragment")


# The per-packet header work is viper code (machine code, no call frame on the heap): with it and
# the methods' frames kept small, a frame LAN -> tunnel takes 2.2 us rather than 5.3, tunnel -> LAN
# 3.1 rather than 8.1 (tests/bench/mp_lan.py, sim board). Under CPython (tests/shims) it runs as plain
# Python. Constants are literals there: viper compares machine ints, not module attributes.

@micropython.viper
def check(buf, o: int, avail: int) -> int:
    """Validate the IPv4 header at buf[o] with `avail` bytes behind it (Ethernet padding may follow
    the packet). Returns the packet's total length, or -k: why it is dropped, the counter
    _CHECK_DROPS[k] (short, malformed, bad checksum, fragment)."""
    p = ptr8(buf)
    if avail < 20:
        return -1
    v = p[o]
    hl = (v & 0x0F) << 2
    total = (p[o + 2] << 8) | p[o + 3]
    if v >> 4 != 4 or hl < 20 or total < hl or total > avail:
        return -2
    if int(csum(buf, o, hl)) != 0xFFFF:
        return -3
    if (p[o + 6] & 0x3F) or p[o + 7]:     # MF or a fragment offset
        return -4
    return total


@micropython.viper
def decrement_ttl(buf, o: int):
    """TTL - 1 with the header checksum updated incrementally (RFC 1624 eqn. 3); the TTL shares its
    16-bit word with the protocol byte, which stays, so the word drops by 0x100."""
    p = ptr8(buf)
    ttl = p[o + 8]
    p[o + 8] = ttl - 1
    csum_update(buf, o + 10, ttl << 8, (ttl - 1) << 8)


@micropython.viper
def clamp_mss(buf, o: int, total: int, mss: int) -> bool:
    """Lower the MSS option of a TCP SYN at buf[o] (an IPv4 packet of `total` bytes) to `mss`, fixing
    the TCP checksum incrementally. Returns True if it changed the packet."""
    p = ptr8(buf)
    hl = (p[o] & 0x0F) << 2
    t = o + hl
    if p[o + 9] != 6 or total - hl < 20 or not (p[t + 13] & 0x02):     # TCP, SYN
        return False
    end = t + ((p[t + 12] >> 4) << 2)
    if end > o + total:
        return False
    i = t + 20
    while i < end:
        kind = p[i]
        if kind == 0:           # end of options
            return False
        if kind == 1:           # no-operation
            i += 1
            continue
        if i + 1 >= end or p[i + 1] < 2 or i + p[i + 1] > end:
            return False
        if kind == 2 and p[i + 1] == 4:     # MSS
            old = (p[i + 2] << 8) | p[i + 3]
            if old <= mss:
                return False
            p[i + 2] = mss >> 8
            p[i + 3] = mss & 0xFF
            if (i + 2 - t) & 1:
                # The field straddles two checksum words: feed the update byte-swapped.
                old = ((old & 0xFF) << 8) | (old >> 8)
                mss = ((mss & 0xFF) << 8) | (mss >> 8)
            csum_update(buf, t + 16, old, mss)
            return True
        i += p[i + 1]
    return False


# Where a destination address is (dest()).
_OWN = const(0)             # one of the device's addresses
_ON_LAN = const(1)          # a unicast address on the LAN
_AWAY = const(2)            # a unicast address elsewhere: the tunnel's
_NOT_UNICAST = const(3)     # limited broadcast, multicast, class E or 0.0.0.0


@micropython.viper
def dest(b, o: int, where) -> int:
    """Where the address at b[o] is, with where = our WAN and LAN addresses, the LAN's network and
    mask (4 bytes each): _OWN, _ON_LAN, _AWAY or _NOT_UNICAST."""
    p = ptr8(b)
    w = ptr8(where)
    a = p[o]
    if ((a == w[0] and p[o + 1] == w[1] and p[o + 2] == w[2] and p[o + 3] == w[3])
            or (a == w[4] and p[o + 1] == w[5] and p[o + 2] == w[6] and p[o + 3] == w[7])):
        return _OWN
    if a == 0 or a >= 224:
        return _NOT_UNICAST
    if ((a & w[12]) == w[8] and (p[o + 1] & w[13]) == w[9] and (p[o + 2] & w[14]) == w[10]
            and (p[o + 3] & w[15]) == w[11]):
        return _ON_LAN
    return _AWAY


def _unicast(buf, o):
    """The address at buf[o] is not limited broadcast, multicast, class E or 0.0.0.0."""
    return 0 < buf[o] < 224


class Forwarder:
    """The gateway. wan_ip / lan_ip: bytes(4) (lan_ip None in host mode), prefix: LAN prefix length,
    port: a LAN port (net/port.py) or None for host mode; tx: the buffer (FRAME_BUF bytes) frames
    from the tunnel are built in, default its own (the ESP engine lends its: Engine.frame)."""

    def __init__(self, wan_ip, lan_ip=None, prefix=24, port=None, tunnel_mtu=TUNNEL_MTU,
                 arp_entries=8, clock=None, tx=None):
        self.tunnel_out = None
        self.tunnel_mtu = tunnel_mtu
        self.wan_ip = wan_ip
        self.lan_ip = lan_ip
        self.port = port
        self.counters = cnt = {}
        for name in COUNTERS:
            cnt[name] = 0
        self._clock = clock or time.ticks_ms
        self._ident = 0
        self._err_t = self._clock()
        self._err_n = 0
        self.rx = self.rx_ip = self._rx_src = None  # frames from the LAN port: none in host mode
        if port is not None:
            self.rx = bytearray(c.FRAME_BUF)
            self.rx_ip = memoryview(self.rx)[_ETH:]
            self._rx_src = memoryview(self.rx)[6:12]     # the sender's MAC: where replies go
        self.tx = bytearray(c.FRAME_BUF) if tx is None else tx
        self._tx_mv = memoryview(self.tx)
        self.deliver_view = self._tx_mv[_ETH:]
        self.err = bytearray(_ETH + _ERR_BUF)
        self.err_ip = memoryview(self.err)[_ETH:]
        self.arp = None
        if port is not None:
            if lan_ip is None:
                raise ValueError("a LAN port needs a LAN address")
            from net import arp as arpmod     # only with a LAN port: host mode saves its code
            self.mask = prefix_mask(prefix)
            self.net = bytes(lan_ip[i] & self.mask[i] for i in range(4))
            self.mac = port.mac
            self.arp = arpmod.Arp(port.mac, lan_ip, self.mask, self._send, cnt, arp_entries, clock)
        # dest()'s table. Host mode: the LAN address is the WAN's if there is none, and the LAN a
        # network no unicast address is in.
        self._where = (bytes(wan_ip) + bytes(lan_ip if lan_ip is not None else wan_ip)
                       + (self.net + self.mask if port is not None else b"\x00\x00\x00\x00\xff\xff\xff\xff"))

    # -- LAN side --

    def poll(self, budget=16):
        """Handle up to `budget` frames waiting on the LAN port; returns how many were handled."""
        port = self.port
        k = 0
        while k < budget:
            n = port.recv_into(self.rx)
            if not n:
                break
            self.input(n)
            k += 1
        return k

    def input(self, n):
        """Handle the frame in self.rx[0:n]."""
        b = self.rx
        cnt = self.counters
        cnt["rx_frames"] += 1
        if n < _ETH:
            cnt["drop_short"] += 1
            return
        mac = self.mac
        if b[0] & 1:
            # Group address: only broadcast (ARP requests) is for us.
            if not (b[0] == 0xFF and b[1] == 0xFF and b[2] == 0xFF and b[3] == 0xFF and b[4] == 0xFF
                    and b[5] == 0xFF):
                cnt["drop_not_ours"] += 1
                return
        elif not (b[0] == mac[0] and b[1] == mac[1] and b[2] == mac[2] and b[3] == mac[3]
                  and b[4] == mac[4] and b[5] == mac[5]):
            cnt["drop_not_ours"] += 1
            return
        t = (b[12] << 8) | b[13]
        if t == c.ETH_P_IP:
            self._from_lan(n)
        elif t == c.ETH_P_ARP:
            self.arp.input(b, n)
        else:
            cnt["drop_ethertype"] += 1

    # The packet path's methods keep within 11 words of locals and stack: MicroPython puts a bigger
    # call frame on the heap on every call. Rare branches go to methods of their own.

    def _from_lan(self, n):
        b = self.rx
        total = check(b, _ETH, n - _ETH)
        if total < 0:
            self.counters[_CHECK_DROPS[-total]] += 1
            return
        k = dest(b, _ETH + 16, self._where)
        if k == _OWN:
            if self._echo_reply(b, (b[_ETH] & 0x0F) << 2, total):
                b[0:6] = self._rx_src
                b[6:12] = self.mac
                self._send(b, _ETH + total)
            return
        if k != _AWAY:
            # Broadcast/multicast, or a LAN destination: nothing for the tunnel.
            self.counters["drop_no_route"] += 1
            return
        if b[_ETH + 8] <= 1 or total > self.tunnel_mtu:
            self._refuse_lan(b)
            return
        decrement_ttl(b, _ETH)
        if clamp_mss(b, _ETH, total, self.tunnel_mtu - _MSS_OVERHEAD):
            self.counters["mss_clamped"] += 1
        self._to_tunnel(self.rx_ip, total)

    def _refuse_lan(self, b):
        """A packet from the LAN whose TTL runs out here, or too big for the tunnel."""
        cnt = self.counters
        if b[_ETH + 8] <= 1:
            cnt["drop_ttl"] += 1
            self._error_to_lan(b, c.ICMP_TIME_EXCEEDED, c.ICMP_EXC_TTL, 0)
            return
        cnt["drop_too_big"] += 1
        if b[_ETH + 6] & (c.IP_DF >> 8):
            self._error_to_lan(b, c.ICMP_DEST_UNREACH, c.ICMP_FRAG_NEEDED, self.tunnel_mtu)

    def _echo_reply(self, b, hl, total):
        """A packet for the device itself (IPv4 at b[_ETH:]): an echo request becomes its reply in
        place (True, counted); anything else is counted dropped (False)."""
        if icmp.is_echo_request(b, _ETH, hl, total):
            icmp.echo_reply(b, _ETH, hl)
            self.counters["echo_replies"] += 1
            return True
        self.counters["drop_local"] += 1
        return False

    def _error_to_lan(self, b, icmp_type, code, mtu):
        if not self._may_error(b, _ETH):
            return
        e = self.err
        n = icmp.error(e, _ETH, b, _ETH, self.lan_ip, self._next_ident(), icmp_type, code, mtu)
        e[0:6] = self._rx_src
        e[6:12] = self.mac
        e[12] = c.ETH_P_IP >> 8
        e[13] = c.ETH_P_IP & 0xFF
        self._send(e, _ETH + n)

    # -- tunnel side --

    def deliver(self, ip, n):
        """Take the inner IPv4 packet ip[0:n] from the tunnel: answer it if it is for the device,
        else forward it to its LAN host."""
        cnt = self.counters
        cnt["from_tunnel"] += 1
        if n > c.ETH_DATA_LEN:
            cnt["drop_too_big"] += 1
            return
        if n < 20:
            cnt["drop_short"] += 1
            return
        if ip is not self.deliver_view:
            # ip must be a memoryview: its slice costs one small object, a bytes slice a copy.
            self._tx_mv[_ETH:_ETH + n] = ip[:n]
        total = check(self.tx, _ETH, n)
        if total < 0:
            cnt[_CHECK_DROPS[-total]] += 1
            return
        self._to_lan(self.tx, total)

    def _to_lan(self, b, total):
        """deliver() for a valid packet: answer it, forward it to the LAN, or drop it."""
        k = dest(b, _ETH + 16, self._where)
        if k == _OWN:
            if self._echo_reply(b, (b[_ETH] & 0x0F) << 2, total):
                self._to_tunnel(self.deliver_view, total)
            return
        if self.arp is None or k != _ON_LAN:
            self.counters["drop_no_route"] += 1
            return
        if b[_ETH + 8] <= 1:
            self.counters["drop_ttl"] += 1
            self._error_to_tunnel(b, c.ICMP_TIME_EXCEEDED, c.ICMP_EXC_TTL)
            return
        decrement_ttl(b, _ETH)
        if clamp_mss(b, _ETH, total, self.tunnel_mtu - _MSS_OVERHEAD):
            self.counters["mss_clamped"] += 1
        if self.arp.send_ip(b, _ETH + total):
            self.counters["to_lan"] += 1

    def _error_to_tunnel(self, b, icmp_type, code):
        if self._may_error(b, _ETH):
            n = icmp.error(self.err, _ETH, b, _ETH, self.lan_ip, self._next_ident(), icmp_type, code)
            self._to_tunnel(self.err_ip, n)

    def _to_tunnel(self, view, n):
        out = self.tunnel_out
        if out is not None and out(view, n):
            self.counters["to_tunnel"] += 1
        else:
            self.counters["drop_policy"] += 1

    # -- helpers --

    def _may_error(self, b, o):
        """RFC 1122 3.2.2 / RFC 1812 4.3.2.7: no error about an ICMP error or to a source that is not
        a unicast host; and at most ICMP_ERRORS_PER_S per second."""
        hl = (b[o] & 0x0F) << 2
        if icmp.is_error(b, o, hl) or not _unicast(b, o + 12) or self.lan_ip is None:
            return False
        now = self._clock()
        if time.ticks_diff(now, self._err_t) >= 1000:
            self._err_t = now
            self._err_n = 0
        if self._err_n >= ICMP_ERRORS_PER_S:
            self.counters["icmp_ratelimited"] += 1
            return False
        self._err_n += 1
        self.counters["icmp_errors"] += 1
        return True

    def _next_ident(self):
        self._ident = (self._ident + 1) & 0xFFFF
        return self._ident

    def _send(self, frame, n):
        if self.port.send(frame, n):
            self.counters["tx_frames"] += 1
            return True
        self.counters["drop_tx"] += 1
        return False
