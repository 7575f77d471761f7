# MicroPython crypto benchmark (run by bench_crypto.py on the sim board's runtime, 112 KB heap):
# an ESP-style seal of a 1400-byte payload (AES-256-CBC in place + HMAC-SHA-256-128), the bytes it
# allocates, and the cost of each Diffie-Hellman group. Prints "name: figure unit" lines.
import gc
import os
import time

import cryptolib
import micropython

from crypto import dh
from crypto.hmac import HmacSha256

PAYLOAD = 1400
ENC = 1408  # payload + ESP trailer (padding, pad length, next header) rounded up to the AES block
HDR = 8  # SPI + sequence number
IV = 16
ICV = 16
N_TIME = 200
N_ALLOC = 50
DH_RUNS = 7

buf = bytearray(HDR + IV + ENC + ICV)
mv = memoryview(buf)
m_iv = mv[HDR:HDR + IV]
m_payload = mv[HDR + IV:HDR + IV + ENC]
m_auth = mv[:HDR + IV + ENC]  # header | IV | ciphertext: what the ICV covers
m_icv = mv[HDR + IV + ENC:]
ctr = bytearray(16)

key = os.urandom(32)
# One CBC object per SA and direction: its chaining state carries over between packets, so each packet
# first pushes an unpredictable block (a counter encrypted under a second key) through it and sends the
# output as the IV; the payload is then CBC under that IV. The AES part allocates nothing.
cbc = cryptolib.aes(key, 2, os.urandom(16))
ivgen = cryptolib.aes(os.urandom(16), 1)
mac = HmacSha256(os.urandom(32))


def next_counter():
    i = 15
    while i >= 0:
        c = (ctr[i] + 1) & 0xFF
        ctr[i] = c
        if c:
            return
        i -= 1


def seal():
    next_counter()
    ivgen.encrypt(ctr, m_iv)
    cbc.encrypt(m_iv, m_iv)
    cbc.encrypt(m_payload, m_payload)
    icv = mac.mac(m_auth)
    m_icv[:] = memoryview(icv)[:ICV]


def us_per(f, n, rounds=15):
    # best of several rounds: the figure of the code, not of whatever else shares the machine
    best = None
    for _ in range(rounds):
        gc.collect()
        t = time.ticks_us()
        for _ in range(n):
            f()
        us = time.ticks_diff(time.ticks_us(), t) / n
        best = us if best is None or us < best else best
    return best


def alloc_per(f, n):
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    for _ in range(n):
        f()
    d = gc.mem_alloc() - a
    gc.enable()
    return d / n


def aes_only():
    cbc.encrypt(m_iv, m_iv)
    cbc.encrypt(m_payload, m_payload)


def mac_only():
    mac.mac(m_auth)


def aes_is_allocation_free():
    micropython.heap_lock()
    try:
        aes_only()
        return True
    except MemoryError:
        return False
    finally:
        micropython.heap_unlock()


def main():
    gc.threshold(16 * 1024)  # keeps the allocator's free-block scan short (see ENVIRONMENT.md)
    seal()
    total = us_per(seal, N_TIME)
    aes = us_per(aes_only, N_TIME)
    print("seal aes256-cbc+hmac-sha256-128 %dB: %.1f us (aes %.1f us, hmac %.1f us)"
          % (PAYLOAD, total, aes, us_per(mac_only, N_TIME)))
    print("seal allocation per %dB packet: %d B (aes %d B, aes under heap_lock: %s)"
          % (PAYLOAD, alloc_per(seal, N_ALLOC), alloc_per(aes_only, N_ALLOC),
             "ok" if aes_is_allocation_free() else "ALLOCATES"))
    gc.threshold(-1)  # DH allocates big temporaries; let the collector run only when the heap is full
    for group in dh.SUPPORTED:
        dh.new(group)  # imports the group module outside the timing
        keygen = shared = None
        for _ in range(DH_RUNS):
            b = dh.new(group)
            gc.collect()
            t = time.ticks_us()
            a = dh.new(group)
            t1 = time.ticks_us()
            a.shared(b.public)
            t2 = time.ticks_us()
            k = time.ticks_diff(t1, t)
            s = time.ticks_diff(t2, t1)
            keygen = k if keygen is None or k < keygen else keygen
            shared = s if shared is None or s < shared else shared
        print("dh group %d keygen+shared: %.1f ms (keygen %.1f ms, shared %.1f ms, best of %d)"
              % (group, (keygen + shared) / 1000, keygen / 1000, shared / 1000, DH_RUNS))


main()
