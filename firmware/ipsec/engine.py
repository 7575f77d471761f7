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
# - Sequence numbers are 16-bit halves (31-bit small ints on the ESP32), written with pack_into.
import hashlib
import struct

import micropython
from micropython import const

from ipsec import replay
from ipsec.sad import (BYTES_IN, BYTES_OUT, DUMMY_DROPS, EXPIRED_DROPS, ICV_FAILURES, LIM, PACKETS_IN,
                        PACKETS_OUT, PAD_ERRORS, POLICY_DROPS, PROTO_DROPS, REPLAY_DROPS, SEQ_HI, SEQ_LO)
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
def _pad(buf, o: int, k: int):
    """buf[o:o+k] = the padding 1, 2, ..., k (RFC 4303 2.4)."""
    p = ptr8(buf)
    for i in range(k):
        p[o + i] = i + 1


@micropython.viper
def _pad_diff(buf, o: int, k: int) -> int:
    """Zero iff buf[o:o+k] is the padding 1, 2, ..., k (RFC 4303 2.4), in constant time."""
    p = ptr8(buf)
    d = 0
    for i in range(k):
        d |= p[o + i] ^ (i + 1)
    return d


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
        k = len(ip)
        if n > self.max_inner or n < c.IP_HDR_LEN or n > k:
            self.counters["too_big" if n > self.max_inner else "malformed"] += 1
            self.sa = None
            return 0
        sa = self._sad.lookup_out(ip, n)
        self.sa = sa
        if sa is None:
            self.counters["no_policy"] += 1
            return 0
        cnt = sa.c
        if not sa.sending:
            cnt[EXPIRED_DROPS] += 1
            return 0
        tx = self.tx
        mv = self._mv
        if k > self._room:
            ip = ip[:n]     # a view longer than the buffer: slice it (the only case that allocates)
            k = n
        # The whole view: copying bytes past n costs less than slicing. From self.frame (an echo
        # reply the gateway turned around in place) it is a copy onto itself.
        mv[_CT:_CT + k] = ip
        m = (n + c.ESP_TRAILER_LEN + 15) >> 4
        end = _CT + (m << 4)
        pad = end - c.ESP_TRAILER_LEN - _CT - n
        _pad(tx, _CT + n, pad)
        tx[end - 2] = pad
        tx[end - 1] = c.IPPROTO_IPIP
        # Next sequence number; it never wraps (no ESN): warn 2**16 before the end, stop at it.
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
        mv[0:_IV_SALT] = sa.hdr     # SPI, (sequence number), salt
        struct.pack_into(">HH", tx, 4, hi, lo)
        struct.pack_into(">HH", tx, _IV_SALT, hi, lo)
        self._keys[:] = sa.k[2]     # for _icv
        enc = sa.k[0]
        enc.encrypt(self._iv, self._iv)
        ct = self._ct[m]
        enc.encrypt(ct, ct)
        self._count(sa, PACKETS_OUT, BYTES_OUT, n)
        return m

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
        n = len(data)
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
        if not replay.check(sa.window, (data[4] << 8) | data[5], (data[6] << 8) | data[7]):
            sa.c[REPLAY_DROPS] += 1
            return DROP_REPLAY
        self._mv[0:n] = data
        self._keys[:] = sa.k[2]     # for _icv
        return (n - _OVERHEAD) >> 4

    def _finish_in(self, digest, m, out):
        """open() from the ICV on: compare, move the window, decrypt, check the trailer and the
        inner packet against the SA's selectors."""
        sa = self.sa
        cnt = sa.c
        rx = self.tx
        o = _CT + (m << 4)
        if _diff(rx, o, digest, _ICV):
            cnt[ICV_FAILURES] += 1
            return DROP_ICV
        replay.update(sa.window, (rx[4] << 8) | rx[5], (rx[6] << 8) | rx[7])
        dec = sa.k[1]
        dec.decrypt(self._iv, self._iv)     # output thrown away: the chain moves on to the IV
        dec.decrypt(self._ct[m], out)
        end = m << 4
        pad = out[end - 2]
        n = end - c.ESP_TRAILER_LEN - pad
        if n < 0:
            cnt[PAD_ERRORS] += 1
            return DROP_PAD
        if _pad_diff(out, n, pad):
            cnt[PAD_ERRORS] += 1
            return DROP_PAD
        nh = out[end - 1]
        if nh != c.IPPROTO_IPIP:
            # IPv6 (next header 41) would branch here; until then it is dropped like any other.
            if nh == c.IPPROTO_NONE:
                cnt[DUMMY_DROPS] += 1
                return DROP_DUMMY
            cnt[PROTO_DROPS] += 1
            return DROP_PROTO
        hl = (out[0] & 0x0F) << 2
        total = (out[2] << 8) | out[3] if n >= c.IP_HDR_LEN else 0
        if out[0] >> 4 != c.IPVERSION or hl < c.IP_HDR_LEN or not hl <= total <= n:
            cnt[PROTO_DROPS] += 1
            return DROP_PROTO
        if not sa.match(out, 0, total, True):
            cnt[POLICY_DROPS] += 1
            return DROP_POLICY
        self._count(sa, PACKETS_IN, BYTES_IN, total)
        return total

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

    def _count(self, sa, packets, nbytes, n):
        """Count a packet of n bytes on the SA (packets, nbytes: PACKETS_IN and BYTES_IN, or the OUT
        pair); tell the SAD when that reaches one of the SA's limits."""
        cnt = sa.c
        cnt[packets] += 1
        cnt[nbytes] += n
        if cnt[packets] >= cnt[LIM + packets] or cnt[nbytes] >= cnt[LIM + nbytes]:
            self._sad.limit(sa)
