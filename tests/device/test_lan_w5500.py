# The W5500 MACRAW driver against a register-level model of the chip (tests/device/w5500_fake.py).
import select

from lan_frames import (BCAST, HOST_IP, LAN_IP, MAC_GW, MAC_HOST, WAN_IP, Clock, arp, checksum, eth,
                        icmp_echo, ipv4)
from net import ipv4 as ipv4mod
from net.ports.w5500 import W5500Port
from w5500_fake import FakeW5500

BUF = 1536


def make(**kw):
    chip = FakeW5500(**kw)
    return chip, W5500Port(chip, chip.cs, MAC_GW)


def frame(n, seed=0, dst=MAC_GW):
    body = bytes((seed + i) & 0xFF for i in range(n - 14))
    return eth(dst, MAC_HOST, 0x0800, body)


def test_reset_opens_socket0_macraw_with_all_buffer_memory():
    chip, port = make()
    assert chip.resets == 1 and chip.opens == 1
    assert bytes(chip.common[9:15]) == MAC_GW
    s0 = chip.sock[0]
    assert s0[0x03] == 0x42                       # SOCK_MACRAW
    assert s0[0x00] == 0x04 | 0x80 | 0x20 | 0x10  # MACRAW, MAC filter, no multicast, no IPv6
    assert (s0[0x1E], s0[0x1F]) == (16, 16)
    assert all(chip.sock[n][0x1E] == 0 and chip.sock[n][0x1F] == 0 for n in range(1, 8))


def test_missing_chip_raises():
    for version in (0, 0xFF):
        try:
            make(version=version)
        except OSError:
            continue
        raise AssertionError("no OSError for VERSIONR %d" % version)


def test_receive_frames_in_order():
    chip, port = make()
    buf = bytearray(BUF)
    assert port.recv_into(buf) == 0
    frames = [frame(60, 1), frame(1514, 2), frame(61, 3), frame(127, 4)]
    for f in frames:
        assert chip.inject(f)
    for f in frames:
        n = port.recv_into(buf)
        assert n == len(f) and bytes(buf[:n]) == f
    assert port.recv_into(buf) == 0 and chip.rsr == 0


def test_burst_reads_rx_size_once():
    chip, port = make()
    buf = bytearray(BUF)
    for k in range(3):
        chip.inject(frame(100, k))
    del chip.log[:]
    for k in range(3):
        assert bytes(buf[:port.recv_into(buf)]) == frame(100, k)
    rsr_reads = [e for e in chip.log if e == (1, 0x26, False)]
    assert len(rsr_reads) == 2                     # one stable reading (two agreeing reads)
    assert len(chip.log) == 2 + 3 * 5              # then header, data, RX_RD, CR check, RECV


def test_receive_across_ring_and_pointer_wrap():
    chip, port = make(start_ptr=0xFF00)           # 16-bit pointers wrap after the first frames
    buf = bytearray(BUF)
    for k in range(60):                           # ~3.5 times round the 16 KB ring
        f = frame(900 + 37 * (k % 9), k)
        assert chip.inject(f)
        if k % 3 == 0:
            assert chip.inject(frame(64, 200 + k))
        n = port.recv_into(buf)
        assert bytes(buf[:n]) == f, k
        if k % 3 == 0:
            n = port.recv_into(buf)
            assert bytes(buf[:n]) == frame(64, 200 + k)
    assert port.recv_into(buf) == 0


def test_mac_filter_set_in_chip():
    chip, port = make()
    buf = bytearray(BUF)
    assert not chip.inject(frame(60, 0, dst=b"\x02\x00\x00\x00\x00\x99"))
    assert not chip.inject(frame(60, 0, dst=b"\x01\x00\x5e\x00\x00\x01"))
    assert not chip.inject(eth(MAC_GW, MAC_HOST, 0x86DD, bytes(50)))
    assert chip.inject(frame(60, 0, dst=BCAST))
    assert port.recv_into(buf) == 60 and port.recv_into(buf) == 0


def test_send_exact_frames_and_pad_short_ones_with_zeros():
    chip, port = make()
    buf = bytearray(b"\xee" * BUF)                # junk where padding would go
    f = frame(42, 9)
    buf[0:42] = f
    assert port.send(buf, 42)
    assert chip.sent[-1] == f + bytes(18)
    for n in (60, 61, 127, 128, 1514):
        f = frame(n, n)
        buf[0:n] = f
        assert port.send(buf, n)
        assert chip.sent[-1] == f
    assert chip.overlapped_sends == 0             # each SEND waited for the previous SEND_OK


def test_send_across_ring_and_pointer_wrap_from_several_buffers():
    chip, port = make(start_ptr=0xFFC0)
    bufs = [bytearray(BUF), bytearray(BUF), bytearray(BUF)]
    for k in range(40):
        b = bufs[k % 3]
        f = frame(1000 + k * 11, k)
        b[0:len(f)] = f
        assert port.send(b, len(f))
        assert chip.sent[-1] == f, k
    assert chip.overlapped_sends == 0


def test_send_times_out_when_chip_never_completes():
    chip, port = make(complete_sends=False)
    buf = bytearray(BUF)
    buf[0:60] = frame(60)
    assert port.send(buf, 60)                     # queued; its SEND_OK never comes
    assert not port.send(buf, 60)                 # gives up waiting and reopens the socket
    assert chip.opens == 2 and chip.sock[0][0x03] == 0x42
    chip.complete_sends = True
    assert port.send(buf, 60) and len(chip.sent) == 2


def test_send_refused_when_tx_memory_full():
    chip, port = make()
    buf = bytearray(BUF)
    buf[0:60] = frame(60)
    chip.tx_rd = (chip.tx_rd - 16 * 1024 + 40) & 0xFFFF     # pretend 16 KB minus 40 still queued
    port._sending = False
    assert not port.send(buf, 60)
    assert chip.sent == []


def test_corrupt_length_restarts_socket():
    chip, port = make()
    buf = bytearray(BUF)
    assert chip.inject(frame(100, 1))
    chip.rxbuf[chip.rx_rd & 0x3FFF] = 0x7F        # length header now 0x7Fxx
    assert port.recv_into(buf) == 0
    assert chip.resets == 2 and chip.sock[0][0x03] == 0x42
    assert chip.inject(frame(100, 2))
    assert bytes(buf[:port.recv_into(buf)]) == frame(100, 2)


def test_select_poll_sees_waiting_frames():
    chip, port = make()
    p = select.poll()
    p.register(port.pollable, select.POLLIN)
    assert p.poll(0) == []
    chip.inject(frame(60))
    ready = p.poll(0)
    assert len(ready) == 1 and ready[0][0] is port and ready[0][1] & select.POLLIN


def test_link_status():
    chip, port = make()
    chip.common[0x2E] = 0xBF
    assert port.link_up()
    chip.common[0x2E] = 0xBE
    assert not port.link_up()


def test_gateway_over_w5500_answers_arp_and_ping():
    chip, port = make()
    fw = ipv4mod.Forwarder(WAN_IP, LAN_IP, 24, port, clock=Clock())
    chip.inject(eth(BCAST, MAC_HOST, 0x0806, arp(1, MAC_HOST, HOST_IP, bytes(6), LAN_IP)))
    req = ipv4(HOST_IP, LAN_IP, 1, icmp_echo(5, 6, b"over spi" * 8))
    chip.inject(eth(MAC_GW, MAC_HOST, 0x0800, req))
    assert fw.poll() == 2
    a, e = chip.sent
    assert a[0:6] == MAC_HOST and a[20:22] == b"\x00\x02" and a[28:32] == LAN_IP
    assert e[0:6] == MAC_HOST and e[14 + 12:14 + 16] == LAN_IP and e[14 + 20] == 0
    assert checksum(e[14:34]) == 0 and checksum(e[34:]) == 0 and e[38:] == req[24:]
