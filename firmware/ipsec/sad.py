# The Security Association Database (RFC 4301 4.4.2) and, through the traffic selectors of the CHILD
# SAs in it, the SPD lookup for outbound packets.
#
# The IKE responder hands each CHILD SA over through install() and learns about lifetimes through
# on_event(sa, kind), kind one of "soft" (rekey), "hard" (delete: the SA no longer carries traffic)
# and "seq_limit" (2**16 outbound sequence numbers left: rekey; the SA stops sending at 2**32 - 1).
# Lifetimes are optional; the code that checks them (ipsec/lifetime.py) is loaded only for an SA
# installed with one.
# Inbound SAs are found by SPI, outbound ones by matching the inner packet against the selectors,
# newest SA first so traffic moves to a rekeyed SA as soon as it is installed.
#
# Everything the engine touches per packet is a small int (31 bits on the ESP32): SPIs are bytes and
# looked up by their low 30 bits, addresses are compared as 16-bit halves, and the traffic counters
# move into a running total before they grow past 2**28.
import array
import os
import time

import cryptolib
import micropython
from micropython import const

from ike import const as ike
from ipsec import replay

# Slots of Sa.c, one list of small ints per SA. The first four are the traffic counters lifetimes are
# measured on; bytes are inner packet bytes.
PACKETS_IN = const(0)
BYTES_IN = const(1)
PACKETS_OUT = const(2)
BYTES_OUT = const(3)
REPLAY_DROPS = const(4)
ICV_FAILURES = const(5)
PAD_ERRORS = const(6)
PROTO_DROPS = const(7)      # next header other than IPv4, or a malformed inner packet
DUMMY_DROPS = const(8)      # next header 59 (RFC 4303 2.6)
POLICY_DROPS = const(9)     # inner packet outside the SA's selectors (RFC 4301 5.2)
EXPIRED_DROPS = const(10)   # past the hard lifetime or out of sequence numbers
COUNTERS = ("packets_in", "bytes_in", "packets_out", "bytes_out", "replay_drops", "icv_failures",
            "pad_errors", "proto_drops", "dummy_drops", "policy_drops", "expired_drops")
LIM = const(11)             # c[LIM + i]: the engine calls Sad.limit(sa) once c[i] >= c[LIM + i]
BASE = const(15)            # c[BASE + i]: what traffic counter i moved into a running total
SEQ_HI = const(19)          # the last outbound sequence number, as 16-bit halves
SEQ_LO = const(20)
AGE_S = const(21)           # seconds since install
_T = const(22)              # ticks_ms up to which AGE_S counts
FIRED = const(23)           # events fired so far: bits, _SEQ_LIMIT here, "soft" in lifetime.py
_SLOTS = const(24)
_SEQ_LIMIT = const(2)
TRAFFIC = const(4)          # the traffic counters: slots 0..3
REBASE = const(1 << 28)
# A builtin is looked up by name at each use, in the module's globals first, then in the builtins
# table: len() costs 0.26-0.37 us that way, 0.05 us through a global of the module (on the packet
# path; ipsec/engine.py, net/wan.py and the AF_PACKET port do the same).
_len = len

_CBC = const(2)             # cryptolib mode number
_HMAC_BLOCK = const(64)     # SHA-256 block size
_AUTH_KEY_LEN = const(32)   # AUTH_HMAC_SHA2_256_128 key (RFC 4868 2.1.1)
_SALT_LEN = const(12)       # with the 4-byte sequence number: the per-packet IV nonce block
# net/const.py's IPPROTO_*, as literals: viper code compares machine ints, not module attributes.
_ICMP = const(1)
_TCP = const(6)
_UDP = const(17)
_SCTP = const(132)
_ANY_PORT = const(0)        # lower port bound (plus one) of a selector matching any port, or none


class Lifetime:
    """SA lifetimes; 0 means no limit. Seconds count from install; packets and bytes (inner
    packets) count per direction, like the kernel's XFRM states. soft: rekey, hard: delete."""

    def __init__(self, soft_s=0, hard_s=0, soft_bytes=0, hard_bytes=0, soft_packets=0,
                 hard_packets=0):
        self.soft_s = soft_s
        self.hard_s = hard_s
        # Indexed like the traffic counters: packets in, bytes in, packets out, bytes out.
        self.soft = (soft_packets, soft_bytes, soft_packets, soft_bytes)
        self.hard = (hard_packets, hard_bytes, hard_packets, hard_bytes)


def _key(b):
    """Dictionary key of the SPI at b[0:4]: its low 30 bits (a small int on every port)."""
    return ((b[0] & 0x3F) << 24) | (b[1] << 16) | (b[2] << 8) | b[3]


def _pads(auth_out, auth_in):
    """HMAC inner and outer key blocks (RFC 2104) of both directions in one bytearray (a quarter
    less heap than four): outbound ipad, opad, then inbound ipad, opad, _HMAC_BLOCK bytes each.
    Each packet's MAC starts a fresh hash with them (MicroPython's hashlib has no copy())."""
    pads = bytearray(4 * _HMAC_BLOCK)
    for j in range(4):
        key = auth_out if j < 2 else auth_in
        x = 0x5C if j & 1 else 0x36
        o = j * _HMAC_BLOCK
        for i in range(_HMAC_BLOCK):
            pads[o + i] = x ^ key[i] if i < len(key) else x
    return pads


def _compile(local_ts, remote_ts):
    """The selectors as one array of ints (a third of a tuple's size): [0] does any selector look at
    ports (most take any port), [1] where the remote ones start, [2] where they end (the array's
    length), then 7 per selector from [3] on, local ones first: protocol, port range, start and end
    address halves. Ports are stored plus one, so that every entry is >= 0 (viper reads them as
    unsigned) and a selector for any port starts at 0 (_ANY_PORT): it also takes packets without
    ports. IPv6 selectors are left out: the engine carries IPv4 only so far."""
    out = [0, 0, 0]
    for sels in (local_ts, remote_ts):
        out[1] = len(out)
        for s in sels:
            a = s.start_addr
            e = s.end_addr
            if len(a) != 4:
                continue
            lo = s.start_port + 1
            if lo == 1 and s.end_port == 65535:
                lo = _ANY_PORT
            else:
                out[0] = 1
            out += (s.ip_proto, lo, s.end_port + 1, (a[0] << 8) | a[1], (a[2] << 8) | a[3],
                    (e[0] << 8) | e[1], (e[2] << 8) | e[3])
    out[2] = len(out)
    return array.array("i", out)


@micropython.viper
def match(t, b, n: int, inbound: int) -> bool:
    """Is the IPv4 packet b[0:n] inside the selectors t (an Sa's ts, _compile), inbound (from the
    peer's side to ours) or outbound? Non-first fragments and truncated headers have no ports: only
    selectors for any port take them. ICMP type and code count as the port (RFC 7296 3.13.1).
    Viper: on every packet both ways, 0.57 us against 2.1 us as bytecode (a 1400-byte packet, sim
    board); plain Python under CPython (tests/shims)."""
    s = ptr32(t)
    p = ptr8(b)
    proto = p[9]
    sport = _ANY_PORT
    dport = _ANY_PORT
    if s[0] and not ((p[6] & 0x1F) | p[7]):
        h = (p[0] & 0x0F) << 2
        if h + 4 <= n:
            if proto == _TCP or proto == _UDP or proto == _SCTP:
                sport = ((p[h] << 8) | p[h + 1]) + 1
                dport = ((p[h + 2] << 8) | p[h + 3]) + 1
            elif proto == _ICMP:
                sport = ((p[h] << 8) | p[h + 1]) + 1
                dport = sport
    # The source address against the remote selectors when inbound, the local ones when outbound;
    # then the destination against the others.
    r = s[1]
    end = s[2]
    i = r if inbound else 3
    e = end if inbound else r
    a = 12
    port = sport
    while a <= 16:
        hi = (p[a] << 8) | p[a + 1]
        lo = (p[a + 2] << 8) | p[a + 3]
        while i < e:
            x = s[i]
            if ((x == 0 or x == proto) and s[i + 1] <= port and port <= s[i + 2]
                    and (hi > s[i + 3] or (hi == s[i + 3] and lo >= s[i + 4]))
                    and (hi < s[i + 5] or (hi == s[i + 5] and lo <= s[i + 6]))):
                break
            i += 7
        if i >= e:
            return False
        i = 3 if inbound else r
        e = r if inbound else end
        a += 4
        port = dport
    return True


class Sa:
    """One CHILD SA, both directions: few attributes (an instance's dict grows in steps), the
    numbers in one list. The engine reads and updates spi_in, peer, encap, hdr, k, ts, window,
    c, sending and dead; the rest is bookkeeping for lifetimes."""

    # Defaults in the class: an SA's own dict holds them only once they differ, 64 bytes less each.
    lifetime = None     # a Lifetime, or no limits
    dead = False        # "hard" fired
    sending = True      # False once dead or out of sequence numbers

    def __init__(self, spi_in, spi_out, enc_in, auth_in, enc_out, auth_out, local_ts, remote_ts,
                 peer, encap, lifetime, now):
        self.spi_in = bytes(spi_in)
        self.peer = peer            # the WAN layer's socket address of the peer
        self.encap = encap          # UDP-encapsulated (RFC 3948) or plain ESP
        # What seal() writes in front of each packet: the outbound SPI, room for the sequence
        # number, and the SA's random salt (the IV nonce block with the sequence number).
        self.hdr = bytes(spi_out) + bytes(4) + os.urandom(_SALT_LEN)
        # One AES object per direction, used in place for the SA's whole life: CBC chaining carries
        # over between packets (see engine.py for why that still gives each packet a fresh IV).
        # k: outbound AES, inbound AES, the HMAC key blocks of both (_pads).
        self.k = (cryptolib.aes(enc_out, _CBC, os.urandom(16)), cryptolib.aes(enc_in, _CBC, bytes(16)),
                  _pads(auth_out, auth_in))
        self.ts = _compile(local_ts, remote_ts)
        self.window = replay.new()
        if lifetime is not None:
            self.lifetime = lifetime
        self.c = cnt = [0] * _SLOTS
        cnt[_T] = now

    def count(self, i):
        """Counter i (PACKETS_IN, ...) over the SA's life: the engine's count and its running total."""
        cnt = self.c
        return cnt[i] + (cnt[BASE + i] if i < TRAFFIC else 0)

    @property
    def counters(self):
        d = {}
        for i in range(len(COUNTERS)):
            d[COUNTERS[i]] = self.count(i)
        return d

    @property
    def seq_out(self):
        """The last outbound sequence number (a long int on the ESP32 past 2**30: status only)."""
        return (self.c[SEQ_HI] << 16) | self.c[SEQ_LO]


class Sad:
    """on_event(sa, kind) is called for lifetime and sequence-number events; clock() gives ms ticks
    (time.ticks_ms unless a test passes its own)."""

    def __init__(self, on_event=None, clock=None):
        self.on_event = on_event
        self._clock = clock or time.ticks_ms
        self._by_key = {}       # _key(spi_in) -> Sa
        self._sas = []          # newest first

    def new_spi(self):
        """A random inbound SPI (bytes) that is not reserved (0..255, RFC 4303 2.1) nor in use."""
        while True:
            spi = os.urandom(4)
            if (spi[0] | spi[1] | spi[2]) and _key(spi) not in self._by_key:
                return spi

    def install(self, spi_in, spi_out, encr_id, keylen_bits, enc_in, auth_in, enc_out, auth_out,
                local_ts, remote_ts, peer, encap, lifetime=None):
        """Add a CHILD SA: ENCR_AES_CBC with a 128 or 256-bit key and AUTH_HMAC_SHA2_256_128.
        Raises ValueError for anything else or an inbound SPI whose low 30 bits are in use (take
        SPIs from new_spi() to avoid that)."""
        if encr_id != ike.ENCR_AES_CBC or keylen_bits not in (128, 256):
            raise ValueError("ESP supports AES-CBC-128/256 only")
        n = keylen_bits // 8
        if len(enc_in) != n or len(enc_out) != n:
            raise ValueError("encryption key length")
        if len(auth_in) != _AUTH_KEY_LEN or len(auth_out) != _AUTH_KEY_LEN:
            raise ValueError("integrity key length")
        if len(spi_in) != 4 or len(spi_out) != 4:
            raise ValueError("SPI length")
        k = _key(spi_in)
        if k in self._by_key:
            raise ValueError("inbound SPI in use")
        sa = Sa(spi_in, spi_out, enc_in, auth_in, enc_out, auth_out, local_ts, remote_ts, peer,
                encap, lifetime, self._clock())
        self._check(sa)     # nothing is due yet: sets the limits
        self._by_key[k] = sa
        self._sas.insert(0, sa)
        return sa

    def get(self, spi_in):
        sa = self._by_key.get(_key(spi_in))
        if sa is not None and sa.spi_in == bytes(spi_in):
            return sa
        return None

    def remove(self, spi_in):
        """Delete the SA with this inbound SPI; returns it, or None if there was none."""
        sa = self.get(spi_in)
        if sa is not None:
            del self._by_key[_key(spi_in)]
            self._sas.remove(sa)
        return sa

    def all(self):
        return list(self._sas)

    # -- packet path (no allocation) --

    def lookup_in(self, b):
        """The SA for the SPI at b[0:4], or None."""
        sa = self._by_key.get(_key(b))
        if sa is not None and sa.spi_in[0] == b[0]:
            return sa
        return None

    def lookup_out(self, b, n):
        """The newest SA still sending whose selectors take the IPv4 packet b[0:n]; failing that
        the newest matching one that cannot send (the engine counts the refusal); else None."""
        # An index rather than an iterator: it keeps the call frame small enough for the C stack
        # (MicroPython puts frames over 11 words on the heap, each call).
        found = None
        i = 0
        while i < _len(self._sas):
            sa = self._sas[i]
            if match(sa.ts, b, n, 0):
                if sa.sending:
                    return sa
                if found is None:
                    found = sa
            i += 1
        return found

    # -- slow path --

    def limit(self, sa):
        """A traffic counter of sa reached its limit: keep the counters small, fire what is due."""
        cnt = sa.c
        for i in range(TRAFFIC):
            if cnt[i] >= REBASE:
                cnt[BASE + i] += cnt[i]
                cnt[i] = 0
        self._check(sa)

    def seq_limit(self, sa):
        if not sa.c[FIRED] & _SEQ_LIMIT:
            sa.c[FIRED] |= _SEQ_LIMIT
            if self.on_event is not None:
                self.on_event(sa, "seq_limit")

    def tick(self):
        """Advance the SAs' ages; call from the main loop at least every few seconds."""
        now = self._clock()
        for sa in list(self._sas):
            cnt = sa.c
            dt = time.ticks_diff(now, cnt[_T])
            if dt >= 1000:
                s = dt // 1000
                cnt[AGE_S] += s
                cnt[_T] = time.ticks_add(cnt[_T], s * 1000)
                self._check(sa)

    def _check(self, sa):
        """Fire the lifetime event due now, if the SA has a lifetime (ipsec/lifetime.py), and set the
        limits the engine holds the traffic counters against: without one, only where the counters
        move into the running total."""
        if sa.lifetime is None:
            cnt = sa.c
            for i in range(TRAFFIC):
                cnt[LIM + i] = REBASE
            return
        from ipsec import lifetime
        kind = lifetime.check(sa)
        if kind is not None and self.on_event is not None:
            self.on_event(sa, kind)
