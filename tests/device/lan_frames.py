# Frame builders and checkers for the LAN tests, written from RFC 791/792/826/9293 independently of
# firmware/net (own checksum, own layouts), plus fake ports and a fake clock.
import struct

MAC_GW = b"\x02\x00\x00\x00\x00\x01"
MAC_HOST = b"\x02\x00\x00\x00\x00\x0a"
MAC_HOST2 = b"\x02\x00\x00\x00\x00\x0b"
BCAST = b"\xff" * 6
LAN_IP = bytes((10, 20, 1, 1))
WAN_IP = bytes((10, 99, 0, 2))
HOST_IP = bytes((10, 20, 1, 10))
HOST2_IP = bytes((10, 20, 1, 11))
HQ_IP = bytes((10, 10, 1, 5))


def checksum(data):
    """RFC 1071 Internet checksum (the value to store)."""
    if len(data) & 1:
        data = bytes(data) + b"\x00"
    s = 0
    for i in range(0, len(data), 2):
        s += data[i] * 256 + data[i + 1]
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return 0xFFFF - s


def eth(dst, src, etype, payload):
    return bytes(dst) + bytes(src) + struct.pack(">H", etype) + bytes(payload)


def arp(op, sha, spa, tha, tpa):
    return struct.pack(">HHBBH", 1, 0x0800, 6, 4, op) + sha + spa + tha + tpa


def ipv4(src, dst, proto, payload, ttl=64, ident=0x1234, df=False, mf=False, offset=0, options=b""):
    ihl = 5 + len(options) // 4
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | offset
    hdr = struct.pack(">BBHHHBBH", 0x40 | ihl, 0, ihl * 4 + len(payload), ident, flags, ttl, proto, 0)
    hdr = hdr + src + dst + options
    s = checksum(hdr)
    return hdr[:10] + struct.pack(">H", s) + hdr[12:] + bytes(payload)


def icmp_echo(ident, seq, data, icmp_type=8):
    m = struct.pack(">BBHHH", icmp_type, 0, 0, ident, seq) + data
    return m[:2] + struct.pack(">H", checksum(m)) + m[4:]


def tcp(src, dst, sport, dport, flags, options=b"", payload=b"", seq=1000):
    doff = (20 + len(options)) // 4
    h = struct.pack(">HHIIBBHHH", sport, dport, seq, 0, doff << 4, flags, 65535, 0, 0) + options
    seg = h + payload
    pseudo = src + dst + struct.pack(">BBH", 0, 6, len(seg))
    s = checksum(pseudo + seg)
    return seg[:16] + struct.pack(">H", s) + seg[18:]


def tcp_ok(ip_packet):
    """True if the TCP checksum of the IPv4 packet verifies (pseudo-header included)."""
    ihl = (ip_packet[0] & 15) * 4
    total = ip_packet[2] * 256 + ip_packet[3]
    seg = bytes(ip_packet[ihl:total])
    pseudo = bytes(ip_packet[12:20]) + struct.pack(">BBH", 0, 6, len(seg))
    return checksum(pseudo + seg) == 0


def ip_ok(ip_packet):
    ihl = (ip_packet[0] & 15) * 4
    return checksum(bytes(ip_packet[:ihl])) == 0


def mss_of(ip_packet):
    ihl = (ip_packet[0] & 15) * 4
    t = ip_packet[ihl:]
    end = (t[12] >> 4) * 4
    i = 20
    while i < end:
        if t[i] == 0:
            return None
        if t[i] == 1:
            i += 1
            continue
        if t[i] == 2:
            return t[i + 2] * 256 + t[i + 3]
        i += t[i + 1]
    return None


class Clock:
    """A ticks_ms stand-in the test moves by hand; starts just before the ticks wrap."""

    def __init__(self, start=None):
        import time
        self.time = time
        self.now = time.ticks_add(0, -5000) if start is None else start

    def __call__(self):
        return self.now

    def advance(self, ms):
        self.now = self.time.ticks_add(self.now, ms)


class FakePort:
    """Records sent frames; hands out queued frames."""

    def __init__(self, mac=MAC_GW):
        self.mac = mac
        self.pollable = None
        self.sent = []
        self.inbox = []
        self.accept = True

    def recv_into(self, buf):
        if not self.inbox:
            return 0
        f = self.inbox.pop(0)
        buf[0:len(f)] = f
        return len(f)

    def send(self, buf, n):
        if not self.accept:
            return False
        self.sent.append(bytes(buf[0:n]))
        return True

    def close(self):
        pass


class NullPort:
    """Counts sends without copying (for allocation measurements)."""

    def __init__(self, mac=MAC_GW):
        self.mac = mac
        self.pollable = None
        self.sends = 0
        self.last_len = 0

    def recv_into(self, buf):
        return 0

    def send(self, buf, n):
        self.sends += 1
        self.last_len = n
        return True

    def close(self):
        pass


class Tunnel:
    """tunnel_out hook recording copies of what the forwarder hands to the ESP engine."""

    def __init__(self, accept=True):
        self.packets = []
        self.accept = accept

    def __call__(self, view, n):
        self.packets.append(bytes(view[0:n]))
        return self.accept
