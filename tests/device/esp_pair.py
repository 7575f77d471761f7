# Shared by the ESP engine's device tests and benchmark: two SADs with mirrored keys (a branch and a
# head office), inner IPv4 packets, and an ESP packet builder that uses cryptolib and crypto.hmac
# directly, independent of ipsec/engine.py, to craft what the engine must accept or refuse.
import cryptolib
import struct

from crypto import hmac
from ipsec import engine, sad

ENCR_AES_CBC = 12
KE_I = bytes(range(32))             # branch -> head office
KA_I = bytes(range(32, 64))
KE_R = bytes(range(64, 96))         # head office -> branch
KA_R = bytes(range(96, 128))
SPI_BRANCH = b"\xc1\x00\x00\x01"    # inbound SPI at the branch (top bits set: > 2**30)
SPI_HQ = b"\x00\x00\x10\x02"        # inbound SPI at head office
BRANCH_NET = (b"\x0a\x14\x01\x00", b"\x0a\x14\x01\xff")     # 10.20.1.0/24
HQ_NET = (b"\x0a\x0a\x01\x00", b"\x0a\x0a\x01\xff")         # 10.10.1.0/24
BRANCH_HOST = b"\x0a\x14\x01\x0a"
HQ_HOST = b"\x0a\x0a\x01\x01"


class Selector:
    # Same attributes as ike.message.Selector.
    def __init__(self, net, proto=0, start_port=0, end_port=65535):
        self.ts_type = 7
        self.ip_proto = proto
        self.start_port = start_port
        self.end_port = end_port
        self.start_addr, self.end_addr = net


def pair(keylen=256, lifetime=None, clock=None, events=None):
    """(branch Sad, branch Engine, branch Sa, hq Sad, hq Engine, hq Sa) with mirrored keys."""
    n = keylen // 8
    on_event = None if events is None else (lambda sa, kind: events.append(kind))
    a = sad.Sad(on_event, clock)
    b = sad.Sad(None, clock)
    sa_a = a.install(SPI_BRANCH, SPI_HQ, ENCR_AES_CBC, keylen, KE_R[:n], KA_R, KE_I[:n], KA_I,
                     [Selector(BRANCH_NET)], [Selector(HQ_NET)], "hq", True, lifetime)
    sa_b = b.install(SPI_HQ, SPI_BRANCH, ENCR_AES_CBC, keylen, KE_I[:n], KA_I, KE_R[:n], KA_R,
                     [Selector(HQ_NET)], [Selector(BRANCH_NET)], "branch", True)
    return a, engine.Engine(a), sa_a, b, engine.Engine(b), sa_b


def ipv4(n, src=BRANCH_HOST, dst=HQ_HOST, proto=17, fill=0):
    """An IPv4 packet of n bytes (UDP ports 1234 -> 53 when proto 17); payload bytes count up."""
    p = bytearray(n)
    for i in range(20, n):
        p[i] = (i + fill) & 0xFF
    p[0] = 0x45
    struct.pack_into(">H", p, 2, n)
    p[8] = 64
    p[9] = proto
    p[12:16] = src
    p[16:20] = dst
    if proto == 17 and n >= 28:
        struct.pack_into(">HH", p, 20, 1234, 53)
    return p


def trailer(n, pad=None, nh=4):
    """Padding, pad length and next header for an n-byte payload (pad: list of pad bytes)."""
    if pad is None:
        k = (-(n + 2)) % 16
        pad = list(range(1, k + 1))
    return bytes(pad) + bytes((len(pad), nh))


def craft(spi, seq, plaintext, ke=KE_I, ka=KA_I, iv=b"\x5a" * 16):
    """ESP packet SPI|seq|IV|AES-CBC(plaintext)|HMAC-SHA-256-128 built without the engine."""
    head = spi + struct.pack(">I", seq) + iv
    body = head + cryptolib.aes(ke, 2, iv).encrypt(plaintext)
    return body + hmac.HmacSha256(ka).mac(body)[:16]


def unseal(pkt, ke=KE_I, ka=KA_I):
    """Independent check of a sealed packet: (seq, plaintext incl. trailer); asserts the ICV."""
    pkt = bytes(pkt)
    assert hmac.HmacSha256(ka).mac(pkt[:-16])[:16] == pkt[-16:], "ICV"
    seq = struct.unpack(">I", pkt[4:8])[0]
    return seq, cryptolib.aes(ke, 2, pkt[8:24]).decrypt(pkt[24:-16])


def reason(code):
    return engine.REASONS[-code] if code < 0 else "ok"
