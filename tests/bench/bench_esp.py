"""The ESP engine (firmware/ipsec) on the sim board's runtime (MicroPython unix port, 112 KB heap,
firmware compiled to .mpy): us per seal and per open of a 1400-byte inner packet with AES-256-CBC +
HMAC-SHA2-256-128 and the bytes each allocates (tests/bench/mp_esp.py); and, for scale, the same packet
format sealed and opened in CPython with `cryptography` + `hmac` (a fresh cipher context per packet,
as a straightforward CPython implementation does it). Prints figures; asserts nothing about speed."""
import hmac
import os
import sys
import tempfile
import time
from hashlib import sha256
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent.parent / "host_tools")]

from branchgate.mpy import compile_tree  # noqa: E402
from mp import FIRMWARE, run_mp  # noqa: E402

HEAP = "112k"
INNER = 1400
N = 5000


def cpython_reference():
    """(seal us, open us) per packet: SPI|seq|IV|AES-CBC(inner|pad|pl|nh)|ICV in CPython."""
    ke, ka = os.urandom(32), os.urandom(32)
    inner = os.urandom(INNER)
    k = (-(INNER + 2)) % 16
    plain = inner + bytes(range(1, k + 1)) + bytes((k, 4))

    def seal(seq):
        iv = os.urandom(16)
        enc = Cipher(algorithms.AES(ke), modes.CBC(iv)).encryptor()
        body = b"\x00\x00\x10\x01" + seq.to_bytes(4, "big") + iv + enc.update(plain) + enc.finalize()
        return body + hmac.new(ka, body, sha256).digest()[:16]

    def open_(pkt):
        if not hmac.compare_digest(hmac.new(ka, pkt[:-16], sha256).digest()[:16], pkt[-16:]):
            raise ValueError("icv")
        dec = Cipher(algorithms.AES(ke), modes.CBC(pkt[8:24])).decryptor()
        out = dec.update(pkt[24:-16]) + dec.finalize()
        return out[:len(out) - 2 - out[-2]]

    best_seal = best_open = None
    for _ in range(5):
        t = time.perf_counter()
        pkts = [seal(i) for i in range(N)]
        s = (time.perf_counter() - t) / N * 1e6
        t = time.perf_counter()
        for pkt in pkts:
            assert len(open_(pkt)) == INNER
        o = (time.perf_counter() - t) / N * 1e6
        best_seal = s if best_seal is None else min(best_seal, s)
        best_open = o if best_open is None else min(best_open, o)
    return best_seal, best_open


def main():
    with tempfile.TemporaryDirectory() as build:
        compile_tree(FIRMWARE, build)
        p = run_mp([str(HERE / "mp_esp.py")], heap=HEAP, extra_path=[build])
    if p.returncode != 0:
        raise RuntimeError("mp_esp.py failed:\n%s%s" % (p.stdout, p.stderr))
    figures = {}
    for line in p.stdout.splitlines():
        print(line + " [micropython, heap %s]" % HEAP)
        name, _, rest = line.partition(": ")
        figures[name] = rest.split()[0]
    ref_seal, ref_open = cpython_reference()
    for what, ref in (("seal", ref_seal), ("open", ref_open)):
        mine = float(figures["esp %s 1400B aes256-cbc+hmac-sha256-128" % what])
        print("esp %s 1400B reference: %.1f us/packet [CPython %d.%d + cryptography] (ratio "
              "micropython/cpython %.1f)" % (what, ref, sys.version_info[0], sys.version_info[1],
                                             mine / ref))


if __name__ == "__main__":
    main()
