"""Hostile datagrams for the live device, sent from CPython inside the head-office namespace.

    udpblast.py malformed SPEC.json   -> JSON figures on stdout
    udpblast.py init-flood SPEC.json
    udpblast.py init-cookie SPEC.json

malformed: `count` datagrams at `rate`/s from `sockets` source ports to UDP 500 and 4500: mutations
  of valid IKE messages of every exchange (the codec's seed corpus plus fresh IKE_SA_INITs of the
  device's group), truncations, wrong header/payload lengths, random bytes, requests on the live IKE
  SA (its SPIs, message IDs around the expected one, an SK payload that fails its ICV), ESP with
  unknown SPIs and with the live CHILD SA's SPI but a bad ICV, and odd ones (IKEv1, IKE version 3,
  runts, keepalives, a bare non-ESP marker). Seeded: the same spec sends the same datagrams.
init-flood: `count` IKE_SA_INIT requests (fresh SPIs and nonces, the device's group) from `sockets`
  source ports on each of the `sources` addresses, at `rate`/s; answers are read and classified
  (COOKIE, an SA, an error notify) without ever returning a cookie: a flood that keeps no state.
init-cookie: `count` initiators one after another that do return the cookie; the answer each got at
  the end (figures: how many got an SA, TEMPORARY_FAILURE, NO_ADDITIONAL_SAS...).
"""
import json
import os
import random
import socket
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[:0] = [str(REPO / "tests" / "shims"), str(REPO / "firmware")]

from cryptography.hazmat.primitives.asymmetric import x25519  # noqa: E402

from ike import const  # noqa: E402
from ike import message  # noqa: E402

CORPUS = REPO / "tests" / "corpus" / "ike"
MARKER = bytes(4)
CATEGORIES = (("mutate", 30), ("truncate", 10), ("length", 10), ("random", 10), ("live", 15),
              ("esp_unknown", 9), ("esp_bad_icv", 8), ("odd", 8))
INTERESTING = (0, 1, 0x7F, 0x80, 0xFF)


def sa_init(spi_i, group=const.CURVE25519, cookie=None, rng=os):
    """An IKE_SA_INIT request as strongSwan sends it (AES-256-CBC, SHA-256, the given group)."""
    if group == const.CURVE25519:
        ke = x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
    else:
        ke = rng.urandom(256)
    t = [message.Transform(const.TRANS_ENCR, const.ENCR_AES_CBC, 256),
         message.Transform(const.TRANS_PRF, const.PRF_HMAC_SHA2_256),
         message.Transform(const.TRANS_INTEG, const.AUTH_HMAC_SHA2_256_128),
         message.Transform(const.TRANS_DH, group)]
    p = [message.Sa([message.Proposal(1, const.PROTO_IKE, b"", t)]), message.Ke(group, ke),
         message.Nonce(rng.urandom(32)),
         message.Notify(0, b"", const.NAT_DETECTION_SOURCE_IP, rng.urandom(20)),
         message.Notify(0, b"", const.NAT_DETECTION_DESTINATION_IP, rng.urandom(20))]
    if cookie is not None:
        p.insert(0, message.Notify(0, b"", const.COOKIE, cookie))
    return message.Message(spi_i, bytes(8), const.IKE_SA_INIT, const.FLAG_INITIATOR, 0, p).encode()


class Urandom:
    """os.urandom's signature over a seeded generator."""

    def __init__(self, rng):
        self.rng = rng

    def urandom(self, n):
        return self.rng.randbytes(n)


class Malformed:
    def __init__(self, spec):
        self.rng = random.Random(spec.get("seed", 1))
        self.live = spec.get("live") or {}
        self.corpus = [f.read_bytes() for f in sorted(CORPUS.glob("*.bin"))]
        u = Urandom(self.rng)
        self.corpus += [sa_init(u.urandom(8), rng=u) for _ in range(8)]
        self.kinds = [k for k, w in CATEGORIES for _ in range(w)]

    def ike(self, data):
        """(port, datagram): IKE on 500, or on 4500 behind the non-ESP marker."""
        if self.rng.random() < 0.5:
            return 500, data
        return 4500, MARKER + data

    def mutate(self, b):
        r = self.rng
        b = bytearray(b)
        for _ in range(r.randint(1, 4)):
            op = r.randrange(7)
            if not b:
                b += r.randbytes(r.randint(1, 64))
            i = r.randrange(len(b))
            if op == 0:
                b[i] ^= 1 << r.randrange(8)
            elif op == 1:
                b[i] = r.choice(INTERESTING)
            elif op == 2:
                del b[i:i + r.randint(1, 32)]
            elif op == 3:
                b[i:i] = r.randbytes(r.randint(1, 32))
            elif op == 4:
                j = r.randrange(len(b))
                b[i:i] = b[j:j + r.randint(1, 64)]
            elif op == 5:
                other = r.choice(self.corpus)
                b[i:] = other[r.randrange(len(other)):]
            else:
                b[i] = r.randrange(256)
        return bytes(b)

    def next(self):
        r = self.rng
        kind = r.choice(self.kinds)
        if kind == "mutate":
            return kind, self.ike(self.mutate(r.choice(self.corpus)))
        if kind == "truncate":
            m = r.choice(self.corpus)
            return kind, self.ike(m[:r.randrange(len(m))])
        if kind == "length":
            b = bytearray(r.choice(self.corpus))
            if r.random() < 0.5:
                wrong = r.choice((0, 1, 27, 28, len(b) - 1, len(b) + 1, 0xFFFFFFFF, r.randrange(1 << 32)))
                b[24:28] = wrong.to_bytes(4, "big")
            elif len(b) > 32:
                b[30:32] = r.choice((0, 1, 3, 4, 0xFFFF, r.randrange(1 << 16))).to_bytes(2, "big")
            return kind, self.ike(bytes(b))
        if kind == "random":
            n = r.choice((r.randint(0, 40), r.randint(0, 1500)))
            b = r.randbytes(n)
            return kind, (r.choice((500, 4500)), b)
        if kind == "live" and self.live.get("spi_r"):
            spi_i, spi_r = bytes.fromhex(self.live["spi_i"]), bytes.fromhex(self.live["spi_r"])
            mid = self.live.get("msg_id", 2)
            mid = r.choice((mid - 1, mid, mid + 1, 0, r.randrange(1 << 32))) & 0xFFFFFFFF
            exchange = r.choice((const.IKE_AUTH, const.CREATE_CHILD_SA, const.INFORMATIONAL, const.IKE_SA_INIT))
            flags = r.choice((const.FLAG_INITIATOR, const.FLAG_INITIATOR | const.FLAG_RESPONSE, const.FLAG_RESPONSE))
            body = r.randbytes(16 * r.randint(1, 12) + 16)  # IV | ciphertext | ICV: the ICV fails
            sk = bytes((r.randrange(1, 54), 0)) + (4 + len(body)).to_bytes(2, "big") + body
            hdr = spi_i + spi_r + bytes((const.PT_SK, 0x20, exchange, flags)) + mid.to_bytes(4, "big")
            return kind, (4500, MARKER + hdr + (28 + len(sk)).to_bytes(4, "big") + sk)
        if kind == "esp_bad_icv" and self.live.get("esp_spi"):
            spi = bytes.fromhex(self.live["esp_spi"])
            return kind, (4500, spi + r.randrange(1, 1 << 32).to_bytes(4, "big") + r.randbytes(16 * r.randint(2, 80) + 16))
        if kind in ("esp_unknown", "live", "esp_bad_icv"):
            spi = bytes((r.randrange(1, 256),)) + r.randbytes(3)
            return "esp_unknown", (4500, spi + r.randbytes(4) + r.randbytes(r.randint(0, 1400)))
        # odd
        pick = r.randrange(6)
        if pick == 0:  # IKEv1 Main Mode header
            return kind, (500, r.randbytes(8) + bytes(8) + bytes((1, 0x10, 2, 0, 0, 0, 0, 0)) + (28).to_bytes(4, "big"))
        if pick == 1:  # IKE version 3.0 IKE_SA_INIT: INVALID_MAJOR_VERSION
            b = bytearray(r.choice(self.corpus[-8:]))
            b[17] = 0x30
            return kind, self.ike(bytes(b))
        if pick == 2:
            return kind, (4500, b"\xff")
        if pick == 3:
            return kind, (4500, MARKER)
        if pick == 4:
            return kind, (r.choice((500, 4500)), b"")
        return kind, (4500, r.randbytes(r.randint(1, 7)))


def sockets(n, src, rcvbuf=1 << 16):
    out = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.bind((src, 0))
        s.setblocking(False)
        out.append(s)
    return out


def drain(socks):
    """Read what came back; returns the datagrams."""
    got = []
    for s in socks:
        while True:
            try:
                got.append(s.recv(65535))
            except (BlockingIOError, ConnectionRefusedError):
                break
    return got


def pace(i, rate, t0):
    ahead = t0 + i / rate - time.monotonic()
    if ahead > 0.0005:
        time.sleep(ahead)


def malformed(spec):
    gen = Malformed(spec)
    socks = sockets(spec.get("sockets", 32), spec["src"])
    target, rate, count = spec["target"], float(spec["rate"]), int(spec["count"])
    sent = {}
    ports = {500: 0, 4500: 0}
    ike = 0  # what the device's WAN hands to IKE: all of 500, and 4500 behind the non-ESP marker
    esp = 0
    replies = 0
    t0 = time.monotonic()
    for i in range(count):
        kind, (port, data) = gen.next()
        try:
            socks[i % len(socks)].sendto(data, (target, port))
        except OSError:
            kind = kind + "_send_error"
        sent[kind] = sent.get(kind, 0) + 1
        ports[port] += 1
        if port == 500 or (len(data) >= 4 and data[:4] == MARKER):
            ike += 1
        elif len(data) >= 8:
            esp += 1  # the rest of 4500 is ESP for the engine, but keepalives and runts (< 8 bytes)
        if i % 512 == 0:
            replies += len(drain(socks))
            pace(i, rate, t0)
    elapsed = time.monotonic() - t0
    time.sleep(0.5)
    replies += len(drain(socks))
    return {"sent": count, "by_kind": sent, "by_port": ports, "ike": ike, "esp": esp, "replies": replies, "seconds": round(elapsed, 2),
            "rate": round(count / elapsed)}


def classify(data):
    try:
        m = message.decode(data)
    except message.ParseError:
        return "unparsable", None
    for p in m.payloads:
        if isinstance(p, message.Notify) and p.notify_type == const.COOKIE:
            return "cookie", bytes(p.data)
    for p in m.payloads:
        if isinstance(p, message.Notify) and p.notify_type < 16384:
            return "notify_%d" % p.notify_type, None
    if m.get(message.Sa) is not None:
        return "sa", m.spi_r
    return "other", None


def init_flood(spec):
    socks = []
    for src in spec["sources"]:
        socks += sockets(spec.get("sockets", 8), src)
    target, rate, count = spec["target"], float(spec["rate"]), int(spec["count"])
    answers = {}
    t0 = time.monotonic()
    for i in range(count):
        socks[i % len(socks)].sendto(sa_init(os.urandom(8)), (target, 500))
        if i % 16 == 0:
            for d in drain(socks):
                k = classify(d)[0]
                answers[k] = answers.get(k, 0) + 1
            pace(i, rate, t0)
    elapsed = time.monotonic() - t0
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        for d in drain(socks):
            k = classify(d)[0]
            answers[k] = answers.get(k, 0) + 1
        time.sleep(0.05)
    return {"sent": count, "sources": len(spec["sources"]), "source_ports": len(socks), "answers": answers,
            "seconds": round(elapsed, 2), "rate": round(count / elapsed)}


def exchange(s, data, target, timeout):
    s.settimeout(timeout)
    s.sendto(data, (target, 500))
    try:
        return classify(s.recv(65535))
    except socket.timeout:
        return "silence", None


def init_cookie(spec):
    target, count, timeout = spec["target"], int(spec["count"]), spec.get("timeout", 2.0)
    outcomes = []
    keep = []  # sockets kept open so each initiator stays a distinct source port
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((spec["src"], 0))
        keep.append(s)
        spi = os.urandom(8)
        nonce_rng = Urandom(random.Random(spi))
        kind, value = exchange(s, sa_init(spi, rng=nonce_rng), target, timeout)
        if kind == "cookie":
            # The same request again with the cookie in front (RFC 7296 2.6: same nonce, same SPI).
            nonce_rng = Urandom(random.Random(spi))
            kind, value = exchange(s, sa_init(spi, cookie=value, rng=nonce_rng), target, timeout)
            kind = "cookie+" + kind
        outcomes.append(kind)
    counts = {}
    for k in outcomes:
        counts[k] = counts.get(k, 0) + 1
    return {"initiators": count, "outcomes": outcomes, "counts": counts}


def main():
    mode, spec_file = sys.argv[1], sys.argv[2]
    spec = json.loads(Path(spec_file).read_text())
    out = {"malformed": malformed, "init-flood": init_flood, "init-cookie": init_cookie}[mode](spec)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
