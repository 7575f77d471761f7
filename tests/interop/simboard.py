"""The sim board (firmware on the MicroPython unix port) as the branch device in a Lab.

Provisioned through the real CLI (`branchgate provision --root DIR ...`) and run through the real CLI
(`branchgate sim run --root DIR`) inside the lab's device namespace, so the tests exercise exactly
what a user runs. Its console output (the firmware's log lines) goes to a file for the tests.

The device's own view of its SAs is the firmware's status snapshot (firmware/ike/status.py), which
the sim board keeps in status.json in its root and also prints as an "INFO status: {json}" console
line after each change (see sas()).
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import netns

HQ_ID = "hq.example.net"
DEVICE_ID = "branch.example.net"
BRANCHGATE = [sys.executable, "-m", "branchgate.cli"]
STATUS_FILE = "status.json"


def missing_prerequisites():
    """What the repository still lacks for a sim board (empty when `provision` and `sim` exist)."""
    from branchgate import paths
    reasons = []
    for module in ("provision", "sim"):
        if not (paths.REPO / "host_tools" / "branchgate" / (module + ".py")).exists():
            reasons.append("host_tools/branchgate/%s.py (`branchgate %s`) does not exist yet" % (module, module))
    if not (paths.FIRMWARE / "main.py").exists():
        reasons.append("firmware/main.py (the sim board's entry point) does not exist yet")
    return reasons


def _options(options):
    """provision keyword arguments -> CLI flags: foo_bar=v -> --foo-bar v (lists repeat the flag)."""
    argv = []
    for key, value in options.items():
        if value is None:
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            argv += ["--" + key.replace("_", "-"), str(v)]
    return argv


class SimBoard(netns.ProcessLog):
    def __init__(self, lab, workdir, heap=None):
        self.lab = lab
        self.ns = lab.device
        self.dir = Path(workdir)
        self.root = self.dir / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.logfile = self.dir / "console.log"
        self.heap = heap
        self.proc = None
        self._console = None

    def __repr__(self):
        return "SimBoard(%s)" % self.ns.name

    def provision(self, psk, id=DEVICE_ID, peer_id=HQ_ID, local_ts=netns.LAN_SUBNET,
                  remote_ts=netns.HQ_SUBNET, wan="%s/%d" % (netns.DEVICE_WAN, netns.WAN_PREFIX), **options):
        """`branchgate provision --root ROOT` with the PSK in a 0600 file outside the board's root.
        Extra options pass through (ike_proposals="aes128-sha256-ecp256", lan=..., lan_port=...)."""
        psk_file = self.dir / "psk"
        psk_file.touch(mode=0o600)
        psk_file.write_text(psk)
        args = dict(id=id, peer_id=peer_id, psk_file=psk_file, local_ts=local_ts, remote_ts=remote_ts, wan=wan)
        args.update(options)
        p = subprocess.run(BRANCHGATE + ["provision", "--root", str(self.root)] + _options(args),
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("branchgate provision failed (rc %d):\n%s%s" % (p.returncode, p.stdout, p.stderr))
        return p

    def configure(self, section, **values):
        """Change settings the CLI has no option for (e.g. timers: retransmit_timeout_ms,
        retransmit_base_pct, retransmit_tries) through the firmware's own config store."""
        import config  # firmware/config.py (tests put firmware/ on sys.path)
        settings, secrets, _ = config.read(str(self.root))
        settings.setdefault(section, {}).update(values)
        config.save(str(self.root), settings, secrets)

    def start(self, timeout=30.0):
        """Run `branchgate sim run` in the device namespace; wait until it listens on UDP 500."""
        self._console = open(self.logfile, "w")
        argv = BRANCHGATE + ["sim", "run", "--root", str(self.root)] + (["--heap", self.heap] if self.heap else [])
        self.proc = self.ns.popen(argv, stdout=self._console, stderr=subprocess.STDOUT,
                                  env=dict(os.environ, PYTHONUNBUFFERED="1"))
        deadline = time.monotonic() + timeout
        while not self._listening(500):
            if self.proc.poll() is not None:
                raise RuntimeError("sim board exited with %d before listening:\n%s"
                                   % (self.proc.returncode, self.log_since()))
            if time.monotonic() > deadline:
                raise RuntimeError("sim board not listening on UDP 500 after %.0f s:\n%s" % (timeout, self.log_since()))
            time.sleep(0.05)
        return self

    def _listening(self, port):
        # /proc/net/udp read from inside the namespace lists that namespace's sockets.
        p = self.ns.run(["cat", "/proc/net/udp"], check=False)
        return any(line.split()[1].endswith(":%04X" % port) for line in p.stdout.splitlines()[1:])

    def stop(self, timeout=10.0):
        """SIGTERM: the board sends DELETE for its IKE SAs and exits 0. Returns the exit code."""
        if self.proc is None:
            return None
        rc = self.lab.stop(self.proc, timeout)
        self._console.close()
        return rc

    def wait_log(self, pattern, mark=0, timeout=10.0):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log_since(mark))
            if m:
                return m
            if time.monotonic() > deadline:
                raise AssertionError("%s: no log line /%s/ within %.1f s\n%s"
                                     % (self, pattern, timeout, self.log_tail()))
            time.sleep(0.05)

    def sas(self):
        """The device's view, {"ike": [...], "child": [...], "counters": {...}, ...} (None before the
        first snapshot). IKE SAs: state ("half-open", "established", "deleting", "rekeyed"), spi_i,
        spi_r (hex), peer, encr, keylen, integ, prf, dh (strongSwan's names: AES_CBC, 256,
        HMAC_SHA2_256_128, PRF_HMAC_SHA2_256, MODP_2048); CHILD SAs: state, spi_in, spi_out, encr,
        keylen, integ, dh (null without PFS), local_ts, remote_ts (CIDR lists), encap, counters."""
        try:
            return json.loads((self.root / STATUS_FILE).read_text())
        except FileNotFoundError:
            return None

    def log_tail(self, lines=80):
        return "".join(self.log_since().splitlines(True)[-lines:])

    def diagnostics(self):
        return "--- %s console (tail) ---\n%s" % (self, self.log_tail())
