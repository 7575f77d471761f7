"""Crypto on the sim board's runtime (MicroPython unix port, 112 KB heap, firmware compiled to .mpy):
us per 1400-byte AES-256-CBC + HMAC-SHA-256-128 seal with in-place AES, bytes allocated per seal, and ms
per Diffie-Hellman operation (keygen + shared secret) for groups 14, 19 and 31 (tests/bench/mp_crypto.py).
Each figure comes with its ratio to the same work in CPython with `cryptography` (OpenSSL) on this machine."""
import hashlib
import hmac
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import dh, ec, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "shims"), str(HERE.parent.parent / "firmware")]

from branchgate.mpy import compile_tree  # noqa: E402
from crypto import modp  # noqa: E402
from mp import FIRMWARE, run_mp  # noqa: E402

HEAP = "112k"


def best_us(f, n, rounds=15):
    best = None
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            f()
        us = (time.perf_counter() - t) / n * 1e6
        best = us if best is None or us < best else best
    return best


def cpython_seal_us():
    key, mac_key, buf = os.urandom(32), os.urandom(32), os.urandom(8 + 16 + 1408)

    def seal():
        ct = Cipher(algorithms.AES(key), modes.CBC(buf[8:24])).encryptor().update(buf[24:])
        hmac.new(mac_key, buf[:24] + ct, hashlib.sha256).digest()[:16]

    return best_us(seal, 200)


def cpython_dh_ms():
    modp_params = dh.DHParameterNumbers(modp.P, 2).parameters()

    def modp_op():
        a, b = modp_params.generate_private_key(), modp_params.generate_private_key()
        a.exchange(b.public_key())

    def ecp_op():
        a, b = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        a.exchange(ec.ECDH(), b.public_key())

    def x25519_op():
        a, b = x25519.X25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()
        a.exchange(b.public_key())

    # each op makes two key pairs and one secret; the board figure is one key pair + one secret
    return {g: best_us(f, 5) / 1000 * 2 / 3 for g, f in ((14, modp_op), (19, ecp_op), (31, x25519_op))}


def main():
    with tempfile.TemporaryDirectory() as build:
        compile_tree(FIRMWARE, build)
        p = run_mp([str(HERE / "mp_crypto.py")], heap=HEAP, extra_path=[build])
    if p.returncode != 0:
        raise RuntimeError("mp_crypto.py failed:\n%s%s" % (p.stdout, p.stderr))
    seal_ref = cpython_seal_us()
    dh_ref = cpython_dh_ms()
    for line in p.stdout.splitlines():
        m = re.match(r"seal \S+ \d+B: ([\d.]+) us", line)
        d = re.match(r"dh group (\d+) keygen\+shared: ([\d.]+) ms", line)
        if m:
            line += " (ratio %.1fx CPython+OpenSSL %.1f us)" % (float(m.group(1)) / seal_ref, seal_ref)
        elif d:
            ref = dh_ref[int(d.group(1))]
            line += " (ratio %.0fx CPython+OpenSSL %.2f ms)" % (float(d.group(2)) / ref, ref)
        print(line + " [micropython, heap %s]" % HEAP)


if __name__ == "__main__":
    main()
