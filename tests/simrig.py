"""A sim board driven from CPython, for the boot/recovery tests and the heap budget.

Device: the real firmware, compiled to .mpy by `branchgate sim run`'s own build step, running as
`micropython -X heapsize=N -m main` in a board root (its own process, its console in a file).
HeadOffice: a scripted IKEv2 initiator (tests/device/ike_peer.py, which checks the device's AUTH with
its own key schedule) on a UDP socket, talking to the device's WAN address on loopback (all of
127.0.0.0/8 is local, so no namespace is needed; binding port 500 needs root). ESP packets are built
and checked here with `cryptography`, independently of firmware/ipsec.
"""
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mp import DEVICE_TESTS, MICROPYTHON

if str(DEVICE_TESTS) not in sys.path:
    sys.path.append(str(DEVICE_TESTS))

import config  # noqa: E402  (firmware/config.py: the device's own store writes the root)
import ike_peer as P  # noqa: E402
from branchgate import sim  # noqa: E402
from crypto import dh  # noqa: E402
from ike import const, keys, message, sk  # noqa: E402

MARKER = b"\0\0\0\0"
IKE = "aes256-sha256-modp2048"
ESP = "aes256-sha256"


def missing():
    """Why the rig cannot run here ('' when it can): the device binds UDP 500 on its WAN address."""
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except OSError:
        start = 1024
    if os.geteuid() != 0 and start > 500:
        return "binding UDP 500 needs root (or net.ipv4.ip_unprivileged_port_start <= 500)"
    return ""


def wan_ip(salt=0):
    """A loopback address of this test process's own, so parallel runs never share a WAN."""
    n = (os.getpid() * 7 + salt) % 65000 + 256
    return "127.%d.%d.%d" % (100 + salt % 100, n >> 8, n & 255 or 1)


def provision(root, wan, peers=1, log_level="info", limits=None, lan=None, **peer_over):
    """Commit a config for `peers` head offices hq0..: identity hqK.example.net, remote 10.10.K.0/24;
    host mode (the device's WAN address is its local selector) unless `lan` ('a.b.c.d/nn')."""
    ps = []
    for k in range(peers):
        p = {"name": "hq%d" % k, "id": "hq%d.example.net" % k, "ike_proposals": [IKE], "esp_proposals": [ESP],
             "remote_ts": ["10.10.%d.0/24" % k], "dpd_delay": 0}
        p.update(peer_over)
        ps.append(p)
    settings = {"id": "branch.example.net", "wan": {"addr": wan + "/8"}, "peers": ps, "log_level": log_level}
    if lan:
        settings["lan"] = {"addr": lan}
    if limits:
        settings["limits"] = limits
    psks = {}
    for p in ps:
        psks[p["name"]] = P.PSK
    Path(root).mkdir(parents=True, exist_ok=True)
    return config.save(str(root), settings, config.secrets_for(psks))


class Device:
    """The firmware in `root` at `heap`; extra env for the board's stand-ins (reset cause, watchdog)."""

    def __init__(self, root, heap="112k", env=None, build=None, prefix=(), script=None, exe=None):
        """prefix: argv before micropython's (e.g. `ip netns exec NS`); script: run it instead of
        `-m main` (tests/device is then on the path too); exe: another micropython (tests/mp32.py)."""
        self.root = Path(root)
        self.build = build or sim.build_firmware(exe=exe)
        self.console = self.root / "console.log"
        e = dict(os.environ, MICROPYPATH=sim.micropypath(self.root, self.build)
                 + ("" if script is None else ":" + str(DEVICE_TESTS)))
        e.update(env or {})
        self._log = open(self.console, "wb")  # this start's console only
        # stdin a pipe nobody writes: a quiet serial line (at EOF the provisioning console would load)
        run = ["-m", "main"] if script is None else [str(script)]
        self.proc = sim.Firmware([*prefix, exe or MICROPYTHON, "-X", "heapsize=" + heap, *run], e, cwd=str(self.root),
                                 stdin=subprocess.PIPE, stdout=self._log, stderr=subprocess.STDOUT)

    def output(self):
        return self.console.read_text(errors="replace")

    def wait_for(self, text, timeout=30, count=1):
        """Until the console has shown `text` `count` times."""
        deadline = time.monotonic() + timeout
        while self.output().count(text) < count:
            if self.proc.poll() is not None:
                raise AssertionError("device exited (rc %s) before %r:\n%s" % (self.proc.returncode, text,
                                                                                 self.output()))
            if time.monotonic() > deadline:
                raise AssertionError("no %r from the device within %d s:\n%s" % (text, timeout, self.output()))
            time.sleep(0.05)

    def wait(self, timeout=30):
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def stop(self, timeout=30):
        """The graceful stop (sim.Firmware's stop line) -> exit code."""
        try:
            return self.proc.stop(timeout)
        finally:
            self._log.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait()


def _aes_cbc(key, iv, data, encrypt):
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


def _icv(key, data):
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()[:16]


def icmp_echo(src, dst, ident, seq, payload=b"branchgate" * 4):
    """An IPv4 ICMP echo request (checksums filled in)."""
    def csum(b):
        if len(b) % 2:
            b += b"\0"
        s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
        while s >> 16:
            s = (s & 0xFFFF) + (s >> 16)
        return ~s & 0xFFFF
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0, src, dst)
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + icmp


class Child:
    """One CHILD SA as head office holds it: spi_hq (our inbound, the device's outbound), spi_dev
    (the device's inbound) and the keys of both directions."""

    def __init__(self, spi_hq, spi_dev, keymat):
        self.spi_hq = spi_hq
        self.spi_dev = spi_dev
        self.enc_out, self.auth_out, self.enc_in, self.auth_in = keymat
        self.seq = 0

    def seal(self, inner):
        self.seq += 1
        pad = (-(len(inner) + 2)) % 16
        pt = inner + bytes(range(1, pad + 1)) + bytes((pad, 4))
        iv = os.urandom(16)
        body = self.spi_dev + struct.pack("!I", self.seq) + iv + _aes_cbc(self.enc_out, iv, pt, True)
        return body + _icv(self.auth_out, body)

    def open(self, pkt):
        """The inner packet of an ESP packet from the device; AssertionError if it does not verify."""
        assert pkt[:4] == self.spi_hq, "ESP for SPI %s, expected %s" % (pkt[:4].hex(), self.spi_hq.hex())
        assert _icv(self.auth_in, pkt[:-16]) == pkt[-16:], "ESP ICV mismatch"
        pt = _aes_cbc(self.enc_in, pkt[8:24], pkt[24:-16], False)
        assert pt[-1] == 4, "next header %d" % pt[-1]
        return pt[:len(pt) - 2 - pt[-2]]


class HeadOffice:
    """One IKE SA (and its CHILD SAs) of head office K with the device at `wan` (dotted quad). The
    device's side of the tunnel is `device_ts` (default: its WAN address, host mode) and echo requests
    go to `target` (default: the WAN address); `esp`: its ESP proposal."""

    def __init__(self, k, wan, timeout=3.0, tries=4, device_ts=None, target=None, esp=ESP):
        self.k = k
        self.esp = esp  # with a DH group: PFS, a KE in each CREATE_CHILD_SA
        self.wan = wan
        self.device_ts = device_ts or wan + "/32"
        self.dev_ip = socket.inet_aton(target or wan)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.timeout = timeout
        self.tries = tries
        self.retransmits = 0
        self.exchanges = 0
        self.i = None
        self.children = []
        self.echo_seq = 0

    def close(self):
        self.sock.close()

    # -- transport --

    def _send(self, data, natt):
        self.sock.sendto(MARKER + data if natt else data, (self.wan, 4500 if natt else 500))

    def _recv(self, deadline):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, src = self.sock.recvfrom(4096)
            except socket.timeout:
                return None
            if src[1] == 4500:
                if data[:4] != MARKER:
                    return data  # ESP
                data = data[4:]
            return data

    def exchange(self, data, natt=True, msg_id=None):
        """Send an IKE request, retransmitting until its response (same message ID) arrives."""
        mid = struct.unpack("!I", data[20:24])[0] if msg_id is None else msg_id
        for _ in range(self.tries):
            self._send(data, natt)
            deadline = time.monotonic() + self.timeout
            while True:
                r = self._recv(deadline)
                if r is None:
                    break
                if len(r) >= 28 and r[19] & const.FLAG_RESPONSE and struct.unpack("!I", r[20:24])[0] == mid:
                    self.exchanges += 1
                    return r
            self.retransmits += 1
        raise AssertionError("head office %d: no response to message %d after %d tries" % (self.k, mid, self.tries))

    def request(self, exchange, payloads):
        m, p = self.i.open(self.exchange(self.i.request(exchange, payloads)))
        return p

    # -- IKE --

    def _ts_hq(self, n):
        # CHILD SA n carries 10.10.K.(128n)/25: each has selectors of its own, so the device's
        # outbound lookup, and thus the SA an echo reply comes back on, is unambiguous.
        return "10.10.%d.%d/25" % (self.k, 128 * n)

    def establish(self):
        i = self.i = P.Initiator(ident=b"hq%d.example.net" % self.k)
        i.init_response(self.exchange(i.sa_init(), natt=False))
        i.natt = True
        m, p = i.open(self.exchange(i.auth(esp=self.esp, tsi=(self._ts_hq(0),), tsr=(self.device_ts,))))
        i.check_auth(p)
        prop = P.first(p, message.Sa)
        assert prop is not None, "IKE_AUTH without a CHILD SA: notifies %s" % P.notify_types(p)
        self.children = [Child(i.child_spi, bytes(prop.proposals[0].spi),
                               keys.child_keymat(i.keys.sk_d, i.ni, i.nr, self._elen()))]

    def _elen(self):
        encr = [t for t in P.esp_proposal(self.esp, b"").transforms if t.type == const.TRANS_ENCR][0]
        return keys.key_bytes(encr.id, encr.keylen)

    def _new_child(self, n, rekey=None):
        spi = os.urandom(4)
        ni = os.urandom(32)
        p = [] if rekey is None else [message.Notify(const.PROTO_ESP, rekey, const.REKEY_SA)]
        prop = P.esp_proposal(self.esp, spi)
        groups = [t.id for t in prop.transforms if t.type == const.TRANS_DH]
        kp = dh.new(groups[0]) if groups else None
        p += [message.Sa([prop]), message.Nonce(ni)]
        if kp is not None:
            p.append(message.Ke(kp.group, kp.public))
        p += [message.TsI(P.selectors(self._ts_hq(n))), message.TsR(P.selectors(self.device_ts))]
        p = self.request(const.CREATE_CHILD_SA, p)
        sa = P.first(p, message.Sa)
        assert sa is not None, "CREATE_CHILD_SA refused: notifies %s" % P.notify_types(p)
        nr = bytes(P.first(p, message.Nonce).data)
        gir = kp.shared(P.first(p, message.Ke).data) if kp is not None else None
        return Child(spi, bytes(sa.proposals[0].spi), keys.child_keymat(self.i.keys.sk_d, ni, nr, self._elen(), 32, gir))

    def add_child(self):
        self.children.append(self._new_child(len(self.children)))

    def rekey_child(self, n):
        """Rekey CHILD SA n, then delete the old one (as strongSwan does)."""
        old = self.children[n]
        self.children[n] = self._new_child(n, rekey=old.spi_hq)
        p = self.request(const.INFORMATIONAL, [message.Delete(const.PROTO_ESP, [old.spi_hq])])
        d = P.first(p, message.Delete)
        assert d is not None and [bytes(x) for x in d.spis] == [old.spi_dev], "DELETE not answered in kind"

    def rekey_ike(self):
        """IKE SA rekey (RFC 7296 2.18), then DELETE of the old SA; the children move over."""
        i = self.i
        spi_i = os.urandom(8)
        ni = os.urandom(32)
        kp = dh.new(const.MODP_2048)
        p = self.request(const.CREATE_CHILD_SA, [message.Sa([P.ike_proposal(IKE, spi_i)]), message.Nonce(ni),
                                                 message.Ke(const.MODP_2048, kp.public)])
        sa = P.first(p, message.Sa)
        assert sa is not None, "IKE rekey refused: notifies %s" % P.notify_types(p)
        spi_r = bytes(sa.proposals[0].spi)
        nr = bytes(P.first(p, message.Nonce).data)
        gir = kp.shared(P.first(p, message.Ke).data)
        k = keys.ike_keys(keys.rekey_skeyseed(i.keys.sk_d, gir, ni, nr), ni, nr, spi_i, spi_r, 32)
        assert self.request(const.INFORMATIONAL, [message.Delete(const.PROTO_IKE, [])]) == []
        i.spi_i, i.spi_r, i.keys, i.msg_id = spi_i, spi_r, k, 0
        i.tx = sk.SkCodec(const.ENCR_AES_CBC, k.sk_ei, k.sk_ai)
        i.rx = sk.SkCodec(const.ENCR_AES_CBC, k.sk_er, k.sk_ar)

    def dpd(self):
        assert self.request(const.INFORMATIONAL, []) == []

    def delete(self):
        self.request(const.INFORMATIONAL, [message.Delete(const.PROTO_IKE, [])])

    # -- ESP --

    def ping(self, n, count=1):
        """Echo requests from 10.10.K.1 to the device's own address through CHILD SA n; returns the
        number of verified echo replies (the device in host mode answers its own address)."""
        c = self.children[n]
        got = 0
        for _ in range(count):
            self.echo_seq += 1
            src = bytes((10, 10, self.k, 128 * n + 1))
            self.sock.sendto(c.seal(icmp_echo(src, self.dev_ip, self.k, self.echo_seq)), (self.wan, 4500))
            deadline = time.monotonic() + self.timeout
            while True:
                r = self._recv(deadline)
                if r is None:
                    break
                if r[:4] != c.spi_hq:
                    continue
                inner = c.open(r)
                if inner[9] == 1 and inner[20] == 0 and inner[12:16] == self.dev_ip and inner[16:20] == src:
                    got += 1
                    break
        return got


class Timeline:
    """Head office's schedule over `minutes` of simulated time, run back to back (the device has
    nothing to do between events: head office initiates every rekey). Per CHILD SA a rekey every
    `child_rekey_min`, per IKE SA a rekey every `ike_rekey_min` and a liveness check every `dpd_min`,
    staggered so events of different SAs interleave; `pings` echo requests through each CHILD SA
    after every event on its IKE SA."""

    def __init__(self, minutes=60, child_rekey_min=10, ike_rekey_min=30, dpd_min=5, pings=2):
        self.minutes = minutes
        self.child_rekey = child_rekey_min
        self.ike_rekey = ike_rekey_min
        self.dpd = dpd_min
        self.pings = pings

    def events(self, hqs):
        ev = []
        for h in hqs:
            # Each kind of event every `period` minutes, head office K and CHILD SA n a little early.
            for n in range(len(h.children)):
                ev += self._every(self.child_rekey, (h.k + 2 * n) / 4, h, "child", n)
            ev += self._every(self.ike_rekey, h.k / 4 + 0.5, h, "ike", 0)
            ev += self._every(self.dpd, h.k / 8, h, "dpd", 0)
        ev.sort(key=lambda e: (e[0], e[1].k, e[2], e[3]))
        return ev

    def _every(self, period, early, h, kind, arg):
        return [(t - early, h, kind, arg) for t in range(period, self.minutes + 1, period)]

    def run(self, hqs):
        """-> {"child_rekeys", "ike_rekeys", "dpd", "pings_sent", "pings_answered"}"""
        n = {"child_rekeys": 0, "ike_rekeys": 0, "dpd": 0, "pings_sent": 0, "pings_answered": 0}
        for t, h, kind, arg in self.events(hqs):
            if kind == "child":
                h.rekey_child(arg)
                n["child_rekeys"] += 1
            elif kind == "ike":
                h.rekey_ike()
                n["ike_rekeys"] += 1
            else:
                h.dpd()
                n["dpd"] += 1
            for c in range(len(h.children)):
                n["pings_sent"] += self.pings
                n["pings_answered"] += h.ping(c, self.pings)
        return n


MEMORY_TROUBLE = ("MemoryError", "out of memory", "low memory")


def budget_run(heap, ike_sas=4, children=2, timeline=None, build=None, workdir=None, exe=None, esp=ESP):
    """The heap-budget scenario on a fresh device at `heap`: bring up `ike_sas` IKE SAs with
    `children` CHILD SAs each, ping through all of them, run `timeline` (default: an hour), ping
    again, stop gracefully. Returns a dict of figures; "ok" is False with "why" on any failure,
    including a memory complaint in the device's log. exe: another micropython (tests/mp32.py's
    32-bit one), the firmware compiled for it. esp: the ESP proposal of both sides (with a DH group,
    every CREATE_CHILD_SA has a key exchange)."""
    import shutil
    import tempfile
    root = Path(workdir or tempfile.mkdtemp(prefix="bg-heap-"))
    wan = wan_ip(salt=int(heap.rstrip("kKmM")) % 97)
    # Room for rekeys in flight: an IKE rekey briefly doubles an IKE SA, a CHILD rekey a CHILD SA.
    provision(root, wan, peers=ike_sas, limits={"max_ike_sas": 2 * ike_sas, "max_child_sas": 2 * ike_sas * children},
              esp_proposals=[esp])
    out = {"heap": heap, "ok": False, "why": None}
    dev = Device(root, heap=heap, build=build, exe=exe)
    hqs = []
    try:
        dev.wait_for("INFO main: up", timeout=60)
        hqs = [HeadOffice(k, wan, timeout=1.5, tries=3, esp=esp) for k in range(ike_sas)]
        for h in hqs:
            h.establish()
            for _ in range(children - 1):
                h.add_child()
        first = sum(h.ping(c) for h in hqs for c in range(children))
        out.update((timeline or Timeline()).run(hqs))
        last = sum(h.ping(c) for h in hqs for c in range(children))
        out["pings_sent"] += 2 * ike_sas * children
        out["pings_answered"] += first + last
        out["exchanges"] = sum(h.exchanges for h in hqs)
        out["retransmits"] = sum(h.retransmits for h in hqs)
        rc = dev.stop()
        log = dev.output()
        trouble = [t for t in MEMORY_TROUBLE if t in log]
        if rc != 0:
            out["why"] = "device exit code %s" % rc
        elif trouble:
            out["why"] = "device log mentions %s" % ", ".join(trouble)
        elif out["pings_answered"] != out["pings_sent"]:
            out["why"] = "%d of %d echo requests answered" % (out["pings_answered"], out["pings_sent"])
        else:
            out["ok"] = True
    except AssertionError as e:
        out["why"] = str(e).splitlines()[0][:200]
    finally:
        for h in hqs:
            h.close()
        dev.kill()
        out["log"] = dev.output()
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    return out
