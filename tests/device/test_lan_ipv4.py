# The IPv4 gateway: echo replies, forwarding (TTL, checksum, MSS clamp), ICMP errors, drop counters,
# malformed input, host mode. Expected values come from lan_frames (independent builders/checksums).
import random
import struct

from lan_frames import (BCAST, HOST2_IP, HOST_IP, HQ_IP, LAN_IP, MAC_GW, MAC_HOST, WAN_IP, Clock,
                        FakePort, Tunnel, arp, checksum, eth, icmp_echo, ip_ok, ipv4, mss_of, tcp,
                        tcp_ok)
from net import ipv4 as ipv4mod

ZERO_MAC = b"\x00" * 6


def make(mtu=1400):
    port = FakePort()
    clock = Clock()
    fw = ipv4mod.Forwarder(WAN_IP, LAN_IP, 24, port, tunnel_mtu=mtu, clock=clock)
    tun = Tunnel()
    fw.tunnel_out = tun
    return fw, port, tun, clock


def feed(fw, frame):
    fw.rx[0:len(frame)] = frame
    fw.input(len(frame))


def from_host(ip_packet, dst_mac=MAC_GW):
    return eth(dst_mac, MAC_HOST, 0x0800, ip_packet)


def learn_host(fw):
    feed(fw, eth(BCAST, MAC_HOST, 0x0806, arp(1, MAC_HOST, HOST_IP, ZERO_MAC, LAN_IP)))


def drops(fw):
    return sum(v for k, v in fw.counters.items() if k.startswith("drop_"))


def check_echo_reply(req_ip, rep_ip):
    assert ip_ok(rep_ip)
    assert rep_ip[12:16] == req_ip[16:20] and rep_ip[16:20] == req_ip[12:16]
    assert rep_ip[9] == 1 and rep_ip[20] == 0 and rep_ip[21] == 0
    assert checksum(rep_ip[20:]) == 0
    assert rep_ip[24:] == req_ip[24:]                    # identifier, sequence, data unchanged


def test_echo_to_lan_and_wan_address_from_lan():
    fw, port, tun, _ = make()
    for dst in (LAN_IP, WAN_IP):
        req = ipv4(HOST_IP, dst, 1, icmp_echo(0x4242, 9, bytes(range(56))))
        feed(fw, from_host(req))
        f = port.sent[-1]
        assert f[0:6] == MAC_HOST and f[6:12] == MAC_GW and f[12:14] == b"\x08\x00"
        check_echo_reply(req, f[14:])
    assert fw.counters["echo_replies"] == 2 and tun.packets == []


def test_echo_checksum_odd_length_and_wraparound_payloads():
    fw, port, _, _ = make()
    for data in (b"", b"\x01", b"\xff" * 33, b"\xf7\xff" * 20):
        req = ipv4(HOST_IP, LAN_IP, 1, icmp_echo(0xFFFF, 0xF7FF, data))
        feed(fw, from_host(req))
        check_echo_reply(req, port.sent[-1][14:])


def test_echo_with_bad_icmp_checksum_is_dropped():
    fw, port, _, _ = make()
    m = bytearray(icmp_echo(1, 1, b"abc"))
    m[2] ^= 1
    feed(fw, from_host(ipv4(HOST_IP, LAN_IP, 1, bytes(m))))
    feed(fw, from_host(ipv4(HOST_IP, LAN_IP, 17, b"\x00" * 8)))       # UDP to us: no service
    assert port.sent == [] and fw.counters["drop_local"] == 2


def test_forward_decrements_ttl_and_fixes_checksum():
    fw, _, tun, _ = make()
    pkt = ipv4(HOST_IP, HQ_IP, 17, b"payload!" * 10, ttl=64)
    feed(fw, from_host(pkt + b"\x00" * 4))                # Ethernet padding after the packet
    assert len(tun.packets) == 1
    out = tun.packets[0]
    assert len(out) == len(pkt) and out[8] == 63 and ip_ok(out)
    assert out[:8] == pkt[:8] and out[9] == pkt[9] and out[12:] == pkt[12:]
    assert fw.counters["to_tunnel"] == 1


def test_incremental_checksum_matches_full_recompute():
    # RFC 1624 eqn. 3 against a full recompute over random headers.
    random.seed(7)
    for k in range(3000):
        hdr = bytearray(struct.pack(">BBHHHBBH", 0x45, random.getrandbits(8), 20 + k,
                                    random.getrandbits(16), 0, 2 + random.getrandbits(7),
                                    random.getrandbits(8), 0))
        hdr += bytes(random.getrandbits(8) for _ in range(8))
        s = checksum(hdr)
        hdr[10] = s >> 8
        hdr[11] = s & 0xFF
        ipv4mod.decrement_ttl(hdr, 0)
        assert checksum(hdr) == 0, hdr


def test_incremental_checksum_equals_recompute_for_every_stored_value():
    # Sweeping the identification field sweeps the stored checksum through every value a sender can
    # produce. RFC 1624 eqn. 3 must give exactly what a full recompute gives, including where the
    # result is 0x0000 and RFC 1141's form (eqn. 2) yields the other zero, 0xFFFF.
    seen = bytearray(0x10000 // 8)
    for ident in range(0x10000):
        hdr = bytearray(struct.pack(">BBHHHBBH", 0x45, 0, 20, ident, 0, 64, 6, 0) + bytes(8))
        s = checksum(hdr)
        hdr[10] = s >> 8
        hdr[11] = s & 0xFF
        ipv4mod.decrement_ttl(hdr, 0)
        got = (hdr[10] << 8) | hdr[11]
        seen[got >> 3] |= 1 << (got & 7)
        hdr[10] = hdr[11] = 0
        assert got == checksum(hdr), ident
    assert seen[0] & 1


def test_ttl_expired_gets_time_exceeded_to_lan():
    fw, port, tun, _ = make()
    pkt = ipv4(HOST_IP, HQ_IP, 17, b"x" * 30, ttl=1)
    feed(fw, from_host(pkt))
    assert tun.packets == [] and fw.counters["drop_ttl"] == 1
    f = port.sent[-1]
    e = f[14:]
    assert f[0:6] == MAC_HOST and ip_ok(e) and e[9] == 1
    assert e[12:16] == LAN_IP and e[16:20] == HOST_IP
    assert e[20] == 11 and e[21] == 0 and checksum(e[20:]) == 0
    assert e[28:28 + 28] == pkt[:28]                      # quoted header + 8 bytes


def test_df_too_big_gets_frag_needed_with_mtu():
    fw, port, tun, _ = make(mtu=1400)
    pkt = ipv4(HOST_IP, HQ_IP, 17, bytes(1401 - 20), df=True)
    feed(fw, from_host(pkt))
    assert tun.packets == [] and fw.counters["drop_too_big"] == 1
    e = port.sent[-1][14:]
    assert ip_ok(e) and e[20] == 3 and e[21] == 4 and checksum(e[20:]) == 0
    assert struct.unpack(">H", e[26:28])[0] == 1400       # RFC 1191 next-hop MTU
    assert e[28:48] == pkt[:20]
    ok = ipv4(HOST_IP, HQ_IP, 17, bytes(1400 - 20), df=True)
    feed(fw, from_host(ok))
    assert len(tun.packets) == 1


def test_non_df_too_big_dropped_silently():
    fw, port, tun, _ = make(mtu=1400)
    feed(fw, from_host(ipv4(HOST_IP, HQ_IP, 17, bytes(1450))))
    assert port.sent == [] and tun.packets == [] and fw.counters["drop_too_big"] == 1


def test_no_icmp_error_about_icmp_error_or_to_broadcast_source():
    fw, port, _, _ = make(mtu=100)
    err = ipv4(HOST_IP, HQ_IP, 1, bytes((3, 1, 0, 0)) + bytes(200), df=True)
    feed(fw, from_host(err))
    bad_src = ipv4(bytes((255, 255, 255, 255)), HQ_IP, 17, bytes(200), df=True)
    feed(fw, from_host(bad_src))
    assert port.sent == [] and fw.counters["drop_too_big"] == 2


def test_icmp_errors_rate_limited():
    fw, port, _, clock = make()
    pkt = from_host(ipv4(HOST_IP, HQ_IP, 17, b"x", ttl=1))
    for _ in range(ipv4mod.ICMP_ERRORS_PER_S + 3):
        feed(fw, pkt)
    assert len(port.sent) == ipv4mod.ICMP_ERRORS_PER_S and fw.counters["icmp_ratelimited"] == 3
    clock.advance(1000)
    feed(fw, pkt)
    assert len(port.sent) == ipv4mod.ICMP_ERRORS_PER_S + 1


def syn(options, flags=0x02, src=HOST_IP, dst=HQ_IP):
    return ipv4(src, dst, 6, tcp(src, dst, 40000, 80, flags, options))


def test_mss_clamp_on_syn_even_and_odd_offsets():
    fw, _, tun, _ = make(mtu=1400)
    cases = (b"\x02\x04\x05\xb4" + b"\x01\x03\x03\x07",        # MSS first: even offset
             b"\x01\x02\x04\x05\xb4\x00\x00\x00",              # NOP then MSS: the field is at an odd offset
             b"\x01\x01\x04\x02\x02\x04\xff\xff")              # SACK-permitted then MSS 65535
    for opts in cases:
        feed(fw, from_host(syn(opts)))
        out = tun.packets[-1]
        assert mss_of(out) == 1360 and tcp_ok(out) and ip_ok(out), opts
    assert fw.counters["mss_clamped"] == 3


def test_mss_left_alone_when_small_or_not_syn():
    fw, _, tun, _ = make(mtu=1400)
    sent = [syn(b"\x02\x04\x02\x18"),                 # MSS 536 already below the clamp
            syn(b"\x02\x04\x05\xb4", flags=0x10),      # ACK, not SYN
            syn(b"\x02\x03\x05\xb4"),                  # MSS option with a bad length
            syn(b"\x00\x00\x00\x00\x02\x04\x05\xb4")]  # MSS after the end of the option list
    for p in sent:
        feed(fw, from_host(p))
    for p, out in zip(sent, tun.packets):
        assert out[20:] == p[20:] and tcp_ok(out)
    assert len(tun.packets) == 4 and fw.counters["mss_clamped"] == 0


def test_mss_clamped_on_syn_ack_from_tunnel():
    fw, port, _, _ = make(mtu=1400)
    learn_host(fw)
    p = syn(b"\x02\x04\x05\xb4", flags=0x12, src=HQ_IP, dst=HOST_IP)
    fw.deliver(memoryview(p), len(p))
    out = port.sent[-1][14:]
    assert mss_of(out) == 1360 and tcp_ok(out) and out[8] == 63


def test_policy_drop_and_no_engine():
    fw, _, tun, _ = make()
    tun.accept = False
    feed(fw, from_host(ipv4(HOST_IP, HQ_IP, 17, b"x")))
    fw.tunnel_out = None
    feed(fw, from_host(ipv4(HOST_IP, HQ_IP, 17, b"x")))
    assert fw.counters["drop_policy"] == 2 and fw.counters["to_tunnel"] == 0


def test_lan_local_and_broadcast_destinations_not_tunnelled():
    fw, _, tun, _ = make()
    for dst in (HOST2_IP, bytes((255, 255, 255, 255)), bytes((224, 0, 0, 251)), bytes(4)):
        feed(fw, from_host(ipv4(HOST_IP, dst, 17, b"x")))
    assert tun.packets == [] and fw.counters["drop_no_route"] == 4


def test_frames_not_for_us():
    fw, port, tun, _ = make()
    pkt = ipv4(HOST_IP, HQ_IP, 17, b"x")
    feed(fw, from_host(pkt, dst_mac=b"\x02\x00\x00\x00\x00\x99"))
    feed(fw, from_host(pkt, dst_mac=b"\x01\x00\x5e\x00\x00\x01"))
    feed(fw, eth(MAC_GW, MAC_HOST, 0x86DD, bytes(40)))
    assert tun.packets == [] and fw.counters["drop_not_ours"] == 2 and fw.counters["drop_ethertype"] == 1


def test_deliver_to_lan_host():
    fw, port, _, _ = make()
    learn_host(fw)
    p = ipv4(HQ_IP, HOST_IP, 17, b"from head office", ttl=60)
    fw.deliver(memoryview(p), len(p))
    f = port.sent[-1]
    assert f[0:6] == MAC_HOST and f[6:12] == MAC_GW and f[12:14] == b"\x08\x00"
    out = f[14:]
    assert out[8] == 59 and ip_ok(out) and out[20:] == p[20:]
    assert fw.counters["to_lan"] == 1 and fw.counters["from_tunnel"] == 1


def test_deliver_zero_copy_view():
    fw, port, _, _ = make()
    learn_host(fw)
    p = ipv4(HQ_IP, HOST_IP, 17, b"decrypted in place")
    fw.deliver_view[0:len(p)] = p
    fw.deliver(fw.deliver_view, len(p))
    assert port.sent[-1][14 + 20:] == p[20:]


def test_deliver_echo_to_own_addresses_through_tunnel():
    fw, port, tun, _ = make()
    for dst in (LAN_IP, WAN_IP):
        req = ipv4(HQ_IP, dst, 1, icmp_echo(3, 4, b"through the tunnel"))
        fw.deliver(memoryview(req), len(req))
        check_echo_reply(req, tun.packets[-1])
    assert port.sent == []


def test_deliver_drops():
    fw, port, tun, _ = make()
    learn_host(fw)
    p = ipv4(HQ_IP, bytes((10, 30, 0, 1)), 17, b"x")                 # not on the LAN
    fw.deliver(memoryview(p), len(p))
    assert fw.counters["drop_no_route"] == 1
    p = ipv4(HQ_IP, HOST_IP, 17, b"x", ttl=1)
    fw.deliver(memoryview(p), len(p))
    assert fw.counters["drop_ttl"] == 1
    e = tun.packets[-1]                                              # time exceeded goes back
    assert e[20] == 11 and e[16:20] == HQ_IP and ip_ok(e) and checksum(e[20:]) == 0
    big = bytes(1501)
    fw.deliver(memoryview(big), len(big))
    assert fw.counters["drop_too_big"] == 1


def test_host_mode():
    tun = Tunnel()
    fw = ipv4mod.Forwarder(WAN_IP, LAN_IP, clock=Clock())
    fw.tunnel_out = tun
    for dst in (WAN_IP, LAN_IP):
        req = ipv4(HQ_IP, dst, 1, icmp_echo(1, 2, b"host mode"))
        fw.deliver(memoryview(req), len(req))
        check_echo_reply(req, tun.packets[-1])
    p = ipv4(HQ_IP, HOST_IP, 17, b"x")
    fw.deliver(memoryview(p), len(p))
    assert fw.counters["drop_no_route"] == 1 and len(tun.packets) == 2
    fw2 = ipv4mod.Forwarder(WAN_IP, clock=Clock())
    fw2.tunnel_out = tun
    req = ipv4(HQ_IP, WAN_IP, 1, icmp_echo(1, 3, b"wan only"))
    fw2.deliver(memoryview(req), len(req))
    check_echo_reply(req, tun.packets[-1])


def test_malformed_frames_dropped_and_counted():
    fw, port, tun, _ = make()
    good = ipv4(HOST_IP, HQ_IP, 17, b"0123456789")
    cases = [
        ("drop_short", eth(MAC_GW, MAC_HOST, 0x0800, b"")[:13]),
        ("drop_short", from_host(good[:19])),
        ("drop_malformed", from_host(b"\x65" + good[1:])),               # version 6
        ("drop_malformed", from_host(b"\x44" + good[1:])),               # IHL 4
        ("drop_malformed", from_host(b"\x4f" + good[1:])),               # IHL 15 > total length
        ("drop_malformed", from_host(good[:2] + b"\x00\x40" + good[4:])),  # total > frame
        ("drop_malformed", from_host(good[:2] + b"\x00\x10" + good[4:])),  # total < header
        ("drop_checksum", from_host(good[:10] + b"\x00\x00" + good[12:])),
        ("drop_fragment", from_host(ipv4(HOST_IP, HQ_IP, 17, b"x" * 16, mf=True))),
        ("drop_fragment", from_host(ipv4(HOST_IP, HQ_IP, 17, b"x" * 16, offset=185))),
        ("drop_fragment", from_host(ipv4(HQ_IP, LAN_IP, 1, icmp_echo(1, 1, b"x"), mf=True))),
    ]
    for name, frame in cases:
        before = fw.counters[name]
        feed(fw, frame)
        assert fw.counters[name] == before + 1, name
    for name, frame in cases[1:]:
        ip = frame[14:]
        fw.deliver(memoryview(ip), len(ip))
    assert tun.packets == [] and port.sent == []
    assert fw.counters["rx_frames"] == len(cases)
    assert drops(fw) == 2 * len(cases) - 1


def test_fuzz_never_raises():
    fw, port, tun, _ = make()
    learn_host(fw)
    base = fw.counters["rx_frames"]
    random.seed(1)
    seeds = [from_host(ipv4(HOST_IP, HQ_IP, 17, b"u" * 20)), from_host(syn(b"\x02\x04\x05\xb4")),
             from_host(ipv4(HOST_IP, LAN_IP, 1, icmp_echo(1, 1, b"ping"))),
             eth(BCAST, MAC_HOST, 0x0806, arp(1, MAC_HOST, HOST_IP, ZERO_MAC, LAN_IP))]
    for k in range(3000):
        f = bytearray(seeds[k % len(seeds)])
        for _ in range(1 + random.getrandbits(2)):
            f[random.getrandbits(8) % len(f)] = random.getrandbits(8)
        if random.getrandbits(1):
            f = f[:random.getrandbits(8) % (len(f) + 1)]
        feed(fw, f)
        ip = memoryview(f)[14:]
        fw.deliver(ip, len(ip))
    assert fw.counters["rx_frames"] - base == 3000 and fw.counters["from_tunnel"] == 3000
