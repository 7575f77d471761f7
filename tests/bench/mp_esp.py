# MicroPython ESP engine benchmark (run by bench_esp.py on the sim board's runtime, 112 KB heap,
# firmware as .mpy): us per seal and per open of a 1400-byte inner packet through ipsec.engine
# (AES-256-CBC + HMAC-SHA2-256-128, tunnel mode), and the bytes each allocates (kept; and requested,
# including what is freed at once: call frames too big for the C stack). Prints
# "name: figure unit" lines.
import gc
import time

import micropython

from esp_pair import HQ_HOST, ipv4, pair

N = 1000
ROUNDS = 5
ALLOC_N = 20      # with the GC off, 20 seal+open pairs fit in what the 112 KB heap has free
INNER = 1400

a, ea, sa_a, b, eb, sa_b = pair()
p = memoryview(ipv4(INNER))
q = memoryview(ipv4(INNER, src=HQ_HOST, dst=b"\x0a\x14\x01\x0a"))
out = bytearray(1536)


def best_us(run):
    # Best of several rounds: the figure of the code, not of whatever else shares the machine.
    best = None
    for _ in range(ROUNDS):
        gc.collect()
        us = run() / N
        best = us if best is None or us < best else best
    return best


def time_seal():
    t = time.ticks_us()
    for _ in range(N):
        ea.seal(p, INNER)
    return time.ticks_diff(time.ticks_us(), t)


def time_core():
    # seal() without the HMAC: SPD lookup, copy, padding, header, AES (the heap-locked part).
    t = time.ticks_us()
    for _ in range(N):
        ea._frame_out(p, INNER)
    return time.ticks_diff(time.ticks_us(), t)


def time_open():
    # Only the open() calls are timed; head office seals the packets in between.
    total = 0
    for _ in range(N):
        pkt = eb.seal(q, INNER)
        t = time.ticks_us()
        ea.open(pkt, out)
        total += time.ticks_diff(time.ticks_us(), t)
    return total


def alloc(run_one):
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    for _ in range(ALLOC_N):
        run_one()
    d = gc.mem_alloc() - before
    gc.enable()
    return d / ALLOC_N


def requested(run_one):
    """Bytes requested from the heap per packet, including what is freed at once (call frames over
    11 words): micropython.mem_total(), on the unix port."""
    run_one()
    before = micropython.mem_total()
    for _ in range(ALLOC_N):
        run_one()
    return (micropython.mem_total() - before) / ALLOC_N


def main():
    gc.threshold(16 * 1024)  # as mp_crypto.py: keeps the allocator's free-block scan short
    time_seal()
    time_open()
    seal_us = best_us(time_seal)
    open_us = best_us(time_open)
    print("esp seal 1400B aes256-cbc+hmac-sha256-128: %.1f us/packet" % seal_us)
    print("esp open 1400B aes256-cbc+hmac-sha256-128: %.1f us/packet" % open_us)
    print("esp seal without hmac (framing+aes): %.1f us/packet" % best_us(time_core))
    print("esp seal+open: %.0f packets/s (%.1f Mbit/s of 1400-byte inner packets)"
          % (1e6 / (seal_us + open_us), INNER * 8 / (seal_us + open_us)))
    seal_b = alloc(lambda: ea.seal(p, INNER))
    pair_b = alloc(lambda: ea.open(eb.seal(q, INNER), out))
    print("esp seal allocation: %.0f B/packet" % seal_b)
    print("esp open allocation: %.0f B/packet" % (pair_b - seal_b))
    seal_r = requested(lambda: ea.seal(p, INNER))
    pair_r = requested(lambda: ea.open(eb.seal(q, INNER), out))
    print("esp seal requested incl. freed at once: %.0f B/packet" % seal_r)
    print("esp open requested incl. freed at once: %.0f B/packet" % (pair_r - seal_r))
    gc.collect()
    print("esp heap in use with two engines and SAs: %d B" % gc.mem_alloc())
    assert sa_a.counters["packets_in"] > 0


main()
