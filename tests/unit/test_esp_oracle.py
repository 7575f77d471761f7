"""The ESP engine (firmware/ipsec, run under CPython through tests/shims) against an independent
implementation: scapy's SecurityAssociation (ESP tunnel mode, AES-CBC, HMAC-SHA2-256-128, UDP
encapsulation per RFC 3948). Packets the engine seals must decrypt in scapy, packets scapy seals must
open in the engine, and scapy must reject what the engine's peer would (a flipped bit)."""
import os

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.ipsec import ESP, SecurityAssociation, IPSecIntegrityError

from ipsec import engine, sad

BRANCH_WAN, HQ_WAN = "192.0.2.2", "198.51.100.1"
BRANCH_HOST, HQ_HOST = "10.20.1.10", "10.10.1.1"


class Selector:
    # Same attributes as ike.message.Selector.
    def __init__(self, start, end):
        self.ts_type = 7
        self.ip_proto = 0
        self.start_port = 0
        self.end_port = 65535
        self.start_addr = bytes(map(int, start.split(".")))
        self.end_addr = bytes(map(int, end.split(".")))


def _setup(keylen):
    """The branch engine (ours) and scapy as head office, with random keys both ways."""
    ke_out, ke_in = os.urandom(keylen // 8), os.urandom(keylen // 8)
    ka_out, ka_in = os.urandom(32), os.urandom(32)
    spi_in, spi_out = 0xC0000101, 0x00002002
    db = sad.Sad(clock=lambda: 0)
    db.install(spi_in.to_bytes(4, "big"), spi_out.to_bytes(4, "big"), 12, keylen, ke_in, ka_in,
               ke_out, ka_out, [Selector("10.20.1.0", "10.20.1.255")],
               [Selector("10.10.1.0", "10.10.1.255")], HQ_WAN, True)
    nat_t = UDP(sport=4500, dport=4500)
    # What the branch sends, as head office sees it (scapy decrypts with it) ...
    rx = SecurityAssociation(ESP, spi=spi_out, crypt_algo="AES-CBC", crypt_key=ke_out,
                             auth_algo="SHA2-256-128", auth_key=ka_out,
                             tunnel_header=IP(src=BRANCH_WAN, dst=HQ_WAN), nat_t_header=nat_t)
    # ... and what head office sends to the branch.
    tx = SecurityAssociation(ESP, spi=spi_in, crypt_algo="AES-CBC", crypt_key=ke_in,
                             auth_algo="SHA2-256-128", auth_key=ka_in,
                             tunnel_header=IP(src=HQ_WAN, dst=BRANCH_WAN), nat_t_header=nat_t)
    return engine.Engine(db), rx, tx


def _on_the_wire(esp_bytes):
    """The engine's ESP packet as the WAN socket sends it: IPv4/UDP 4500/ESP."""
    return IP(bytes(IP(src=BRANCH_WAN, dst=HQ_WAN) / UDP(sport=4500, dport=4500) / esp_bytes))


def _inner(src, dst, size, i):
    """An IPv4 packet of `size` bytes: UDP if there is room for its header, else bare IP."""
    if size < 28:
        pkt = IP(src=src, dst=dst, id=i, proto=253) / bytes(size - 20)
    else:
        pkt = IP(src=src, dst=dst, id=i) / UDP(sport=1000 + i, dport=53)
        pkt = pkt / bytes((i + k) & 0xFF for k in range(size - 28))
    raw = bytes(pkt)
    assert len(raw) == size
    return raw


SIZES = [20, 28, 29, 40, 41, 42, 43, 44, 45, 56, 100, 577, 1000, 1399, 1400, 1422, 1500]


@pytest.mark.parametrize("keylen", [128, 256])
def test_engine_sealed_packets_decrypt_in_scapy(keylen):
    eng, rx, _ = _setup(keylen)
    for i, size in enumerate(SIZES):
        raw = _inner(BRANCH_HOST, HQ_HOST, size, i)
        view = eng.seal(memoryview(bytearray(raw) + bytes(36)), size)
        assert view is not None
        wire = _on_the_wire(bytes(view))
        assert wire[ESP].seq == i + 1
        plain = rx.decrypt(wire)
        assert bytes(plain) == raw


@pytest.mark.parametrize("keylen", [128, 256])
def test_scapy_sealed_packets_open_in_engine(keylen):
    eng, _, tx = _setup(keylen)
    for i, size in enumerate(SIZES):
        raw = _inner(HQ_HOST, BRANCH_HOST, size, i)
        wire = tx.encrypt(IP(raw))
        esp = bytes(wire[UDP].payload)
        n = eng.open(esp)
        assert n == size, engine.REASONS[-n] if n < 0 else n
        assert bytes(eng.rx_inner[:n]) == raw
        assert eng.open(esp) == engine.DROP_REPLAY
    assert eng.sa.counters["packets_in"] == len(SIZES)
    assert eng.sa.counters["replay_drops"] == len(SIZES)


def test_tampered_packets_fail_on_both_sides():
    eng, rx, tx = _setup(256)
    inner = IP(src=BRANCH_HOST, dst=HQ_HOST) / UDP(sport=1, dport=2) / (b"x" * 100)
    esp = bytearray(eng.seal(bytes(inner), len(inner)))
    esp[40] ^= 0x01
    with pytest.raises(IPSecIntegrityError):
        rx.decrypt(_on_the_wire(bytes(esp)))
    back = IP(src=HQ_HOST, dst=BRANCH_HOST) / UDP(sport=2, dport=1) / (b"y" * 100)
    esp = bytearray(bytes(tx.encrypt(back)[UDP].payload))
    esp[-1] ^= 0x80
    assert eng.open(bytes(esp)) == engine.DROP_ICV
    assert eng.sa.counters["icv_failures"] == 1


def test_inner_mtu():
    # IPv4 (20) + UDP (8) + SPI/seq (8) + IV (16) + 16-byte blocks + ICV (16) within the path MTU.
    eng, rx, _ = _setup(128)
    for mtu in (576, 1280, 1400, 1500):
        for encap in (True, False):
            n = engine.inner_mtu(mtu, encap)
            outer = 20 + (8 if encap else 0) + len(eng.seal(bytes(IP(dst=HQ_HOST, src=BRANCH_HOST)
                                                                 / (b"\0" * (n - 20))), n))
            assert outer <= mtu and outer + 16 > mtu
