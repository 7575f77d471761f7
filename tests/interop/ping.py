"""ICMP echo from a chosen source address (this machine has no ping binary).

Run inside a namespace: `python ping.py SRC DST [COUNT] [TIMEOUT]`. Prints one line per reply
("reply from DST seq=N time=X ms") and a summary "sent N received M"; exits 0 only if every
echo was answered.
"""
import os
import select
import socket
import struct
import sys
import time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def echo_request(ident, seq, payload):
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    return struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), ident, seq) + payload


def ping(src, dst, count=3, timeout=2.0, size=56):
    """Send `count` echoes from src to dst one at a time; return the list of RTTs in ms (None = lost)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.bind((src, 0))
    ident = os.getpid() & 0xFFFF
    payload = bytes(range(size % 256)) * (size // 256) + bytes(range(size % 256))
    rtts = []
    for seq in range(1, count + 1):
        t0 = time.monotonic()
        sock.sendto(echo_request(ident, seq, payload[:size]), (dst, 0))
        rtt = None
        while rtt is None:
            left = timeout - (time.monotonic() - t0)
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                break
            pkt, addr = sock.recvfrom(65535)
            icmp = pkt[(pkt[0] & 0x0F) * 4:]
            typ, _, _, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
            if typ == 0 and rid == ident and rseq == seq and addr[0] == dst and icmp[8:] == payload[:size]:
                rtt = (time.monotonic() - t0) * 1000.0
        rtts.append(rtt)
        print("reply from %s seq=%d time=%.3f ms" % (dst, seq, rtt) if rtt is not None
              else "no reply from %s seq=%d" % (dst, seq), flush=True)
    sock.close()
    return rtts


def main(argv):
    src, dst = argv[1], argv[2]
    count = int(argv[3]) if len(argv) > 3 else 3
    timeout = float(argv[4]) if len(argv) > 4 else 2.0
    rtts = ping(src, dst, count, timeout)
    got = [r for r in rtts if r is not None]
    print("sent %d received %d" % (len(rtts), len(got)))
    return 0 if len(got) == len(rtts) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
