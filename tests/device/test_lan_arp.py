# ARP on the LAN port (RFC 826): answering, learning, resolving with one held packet, expiry.
import struct

from lan_frames import (BCAST, HOST2_IP, HOST_IP, HQ_IP, LAN_IP, MAC_GW, MAC_HOST, MAC_HOST2,
                        WAN_IP, Clock, FakePort, arp, eth, icmp_echo, ipv4)
from net import arp as arpmod
from net import ipv4 as ipv4mod

ZERO_MAC = b"\x00" * 6


def make(clock=None):
    port = FakePort()
    clock = clock or Clock()
    fw = ipv4mod.Forwarder(WAN_IP, LAN_IP, 24, port, clock=clock)
    return fw, port, clock


def feed(fw, frame):
    fw.rx[0:len(frame)] = frame
    fw.input(len(frame))


def request(sha, spa, tpa, dst=BCAST):
    return eth(dst, sha, 0x0806, arp(1, sha, spa, ZERO_MAC, tpa))


def reply(sha, spa, tha, tpa):
    return eth(tha, sha, 0x0806, arp(2, sha, spa, tha, tpa))


def parse_arp(frame):
    op = struct.unpack(">H", frame[20:22])[0]
    return frame[0:6], frame[6:12], op, frame[22:28], frame[28:32], frame[32:38], frame[38:42]


def test_answers_request_for_own_address():
    fw, port, _ = make()
    feed(fw, request(MAC_HOST, HOST_IP, LAN_IP))
    assert len(port.sent) == 1
    f = port.sent[0]
    assert len(f) >= 42 and f[12:14] == b"\x08\x06"
    assert f[14:20] == b"\x00\x01\x08\x00\x06\x04"
    dst, src, op, sha, spa, tha, tpa = parse_arp(f)
    assert (dst, src, op) == (MAC_HOST, MAC_GW, 2)
    assert (sha, spa, tha, tpa) == (MAC_GW, LAN_IP, MAC_HOST, HOST_IP)
    assert fw.counters["arp_replies"] == 1
    # The requester was learned: a packet to it goes out without another request.
    assert fw.arp.lookup(HOST_IP, 0, fw.arp._clock()) >= 0


def test_ignores_request_for_other_address_and_does_not_learn():
    fw, port, _ = make()
    feed(fw, request(MAC_HOST, HOST_IP, HOST2_IP))
    assert port.sent == []
    assert fw.arp.lookup(HOST_IP, 0, fw.arp._clock()) < 0


def test_does_not_learn_foreign_subnet_or_multicast_sender():
    fw, port, _ = make()
    feed(fw, request(MAC_HOST, HQ_IP, LAN_IP))              # sender outside 10.20.1.0/24
    feed(fw, request(b"\x03\x00\x00\x00\x00\x01", HOST_IP, LAN_IP))   # group MAC as sender
    assert fw.arp.lookup(HQ_IP, 0, fw.arp._clock()) < 0
    assert fw.arp.lookup(HOST_IP, 0, fw.arp._clock()) < 0


def test_gratuitous_updates_known_host_only():
    fw, port, clock = make()
    feed(fw, request(MAC_HOST, HOST_IP, LAN_IP))
    feed(fw, request(MAC_HOST2, HOST_IP, HOST_IP))           # HOST_IP moved to another NIC
    i = fw.arp.lookup(HOST_IP, 0, clock())
    assert fw.arp.entry_mac(i) == MAC_HOST2
    feed(fw, request(MAC_HOST2, HOST2_IP, HOST2_IP))         # unknown host announcing itself
    assert fw.arp.lookup(HOST2_IP, 0, clock()) < 0


def test_resolve_holds_one_packet_and_sends_it_on_reply():
    fw, port, clock = make()
    pkt = ipv4(HQ_IP, HOST_IP, 1, icmp_echo(7, 1, b"hello"))
    fw.deliver(memoryview(pkt), len(pkt))
    assert len(port.sent) == 1
    dst, src, op, sha, spa, tha, tpa = parse_arp(port.sent[0])
    assert (dst, src, op, sha, spa, tpa) == (BCAST, MAC_GW, 1, MAC_GW, LAN_IP, HOST_IP)
    assert fw.counters["arp_miss"] == 1 and fw.counters["arp_requests"] == 1
    clock.advance(5)
    feed(fw, reply(MAC_HOST, HOST_IP, MAC_GW, LAN_IP))
    assert len(port.sent) == 2
    f = port.sent[1]
    assert f[0:6] == MAC_HOST and f[6:12] == MAC_GW and f[12:14] == b"\x08\x00"
    assert f[14 + 8] == 63 and f[14 + 20:] == pkt[20:]
    assert fw.counters["arp_drop"] == 0


def test_newer_packet_replaces_held_one_and_requests_are_rate_limited():
    fw, port, clock = make()
    a = ipv4(HQ_IP, HOST_IP, 1, icmp_echo(7, 1, b"first"))
    b = ipv4(HQ_IP, HOST_IP, 1, icmp_echo(7, 2, b"second"))
    fw.deliver(memoryview(a), len(a))
    clock.advance(100)
    fw.deliver(memoryview(b), len(b))
    assert fw.counters["arp_requests"] == 1          # same target within REQUEST_MS: no new request
    assert fw.counters["arp_drop"] == 1
    clock.advance(arpmod.REQUEST_MS)
    fw.deliver(memoryview(b), len(b))
    assert fw.counters["arp_requests"] == 2
    feed(fw, reply(MAC_HOST, HOST_IP, MAC_GW, LAN_IP))
    assert port.sent[-1][14 + 20:] == b[20:]


def test_stale_held_packet_is_discarded():
    fw, port, clock = make()
    a = ipv4(HQ_IP, HOST_IP, 1, icmp_echo(7, 1, b"old"))
    fw.deliver(memoryview(a), len(a))
    clock.advance(arpmod.PENDING_MS + 1)
    feed(fw, reply(MAC_HOST, HOST_IP, MAC_GW, LAN_IP))
    assert len(port.sent) == 1                        # only the request went out
    assert fw.counters["arp_drop"] == 1


def test_entry_expires_across_ticks_wrap():
    clock = Clock()                                   # starts 5 s before ticks_ms wraps
    fw, port, _ = make(clock)
    feed(fw, request(MAC_HOST, HOST_IP, LAN_IP))
    pkt = ipv4(HQ_IP, HOST_IP, 1, icmp_echo(7, 1, b"x"))
    clock.advance(arpmod.TTL_MS - 1)
    fw.deliver(memoryview(pkt), len(pkt))
    assert port.sent[-1][0:6] == MAC_HOST and fw.counters["arp_miss"] == 0
    clock.advance(1)
    fw.deliver(memoryview(pkt), len(pkt))
    assert fw.counters["arp_miss"] == 1
    assert parse_arp(port.sent[-1])[2] == 1           # a fresh request


def test_full_table_evicts_oldest():
    fw, port, clock = make()
    n = fw.arp._n
    for k in range(n + 1):
        ip = bytes((10, 20, 1, 100 + k))
        mac = bytes((2, 0, 0, 0, 1, k))
        feed(fw, request(mac, ip, LAN_IP))
        clock.advance(10)
    assert fw.arp.lookup(bytes((10, 20, 1, 100)), 0, clock()) < 0       # the oldest went
    for k in range(1, n + 1):
        i = fw.arp.lookup(bytes((10, 20, 1, 100 + k)), 0, clock())
        assert i >= 0 and fw.arp.entry_mac(i) == bytes((2, 0, 0, 0, 1, k))


def test_malformed_arp_counted_not_raised():
    fw, port, _ = make()
    good = request(MAC_HOST, HOST_IP, LAN_IP)
    feed(fw, good[:41])                                    # truncated
    feed(fw, good[:14] + b"\x00\x06" + good[16:])          # hardware type 6 (IEEE 802)
    feed(fw, good[:14] + good[14:18] + b"\x06\x10" + good[20:])   # plen 16
    assert fw.counters["arp_bad"] == 3 and port.sent == []


def test_announce_is_gratuitous_request():
    fw, port, _ = make()
    fw.arp.announce()
    dst, src, op, sha, spa, tha, tpa = parse_arp(port.sent[0])
    assert (dst, op, sha, spa, tpa) == (BCAST, 1, MAC_GW, LAN_IP, LAN_IP)
    assert len(port.sent[0]) == 60 and port.sent[0][42:] == bytes(18)
