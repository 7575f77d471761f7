"""Issue 4: the ESP data plane end to end. A real strongSwan at head office (userspace ESP, UDP 4500)
and the sim board as the branch, its LAN port on AF_PACKET serving lan-host (10.20.1.10) as 10.20.1.1:
traffic crosses the tunnel both ways; the device's drops are counted in its status view; ESP the
device sends decrypts with scapy's own ESP using keys read from strongSwan's log.

Run as a script inside a namespace, this file is also the traffic tool of its tests (no nc/iperf for
TCP checksums here):
  python test_dataplane.py sink BIND_IP PORT           accept one TCP connection, read to EOF
  python test_dataplane.py source SRC DST PORT BYTES [RATE]   connect from SRC and send BYTES random
                                                       bytes (at most RATE bytes/s); BYTES "-":
                                                       until the tool's stdin closes
  python test_dataplane.py udp-echo BIND_IP PORT       echo UDP datagrams until killed
  python test_dataplane.py udp-ping SRC DST PORT COUNT send COUNT datagrams of growing size, one at
                                                       a time, and count the intact echoes
  python test_dataplane.py send-udp DST PORT HEX       one datagram with that payload
  python test_dataplane.py tx-csum-off IFNAME          what `ethtool -K IFNAME tx off` does
Each prints one JSON line (bytes, sha256, ...)."""
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import time

HERE_FILE = os.path.abspath(__file__)


# ---- the traffic tool (runs in a namespace, plain CPython) ----------------------------------------

def _sink(bind_ip, port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((bind_ip, int(port)))
    srv.listen(1)
    print(json.dumps({"listening": True}), flush=True)
    conn, peer = srv.accept()
    h = hashlib.sha256()
    n = 0
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        h.update(data)
        n += len(data)
    print(json.dumps({"bytes": n, "sha256": h.hexdigest(), "peer": peer[0]}), flush=True)


def _source(src, dst, port, size, rate=0):
    """size "-" sends until stdin closes, so that a test decides when the transfer has lasted long
    enough (a fixed size at a fixed rate can end before slow events under way, e.g. a rekey
    retransmitted across a lossy link)."""
    import select
    until_eof = size == "-"
    size, rate = (1 << 62) if until_eof else int(size), int(rate)
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(30)
    s.connect((dst, int(port)))
    h = hashlib.sha256()
    sent = 0
    t0 = time.monotonic()
    step = max(1024, rate // 20) if until_eof and rate else 1 << 16
    while sent < size:
        if until_eof and select.select([sys.stdin], [], [], 0)[0] and not sys.stdin.read(1):
            break
        chunk = os.urandom(min(step, size - sent))
        s.sendall(chunk)
        h.update(chunk)
        sent += len(chunk)
        if rate:
            ahead = sent / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # wait for the sink's close: everything arrived
    print(json.dumps({"bytes": sent, "sha256": h.hexdigest(), "seconds": time.monotonic() - t0}), flush=True)


def _udp_echo(bind_ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((bind_ip, int(port)))
    print(json.dumps({"listening": True}), flush=True)
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


def _udp_ping(src, dst, port, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(1.0)
    ok = 0
    for i in range(int(count)):
        payload = os.urandom(1 + (i * 97) % 1372)  # up to 1400-byte IP packets
        s.sendto(payload, (dst, int(port)))
        try:
            while True:
                data, peer = s.recvfrom(65535)
                if data == payload:
                    ok += 1
                    break
        except socket.timeout:
            pass
    print(json.dumps({"sent": int(count), "echoed": ok}), flush=True)


def _send_udp(dst, port, hexdata):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(bytes.fromhex(hexdata), (dst, int(port)))
    print(json.dumps({"sent": len(hexdata) // 2}), flush=True)


def _tx_checksum_off(ifname):
    """`ethtool -K IFNAME tx off` without ethtool (not installed here): a veth hands frames to the
    other namespace with TCP/UDP checksums left to an offload that never happens (only the
    pseudo-header sum is filled in); the kernel trusts that on the receiving side, but the device
    reading the raw frame forwards it as is, as a real wire never carries it. Dropping TX checksum
    offload (and TSO with it) makes the LAN host send what an Ethernet card would put on the wire."""
    import ctypes
    import fcntl
    siocethtool, ethtool_stxcsum = 0x8946, 0x17
    value = ctypes.create_string_buffer(struct.pack("II", ethtool_stxcsum, 0))
    ifr = struct.pack("16sP", ifname.encode(), ctypes.addressof(value))
    with socket.socket() as s:
        fcntl.ioctl(s.fileno(), siocethtool, ifr)
    print(json.dumps({"tx_checksum": "off"}))


TOOLS = {"tx-csum-off": _tx_checksum_off, "sink": _sink, "source": _source, "udp-echo": _udp_echo,
         "udp-ping": _udp_ping, "send-udp": _send_udp}

if __name__ == "__main__":
    TOOLS[sys.argv[1]](*sys.argv[2:])
    sys.exit(0)


# ---- the tests -------------------------------------------------------------------------------------

import pytest  # noqa: E402

import capture  # noqa: E402
import charon as charon_mod  # noqa: E402
import netns  # noqa: E402
import simboard  # noqa: E402

pytestmark = pytest.mark.interop

IKE = "aes256-sha256-modp2048"
ESP = "aes256-sha256"
PORT = 5201
OUTSIDE = "10.30.0.1"   # routed to the device by lan-host's default route, but in no selector


def tool(ns, *args, **kw):
    """Start the traffic tool in namespace ns; returns the Popen (stdout: JSON lines)."""
    return ns.popen([sys.executable, HERE_FILE, *map(str, args)], stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True, **kw)


def result(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and lines, "traffic tool failed (rc %s):\n%s%s" % (proc.returncode, out, err)
    return json.loads(lines[-1])


def started(proc):
    line = proc.stdout.readline()
    assert '"listening"' in line, line + proc.stderr.read()
    return proc


class Tunnel:
    """lan-host -- sim board -- hq with the tunnel up; hq's charon logs CHILD keys (esp_keys())."""

    def __init__(self, lab, hq, board):
        self.lab, self.hq, self.board = lab, hq, board

    def child(self):
        """The device's established CHILD SA (status view) with the newest inbound SPI."""
        st = self.board.sas() or {"child": []}
        ch = [c for c in st["child"] if c["state"] == "established"]
        return ch[-1] if ch else None

    def status(self, timeout=6.0):
        """The device's status view once it carries the data plane's counters."""
        return self.wait_counter(lambda st: True, True, timeout)

    def wait_counter(self, pick, want, timeout=8.0):
        """Poll the device's status until pick(status) == want; returns that status."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.board.sas()
            got = pick(st) if st is not None and st.get("dataplane") else None
            if got == want:
                return st
            assert time.monotonic() < deadline, "device counter is %r, expected %r:\n%s" % (
                got, want, json.dumps(st, indent=1))
            time.sleep(0.2)


@pytest.fixture
def tunnel_up(request, lan_lab, sim_board, psk, tmp_path, needs_strongswan):
    """Factory: tunnel_up(**child_extra) brings the tunnel up with strongSwan initiating (extra
    swanctl.conf CHILD settings, e.g. rekey_time) and returns the Tunnel."""
    charons = []

    def up(**child_extra):
        hq = charon_mod.Charon(lan_lab.hq, tmp_path / "hq", log_levels={"chd": 4})
        charons.append(hq)
        from conftest import attach
        attach(request, "charon hq", hq.diagnostics)
        hq.start()
        result(tool(lan_lab.lan, "tx-csum-off", lan_lab.lan_if))
        board = sim_board(lan_lab, psk=psk, ike_proposals=IKE, esp_proposals=ESP,
                          lan="%s/%d" % (netns.DEVICE_LAN, netns.LAN_PREFIX), lan_port=lan_lab.device_lan_if)
        hq.load(charon_mod.tunnel_conf(netns.HQ_WAN, netns.DEVICE_WAN, simboard.HQ_ID, simboard.DEVICE_ID, psk,
                                       netns.HQ_SUBNET, netns.LAN_SUBNET, ike=IKE, esp=ESP,
                                       child_extra=child_extra or None))
        p = hq.initiate(child="net")
        assert "CHILD_SA net{1} established" in p.stdout, p.stdout
        t = Tunnel(lan_lab, hq, board)
        t.wait_counter(lambda st: bool(st["child"]), True)
        return t

    yield up
    for hq in charons:
        hq.stop()


@pytest.fixture
def tunnel(tunnel_up):
    return tunnel_up()


def _sa_counter(name):
    def pick(st):
        return sum(c["counters"].get(name, 0) for c in st["child"])
    return pick


def test_ping_both_ways(tunnel):
    lab = tunnel.lab
    rtts, out = lab.lan.ping(netns.LAN_HOST, netns.HQ_HOST, count=3)
    assert rtts and None not in rtts, out
    rtts, out = lab.hq.ping(netns.HQ_HOST, netns.LAN_HOST, count=3)
    assert rtts and None not in rtts, out
    # The device's own LAN address answers from head office's side too (through the tunnel).
    rtts, out = lab.hq.ping(netns.HQ_HOST, netns.DEVICE_LAN, count=2)
    assert rtts and None not in rtts, out
    st = tunnel.wait_counter(lambda st: _sa_counter("packets_in")(st) >= 8, True)
    assert _sa_counter("packets_out")(st) >= 8
    assert st["dataplane"]["lan"]["echo_replies"] >= 2


def _transfer(tunnel, sender, src, receiver, dst, size, rate=0, timeout=120):
    sink = started(tool(receiver, "sink", dst, PORT))
    src_p = tool(sender, "source", src, dst, PORT, size, rate)
    sent, got = result(src_p, timeout), result(sink, timeout)
    assert (got["bytes"], got["sha256"]) == (sent["bytes"], sent["sha256"])
    assert got["peer"] == src
    return sent


def test_tcp_20mb_each_way(tunnel):
    lab = tunnel.lab
    up = _transfer(tunnel, lab.lan, netns.LAN_HOST, lab.hq, netns.HQ_HOST, 20 << 20)
    down = _transfer(tunnel, lab.hq, netns.HQ_HOST, lab.lan, netns.LAN_HOST, 20 << 20)
    print("20 MiB up %.1f s, down %.1f s" % (up["seconds"], down["seconds"]))
    st = tunnel.wait_counter(lambda st: _sa_counter("bytes_in")(st) > 20 << 20
                             and _sa_counter("bytes_out")(st) > 20 << 20, True)
    assert st["dataplane"]["lan"]["mss_clamped"] >= 2  # both SYNs: TCP never needs fragmentation


def test_udp_both_ways(tunnel):
    lab = tunnel.lab
    echo = started(tool(lab.hq, "udp-echo", netns.HQ_HOST, PORT))
    try:
        r = result(tool(lab.lan, "udp-ping", netns.LAN_HOST, netns.HQ_HOST, PORT, 200))
    finally:
        lab.stop(echo)
    assert r["echoed"] == r["sent"], r
    echo = started(tool(lab.lan, "udp-echo", netns.LAN_HOST, PORT))
    try:
        r = result(tool(lab.hq, "udp-ping", netns.HQ_HOST, netns.LAN_HOST, PORT, 100))
    finally:
        lab.stop(echo)
    assert r["echoed"] == r["sent"], r


def test_tcp_session_survives_child_rekeys(tunnel_up):
    tunnel = tunnel_up(rekey_time="3s", life_time="6s", rand_time="0s")
    lab = tunnel.lab
    mark = tunnel.hq.log_mark()
    first = tunnel.child()["spi_in"]
    # ~13 s of TCP at 300 KB/s: four rekeys happen while the one connection carries data.
    _transfer(tunnel, lab.lan, netns.LAN_HOST, lab.hq, netns.HQ_HOST, 4 << 20, rate=300 << 10)
    rekeys = len(set(k["spi_in"] for k in tunnel.hq.esp_keys(mark)))  # each new CHILD SA's keys
    assert rekeys >= 3, tunnel.hq.log_since(mark)[-3000:]
    assert tunnel.child()["spi_in"] != first


def _esp_from(path, src_ip):
    """UDP payloads of the ESP-in-UDP packets sent by src_ip in a capture."""
    from scapy.layers.inet import IP, UDP
    from scapy.utils import rdpcap
    return [bytes(p[UDP].payload) for p in rdpcap(str(path))
            if UDP in p and p[IP].src == src_ip and p[UDP].dport == 4500 and len(p[UDP].payload) > 8
            and bytes(p[UDP].payload)[:4] != b"\0\0\0\0"]


def _send_esp(tunnel, payload):
    # From hq's namespace, another port than charon's: the device takes ESP from any source port.
    result(tool(tunnel.lab.hq, "send-udp", netns.DEVICE_WAN, 4500, payload.hex()))


def _capture_pings(tunnel, tmp_path, count):
    """`count` pings from the LAN host to the HQ host through the tunnel, all answered, while hq's
    WAN (UDP 4500) is captured; returns the capture's path."""
    lab = tunnel.lab
    pcap = tmp_path / "wan.pcap"
    with capture.Capture(lab.hq, lab.hq_wan_if, pcap, "udp port 4500"):
        rtts, out = lab.lan.ping(netns.LAN_HOST, netns.HQ_HOST, count=count)
        assert None not in rtts, out
        time.sleep(0.3)
    return pcap


def test_replayed_and_tampered_packets_dropped_and_counted(tunnel, tmp_path):
    lab = tunnel.lab
    pcap = _capture_pings(tunnel, tmp_path, 2)
    esp = _esp_from(pcap, netns.HQ_WAN)
    assert esp, "no ESP from hq captured"
    before = tunnel.status()
    replay0, icv0 = _sa_counter("replay_drops")(before), _sa_counter("icv_failures")(before)
    _send_esp(tunnel, esp[0])
    tunnel.wait_counter(_sa_counter("replay_drops"), replay0 + 1)
    # A fresh sequence number (so the replay check passes) without the key to fix the ICV.
    tampered = bytearray(esp[0])
    tampered[4:8] = (int.from_bytes(esp[0][4:8], "big") + 1000).to_bytes(4, "big")
    _send_esp(tunnel, bytes(tampered))
    st = tunnel.wait_counter(_sa_counter("icv_failures"), icv0 + 1)
    assert _sa_counter("replay_drops")(st) == replay0 + 1
    # The window did not move on the forged packet: traffic goes on.
    rtts, out = lab.lan.ping(netns.LAN_HOST, netns.HQ_HOST, count=2)
    assert None not in rtts, out


def test_packets_outside_selectors_dropped_and_counted(tunnel):
    lab = tunnel.lab
    before = tunnel.status()
    out0 = before["dataplane"]["esp"]["no_policy"]
    sent0 = _sa_counter("packets_out")(before)
    for _ in range(3):
        lab.lan.run([sys.executable, "-c", "import socket; s = socket.socket(2, 2); s.bind(('%s', 0)); "
                     "s.sendto(b'x' * 64, ('%s', 9))" % (netns.LAN_HOST, OUTSIDE)])
    st = tunnel.wait_counter(lambda st: st["dataplane"]["esp"]["no_policy"], out0 + 3)
    assert st["dataplane"]["lan"]["drop_policy"] >= 3
    assert _sa_counter("packets_out")(st) == sent0
    # Inbound: head office's SA carrying a packet for 10.30.0.1, sealed by scapy with strongSwan's
    # keys (a valid ESP packet, ICV and all), is decrypted and then refused by the selectors.
    from scapy.layers.inet import IP, UDP
    from scapy.layers.ipsec import ESP, SecurityAssociation
    k = tunnel.hq.esp_keys()[-1]
    sa = SecurityAssociation(ESP, spi=int(k["spi_out"], 16), crypt_algo="AES-CBC", crypt_key=k["encr_i"],
                             auth_algo="SHA2-256-128", auth_key=k["integ_i"],
                             tunnel_header=IP(src=netns.HQ_WAN, dst=netns.DEVICE_WAN))
    # Ahead of strongSwan's own sequence numbers, but inside the window for the ones it sends next.
    seq = _sa_counter("packets_in")(st) + 8
    pkt = sa.encrypt(IP(src=netns.HQ_HOST, dst=OUTSIDE) / UDP(sport=9, dport=9) / (b"x" * 64), seq_num=seq)
    _send_esp(tunnel, bytes(pkt[ESP]))
    st = tunnel.wait_counter(_sa_counter("policy_drops"), _sa_counter("policy_drops")(st) + 1)
    assert _sa_counter("icv_failures")(st) == 0


def test_esp_on_the_wire_decrypts_with_scapy(tunnel, tmp_path):
    pcap = _capture_pings(tunnel, tmp_path, 3)
    keys = tunnel.hq.esp_keys()
    assert keys, "no ESP keys in strongSwan's log"
    k = keys[-1]
    # hq initiated the CHILD SA: its outbound ("i") keys protect hq -> device, "r" the device's packets.
    from_device = capture.decrypt_esp(pcap, k["spi_in"], k["encr_r"], k["integ_r"])
    from_hq = capture.decrypt_esp(pcap, k["spi_out"], k["encr_i"], k["integ_i"])
    from scapy.layers.inet import ICMP, IP
    req = [p for p in from_device if ICMP in p and p[ICMP].type == 8]
    rep = [p for p in from_hq if ICMP in p and p[ICMP].type == 0]
    assert len(req) == 3 and len(rep) == 3, (from_device, from_hq)
    assert all((p[IP].src, p[IP].dst) == (netns.LAN_HOST, netns.HQ_HOST) for p in req)
    assert all(p[IP].ttl == 63 for p in req)  # the device forwarded them: one hop


def test_nat_keepalive_after_20s_idle(tunnel, tmp_path):
    """RFC 3948 2.3: strongSwan faked a NAT, so the SA is UDP-encapsulated and the device keeps the
    (supposed) NAT mapping alive with a one-byte 0xFF datagram after 20 s without ESP to hq."""
    from scapy.layers.inet import IP, UDP
    from scapy.utils import rdpcap
    lab = tunnel.lab
    pcap = tmp_path / "wan.pcap"
    with capture.Capture(lab.hq, lab.hq_wan_if, pcap, "udp port 4500"):
        t0 = time.monotonic()
        tunnel.wait_counter(lambda st: st["dataplane"]["dataplane"]["keepalives"] >= 1, True, timeout=30)
        waited = time.monotonic() - t0
        time.sleep(0.3)
    ka = [p for p in rdpcap(str(pcap)) if UDP in p and p[IP].src == netns.DEVICE_WAN
          and bytes(p[UDP].payload) == b"\xff" and (p[UDP].sport, p[UDP].dport) == (4500, 4500)]
    assert len(ka) == 1, [p.summary() for p in rdpcap(str(pcap))]
    assert waited > 15  # not before the idle time (the tunnel came up just before the capture)
