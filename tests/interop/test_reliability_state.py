"""Issue 7: replays, restarts and secrets against the live sim board and a real strongSwan.

- Replayed IKE requests get the cached reply (sent to the SA's peer, not the replayer) and change
  nothing; replayed ESP is dropped and counted (window edges: tests/device/test_esp_engine.py).
- The device power-cut mid-session: strongSwan's DPD finds it gone, and its next initiation (with
  INITIAL_CONTACT) brings a fresh tunnel; traffic for the old SPIs is dropped and counted. strongSwan
  killed and restarted: its INITIAL_CONTACT clears the device's stale SA.
- Every byte the device and the tools print across provisioning, tunnel, rekeys, failures and
  shutdown holds no PSK and no key material (keys read from strongSwan's own key dumps)."""
import base64
import json
import os
import re
import subprocess
import sys
import time

import pytest

import conftest
import faultrelay
import netns
import reliability as rel
import simboard
import test_responder as tr

pytestmark = pytest.mark.interop

REPLAY = r"""
import json, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.settimeout(1.0)
answers = []
for hexdata in sys.argv[4:]:
    s.sendto(bytes.fromhex(hexdata), (sys.argv[2], int(sys.argv[3])))
    try:
        answers.append(s.recv(65535).hex())
    except socket.timeout:
        pass
print(json.dumps(answers))
"""


@pytest.fixture
def relay_lab(needs_strongswan):
    with rel.relay_lab() as lab:
        yield lab


def ike_header(data):
    """(exchange, flags, msg_id) of an IKE datagram on 4500 (after the non-ESP marker) or 500."""
    return data[18], data[19], int.from_bytes(data[20:24], "big")


def replay(ns, src, port, datagrams):
    """Send the datagrams to the device from a fresh socket; returns the answers it got."""
    p = ns.run([sys.executable, "-c", REPLAY, src, netns.DEVICE_WAN, port] + [d.hex() for d in datagrams])
    return [bytes.fromhex(h) for h in json.loads(p.stdout.strip())]


def sa_view(status):
    """What a replay must not change: the SAs, their states, SPIs and peer addresses."""
    return ([(i["spi_i"], i["spi_r"], i["state"], i["remote"]) for i in status["ike"]],
            [(c["spi_in"], c["spi_out"], c["state"]) for c in status["child"]])


def test_replayed_ike_and_esp(request, relay_lab, tmp_path, sim_board, psk):
    lab = relay_lab
    hq = rel.start_charon(request, lab, tmp_path / "hq")
    relay = rel.start_relay(request, lab, tmp_path / "relay", {}, record=True)
    board = sim_board(lab, psk=psk, ike_proposals=rel.IKE, esp_proposals=rel.ESP)
    hq.load(rel.hq_conf(psk, remote=faultrelay.FRONT_IP))
    hq.initiate(child="net")
    sa, child = tr.wait_agree(hq, board)
    hq.rekey(child="net")
    sa, child = tr.wait_new(hq, board, tr.child_spi, {child["spi-in"]})
    # Some ESP from head office on the current CHILD SA (its packets reach the device's engine if
    # the data plane is wired; nothing answers them in host mode).
    lab.hq.ping(netns.HQ_HOST, netns.DEVICE_LAN, count=3, timeout=0.3)
    time.sleep(2.5)  # a status refresh
    before = rel.status(board)
    requests = [d for _, port, d in relay.records("up") if port == 4500 and d[:4] == bytes(4) and len(d) > 32
                and not ike_header(d[4:])[1] & 0x20]
    responses = [d for _, port, d in relay.records("down") if port == 4500 and d[:4] == bytes(4) and len(d) > 32]
    esp = [d for _, port, d in relay.records("up") if port == 4500 and len(d) > 8 and d[:4] != bytes(4)
           and d[:4].hex() == child["spi-out"]]
    assert len(requests) >= 3, requests  # IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL (DELETE)
    last = requests[-1]
    older = requests[:-1]
    n_down = len(relay.records("down"))
    # Replayed from elsewhere (another port of the NAT address): the last request gets the cached
    # answer, byte for byte, once (where it came from, as strongSwan answers a retransmission, or
    # to the SA's peer); older ones get nothing; the SA stays where it is.
    to_replayer = replay(lab.relay, faultrelay.NAT_IP, 4500, [last] + older)
    time.sleep(0.5)
    new_down = [d for _, _, d in relay.records("down")[n_down:]]
    replay_esp = replay(lab.relay, faultrelay.NAT_IP, 4500, esp) if esp else []
    time.sleep(2.5)
    after = rel.status(board)
    esp_counters = [c["counters"] for c in after["child"] if c["spi_in"] == child["spi-out"]]
    rel.figures("replays", ike_requests_replayed=len(requests), answered_to_replayer=len(to_replayer),
                resent_to_peer=len(new_down), esp_replayed=len(esp), replay_esp_answers=len(replay_esp),
                dropped_before=before["counters"]["dropped"], dropped_after=after["counters"]["dropped"],
                esp_counters=esp_counters)
    assert to_replayer + new_down == [responses[-1]], "the cached response, once"
    assert not replay_esp
    assert after["counters"]["dropped"] - before["counters"]["dropped"] >= len(older)
    assert sa_view(after) == sa_view(before)
    tr.wait_agree(hq, board)
    if not esp or not esp_counters or not esp_counters[0].get("packets_in"):
        pytest.skip("IKE replays pass; ESP replay not checked: the device's ESP engine saw none of head "
                    "office's ESP (data plane not wired into the sim board yet)")
    assert esp_counters[0]["replay_drops"] >= len(esp), esp_counters


def kill_device(lab, board):
    """A power cut: SIGKILL every process of the device namespace (sim run and the firmware)."""
    netns._kill_netns_processes(lab.device.name)
    board.proc.wait(5)
    board._console.close()


def test_device_power_cut_and_strongswan_restart(request, lab, tmp_path, sim_board, psk):
    hq = rel.start_charon(request, lab, tmp_path / "hq")
    board = sim_board(lab, psk=psk, ike_proposals=rel.IKE, esp_proposals=rel.ESP)
    hq.load(rel.hq_conf(psk, conn_extra={"dpd_delay": "1s"}, child_extra={"dpd_action": "restart"}))
    hq.initiate(child="net")
    old_sa, old_child = tr.wait_agree(hq, board)
    first_console = board.log_since()

    # 1. The device loses power mid-session and boots again with no SAs.
    kill_device(lab, board)
    board.start()
    t0 = time.monotonic()
    mark = hq.log_mark()
    lab.hq.ping(netns.HQ_HOST, netns.DEVICE_LAN, count=3, timeout=0.3)  # ESP on the old SPIs
    sa, child = tr.wait_new(hq, board, tr.ike_spi, {old_sa["initiator-spi"]}, timeout=30)
    recovered_s = time.monotonic() - t0
    log = hq.log_since(mark)
    assert "N(INIT_CONTACT)" in log, log
    st = rel.status(board)
    esp_no_sa = ((st.get("dataplane") or {}).get("esp") or {}).get("no_sa")
    rel.figures("device power cut", recovered_s=round(recovered_s, 1), old_ike_spi=old_sa["initiator-spi"],
                new_ike_spi=sa["initiator-spi"], dropped=st["counters"]["dropped"], esp_no_sa=esp_no_sa)
    # strongSwan's liveness checks on the old IKE SA reached a device without it: dropped, counted.
    assert st["counters"]["dropped"] >= 1, st["counters"]
    assert "request for unknown IKE SA" in board.log_since() or st["counters"]["dropped"] >= 1
    assert not rel.console_faults(board) and "Traceback" not in first_console

    # 2. strongSwan dies without a word and starts again: its INITIAL_CONTACT clears our stale SA.
    hq.proc.kill()
    hq.proc.wait()
    hq2 = rel.start_charon(request, lab, tmp_path / "hq2")
    hq2.load(rel.hq_conf(psk))
    mark = board.log_mark()
    p = hq2.initiate(child="net")
    assert "N(INIT_CONTACT)" in p.stdout, p.stdout
    sa2, child2 = tr.wait_agree(hq2, board)  # exactly one IKE SA and one CHILD SA on the device
    board.wait_log(r"INITIAL_CONTACT", mark)
    rel.figures("strongSwan restart", stale_ike_spi=sa["initiator-spi"], new_ike_spi=sa2["initiator-spi"])
    assert sa2["initiator-spi"] != sa["initiator-spi"]
    assert rel.alive(board) and not rel.console_faults(board)


# ---- secrets ------------------------------------------------------------------------------------

_DUMP_HEAD = re.compile(r"\] (?:<[^>]*> )?(.*?) => (\d+) bytes @")
_DUMP_LINE = re.compile(r"\]\s+(?:<[^>]*> )?\s*\d+: ((?:[0-9A-F]{2} ?){1,16})")
_SECRET_NAME = re.compile(r"(?i)(secret|SKEYSEED|key)$")  # not 'octets = ...': signed, public bytes


def charon_secrets(log):
    """{name: bytes} of every secret charon dumped (ike/chd level 4): DH secret, SKEYSEED, SK_d,
    SK_a*, SK_e*, SK_p*, the ESP keys."""
    out = {}
    name = want = None
    buf = b""
    for line in log.splitlines():
        m = _DUMP_HEAD.search(line)
        if m:
            if name and buf:
                out.setdefault(name, []).append(buf)
            name, want, buf = (m.group(1), int(m.group(2)), b"") if _SECRET_NAME.search(m.group(1)) else (None, 0, b"")
            continue
        m = _DUMP_LINE.search(line) if name else None
        if m:
            buf += bytes.fromhex(m.group(1).replace(" ", ""))
            if len(buf) >= want:
                out.setdefault(name, []).append(buf[:want])
                name, buf = None, b""
    return {"%s#%d" % (k, i): v for k, vs in out.items() for i, v in enumerate(vs) if len(v) >= 16}


def forms(secret):
    """How a secret could appear in text: raw, hex (both cases, spaced), base64, and each 8-byte
    piece in hex (a partial dump)."""
    h = secret.hex()
    out = [secret, h.encode(), h.upper().encode(), " ".join(h[i:i + 2] for i in range(0, len(h), 2)).encode(),
           base64.b64encode(secret).rstrip(b"=")]
    for i in range(0, len(secret) - 7, 8):
        piece = secret[i:i + 8].hex()
        out += [piece.encode(), " ".join(piece[j:j + 2] for j in range(0, 16, 2)).encode()]
    return out


def leaks(hay, needles):
    """Names of the needles ({name: forms}) found in bytes `hay`, hex compared without case."""
    low = hay.lower()
    found = []
    for name, fs in needles.items():
        for form in fs:
            if form in hay or (form.isascii() and len(form) >= 16 and form.lower() in low):
                found.append(name)
                break
    return found


class SerialBoard(simboard.SimBoard):
    """The sim board with its console on a pseudo-terminal (`sim run --console pty`), as a USB
    serial port: the firmware's every byte goes to a log file (self.logfile, so wait_log and
    console_faults read it), `sim run`'s own output to self.runlog, and host tools open self.port."""

    def start(self, timeout=30.0):
        self.runlog = self.dir / "sim-run.out"
        self.logfile = self.dir / "serial.log"
        self.logfile.touch()
        self._console = open(self.runlog, "w")
        argv = simboard.BRANCHGATE + ["sim", "run", "--root", str(self.root), "--console", "pty",
                                      "--console-log", str(self.logfile)]
        self.proc = self.ns.popen(argv, stdout=self._console, stderr=subprocess.STDOUT,
                                  env=dict(os.environ, PYTHONUNBUFFERED="1"))
        deadline = time.monotonic() + timeout
        while not self._listening(500) or "console: " not in self.runlog.read_text():
            assert self.proc.poll() is None and time.monotonic() < deadline, self.runlog.read_text()
            time.sleep(0.05)
        self.port = re.search(r"console: (\S+)", self.runlog.read_text()).group(1)
        return self

    def tool(self, *args):
        """A host tool on the board's serial port, e.g. tool("status", "--json"): its stdout+stderr."""
        p = subprocess.run(simboard.BRANCHGATE + [args[0], "--port", self.port, *args[1:]], capture_output=True,
                           text=True, timeout=60)
        return "rc %d\n%s%s" % (p.returncode, p.stdout, p.stderr)


def test_no_secret_in_any_output(request, lab, tmp_path, psk, sim_build):
    hq = rel.start_charon(request, lab, tmp_path / "hq", log_levels={"ike": 4, "chd": 4, "cfg": 2})
    rel.hq_addresses(lab, 2)
    board = SerialBoard(lab, tmp_path / "board")
    conftest.attach(request, "sim board", board.diagnostics)
    provision_out = board.provision(psk, ike_proposals=rel.IKE, esp_proposals=rel.ESP, log_level="debug")
    board.start()
    request.addfinalizer(board.stop)
    tools = []
    # The tunnel with two CHILD SAs, rekeys of both kinds, then failures: a wrong PSK, a proposal
    # mismatch, malformed and replayed datagrams on the live SA, and a shutdown with DELETE.
    hq.load(rel.multi_conf(psk, {"branch": ["net", "net2"]}))
    hq.initiate(ike="branch", child="net")
    hq.initiate(ike="branch", child="net2")
    hq.rekey(child="net")
    hq.rekey(ike="branch")
    time.sleep(1.0)
    tools += [board.tool("status"), board.tool("status", "--json"), board.tool("logs")]
    hq.terminate(ike="branch")
    hq.load(rel.hq_conf("x" + psk[1:]))
    p = hq.initiate(child="net", check=False)
    assert p.returncode != 0 and "AUTHENTICATION_FAILED" in p.stdout, p.stdout
    hq.load(rel.hq_conf(psk, ike="aes128-sha256-ecp256"))
    p = hq.initiate(child="net", check=False)
    assert p.returncode != 0 and "NO_PROPOSAL_CHOSEN" in p.stdout, p.stdout
    hq.load(rel.hq_conf(psk))
    hq.initiate(child="net")
    sa, child = tr.wait_agree(hq, board)
    blast_spec = {"target": netns.DEVICE_WAN, "src": netns.HQ_WAN, "count": 3000, "rate": 3000, "seed": 3,
                  "live": {"spi_i": sa["initiator-spi"], "spi_r": sa["responder-spi"], "msg_id": 2,
                           "esp_spi": child["spi-out"]}}
    f = tmp_path / "blast.json"
    f.write_text(json.dumps(blast_spec))
    lab.hq.run([sys.executable, rel.UDPBLAST, "malformed", f], timeout=120)
    time.sleep(2.5)
    tools += [board.tool("status", "--json"), board.tool("logs", "--json")]
    assert board.stop() == 0

    secrets = charon_secrets(hq.log_since())
    names = " ".join(sorted(secrets))
    for want in ("Sk_ei", "Sk_er", "Sk_ai", "Sk_ar", "Sk_d", "Sk_pi", "Sk_pr", "SKEYSEED",
                 "encryption initiator key", "integrity responder key"):
        assert want in names, "no %s among strongSwan's key dumps: %s" % (want, names)
    haystacks = {"serial console (all levels, status lines, tracebacks)": board.logfile.read_bytes(),
                 "branchgate sim run output": board.runlog.read_bytes(),
                 "status.json": (board.root / "status.json").read_bytes(),
                 "branchgate status/logs over the serial port": "".join(tools).encode(),
                 "branchgate provision output": (provision_out.stdout + provision_out.stderr).encode()}
    for extra in board.root.iterdir():
        if extra.is_file() and extra.name not in ("status.json",):
            haystacks["root file " + extra.name] = extra.read_bytes()
    psk_b = psk.encode()
    needles = {"PSK": forms(psk_b) + [psk_b]}
    needles.update({name: forms(v) for name, v in secrets.items()})
    found = ["%s in %s" % (name, where) for where, hay in haystacks.items() for name in leaks(hay, needles)]
    # The search finds what is there: every key in strongSwan's own dumps, the PSK in its file.
    in_charon = leaks(hq.logfile.read_bytes(), needles)
    assert set(secrets) <= set(in_charon), sorted(set(secrets) - set(in_charon))
    assert "PSK" in leaks((board.dir / "psk").read_bytes(), needles)
    total = sum(len(h) for h in haystacks.values())
    rel.figures("secrets", bytes_searched=total, secrets_from_strongswan=len(secrets), sources=sorted(haystacks),
                console_lines=board.logfile.read_text(errors="replace").count("\n"), found=found)
    assert "DEBUG" in board.logfile.read_text(errors="replace")  # the debug level was really on
    assert all(t.startswith("rc 0") for t in tools), tools       # and the tools really talked to it
    assert not found, found
