"""Provisioning over the serial console (issue 5), end to end: the sim board runs with a pseudo-terminal
as its console (`branchgate sim run --console pty`), and the real CLI (`branchgate provision --port`,
`status`, `logs`) talks to it through pyserial. Covered: a fresh board provisioned and restarted into
its configuration (the fingerprint changes with each provisioning), status and logs, `hq-config --port`
(the settings read back, never the PSK), line noise, a cut cable during provisioning, the device killed
at many points of a commit (old or new configuration, never a mix), and no byte the device sent carries
the PSK."""
import base64
import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from branchgate import link as link_mod
from branchgate import provision, sim
from branchgate.fwimport import firmware_module

# The installed entry point (with `-m branchgate.cli`, cli.py runs as __main__ and its CliError is
# not the one the command modules raise).
BRANCHGATE = [str(Path(sys.executable).parent / "branchgate")]
# The config store is imported for a commit (~65 KB with ike.proposal on this 64-bit port, where the
# firmware as a whole needs more than 112 KB: tests/unit/test_heap_budget.py); these tests are about the
# protocol, so the heap is ample.
HEAP = os.environ.get("BRANCHGATE_PROVISION_HEAP", "512k")
ID = "branch.example.net"
PEER_ID = "hq.example.net"


def wan():
    # Each board its own loopback address: UDP 500 is bound with SO_REUSEADDR, parallel boards would
    # steal each other's datagrams (none are sent here, but a run in parallel with others may).
    return "127.%d.%d.%d/8" % (random.randrange(100, 250), random.randrange(256), random.randrange(1, 255))


def options(wan_addr, remote="10.1.0.0/16", **extra):
    argv = ["--id", ID, "--peer-id", PEER_ID, "--wan", wan_addr, "--remote-ts", remote]
    for k, v in extra.items():
        argv += ["--" + k.replace("_", "-"), str(v)]
    return argv


def cli(*argv, timeout=60, check=True):
    p = subprocess.run(BRANCHGATE + list(map(str, argv)), capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("branchgate %s: rc %d\n%s%s"
                             % (" ".join(map(str, argv)), p.returncode, p.stdout, p.stderr))
    return p


class PtyBoard:
    """`branchgate sim run --console pty` on a root; .port is the pty the tools open."""

    def __init__(self, root, log):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.log = Path(log)
        self.err = open(self.log.with_suffix(".stderr"), "w")
        self.proc = subprocess.Popen(BRANCHGATE + ["sim", "run", "--root", str(self.root), "--heap", HEAP,
                                                   "--console", "pty", "--console-log", str(self.log)],
                                     stdout=subprocess.PIPE, stderr=self.err, text=True, start_new_session=True)
        line = self.proc.stdout.readline()
        assert line.startswith("console: /dev/"), line
        self.port = line.split()[1]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def sent(self):
        """Every byte the device sent on its console."""
        return self.log.read_bytes() if self.log.exists() else b""


@pytest.fixture(scope="module")
def build():
    return sim.build_firmware()


@pytest.fixture
def board(tmp_path, build):
    b = PtyBoard(tmp_path / "root", tmp_path / "console.log")
    yield b
    b.stop()


def psk_forms(psk):
    return [psk, psk.hex().encode(), psk.hex().upper().encode(), base64.b64encode(psk),
            base64.b64encode(psk).rstrip(b"=")]


def assert_no_psk(data, *psks):
    for psk in psks:
        for form in psk_forms(psk):
            assert form not in data, "the PSK (%r) left the device" % form[:8]


def expected_fp(wan_addr, remote, psk):
    """The fingerprint the device must report, computed with the firmware's config store."""
    config = firmware_module("config")
    s = {"id": ID, "log_level": "info", "wan": {"addr": wan_addr, "gateway": None},
         "peers": [{"name": "hq", "id": PEER_ID, "remote_ts": [remote]}]}
    return config.validate(s, config.secrets_for({"hq": psk})).fingerprint


# ---- framing, host side (no device) ----

def test_host_and_firmware_frames_agree_and_reader_resyncs():
    fw = firmware_module("provision")
    obj = {"id": 5, "op": "put", "d": "100% {\"x\"}\n", "o": 0}
    frame = link_mod.encode(obj)
    assert b"%" not in frame[1:] and frame.endswith(b"\n")
    assert json.loads(fw.unframe(frame[:-1])) == obj  # the firmware decodes what the host encodes
    dev = fw.frame(json.dumps({"id": 5, "ok": True, "lines": ["a"]}))
    rng = random.Random(1)
    texts = []
    reader = link_mod.Reader(on_text=texts.append)
    stream = b"INFO main: boot\r\n" + dev + b"\x00\xffnoise%BG1 0004 deadbeef {}\n" + dev.replace(b'"a"', b'"b"') + \
        b"ERROR x: y" + dev
    got = []
    i = 0
    while i < len(stream):  # arbitrary read boundaries
        n = rng.randrange(1, 9)
        got += reader.feed(stream[i:i + n])
        i += n
    assert got == [{"id": 5, "ok": True, "lines": ["a"]}] * 2  # the altered copy fails its CRC
    assert texts[0] == "INFO main: boot" and "ERROR x: y" in texts
    with pytest.raises(link_mod.LinkError, match="protocol 7"):
        link_mod.decode(b"%BG7 0002 00000000 {}")


def test_cli_refuses_before_touching_the_port(tmp_path):
    weak = tmp_path / "weak"
    weak.write_text("password12345678901234\n")
    p = cli("provision", "--port", "/dev/null-nonexistent", *options("127.0.0.2/8"), "--psk-file", weak, check=False)
    assert p.returncode != 0 and p.stderr.count("\n") == 1 and "weak PSK" in p.stderr
    existing = tmp_path / "key"
    existing.write_bytes(b"x")
    p = cli("provision", "--port", "/dev/null-nonexistent", *options("127.0.0.2/8"), "--generate-psk", existing,
            check=False)
    assert p.returncode != 0 and "exists" in p.stderr and existing.read_bytes() == b"x"
    p = cli("provision", "--port", "/dev/null-nonexistent", *options("127.0.0.2/33"), "--generate-psk",
            tmp_path / "k2", check=False)
    assert p.returncode != 0 and "--wan" in p.stderr and not (tmp_path / "k2").exists()
    p = cli("status", "--port", str(tmp_path / "nope"), check=False)
    assert p.returncode == 1 and p.stderr.startswith("branchgate: error: cannot open") and p.stderr.count("\n") == 1


# ---- against the sim board on a pty ----

def test_provision_restart_status_logs(board, tmp_path):
    config = firmware_module("config")
    outputs = []
    with link_mod.Link(board.port) as link:
        h = link.wait_hello(20)
    assert h["mode"] == "console" and h["generation"] == 0 and h["fingerprint"] is None
    assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", h["device"]) and h["proto"] == 1

    w = wan()
    key = tmp_path / "psk.bin"
    t = time.monotonic()
    p = cli("provision", "--port", board.port, *options(w), "--generate-psk", key)
    took = time.monotonic() - t
    outputs.append(p.stdout + p.stderr)
    psk1 = key.read_bytes()
    assert len(psk1) == 32 and key.stat().st_mode & 0o777 == 0o600
    fp1 = expected_fp(w, "10.1.0.0/16", psk1)
    assert fp1 in p.stdout and "device running the new configuration" in p.stdout

    p = cli("status", "--port", board.port, "--json")
    outputs.append(p.stdout)
    st = json.loads(p.stdout)
    assert st["status"]["mode"] == "run" and st["device"]["device"] == h["device"]
    assert st["status"]["fingerprint"] == fp1 == config.load(str(board.root)).fingerprint
    assert st["status"]["generation"] == 1 and st["status"]["reset_cause"] == "soft"
    assert st["device"]["boot"] != h["boot"]

    # Again, with another PSK and selector: the fingerprint changes, the device runs the new one
    psk2 = os.urandom(24).hex().encode()
    (tmp_path / "psk2").write_bytes(psk2 + b"\n")
    p = cli("provision", "--port", board.port, *options(w, remote="10.2.0.0/16"), "--psk-file", tmp_path / "psk2")
    outputs.append(p.stdout + p.stderr)
    fp2 = expected_fp(w, "10.2.0.0/16", psk2)
    assert fp2 != fp1
    p = cli("status", "--port", board.port)
    outputs.append(p.stdout)
    assert "running" in p.stdout and "generation 2, fingerprint %s" % fp2 in p.stdout

    p = cli("logs", "--port", board.port)
    outputs.append(p.stdout)
    assert re.search(r"INFO main: up: WAN %s" % re.escape(w), p.stdout)
    p = cli("logs", "--port", board.port, "--json")
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    assert lines and all(set(x) == {"n", "line"} for x in lines)

    # --follow prints the next lines as they come, and stops on Ctrl-C with exit 0
    f = subprocess.Popen(BRANCHGATE + ["logs", "--port", board.port, "--follow"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    seen = b""
    deadline = time.monotonic() + 20
    while b"up: WAN" not in seen and time.monotonic() < deadline:
        if select.select([f.stdout], [], [], 0.5)[0]:
            seen += os.read(f.stdout.fileno(), 4096)
    assert b"up: WAN" in seen
    f.send_signal(signal.SIGINT)
    out, err = f.communicate(timeout=10)
    assert f.returncode == 0, err

    # A weak PSK is refused unless --force, and nothing reaches the device
    (tmp_path / "weak").write_text("branchgate-password-2024\n")
    p = cli("provision", "--port", board.port, *options(w), "--psk-file", tmp_path / "weak", check=False)
    assert p.returncode == 1 and "weak PSK" in p.stderr
    assert config.load(str(board.root)).fingerprint == fp2

    # Factory reset: the configuration is gone, the device restarts into the provisioning console
    with link_mod.Link(board.port) as link:
        boot = link.hello()["boot"]
        link.request("factory-reset")
        h = link.wait_hello(20, boot_not=boot)
    assert h["mode"] == "console" and h["generation"] == 0 and h["fingerprint"] is None
    assert not (board.root / "config.d" / "settings.json").exists()
    assert not (board.root / "config.d" / "secrets.json").exists()

    sent = board.sent()
    assert b"%BG1" in sent and b"committed generation 2" in sent
    assert_no_psk(sent + "".join(outputs).encode(), psk1, psk2)
    print("provision --port of a fresh sim board (incl. restart): %.2f s; console bytes from the device: %d"
          % (took, len(sent)))


def test_hq_config_over_the_port_matches_the_root(board, tmp_path):
    """`hq-config --port` reads the settings back from the running device (the `settings` op) and prints
    what `--root` prints for the same board, the PSK as its fingerprint; the PSK never leaves the device."""
    config = firmware_module("config")
    w = wan()
    key = tmp_path / "psk.bin"
    cli("provision", "--port", board.port, *options(w, esp_proposals="aes128-sha256-ecp256"), "--generate-psk", key)
    psk = key.read_bytes()
    fp = config.psk_fingerprint(psk)
    outputs = []
    for fmt in ("swanctl", "cisco-iosxe"):
        by_port = cli("hq-config", "--port", board.port, "--format", fmt, "--hq-addr", "198.51.100.1").stdout
        by_root = cli("hq-config", "--root", board.root, "--format", fmt, "--hq-addr", "198.51.100.1").stdout
        outputs.append(by_port)
        assert by_port == by_root and fp in by_port
    assert "fingerprint %s" % config.load(str(board.root)).fingerprint in outputs[0]  # the device's config
    with_psk = cli("hq-config", "--root", board.root, "--format", "swanctl", "--hq-addr", "198.51.100.1",
                   "--include-psk").stdout
    assert "secret = 0x" + psk.hex() in with_psk

    def without_secret(text):
        return [x for x in text.splitlines() if "secret" not in x and "--include-psk" not in x]
    assert without_secret(outputs[0]) == without_secret(with_psk) and "secret = 0x" not in outputs[0]

    p = cli("hq-config", "--port", board.port, "--format", "swanctl", "--include-psk", check=False)
    assert p.returncode != 0 and p.stderr.count("\n") == 1 and "--include-psk needs --root" in p.stderr, p.stderr
    assert p.stdout == ""
    p = cli("hq-config", "--port", board.port, "--root", board.root, "--format", "swanctl", check=False)
    assert p.returncode == 2 and "not allowed with" in p.stderr
    p = cli("hq-config", "--port", str(tmp_path / "nope"), "--format", "swanctl", check=False)
    assert p.returncode == 1 and p.stderr.startswith("branchgate: error: cannot open") and p.stderr.count("\n") == 1

    sent = board.sent()
    assert b'"settings"' in sent and fp.encode() in sent  # the settings went out over the console ...
    assert_no_psk(sent + "".join(outputs).encode(), psk)  # ... and never the PSK


class NoisySerial:
    """Wraps the pyserial port: random garbage between frames, and some frames damaged (a byte
    changed, bytes dropped, garbage inserted). No 0x03: on the sim's pty that is the tty's interrupt
    character (a dev board's Ctrl-C; production builds disable it)."""

    def __init__(self, ser, rng):
        self.ser = ser
        self.rng = rng
        self.damaged = 0
        self.writes = 0

    def __getattr__(self, name):
        return getattr(self.ser, name)

    def garbage(self, n):
        return bytes(b if b != 3 else 0x25 for b in (self.rng.randrange(256) for _ in range(n)))

    def write(self, data):
        rng = self.rng
        self.writes += 1
        out = self.garbage(rng.randrange(0, 40))
        if rng.random() < 0.4:
            self.damaged += 1
            data = bytearray(data)
            i = rng.randrange(len(data) - 1)
            kind = rng.randrange(3)
            if kind == 0:
                data[i] ^= 1 << rng.randrange(8)
                data[i] = data[i] if data[i] != 3 else 4
            elif kind == 1:
                del data[i:i + rng.randrange(1, 5)]
            else:
                data[i:i] = self.garbage(rng.randrange(1, 10))
            data = bytes(data) if data.endswith(b"\n") else bytes(data) + b"\n"
        return self.ser.write(out + data)


def test_line_noise_is_survived(board):
    rng = random.Random(5)
    w = wan()
    psk = os.urandom(32)
    config = firmware_module("config")
    settings = {"id": ID, "wan": {"addr": w}, "peers": [{"name": "hq", "id": PEER_ID, "remote_ts": ["10.9.0.0/16"]}]}
    secrets, cfg = provision.validate(settings, psk)
    with link_mod.Link(board.port, timeout=0.3, retries=20) as link:
        link.ser = noisy = NoisySerial(link.ser, rng)
        link.wait_hello(20)
        requests = link.next_id
        provision.provision_port(link, settings, secrets, cfg, progress=lambda line: None)
        frames = link.next_id - requests
        sent = link.sent
    assert config.load(str(board.root)).fingerprint == cfg.fingerprint
    assert noisy.damaged >= 3 and noisy.writes > frames  # damaged frames were sent again
    print("line noise: %d requests in %d frames, %d damaged, %d bytes sent" % (frames, noisy.writes, noisy.damaged,
                                                                             sent))
    assert_no_psk(board.sent(), psk)


class CutSerial:
    """Wraps the pyserial port: write number `at` gets only its first half out, then the cable is cut."""

    def __init__(self, ser, at):
        self.ser = ser
        self.at = at
        self.writes = 0
        self.ops = []  # of every write, the cut one last

    def __getattr__(self, name):
        return getattr(self.ser, name)

    def write(self, data):
        self.writes += 1
        self.ops.append(link_mod.decode(data[:-1])["op"])
        if self.writes == self.at:
            self.ser.write(data[:len(data) // 2])
            self.ser.flush()
        if self.writes >= self.at:
            raise OSError("cable cut")
        return self.ser.write(data)


def test_cut_cable_leaves_old_or_new(board, tmp_path):
    """The cable is cut in the middle of each frame of a provisioning in turn, and the tool is killed
    at random times: the device stays up, and its configuration is the old one or the new one, whole;
    new exactly when the commit request got through."""
    config = firmware_module("config")
    w = wan()
    variants = {}
    for remote in ("10.1.0.0/16", "10.2.0.0/16"):
        settings = {"id": ID, "wan": {"addr": w}, "peers": [{"name": "hq", "id": PEER_ID, "remote_ts": [remote]}]}
        secrets, cfg = provision.validate(settings, os.urandom(32))
        variants[cfg.fingerprint] = (settings, secrets, cfg)
    (fp_a, a), (fp_b, b) = variants.items()
    provision.provision_root(board.root, a[0], bytes.fromhex(a[1]["psk"]["hq"]), force=True)
    outcomes = []
    at = 1
    while True:
        old = config.load(str(board.root)).fingerprint
        settings, secrets, cfg = b if old == fp_a else a
        with link_mod.Link(board.port) as link:
            link.ser = cut = CutSerial(link.ser, at)
            try:
                provision.provision_port(link, settings, secrets, cfg, progress=lambda line: None)
                break  # no write left to cut
            except link_mod.LinkError:
                if cut.writes < at:
                    raise  # failed with the cable whole
        with link_mod.Link(board.port) as link:
            link.wait_hello(20)  # up (the device has finished whatever it had received)
        got = config.load(str(board.root)).fingerprint
        assert got in (old, cfg.fingerprint)
        outcomes.append("%s:%s" % (cut.ops[-1], "new" if got == cfg.fingerprint else "old"))
        # Cut in the commit request or before it, the old configuration stays; after it, the new one
        assert (got == cfg.fingerprint) == ("commit" in cut.ops[:-1]), outcomes
        at += 1
    assert "commit:old" in outcomes and "reboot:new" in outcomes, outcomes

    keys = {}
    for fp, (settings, secrets, cfg) in variants.items():
        keys[fp] = tmp_path / fp
        keys[fp].write_bytes(bytes.fromhex(secrets["psk"]["hq"]))
    rng = random.Random(7)
    kills = {}
    for run in range(4):
        old = config.load(str(board.root)).fingerprint
        new = fp_b if old == fp_a else fp_a
        remote = variants[new][0]["peers"][0]["remote_ts"][0]
        p = subprocess.Popen(BRANCHGATE + ["provision", "--port", board.port, *options(w, remote=remote),
                                           "--psk-file", str(keys[new])], stdout=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.1, 0.6))
        p.kill()
        p.wait()
        with link_mod.Link(board.port) as link:
            link.wait_hello(20)
        got = config.load(str(board.root)).fingerprint
        assert got in (old, new)
        kills["new" if got == new else "old"] = kills.get("new" if got == new else "old", 0) + 1
    print("cut cable: in each of %d frames in turn: %s; tool killed at random times: %s" % (
        len(outcomes), " ".join(outcomes), kills))


def _children(pid):
    try:
        return [int(x) for x in Path("/proc/%d/task/%d/children" % (pid, pid)).read_text().split()]
    except OSError:
        return []


def _state(root):
    """Where a commit was cut, from what is on disk: settings generation, secrets generations, leftovers."""
    d = Path(root) / "config.d"
    st = json.loads((d / "settings.json").read_text())
    sec = json.loads((d / "secrets.json").read_text())
    leftovers = sorted(p.name for p in d.glob("*.new"))
    return "settings g%d, secrets g%s%s" % (st["generation"], "+".join(str(e["generation"]) for e in sec["entries"]),
                                            ", leftover " + ",".join(leftovers) if leftovers else "")


def test_killed_device_mid_commit_keeps_old_or_new(tmp_path, build):
    """SIGKILL the sim board at many points of a commit. With strace available, every rename (the
    config store's commit steps) is delayed DELAY s, so the kill times step through all of them."""
    config = firmware_module("config")
    strace = shutil.which("strace")
    delay = 0.15 if strace else 0.0
    root = tmp_path / "root"
    w = wan()
    variants = {}
    for remote in ("10.1.0.0/16", "10.2.0.0/16"):
        psk = os.urandom(32)
        settings = {"id": ID, "wan": {"addr": w}, "peers": [{"name": "hq", "id": PEER_ID, "remote_ts": [remote]}]}
        secrets, cfg = provision.validate(settings, psk)
        variants[cfg.fingerprint] = (settings, secrets, cfg)
    first = next(iter(variants.values()))
    provision.provision_root(root, first[0], bytes.fromhex(first[1]["psk"]["hq"]), force=True)
    (root / "button").touch()  # safe mode at boot: the console only, nothing else renames files
    console = sim.PtyConsole(tmp_path / "console.log")
    env = dict(os.environ, MICROPYPATH=str(build))
    prefix = []
    if strace:
        prefix = [strace, "-f", "-qq", "-o", "/dev/null", "-e", "trace=rename,renameat,renameat2",
                  "-e", "inject=rename,renameat,renameat2:delay_enter=%d" % int(delay * 1e6)]
    kill_at = [0.0] + [delay * k / 2 + 0.01 for k in range(1, 9)] if strace else [0.001 * k for k in range(12)]
    outcomes = {}
    states = set()
    for t in kill_at:
        old = config.load(str(root)).fingerprint
        new = next(fp for fp in variants if fp != old)
        settings, secrets, cfg = variants[new]
        proc = subprocess.Popen(prefix + sim.command(HEAP), cwd=str(root), env=env, start_new_session=True,
                                **console.child_kwargs())
        try:
            with link_mod.Link(console.path, timeout=2.0) as link:
                link.wait_hello(20)
                link.request("begin")
                link.put("settings", config.canon(settings))
                link.put("secrets", config.canon(secrets))
                link._write(link_mod.encode({"id": link.next_id, "op": "commit", "fp": new}))
                time.sleep(t)
                for pid in _children(proc.pid) if strace else [proc.pid]:
                    os.kill(pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
        states.add(_state(root))
        got = config.load(str(root))  # raises on a damaged store or a settings/secrets mix
        assert got.fingerprint in (old, new)
        assert config.psk_fingerprint(got.peers[0].psk) == config.psk_fingerprint(
            bytes.fromhex(variants[got.fingerprint][1]["psk"]["hq"]))
        key = "new" if got.fingerprint == new else "old"
        outcomes[key] = outcomes.get(key, 0) + 1
    print("killed mid-commit: %d kills (rename delay %.2f s), outcomes %s, states on disk seen: %s"
          % (len(kill_at), delay, outcomes, sorted(states)))
    if strace:
        assert outcomes.get("old") and outcomes.get("new")
        assert any("+" in s for s in states)  # killed between the commit's first and last step


def test_console_code_is_small_on_the_board_heap(tmp_path):
    """provision.py is loaded only when the console is used; compiled as on the board, its code and a
    Console with a frame in flight must stay small next to the tunnel (ESP32: 112 KB heap in all)."""
    from branchgate import mpy
    from mp import FIRMWARE, MICROPYTHON
    build = tmp_path / "mpy"
    for rel in ("provision.py", "log.py"):
        mpy.compile_file(FIRMWARE / rel, build / rel.replace(".py", ".mpy"))
    code = ("import gc, select, sys, log\ngc.collect()\nbase = gc.mem_alloc()\nimport provision\n"
            "c = provision.Console(select.poll(), None, '/nonexistent', 'x')\n"
            "for b in provision.frame('{\"id\": 1, \"op\": \"begin\"}')[:-1]: c.feed(b)\n"
            "gc.collect()\nprint(gc.mem_alloc() - base)\n")
    p = subprocess.run([MICROPYTHON, "-X", "heapsize=112k", "-c", code], env={"MICROPYPATH": str(build)},
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    used = int(p.stdout.split()[-1])
    print("provision.mpy loaded with a Console: %d bytes of heap" % used)
    assert used < 10 * 1024


def test_pty_console_never_stalls_the_board(tmp_path):
    """With no tool on the port, a chatty board is not blocked by its console (the output nobody
    reads is dropped, as on an unplugged cable); a tool that opens the port later gets fresh output."""
    console = sim.PtyConsole(tmp_path / "console.log")
    code = "import sys, time\nfor i in range(3000): sys.stdout.write('INFO x: line %05d ' % i + 'y' * 60 + '\\n')\n" \
           "sys.stdout.flush()\nprint('DONE', flush=True)\ntime.sleep(0.5)\nprint('FRESH', flush=True)\ntime.sleep(5)\n"
    t = time.monotonic()
    p = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, **console.child_kwargs())
    try:
        deadline = time.monotonic() + 10
        while b"DONE" not in (tmp_path / "console.log").read_bytes():
            assert time.monotonic() < deadline, "the board blocked on its console"
            time.sleep(0.05)
        took = time.monotonic() - t
        with link_mod.Link(console.path) as link:
            texts = []
            link.reader.on_text = texts.append
            deadline = time.monotonic() + 5
            while "FRESH" not in texts and time.monotonic() < deadline:
                link.reader.feed(link._read())
        assert texts[0] == "FRESH", texts[:3]
    finally:
        p.kill()
        p.wait()
    print("240 KB of console output with nobody on the port: %.2f s" % took)
