"""Coverage-guided fuzzing of the IKE decoder and the responder's request handling under CPython.

    python tests/unit/fuzz_responder.py [libFuzzer flags] NEW_CORPUS_DIR SEED_CORPUS_DIR   (atheris)
    python tests/unit/fuzz_responder.py --seeds DIR    write the seed corpus (tests/corpus/fuzz_responder)
    python tests/unit/fuzz_responder.py --replay PATH...   run inputs once (regressions), no atheris

The firmware's own modules run in-process (tests/shims for micropython/cryptolib, CPython stand-ins
for time.ticks_*, gc.mem_free) against tests/device/ike_peer.py's scripted initiator, a fake WAN and
a fake SAD. One responder with an established IKE SA (AES-256-CBC, SHA-256, Curve25519) and a CHILD
SA is kept across inputs, rebuilt when an input deleted it. The first byte of an input picks what the
rest becomes:
  0: a raw datagram for Responder.input (and for message.decode, which may raise only ParseError)
  1: inner payloads (rest[1] = first payload type, rest[2:] = the chain, arbitrary bytes) of a
     request on the established SA with the right message ID and a VALID SK payload: the exchange
     handlers (rest[0] picks IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL or an unknown one) see
     whatever the chain decodes to. With bit 3 of the first byte set, the same request goes as 1-4
     valid SKF fragments (RFC 7383; rest[0] bits 2-3: how many, bits 4-5: the order they go in)
  2: the same as the answer to a request of the responder's own (a liveness check)
  3: a plaintext IKE_SA_INIT request whose payload chain is rest[1:] (rest[0] = first type)
Any exception escaping Responder.input is a finding (atheris saves the input and exits non-zero):
the responder must turn every protocol error into a drop or a notify itself.
"""
import gc
import hashlib
import hmac as hmac_mod
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
for p in (REPO / "tests" / "device", REPO / "tests" / "shims", REPO / "firmware"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

# MicroPython APIs the firmware uses, for CPython.
if not hasattr(time, "ticks_ms"):
    time.ticks_ms = lambda: int(time.monotonic() * 1000) & 0x3FFFFFFF
    time.ticks_diff = lambda a, b: ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000
    time.ticks_add = lambda a, b: (a + b) & 0x3FFFFFFF
if not hasattr(gc, "mem_free"):
    gc.mem_free = lambda: 1 << 20
    gc.mem_alloc = lambda: 0

SEEDS = REPO / "tests" / "corpus" / "fuzz_responder"
CODEC_CORPUS = REPO / "tests" / "corpus" / "ike"
EXCHANGES = (35, 36, 37, 40)  # IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL, and an unknown one


def _modules():
    # Imported late: under atheris, inside instrument_imports() so their branches are traced.
    import ike_peer
    import log
    from ike import const, message
    return ike_peer, log, const, message


class Harness:
    def __init__(self):
        self.ike_peer, self.log, self.const, self.message = _modules()
        self.log.set_output(lambda line: None)  # the firmware's log lines are not the point here
        self.log.set_level("debug")              # ... but every level's formatting runs
        self.rebuilds = 0
        self.runs = 0
        self.build()

    def build(self):
        P, const = self.ike_peer, self.const
        self.r, self.wan, self.sad = P.rig(ike_proposals=["aes128-sha256-x25519"])
        self.i = P.Initiator(group=const.CURVE25519, ike="aes128-sha256-x25519")
        P.establish(self.r, self.wan, self.i)
        self.wan.sent.clear()
        self.sa = self.r.sas[self.i.spi_r]
        self.rebuilds += 1

    def healthy(self):
        s = self.r.sas.get(self.i.spi_r)
        return s is not None and s.state == 1 and len(self.r.sas) <= 8

    def seal_raw(self, exchange, flags, msg_id, first_type, inner, fragment=None):
        """An SK-protected message of arbitrary inner bytes under the initiator's keys (AES-CBC +
        HMAC-SHA-256-128, RFC 7296 3.14), built here with `cryptography`, not the firmware's codec;
        fragment=(number, total): an SKF fragment of one (RFC 7383 2.5) instead."""
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        k = self.i.keys
        bs = 16
        plain_len = (len(inner) + bs) // bs * bs
        padded = inner + bytes(plain_len - len(inner) - 1) + bytes((plain_len - len(inner) - 1,))
        iv = os.urandom(bs)
        enc = Cipher(algorithms.AES(k.sk_ei), modes.CBC(iv)).encryptor()
        ct = enc.update(padded) + enc.finalize()
        numbers = b"" if fragment is None else fragment[0].to_bytes(2, "big") + fragment[1].to_bytes(2, "big")
        total = 28 + 4 + len(numbers) + bs + len(ct) + 16
        hdr = (self.i.spi_i + self.i.spi_r + bytes((46 if fragment is None else 53, 0x20, exchange, flags))
               + (msg_id & 0xFFFFFFFF).to_bytes(4, "big") + total.to_bytes(4, "big"))
        body = hdr + bytes((first_type, 0)) + (total - 28).to_bytes(2, "big") + numbers + iv + ct
        return body + hmac_mod.new(k.sk_ai, body, hashlib.sha256).digest()[:16]

    def fragments(self, exchange, msg_id, first_type, inner, n, rotate):
        """seal_raw's message as n SKF fragments (the first names first_type, 2.5), in rotated order."""
        step = max(1, -(-len(inner) // n))
        out = [self.seal_raw(exchange, self.const.FLAG_INITIATOR, msg_id, first_type if k == 0 else 0,
                             inner[k * step:(k + 1) * step], (k + 1, n)) for k in range(n)]
        rotate %= n
        return out[rotate:] + out[:rotate]

    def one_input(self, data):
        if len(data) < 3:
            return
        if not self.healthy():
            self.build()
        self.runs += 1
        r, const, message = self.r, self.const, self.message
        mode, rest = data[0] & 3, data[1:]
        natt = bool(data[0] & 4)
        remote = self.ike_peer.HQ_NATT if natt else self.ike_peer.HQ
        if mode == 0:
            try:
                message.decode(rest)
            except message.ParseError:
                pass
            r.input(rest, remote, natt)
        elif mode == 1 and data[0] & 8:
            for d in self.fragments(EXCHANGES[rest[0] & 3], self.sa.rx_id, rest[1], rest[2:], (rest[0] >> 2 & 3) + 1,
                                    rest[0] >> 4 & 3):
                r.input(d, self.ike_peer.HQ_NATT, True)
        elif mode == 1:
            s = self.sa
            r.input(self.seal_raw(EXCHANGES[rest[0] & 3], const.FLAG_INITIATOR, s.rx_id, rest[1], rest[2:]),
                    self.ike_peer.HQ_NATT, True)
        elif mode == 2:
            s = self.sa
            if s.out is None:
                r.request(s, const.INFORMATIONAL, [], None, None)
            if s.out is not None:
                r.input(self.seal_raw(const.INFORMATIONAL, const.FLAG_INITIATOR | const.FLAG_RESPONSE, s.out.msg_id,
                                      rest[1], rest[2:]), self.ike_peer.HQ_NATT, True)
        else:
            spi = hashlib.sha256(rest).digest()[:8]
            total = 28 + len(rest) - 1
            hdr = spi + bytes(8) + bytes((rest[0], 0x20, 34, const.FLAG_INITIATOR)) + bytes(4) + total.to_bytes(4, "big")
            r.input(hdr + rest[1:], remote, natt)
        self.wan.sent.clear()


def write_seeds(out):
    """Seed inputs from the codec corpus: every message raw (mode 0), the plaintext messages' payload
    chains as SK requests (also fragmented) and answers (modes 1, 2) and as IKE_SA_INITs (mode 3)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for f in sorted(CODEC_CORPUS.glob("*.bin")):
        b = f.read_bytes()
        seeds = [bytes((0,)) + b, bytes((4,)) + b]
        if f.name.startswith("plain_") and len(b) > 28:
            chain = b[28:]
            ex = {35: 0, 36: 1, 37: 2}.get(b[18], 3)
            seeds += [bytes((1, ex, b[16])) + chain, bytes((2, 0, b[16])) + chain, bytes((3, b[16])) + chain,
                      bytes((1 | 8, ex | 4 | 16, b[16])) + chain]  # as two fragments, the second first
        for s in seeds:
            (out / hashlib.sha1(s).hexdigest()).write_bytes(s)
            n += 1
    return n


def replay(paths):
    """Run inputs (files, or every file of directories) once, without atheris; a traceback and
    exit 1 at the first one that raises."""
    h = Harness()
    files = []
    for p in map(Path, paths):
        files += sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
    for f in files:
        try:
            h.one_input(f.read_bytes())
        except Exception:
            print("FINDING: %s raised" % f, file=sys.stderr)
            raise
    print("replayed %d inputs, %d responder rebuilds" % (len(files), h.rebuilds))
    return 0


def main(argv):
    if argv[1:2] == ["--seeds"]:
        print("%d seeds written" % write_seeds(argv[2]))
        return 0
    if argv[1:2] == ["--replay"]:
        return replay(argv[2:])
    import atheris
    with atheris.instrument_imports(include=["ike", "crypto", "net", "cfgview", "config", "log"]):
        h = Harness()
    atheris.Setup(argv, h.one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
