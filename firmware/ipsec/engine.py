# The ESP data path (RFC 4303): tunnel mode, AES-CBC + HMAC-SHA2-256-128 (RFC 3602, RFC 4868).
#
#   ESP packet:  SPI(4) | sequence number(4) | IV(16) | ciphertext(16m) | ICV(16)
#   plaintext:   inner IP packet | padding 1, 2, 3... | pad length | next header
#
# seal() turns an inner packet into an ESP packet and open() does the reverse; UDP encapsulation
# (RFC 3948) is the WAN socket's business: the engine sees the ESP packet only. Wiring:
#   LAN -> tunnel   v = eng.seal(ip, n); if v is not None: send v to eng.sa.peer (eng.sa.encap)
#   tunnel -> LAN   n = eng.open(datagram, fw.deliver_view); if n > 0: fw.deliver(fw.deliver_view, n)
#   every second    sad.tick() (time lifetimes)
#
# Neither allocates, apart from what MicroPython forces: each HMAC makes two sha256 objects and two
# digests (hashlib has no copy() or reset), and the caller's recvfrom makes the datagram. How:
# - Packets are built in one preallocated buffer, shared by both directions. Slicing a memoryview
#   allocates, so views are made up front: _pre[k] is the buffer's first 24 + 16k bytes, which is
#   both what the ICV covers (ESP header, IV, k cipher blocks) and a whole packet of k - 1 blocks.
# - AES runs on a view from the IV's end that may be longer than the ciphertext, _ct[m] for m
#   blocks, rounded up to one of ~36 sizes (at most 1/8 more blocks): blocks past the packet's are
#   never sent or read, and seal()'s chain state after them is as secret as any (see below). That
#   saves ~55 views against one per length.
# - One cryptolib.aes object per SA and direction, used in place. Such an object takes its IV only
#   when it is made and carries the CBC chain on from call to call, so seal() puts a nonce block
#   (the SA's random salt and the sequence number, unique under the key) in the IV slot and encrypts
#   it in the same chain as the payload: the first output block, E_K(nonce xor previous block), is an
#   unpredictable IV (NIST SP 800-38A appendix C) and the rest is plain CBC under that IV. open()
#   decrypts the received IV block first (output thrown away) so the chain continues from it.
# - An SA keeps its four HMAC key blocks in one bytearray; each packet copies them into the engine's
#   own, which has a view per block for hashlib (views per SA would cost more than the copy).
# - Sequence numbers are 16-bit halves (31-bit small ints on the ESP32).
# - The byte work of every packet (trailer, sequence number, ICV compare, trailer and inner header
#   checks, the selectors, the replay window) is viper code: machine code with no call frame on the
#   heap. Under CPython (tests/shims) it runs as plain Python.
import hashlib

import micropython
from micropython import const

from ipsec import replay
from ipsec.sad import (DUMMY_DROPS, EXPIRED_DROPS, ICV_FAILURES, LIM, PACKETS_IN, PACKETS_OUT,
                        PAD_ERRORS, POLICY_DROPS, PROTO_DROPS, REPLAY_DROPS, SEQ_HI, SEQ_LO, match)
from net import const as c

_ICV = const(16)                    # AUTH_HMAC_SHA2_256_128: the first 16 bytes of the HMAC
_DIGEST = const(32)
_CT = const(24)                     # ESP header + IV: where the ciphertext starts
_MIN_ESP = const(56)                # _CT + one block + ICV
_OVERHEAD = const(40)               # _CT + ICV
_IV_SALT = const(20)                # IV slot: salt at 8..19, sequence number at 20..23
_HMAC_BLOCK = const(64)             # SHA-256 block size: one HMAC key block (Sa.k[2] holds four)
_OUT = const(0)                     # Engine._kv: outbound ipad, opad at 0, 1; inbound at 2, 3
_IN = const(2)
# net/const.py's values the viper helpers use, as literals (viper compares machine ints, not module
# attributes): next headers IPv4 and none, the trailer's length, IPv4's version and header length.
_IPIP = const(4)
_NO_NEXT = const(59)
_TRAILER = const(2)
_IPV4 = const(4)
_IP_HDR = const(20)

# open() returns the inner packet's length, or one of these (REASONS[-code] names it).
DROP_MALFORMED = const(-1)          # not a whole ESP packet
DROP_NO_SA = const(-2)              # unknown SPI
DROP_EXPIRED = const(-3)            # SA past its hard lifetime
DROP_REPLAY = const(-4)
DROP_ICV = const(-5)
DROP_PAD = const(-6)
DROP_DUMMY = const(-7)
DROP_PROTO = const(-8)
DROP_POLICY = const(-9)
REASONS = ("", "malformed", "no_sa", "expired", "replay", "icv", "pad", "dummy", "proto", "policy")
_len = len      # a module global is found faster than the builtin (ipsec/sad.py)


def inner_mtu(path_mtu, encap=True):
    """The largest inner packet whose ESP packet, in IPv4 (and UDP if encap), fits path_mtu."""
    room = path_mtu - c.IP_HDR_LEN - (c.UDP_HDR_LEN if encap else 0) - _OVERHEAD
    return (room // 16) * 16 - c.ESP_TRAILER_LEN


@micropython.viper
def _diff(a, ao: int, b, n: int) -> int:
    """OR of a[ao+i] ^ b[i] for i < n: zero iff the bytes are equal, in constant time (no early
    exit). Viper: 9x the bytecode loop on a 16-byte ICV (identity casts under CPython's shim)."""
    p = ptr8(a)
    q = ptr8(b)
    d = 0
    for i in range(n):
        d |= p[ao + i] ^ q[i]
    return d


@micropython.viper
def _trailer(buf, o: int, k: int):
    """buf[o:o+k+2] = the padding 1, 2, ..., k, the pad length k and next header IPv4 (RFC 4303
    2.4-2.6)."""
    p = ptr8(buf)
    for i in range(k):
        p[o + i] = i + 1
    p[o + k] = k
    p[o + k + 1] = _IPIP


@micropython.viper
def _inner(buf, end: int) -> int:
    """The decrypted plaintext buf[0:end]: the inner IPv4 packet's length, or DROP_PAD (padding not
    1, 2, ..., checked in constant time), DROP_DUMMY (next header 59), DROP_PROTO (another next
    header, or not a whole IPv4 header inside)."""
    p = ptr8(buf)
    k = p[end - 2]
    n = end - _TRAILER - k
    if n < 0:
        return DROP_PAD
    d = 0
    for i in range(k):
        d |= p[n + i] ^ (i + 1)
    if d:
        return DROP_PAD
    nh = p[end - 1]
    if nh != _IPIP:
        # IPv6 (next header 41) would branch here; until then it is dropped like any other.
        return DROP_DUMMY if nh == _NO_NEXT else DROP_PROTO
    if n < _IP_HDR:
        return DROP_PROTO
    hl = (p[0] & 0x0F) << 2
    total = (p[2] << 8) | p[3]
    if p[0] >> 4 != _IPV4 or hl < _IP_HDR or hl > total or total > n:
        return DROP_PROTO
    return total


@micropython.viper
def _put_seq(buf, hi: int, lo: int):
    """The sequence number hi:lo into the ESP header (buf[4:8]) and the IV nonce block (buf[20:24])."""
    p = ptr8(buf)
    p[4] = hi >> 8
    p[5] = hi & 0xFF
    p[6] = lo >> 8
    p[7] = lo & 0xFF
    p[_IV_SALT] = hi >> 8
    p[_IV_SALT + 1] = hi & 0xFF
    p[_IV_SALT + 2] = lo >> 8
    p[_IV_SALT + 3] = lo & 0xFF


class Engine:
    """ESP for the SAs of `sad`, for inner packets up to max_inner bytes. seal() copies views up to
    view_room bytes long without slicing them (default: a 1536-byte LAN frame buffer after its
    Ethernet header). With link_hdr, self.frame is a view of the engine's buffer from link_hdr
    bytes before rx_inner on, link_hdr + view_room long: the frame buffer of the LAN gateway, which
    then delivers what open() decrypted in place there, and needs no buffer of its own."""

    def __init__(self, sad, max_inner=c.ETH_DATA_LEN, view_room=1536 - c.ETH_HLEN, link_hdr=0):
        self._sad = sad
        self.max_inner = max_inner
        blocks = (max_inner + c.ESP_TRAILER_LEN + 15) // 16
        self._room = max(view_room, blocks * 16)
        # One buffer for both directions: a packet is sealed and sent, or received and opened
        # (into the caller's `out`), before the next one starts, so the views serve both. A sealed
        # packet is valid until the next seal() or open().
        self.tx = bytearray(_CT + self._room + _DIGEST)
        self._rx_max = _CT + blocks * 16 + _ICV
        mv = self._mv = memoryview(self.tx)
        self._iv = mv[c.ESP_HDR_LEN:_CT]
        self.rx_inner = mv[_CT:]    # where open() leaves the inner packet unless given `out`
        self.frame = mv[_CT - link_hdr:_CT + view_room] if link_hdr else None
        # 16 bytes each on the ESP32 (32 here), the price of a slice-free path. The lists are made
        # at their full length: growing them would leave holes in the heap.
        pre = self._pre = [None] * (blocks + 2)
        for k in range(blocks + 2):
            pre[k] = mv[:_CT + 16 * k]
        ct = self._ct = [None] * (blocks + 1)   # no ESP packet has 0 blocks
        last = 0
        for m in range(1, blocks + 1):
            # AES runs on s blocks for m: m up to 16, then m rounded up to 3 significant bits.
            step = 1
            while m > step << 4:
                step <<= 1
            s = min((m + step - 1) // step * step, blocks)
            if s != last:
                v = mv[_CT:_CT + 16 * s]
                last = s
            ct[m] = v
        self._keys = bytearray(4 * _HMAC_BLOCK)     # the packet's SA's Sa.k[2], copied
        kv = memoryview(self._keys)
        self._kv = (kv[:_HMAC_BLOCK], kv[_HMAC_BLOCK:2 * _HMAC_BLOCK],
                    kv[2 * _HMAC_BLOCK:3 * _HMAC_BLOCK], kv[3 * _HMAC_BLOCK:])
        self.sa = None              # the SA of the last packet sealed or opened
        self.counters = {"malformed": 0, "no_sa": 0, "no_policy": 0, "too_big": 0}

    # -- outbound --

    def seal(self, ip, n):
        """ESP packet for the IPv4 packet ip[0:n] (ip: bytes-like, may be longer than n), as a
        memoryview valid until the next seal() or open(); self.sa is the SA used (peer, encap). None
        if the packet was dropped (counted here or on the SA)."""
        m = self._frame_out(ip, n)
        if not m:
            return None
        end = _CT + (m << 4)
        self._mv[end:end + _DIGEST] = self._icv(_OUT, self._pre[m])
        return self._pre[m + 1]

    def _frame_out(self, ip, n):
        """Everything of seal() but the ICV (split out so a test can run it under heap_lock()).
        Returns the number of cipher blocks, 0 if dropped."""
        k = _len(ip)
        if n > self.max_inner or n < c.IP_HDR_LEN or n > k:
            self.counters["too_big" if n > self.max_inner else "malformed"] += 1
            self.sa = None
            return 0
        sa = self._sad.lookup_out(ip, n)
        self.sa = sa
        if sa is None:
            self.counters["no_policy"] += 1
            return 0
        if not sa.sending:
            sa.c[EXPIRED_DROPS] += 1
            return 0
        if k > self._room:
            ip = ip[:n]     # a view longer than the buffer: slice it (the only case that allocates)
            k = n
        # The whole view: copying bytes past n costs less than slicing. From self.frame (an echo
        # reply the gateway turned around in place) it is a copy onto itself.
        self._mv[_CT:_CT + k] = ip
        return self._encrypt(sa, n)

    # The packet path's methods stay within 11 words of locals and stack each: MicroPython puts a
    # bigger call frame on the heap on every call (an allocation and a free, ~0.5 us on a
    # fragmented heap), so the work is split where a method would outgrow that.

    def _encrypt(self, sa, n):
        """The rest of _frame_out for the inner packet in place: trailer, header, AES."""
        m = (n + c.ESP_TRAILER_LEN + 15) >> 4
        _trailer(self.tx, _CT + n, (m << 4) - c.ESP_TRAILER_LEN - n)
        self._next_seq(sa)
        self._keys[:] = sa.k[2]     # for _icv
        k = sa.k[0]
        k.encrypt(self._iv, self._iv)
        k.encrypt(self._ct[m], self._ct[m])
        self._count(sa, PACKETS_OUT, n)
        return m

    def _next_seq(self, sa):
        """SPI, next sequence number and the IV nonce block into the packet. The sequence number
        never wraps (no ESN): warn 2**16 before the end, stop at it."""
        cnt = sa.c
        hi = cnt[SEQ_HI]
        lo = cnt[SEQ_LO] + 1
        if lo > 0xFFFF:
            lo = 0
            hi += 1
            if hi == 0xFFFF:
                self._sad.seq_limit(sa)
        cnt[SEQ_HI] = hi
        cnt[SEQ_LO] = lo
        if lo == 0xFFFF and hi == 0xFFFF:
            sa.sending = False
            self._sad.seq_limit(sa)
        self._mv[0:_IV_SALT] = sa.hdr     # SPI, (sequence number), salt
        _put_seq(self.tx, hi, lo)

    # -- inbound --

    def open(self, data, out=None):
        """Check and decrypt the ESP packet `data` (the UDP payload, or the IP payload for plain ESP).
        Returns the inner packet's length n > 0 with the packet in out[0:n], or a DROP_* code (< 0),
        counted. out: a writable buffer of at least max_inner + 17 bytes (decryption runs on whole
        size classes of blocks and leaves garbage past the packet); default self.rx_inner. self.sa is
        the packet's SA (None if unknown)."""
        m = self._check_in(data)
        if m < 0:
            return m
        return self._finish_in(self._icv(_IN, self._pre[m]), m,
                               self.rx_inner if out is None else out)

    def _check_in(self, data):
        """open() up to the ICV: length, SPI, replay window; copies the packet into rx. Returns the
        number of cipher blocks, or a DROP_* code."""
        self.sa = None
        n = _len(data)
        if n < _MIN_ESP or n > self._rx_max or (n - _OVERHEAD) & 15:
            self.counters["malformed"] += 1
            return DROP_MALFORMED
        sa = self._sad.lookup_in(data)
        if sa is None:
            self.counters["no_sa"] += 1
            return DROP_NO_SA
        self.sa = sa
        if sa.dead:
            sa.c[EXPIRED_DROPS] += 1
            return DROP_EXPIRED
        # RFC 4303 3.4.3: duplicates go before the ICV is computed, the window moves only after.
        if not replay.check(sa.window, data):
            sa.c[REPLAY_DROPS] += 1
            return DROP_REPLAY
        self._mv[0:n] = data
        self._keys[:] = sa.k[2]     # for _icv
        return (n - _OVERHEAD) >> 4

    def _finish_in(self, digest, m, out):
        """open() from the ICV on: compare, move the window, decrypt, check the trailer and the
        inner packet against the SA's selectors."""
        sa = self.sa
        if _diff(self.tx, _CT + (m << 4), digest, _ICV):
            sa.c[ICV_FAILURES] += 1
            return DROP_ICV
        replay.update(sa.window, self.tx)
        sa.k[1].decrypt(self._iv, self._iv)     # output thrown away: the chain moves on to the IV
        sa.k[1].decrypt(self._ct[m], out)
        n = _inner(out, m << 4)
        if n < 0:
            sa.c[PAD_ERRORS if n == DROP_PAD else DUMMY_DROPS if n == DROP_DUMMY else PROTO_DROPS] += 1
            return n
        if not match(sa.ts, out, n, 1):
            sa.c[POLICY_DROPS] += 1
            return DROP_POLICY
        self._count(sa, PACKETS_IN, n)
        return n

    def _icv(self, o, data):
        """HMAC-SHA-256 of data under the key of direction o (_OUT or _IN) in self._keys (the packet's
        SA's, copied there by _frame_out or _check_in); 32 bytes (the ICV is the first 16). The only
        allocation of the packet path: two hash objects and two digests."""
        k = self._kv
        h = hashlib.sha256(k[o])
        h.update(data)
        inner = h.digest()
        h = hashlib.sha256(k[o + 1])
        h.update(inner)
        return h.digest()

    def _count(self, sa, i, n):
        """Count a packet of n bytes on the SA (i: PACKETS_IN or PACKETS_OUT, the bytes counter
        follows it); tell the SAD when that reaches one of the SA's limits."""
        cnt = sa.c
        cnt[i] += 1
        cnt[i + 1] += n
        if cnt[i] >= cnt[LIM + i] or cnt[i + 1] >= cnt[LIM + i + 1]:
            self._sad.limit(sa)
