# The ESP engine (firmware/ipsec) against RFC 4303, under MicroPython. Packets the engine seals are
# checked with cryptolib and crypto.hmac directly (esp_pair.unseal), and packets the engine must
# refuse are built the same way (esp_pair.craft), so no case relies on the engine agreeing with itself.
import gc
import micropython
import struct

from esp_pair import (BRANCH_NET, HQ_HOST, HQ_NET, KA_R, KE_I, KE_R, SPI_BRANCH, SPI_HQ, Selector,
                      craft, ipv4, pair, reason, trailer, unseal)
from ipsec import engine, replay, sad

def _set_seq(sa, seq):
    sa.c[sad.SEQ_HI] = seq >> 16
    sa.c[sad.SEQ_LO] = seq & 0xFFFF


def _opened(eng, pkt, want):
    n = eng.open(pkt)
    assert n == want, "open: %s, expected %s" % (reason(n), reason(want))
    return n


def test_padding_every_length_mod_16():
    for keylen in (128, 256):
        a, ea, sa_a, b, eb, sa_b = pair(keylen)
        ke = KE_I[:keylen // 8]
        for n in list(range(20, 56)) + [1399, 1400, 1498, 1499, 1500]:
            p = ipv4(n, fill=n)
            pkt = ea.seal(p, n)
            k = (-(n + 2)) % 16
            assert len(pkt) == 8 + 16 + n + k + 2 + 16, (n, len(pkt))
            seq, plain = unseal(pkt, ke)
            assert seq == sa_a.seq_out
            assert plain == bytes(p) + trailer(n), n
            assert _opened(eb, pkt, n) == n
            assert bytes(eb.rx_inner[:n]) == bytes(p)
        assert sa_b.counters["packets_in"] == sa_a.counters["packets_out"] == 41
        assert sa_b.counters["bytes_in"] == sa_a.counters["bytes_out"] == sum(range(20, 56)) + 7296


def test_seal_takes_a_longer_view_and_opens_into_caller_buffer():
    a, ea, sa_a, b, eb, sa_b = pair()
    frame = bytearray(1536)
    p = ipv4(100)
    frame[14:114] = p
    pkt = ea.seal(memoryview(frame)[14:], 100)
    out = bytearray(1536)
    n = eb.open(bytes(pkt), memoryview(out)[14:])
    assert n == 100 and out[14:114] == p


def test_iv_fresh_per_packet():
    a, ea, sa_a, b, eb, sa_b = pair()
    p = ipv4(64)
    ivs = set()
    for i in range(2000):
        pkt = ea.seal(p, 64)
        ivs.add(bytes(pkt[8:24]))
        assert eb.open(pkt) == 64
    assert len(ivs) == 2000
    # Not the nonce block itself (salt | sequence number): the IV is its encryption.
    assert bytes(pkt[8:24]) != sa_a.hdr[8:] + struct.pack(">I", sa_a.seq_out)


def test_pad_check_failures():
    a, ea, sa_a, b, eb, sa_b = pair()
    p = ipv4(40)                                    # 40 + 2 -> 6 pad bytes
    seq = 1
    good = [1, 2, 3, 4, 5, 6]
    bad = ([1, 2, 3, 4, 5, 7], [0, 0, 0, 0, 0, 0], [2, 3, 4, 5, 6, 7], [1, 2, 3, 9, 5, 6],
           [6, 5, 4, 3, 2, 1])
    for pad in bad:
        assert eb.open(craft(SPI_HQ, seq, bytes(p) + trailer(40, pad))) == engine.DROP_PAD
        seq += 1
    # A pad length pointing before the start of the payload.
    body = bytes(p) + bytes(6) + bytes((47, 4))
    assert eb.open(craft(SPI_HQ, seq, body)) == engine.DROP_PAD
    seq += 1
    assert sa_b.counters["pad_errors"] == len(bad) + 1
    # Longer monotonic padding (RFC 4303 2.4 allows up to 255 bytes) is fine.
    pad = list(range(1, 23))
    assert eb.open(craft(SPI_HQ, seq, bytes(p) + trailer(40, pad))) == 40
    assert eb.open(craft(SPI_HQ, seq + 1, bytes(p) + trailer(40, good))) == 40
    assert sa_b.counters["packets_in"] == 2


def test_next_header_checked():
    a, ea, sa_a, b, eb, sa_b = pair()
    p = bytes(ipv4(40))
    assert eb.open(craft(SPI_HQ, 1, p + trailer(40, nh=59))) == engine.DROP_DUMMY
    assert eb.open(craft(SPI_HQ, 2, bytes(14) + trailer(14, nh=59))) == engine.DROP_DUMMY
    assert eb.open(craft(SPI_HQ, 3, p + trailer(40, nh=41))) == engine.DROP_PROTO
    assert eb.open(craft(SPI_HQ, 4, p + trailer(40, nh=17))) == engine.DROP_PROTO
    # Next header 4 but not an IPv4 packet / total length beyond the payload.
    assert eb.open(craft(SPI_HQ, 5, b"\x65" + p[1:] + trailer(40))) == engine.DROP_PROTO
    assert eb.open(craft(SPI_HQ, 6, p[:2] + b"\x00\x80" + p[4:] + trailer(40))) == engine.DROP_PROTO
    c = sa_b.counters
    assert c["dummy_drops"] == 2 and c["proto_drops"] == 4 and c["packets_in"] == 0
    # TFC padding (RFC 4303 2.7): bytes after the IP packet's total length are cut off.
    assert eb.open(craft(SPI_HQ, 7, p + bytes(30) + trailer(70))) == 40


def test_inbound_policy_checked():
    a, ea, sa_a, b, eb, sa_b = pair()
    outside = bytes(ipv4(40, src=b"\x0a\x63\x00\x01"))
    assert eb.open(craft(SPI_HQ, 1, outside + trailer(40))) == engine.DROP_POLICY
    swapped = bytes(ipv4(40, src=HQ_HOST, dst=b"\x0a\x14\x01\x0a"))
    assert eb.open(craft(SPI_HQ, 2, swapped + trailer(40))) == engine.DROP_POLICY
    assert sa_b.counters["policy_drops"] == 2


def test_outbound_spd_lookup():
    a, ea, sa_a, b, eb, sa_b = pair()
    assert ea.seal(ipv4(60, dst=b"\x0a\x0b\x01\x01"), 60) is None
    assert ea.seal(ipv4(60, src=b"\x0a\x15\x01\x01"), 60) is None
    assert ea.counters["no_policy"] == 2
    assert ea.seal(ipv4(1501), 1501) is None and ea.counters["too_big"] == 1
    assert ea.seal(ipv4(60), 61) is None and ea.seal(ipv4(60), 19) is None
    assert ea.counters["malformed"] == 2
    # Port-restricted selectors: only DNS to HQ over a second SA, newest SA preferred.
    dns = a.install(a.new_spi(), b"\x00\x00\x77\x77", 12, 128, KE_R[:16], KA_R, KE_R[:16], KA_R,
                    [Selector((b"\x0a\x14\x01\x00", b"\x0a\x14\x01\xff"))],
                    [Selector((HQ_HOST, HQ_HOST), 17, 53, 53)], "hq", True)
    assert ea.seal(ipv4(60), 60) is not None and ea.sa is dns
    assert ea.seal(ipv4(60, proto=6), 60) is not None and ea.sa is sa_a
    frag = ipv4(60)
    frag[7] = 1                                     # a non-first fragment carries no ports
    assert ea.seal(frag, 60) is not None and ea.sa is sa_a
    # Rekeyed SA with the same selectors takes over; a dead one is skipped.
    new = a.install(a.new_spi(), b"\x00\x00\x88\x88", 12, 128, KE_R[:16], KA_R, KE_R[:16], KA_R,
                    [Selector(BRANCH_NET)], [Selector(HQ_NET)], "hq", True)
    assert ea.seal(ipv4(60, proto=6), 60) is not None and ea.sa is new
    new.sending = False
    assert ea.seal(ipv4(60, proto=6), 60) is not None and ea.sa is sa_a
    assert a.remove(new.spi_in) is new and a.get(new.spi_in) is None
    assert len(a.all()) == 2 and a.get(SPI_BRANCH) is sa_a
    assert a.remove(b"\x01\x02\x03\x04") is None


def test_spi_lookup():
    a, ea, sa_a, b, eb, sa_b = pair()
    p = bytes(ipv4(40)) + trailer(40)
    # Same low 30 bits as SPI_HQ, other top bits: a different SPI.
    other = bytes((SPI_HQ[0] | 0x80,)) + SPI_HQ[1:]
    assert eb.open(craft(other, 1, p)) == engine.DROP_NO_SA
    try:
        b.install(other, b"\x00\x00\x00\x09", 12, 128, KE_R[:16], KA_R, KE_R[:16], KA_R, [], [],
                  None, True)
        raise AssertionError("SPI key collision accepted")
    except ValueError:
        pass
    assert b.get(other) is None and b.get(SPI_HQ) is sa_b
    # Only AES-CBC-128/256 with 32-byte HMAC-SHA2-256-128 keys (ENCR_3DES = 3).
    for args in ((3, 192, bytes(24), KA_R), (12, 192, bytes(24), KA_R), (12, 128, bytes(32), KA_R),
                 (12, 128, bytes(16), KA_R[:20])):
        encr, bits, ke, ka = args
        try:
            b.install(b"\x00\x00\x09\x09", SPI_BRANCH, encr, bits, ke, ka, ke, ka, [], [], None, True)
            raise AssertionError("accepted %r" % (args[:2],))
        except ValueError:
            pass
    assert len(b.all()) == 1
    for bad in (b"", b"\x00" * 55, b"\x00" * 57, bytes(SPI_HQ) + bytes(52 + 16 * 200)):
        assert eb.open(bad) == engine.DROP_MALFORMED
    assert eb.counters["no_sa"] == 1 and eb.counters["malformed"] == 4
    for i in range(50):
        spi = b.new_spi()
        assert len(spi) == 4 and (spi[0] | spi[1] | spi[2]) and b.get(spi) is None


def test_replay_window_edges():
    a, ea, sa_a, b, eb, sa_b = pair()
    body = bytes(ipv4(40)) + trailer(40)
    W = replay.WINDOW

    def send(seq):
        return eb.open(craft(SPI_HQ, seq, body))

    assert send(0) == engine.DROP_REPLAY            # never valid without ESN
    assert send(1) == 40                            # first packet
    assert send(1) == engine.DROP_REPLAY            # duplicate
    assert send(3) == 40 and send(2) == 40          # out of order inside the window
    assert send(1000) == 40                         # jump ahead
    assert send(1000 - W + 1) == 40                 # oldest number still in the window
    assert send(1000 - W + 1) == engine.DROP_REPLAY
    assert send(1000 - W) == engine.DROP_REPLAY     # just outside
    assert send(5) == engine.DROP_REPLAY            # far behind
    assert send(999) == 40
    assert send(1001) == 40                         # window shift by one
    assert send(1001 - W) == engine.DROP_REPLAY     # fell out of the window with that shift
    assert send(1002 - W) == 40
    assert send(0x12345678) == 40                   # jump across the 16-bit halves
    assert send(0x12345678 - W + 1) == 40
    assert send(0x12345678 - 1000) == engine.DROP_REPLAY
    assert send(0xFFFFFFFF) == 40                   # top of the 32-bit space
    assert send(0xFFFFFFFF) == engine.DROP_REPLAY
    assert send(0xFFFFFFFF - 1) == 40
    assert send(0x12345679) == engine.DROP_REPLAY
    assert sa_b.counters["replay_drops"] == 9 and sa_b.counters["packets_in"] == 12


def test_replay_window_against_model():
    # Random walks (in-order runs, reordering, jumps across 16-bit boundaries) against a set-based
    # model of RFC 4303 3.4.3 with a window of WINDOW packets.
    import random
    random.seed(4303)
    W = replay.WINDOW
    for start in (1, 0xFFF0, 0xFFFFFF00, 0x7FFFFFF0):
        w = replay.new()
        seen = set()
        top = 0
        seq = start
        for i in range(3000):
            r = random.getrandbits(4)
            if r < 8:
                seq = seq + 1
            elif r < 12:
                seq = top - random.getrandbits(8)
            elif r < 15:
                seq = top + random.getrandbits(6)
            else:
                seq = top + random.getrandbits(12)
            seq = max(0, min(seq, 0xFFFFFFFF))
            want = seq > 0 and seq not in seen and seq > top - W
            hdr = b"\x00\x00\x10\x02" + struct.pack(">I", seq)     # SPI, sequence number
            assert replay.check(w, hdr) == want, (start, i, seq, top)
            if want:
                replay.update(w, hdr)
                seen.add(seq)
                top = max(top, seq)
        assert (w[32] << 24 | w[33] << 16 | w[34] << 8 | w[35]) == top


def test_window_moves_only_after_icv():
    a, ea, sa_a, b, eb, sa_b = pair()
    body = bytes(ipv4(40)) + trailer(40)
    good = craft(SPI_HQ, 500, body)
    forged = bytearray(good)
    forged[30] ^= 1
    assert eb.open(bytes(forged)) == engine.DROP_ICV
    assert eb.open(bytes(forged)) == engine.DROP_ICV    # not a replay: the window did not move
    assert eb.open(craft(SPI_HQ, 499, body)) == 40      # and 500 is still ahead
    assert eb.open(good) == 40
    assert eb.open(good) == engine.DROP_REPLAY
    # A forged far jump does not push genuine packets out of the window either.
    assert eb.open(craft(SPI_HQ, 10 ** 6, body, ka=KA_R)) == engine.DROP_ICV
    assert eb.open(craft(SPI_HQ, 400, body)) == 40


def test_icv_any_bit_flip_rejected_before_decryption():
    a, ea, sa_a, b, eb, sa_b = pair()
    pkt = bytes(ea.seal(ipv4(40), 40))
    assert len(pkt) == 88
    icv = 0
    for bit in range(len(pkt) * 8):
        forged = bytearray(pkt)
        forged[bit >> 3] ^= 0x80 >> (bit & 7)
        eb.tx[24:72] = bytes(48)
        r = eb.open(bytes(forged))
        if bit < 32:
            assert r == engine.DROP_NO_SA, (bit, reason(r))
        else:
            assert r == engine.DROP_ICV or (bit < 64 and r == engine.DROP_REPLAY), (bit, reason(r))
            icv += r == engine.DROP_ICV
            # Nothing was decrypted: the plaintext area holds the received ciphertext, untouched.
            assert r != engine.DROP_ICV or bytes(eb.tx[24:72]) == bytes(forged[24:72]), bit
    # All but the 32 SPI bits and the one that turns sequence number 1 into 0 (refused as a replay).
    assert sa_b.counters["icv_failures"] == icv == 88 * 8 - 32 - 1
    assert sa_b.counters["packets_in"] == 0
    assert eb.open(pkt) == 40


def test_sequence_number_never_wraps():
    events = []
    a, ea, sa_a, b, eb, sa_b = pair(events=events)
    p = ipv4(40)
    _set_seq(sa_a, 0xFFFEFFFE)
    for seq in (0xFFFEFFFF, 0xFFFF0000, 0xFFFF0001):
        pkt = ea.seal(p, 40)
        assert unseal(pkt)[0] == seq
    assert events == ["seq_limit"]                  # 2**16 numbers left: time to rekey, once
    _set_seq(sa_a, 0xFFFFFFFD)
    assert unseal(ea.seal(p, 40))[0] == 0xFFFFFFFE
    assert unseal(ea.seal(p, 40))[0] == 0xFFFFFFFF
    assert ea.seal(p, 40) is None and ea.seal(p, 40) is None
    assert sa_a.counters["expired_drops"] == 2 and sa_a.counters["packets_out"] == 5
    assert events == ["seq_limit"]
    # Starting past the warning point, the event still comes when the last number goes out.
    events2 = []
    a, ea, sa_a, b, eb, sa_b = pair(events=events2)
    _set_seq(sa_a, 0xFFFFFFFE)
    assert unseal(ea.seal(p, 40))[0] == 0xFFFFFFFF
    assert events2 == ["seq_limit"] and ea.seal(p, 40) is None


def test_lifetime_packets_and_bytes():
    events = []
    lt = sad.Lifetime(soft_packets=10, hard_packets=15)
    a, ea, sa_a, b, eb, sa_b = pair(lifetime=lt, events=events)
    p = ipv4(100)
    for i in range(9):
        assert ea.seal(p, 100) is not None
    assert events == []
    assert ea.seal(p, 100) is not None
    assert events == ["soft"]
    for i in range(5):
        assert ea.seal(p, 100) is not None
    assert events == ["soft", "hard"] and sa_a.dead and not sa_a.sending
    assert ea.seal(p, 100) is None and sa_a.counters["expired_drops"] == 1
    assert eb.open(craft(SPI_HQ, 1, bytes(p) + trailer(100))) == 100    # b has no lifetime
    q = ipv4(100, src=HQ_HOST, dst=b"\x0a\x14\x01\x0a")
    assert ea.open(eb.seal(q, 100)) == engine.DROP_EXPIRED
    assert events == ["soft", "hard"]
    # Bytes, inbound direction.
    events[:] = []
    lt = sad.Lifetime(soft_bytes=1000, hard_bytes=1500)
    a, ea, sa_a, b, eb, sa_b = pair(lifetime=lt, events=events)
    q = ipv4(100, src=HQ_HOST, dst=b"\x0a\x14\x01\x0a")
    for i in range(9):
        assert ea.open(eb.seal(q, 100)) == 100
    assert events == []
    assert ea.open(eb.seal(q, 100)) == 100
    assert events == ["soft"]
    for i in range(4):
        assert ea.open(eb.seal(q, 100)) == 100
    assert events == ["soft"]
    assert ea.open(eb.seal(q, 100)) == 100
    assert events == ["soft", "hard"]
    assert ea.open(eb.seal(q, 100)) == engine.DROP_EXPIRED
    assert sa_a.counters["packets_out"] == 0 and sa_a.counters["expired_drops"] == 1


def test_lifetime_seconds():
    now = [1000]
    events = []
    lt = sad.Lifetime(soft_s=30, hard_s=40)
    a, ea, sa_a, b, eb, sa_b = pair(lifetime=lt, clock=lambda: now[0], events=events)
    for t in range(1000, 60000, 700):
        now[0] = t
        a.tick()
        if t < 31000:
            assert events == [], t
        elif t < 41000:
            assert events == ["soft"], t
    assert events == ["soft", "hard"] and sa_a.c[sad.AGE_S] >= 58
    assert ea.seal(ipv4(40), 40) is None


def test_counters_stay_small_ints():
    # The hot counters move into a running total before 2**28 (ESP32 small ints are 31-bit).
    events = []
    lt = sad.Lifetime(hard_bytes=3 << 28)
    a, ea, sa_a, b, eb, sa_b = pair(lifetime=lt, events=events)
    p = ipv4(1000)
    sa_a.c[sad.BYTES_OUT] = (1 << 28) - 500
    ea.seal(p, 1000)
    assert sa_a.c[sad.BYTES_OUT] == 0 and sa_a.counters["bytes_out"] == (1 << 28) + 500
    sa_a.c[sad.BYTES_OUT] = (3 << 28) - sa_a.counters["bytes_out"] - 2500
    for i in range(2):
        ea.seal(p, 1000)
    assert events == [] and sa_a.counters["bytes_out"] == (3 << 28) - 500
    assert sa_a.c[sad.BYTES_OUT] < 1 << 28
    ea.seal(p, 1000)
    assert events == ["hard"]


def test_round_trip_both_ways():
    for keylen in (128, 256):
        a, ea, sa_a, b, eb, sa_b = pair(keylen)
        for i in range(300):
            n = 20 + (i * 37) % 1481
            p = ipv4(n, fill=i)
            q = ipv4(n, src=HQ_HOST, dst=b"\x0a\x14\x01\x0a", fill=i + 1)
            assert eb.open(ea.seal(p, n)) == n and bytes(eb.rx_inner[:n]) == p
            assert ea.open(eb.seal(q, n)) == n and bytes(ea.rx_inner[:n]) == q
        assert sa_a.counters["packets_in"] == sa_a.counters["packets_out"] == 300
        assert ea.sa is sa_a and eb.sa is sa_b


def test_allocation_per_packet():
    # 10,000 packets each way (1400-byte inner packets, both SAs sealing and opening), GC disabled
    # while measuring; the heap is collected between chunks so the 2 MB test heap is enough.
    # The bound is one HMAC-SHA-256 per packet and nothing else. Measured on this unix port (64-bit,
    # 32-byte GC blocks): a hashlib.sha256(...) object takes 128 B and a 32-byte digest 96 B, so an
    # HMAC (2 objects + 2 digests) is 448 B. The datagram recvfrom makes is the caller's, passed in.
    a, ea, sa_a, b, eb, sa_b = pair()
    p = memoryview(ipv4(1400))
    q = memoryview(ipv4(1400, src=HQ_HOST, dst=b"\x0a\x14\x01\x0a"))
    out = bytearray(1536)
    sealed = opened = 0
    for chunk in range(20):
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        for i in range(500):
            ea.seal(p, 1400)
            eb.seal(q, 1400)
        sealed += gc.mem_alloc() - before
        gc.enable()
    for chunk in range(40):
        # The datagrams are made outside the measured span.
        pkts = []
        for i in range(250):
            pkts.append(bytes(ea.seal(p, 1400)))
            pkts.append(bytes(eb.seal(q, 1400)))
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        for i in range(0, 500, 2):
            if eb.open(pkts[i], out) != 1400 or ea.open(pkts[i + 1], out) != 1400:
                raise AssertionError("open failed")
        opened += gc.mem_alloc() - before
        gc.enable()
        pkts = None
    per_seal = sealed / 20000
    per_open = opened / 20000
    print("bytes allocated per packet: seal %.1f, open %.1f (bound 448 each)" % (per_seal, per_open))
    assert per_seal <= 448 and per_open <= 448
    assert sa_a.counters["packets_in"] == sa_b.counters["packets_in"] == 10000


def test_core_runs_under_heap_lock():
    # Everything but the HMAC (hashlib must allocate) runs with the heap locked: SPD lookup, copy,
    # padding, sequence number, AES in place, SPI lookup, replay window, ICV compare, decryption,
    # trailer and policy checks. Any allocation would raise MemoryError.
    a, ea, sa_a, b, eb, sa_b = pair()
    for n in (20, 21, 100, 1400, 1500):
        p = memoryview(ipv4(n))
        micropython.heap_lock()
        try:
            m = ea._frame_out(p, n)
        finally:
            micropython.heap_unlock()
        end = 24 + 16 * m
        ea.tx[end:end + 32] = ea._icv(0, ea._pre[m])
        pkt = bytes(ea._pre[m + 1])
        micropython.heap_lock()
        try:
            m2 = eb._check_in(pkt)
        finally:
            micropython.heap_unlock()
        assert m2 == m
        d = eb._icv(2, eb._pre[m])
        micropython.heap_lock()
        try:
            r = eb._finish_in(d, m, eb.rx_inner)
            dup = eb._check_in(pkt)
        finally:
            micropython.heap_unlock()
        assert r == n and dup == engine.DROP_REPLAY
        assert bytes(eb.rx_inner[:n]) == bytes(p[:n])


def test_core_puts_no_call_frame_on_the_heap():
    # A call frame over 11 words goes on the heap and is freed on return: heap_lock() does not see it
    # (a locked heap sends it to the C stack) nor gc.mem_alloc(), micropython.mem_total() does (every
    # allocation, unix port). The core allocates nothing at all, as in tests/device/test_lan_alloc.py.
    a, ea, sa_a, b, eb, sa_b = pair()
    p = memoryview(ipv4(1400))
    for _ in range(3):
        t = micropython.mem_total()
        m = ea._frame_out(p, 1400)
        assert micropython.mem_total() == t and m == 88
        ea.tx[24 + 16 * m:24 + 16 * m + 32] = ea._icv(0, ea._pre[m])
        pkt = bytes(ea._pre[m + 1])
        t = micropython.mem_total()
        assert eb._check_in(pkt) == m and micropython.mem_total() == t
        d = eb._icv(2, eb._pre[m])
        t = micropython.mem_total()
        assert eb._finish_in(d, m, eb.rx_inner) == 1400 and micropython.mem_total() == t


def test_long_views_copied_without_allocation():
    # The LAN forwarder hands over a view of its whole frame buffer (1536 - 14 bytes): no slicing.
    a, ea, sa_a, b, eb, sa_b = pair()
    frame = bytearray(1536)
    frame[14:114] = ipv4(100)
    view = memoryview(frame)[14:]
    ea.seal(view, 100)
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    ea.seal(view, 100)
    used = gc.mem_alloc() - before
    gc.enable()
    assert used <= 448, used
    # Longer than the buffer: still right (one slice allocated).
    big = bytearray(4000)
    big[0:100] = ipv4(100)
    assert eb.open(ea.seal(big, 100)) == 100 and bytes(eb.rx_inner[:100]) == bytes(big[:100])
