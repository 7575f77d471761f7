"""Malformed Ethernet frames for the device's LAN port, sent by CPython over AF_PACKET from the LAN
host's namespace:  lanblast.py SPEC.json  -> JSON figures on stdout.

SPEC: {"ifname", "device_mac" (hex), "count", "rate", "seed"}. Frames (tests/device/lan_frames.py
builders, RFC layouts written independently of firmware/net): runts, short and bad IPv4 headers
(version, IHL, total length, checksum), fragments, TTL 0/1, IP options, bad ICMP to the gateway,
packets no policy covers, TCP SYNs with broken options (the MSS clamp parses them), malformed ARP,
odd ethertypes, frames for other MACs, random bytes, oversized DF packets. Seeded."""
import json
import random
import socket
import struct
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "device"))

import lan_frames as F  # noqa: E402

KINDS = ("runt", "short_ip", "bad_version", "bad_ihl", "bad_length", "bad_checksum", "fragment", "ttl", "options",
         "bad_icmp", "no_policy", "tcp_options", "arp", "ethertype", "not_ours", "random", "oversized")
GW = F.LAN_IP
HOST = F.HOST_IP
HQ = bytes((10, 10, 1, 1))
OUTSIDE = bytes((10, 30, 0, 1))


class Frames:
    def __init__(self, spec, host_mac):
        self.rng = random.Random(spec.get("seed", 1))
        self.gw_mac = bytes.fromhex(spec["device_mac"])
        self.mac = host_mac

    def eth_ip(self, ip):
        return F.eth(self.gw_mac, self.mac, 0x0800, ip)

    def ip(self, dst=HQ, proto=17, payload=None, **kw):
        r = self.rng
        payload = payload if payload is not None else r.randbytes(r.randint(0, 200))
        return bytearray(F.ipv4(HOST, dst, proto, payload, **kw))

    def next(self):
        r = self.rng
        kind = r.choice(KINDS)
        if kind == "runt":
            return kind, self.gw_mac + r.randbytes(r.randint(0, 7))
        if kind == "short_ip":
            return kind, self.eth_ip(r.randbytes(r.randint(0, 19)))
        if kind == "bad_version":
            b = self.ip()
            b[0] = (r.choice((0, 1, 6, 15)) << 4) | (b[0] & 15)
            return kind, self.eth_ip(b)
        if kind == "bad_ihl":
            b = self.ip()
            b[0] = 0x40 | r.choice((0, 1, 4, 15))
            return kind, self.eth_ip(_fix(b))
        if kind == "bad_length":
            b = self.ip()
            struct.pack_into(">H", b, 2, r.choice((0, 19, 20, len(b) + 1, 65535, r.randrange(65536))))
            return kind, self.eth_ip(_fix(b))
        if kind == "bad_checksum":
            b = self.ip()
            b[10] ^= r.randint(1, 255)
            return kind, self.eth_ip(b)
        if kind == "fragment":
            return kind, self.eth_ip(self.ip(mf=r.random() < 0.5, offset=r.randint(0, 8191)))
        if kind == "ttl":
            return kind, self.eth_ip(self.ip(ttl=r.choice((0, 1))))
        if kind == "options":
            return kind, self.eth_ip(self.ip(options=r.randbytes(4 * r.randint(1, 10))))
        if kind == "bad_icmp":
            icmp = bytearray(F.icmp_echo(7, r.randint(0, 9), r.randbytes(r.randint(0, 64))))
            icmp[r.randrange(len(icmp))] ^= 0xFF
            return kind, self.eth_ip(self.ip(dst=GW, proto=1, payload=bytes(icmp[:r.randint(0, len(icmp))])))
        if kind == "no_policy":
            return kind, self.eth_ip(self.ip(dst=OUTSIDE))
        if kind == "tcp_options":
            opts = r.choice((b"\x02\x04", b"\x02\x00\x05\xb4", b"\x02\x01", b"\x02\xff\x05\xb4", b"\x01" * 3 + b"\x02",
                             b"\x02\x04\xff\xff\x00", r.randbytes(r.randint(1, 40))))
            opts = opts + bytes(-len(opts) % 4)
            off = 5 + len(opts) // 4
            tcp = struct.pack(">HHIIBBHHH", r.randrange(1024, 65535), 5201, r.randrange(1 << 32), 0, off << 4, 0x02,
                              65535, 0, 0) + opts
            if r.random() < 0.5:
                tcp = tcp[:r.randint(0, len(tcp))]  # truncated TCP header
            return kind, self.eth_ip(self.ip(proto=6, payload=tcp))
        if kind == "arp":
            a = bytearray(F.arp(r.choice((1, 2, 3)), self.mac, r.choice((HOST, GW, r.randbytes(4))), bytes(6),
                                r.choice((GW, HOST, r.randbytes(4)))))
            if r.random() < 0.5:
                a[r.randrange(6)] = r.randrange(256)  # hardware/protocol type or lengths
            return kind, F.eth(r.choice((self.gw_mac, F.BCAST)), self.mac, 0x0806, bytes(a[:r.randint(0, len(a))]))
        if kind == "ethertype":
            return kind, F.eth(self.gw_mac, self.mac, r.choice((0x86DD, 0x8100, 0x88CC, 0x0000, 0xFFFF, r.randrange(65536))),
                               r.randbytes(r.randint(0, 200)))
        if kind == "not_ours":
            return kind, F.eth(b"\x02" + r.randbytes(5), self.mac, 0x0800, self.ip())
        if kind == "random":
            return kind, self.gw_mac + r.randbytes(r.randint(8, 1500))
        b = self.ip(payload=r.randbytes(1460), df=True)  # oversized: DF and bigger than the tunnel MTU
        return kind, self.eth_ip(b)


def _fix(b):
    """Recompute the header checksum over what the (possibly broken) IHL says, at most the packet."""
    ihl = min((b[0] & 15) * 4, len(b))
    if ihl >= 12:
        b[10:12] = b"\0\0"
        struct.pack_into(">H", b, 10, F.checksum(bytes(b[:ihl])))
    return b


def main():
    spec = json.loads(Path(sys.argv[1]).read_text())
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((spec["ifname"], 0))
    gen = Frames(spec, s.getsockname()[4])
    count, rate = int(spec["count"]), float(spec["rate"])
    sent, errors = {}, 0
    t0 = time.monotonic()
    for i in range(count):
        kind, frame = gen.next()
        try:
            s.send(bytes(frame))
            sent[kind] = sent.get(kind, 0) + 1
        except OSError:
            errors += 1  # the kernel refuses some runts outright
        ahead = t0 + i / rate - time.monotonic()
        if ahead > 0.0005:
            time.sleep(ahead)
    print(json.dumps({"sent": sum(sent.values()), "by_kind": sent, "send_errors": errors,
                      "seconds": round(time.monotonic() - t0, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
