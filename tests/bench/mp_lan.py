# MicroPython LAN-gateway benchmark (run by bench_lan.py on the sim board's runtime, 112 KB heap, firmware
# as .mpy): us per frame through each steady-state path of net/ipv4.Forwarder (including the runner's
# memcpy restoring the rewritten header, well under 1 us) and the bytes each frame allocates (kept,
# and including what is freed at once: call frames too big for the C stack), plus
# the Internet checksum: the firmware's @micropython.viper net/icmp.csum against a plain-bytecode
# reference kept here (csum_bytecode). Prints "name: figure unit" lines.
import gc
import time

import micropython

import lan_paths
from net import icmp

N = 2000


def timed(run, n=N, rounds=5):
    """Best of `rounds` runs of n frames (other work on the machine only ever adds time)."""
    run()
    best = None
    for _ in range(rounds):
        gc.collect()
        t0 = time.ticks_us()
        for _ in range(n):
            run()
        t = time.ticks_diff(time.ticks_us(), t0)
        if best is None or t < best:
            best = t
    return best / n


def allocated(run, n=1000):
    run()
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    for _ in range(n):
        run()
    per = (gc.mem_alloc() - before) / n
    gc.enable()
    return per


def requested(run, n=1000):
    """Bytes requested from the heap per frame, including what is freed at once (call frames over 11
    words): micropython.mem_total(), on the unix port."""
    run()
    before = micropython.mem_total()
    for _ in range(n):
        run()
    return (micropython.mem_total() - before) / n


def csum_bytecode(buf, off, n):
    """net/icmp.csum in plain bytecode: the reference its viper code is measured against."""
    acc = 0
    end = off + (n & ~1)
    for i in range(off, end, 2):
        acc += (buf[i] << 8) | buf[i + 1]
    if n & 1:
        acc += buf[end] << 8
    acc = (acc & 0xFFFF) + (acc >> 16)
    return (acc & 0xFFFF) + (acc >> 16)


def main():
    gc.threshold(16 * 1024)
    fw, port = lan_paths.setup()
    # (name, runner, the counter each frame must advance)
    paths = (
        ("lan_to_tunnel_1400", lan_paths.lan_to_tunnel(fw), "to_tunnel"),
        ("lan_to_tunnel_64", lan_paths.lan_to_tunnel(fw, 64), "to_tunnel"),
        ("tunnel_to_lan_1400_zero_copy", lan_paths.tunnel_to_lan(fw), "to_lan"),
        ("tunnel_to_lan_1400_copy", lan_paths.tunnel_to_lan(fw, zero_copy=False), "to_lan"),
        ("echo_reply_64", lan_paths.echo(fw), "echo_replies"),
        ("syn_mss_clamp", lan_paths.syn_clamp(fw), "mss_clamped"),
    )
    for name, run, counter in paths:
        before = fw.counters[counter]
        us = timed(run)
        # The benchmark measures work done, not drops: every frame must have taken its path.
        assert fw.counters[counter] - before == 5 * N + 1, (name, fw.counters)
        print("%s: %.1f us/frame" % (name, us))
        print("%s_alloc: %d bytes/frame" % (name, allocated(run)))
        print("%s_alloc_incl_freed: %d bytes/frame" % (name, requested(run)))
    data = bytearray(1400)
    for i in range(1400):
        data[i] = (i * 7) & 0xFF
    assert csum_bytecode(data, 0, 1400) == icmp.csum(data, 0, 1400)
    for n in (20, 1400):
        py = timed(lambda: csum_bytecode(data, 0, n), 2000)
        vp = timed(lambda: icmp.csum(data, 0, n), 2000)
        print("lan_csum_%d_bytecode: %.2f us" % (n, py))
        print("lan_csum_%d_viper: %.2f us (ratio %.1fx faster)" % (n, vp, py / vp))


main()
