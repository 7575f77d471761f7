"""A real strongSwan (charon 5.9.x) inside a network namespace, driven through swanctl.

Each instance is private: its own strongswan.conf (STRONGSWAN_CONF), vici socket, log file and a
per-instance directory bind-mounted on /run in a private mount namespace (charon's pid file path,
/var/run/charon.pid, is compiled in). Plugins are loaded from an explicit list: kernel-libipsec
before kernel-netlink, because this kernel has no XFRM ESP -- strongSwan then does ESP in userspace
over a TUN device, which only works UDP-encapsulated (so connections use encap = yes).

swanctl's `--pretty` dump of vici messages is parsed into dicts (parse_vici); the same data as
`--raw`, but one item per line, so values containing spaces stay intact.
"""
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import netns

CHARON = "/usr/lib/ipsec/charon"
SWANCTL = shutil.which("swanctl") or "/usr/sbin/swanctl"

# The smallest set that does PSK IKEv2 with AES-CBC/SHA-256 and MODP/ECP/Curve25519 groups (all from
# the openssl plugin) and userspace ESP; found by removing plugins until establishment failed.
PLUGINS = "nonce openssl kdf kernel-libipsec kernel-netlink socket-default vici"

# Test timing: requests are resent after 1 s and 2.5 s, given up at 4.75 s (default: 165 s).
RETRANSMIT = {"retransmit_timeout": "1.0", "retransmit_tries": 2, "retransmit_base": 1.5}

_KEY = re.compile(r"\[CHD\] .*(encryption|integrity) (initiator|responder) key => (\d+) bytes")
_DUMP = re.compile(r"\[CHD\] (?:<[^>]*> )?\s*\d+: ((?:[0-9A-F]{2} ?){1,16})")
_ESP_SA = re.compile(r"\[CHD\] (?:<[^>]*> )?\s*SPI 0x([0-9a-f]{8}),")
_KV = re.compile(r"^(\S+) =(?: (.*))?$")
_SAFE = re.compile(r"^[A-Za-z0-9_.,:/@%+*-]+$")


class SwanctlError(RuntimeError):
    def __init__(self, argv, proc):
        self.proc = proc
        super().__init__("swanctl %s failed (rc %d):\n%s%s" % (" ".join(map(str, argv)), proc.returncode,
                                                               proc.stdout, _quiet(proc.stderr)))


def missing_prerequisites():
    reasons = []
    if not os.access(CHARON, os.X_OK):
        reasons.append("no strongSwan charon at %s (apt-get install strongswan-charon "
                       "libstrongswan-standard-plugins libcharon-extra-plugins)" % CHARON)
    if not os.access(SWANCTL, os.X_OK):
        reasons.append("no swanctl (apt-get install strongswan-swanctl)")
    if not os.path.exists("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so"):
        reasons.append("no kernel-libipsec plugin (apt-get install libcharon-extra-plugins)")
    return reasons


def _quiet(stderr):
    # swanctl --file also scans sibling x509/, private/, ... directories and complains about each.
    return "".join(line + "\n" for line in stderr.splitlines() if not line.startswith("opening directory"))


def render(section, indent=0):
    """strongswan.conf / swanctl.conf text from nested dicts. Lists become comma-separated values;
    booleans yes/no; anything but a plain token is double-quoted."""
    pad = "  " * indent
    out = []
    for key, value in section.items():
        if isinstance(value, dict):
            out.append("%s%s {\n%s%s}\n" % (pad, key, render(value, indent + 1), pad))
            continue
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, (list, tuple)):
            value = ",".join(map(str, value))
        value = str(value)
        if not _SAFE.match(value):
            value = '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
        out.append("%s%s = %s\n" % (pad, key, value))
    return "".join(out)


def tunnel_conf(local_addr, remote_addr, local_id, remote_id, psk, local_ts, remote_ts,
                ike="aes256-sha256-modp2048", esp="aes256-sha256", conn="branch", child="net",
                conn_extra=None, child_extra=None):
    """swanctl.conf for one PSK site-to-site tunnel, as a strongSwan user would write it."""
    children = {"local_ts": local_ts, "remote_ts": remote_ts, "esp_proposals": esp}
    children.update(child_extra or {})
    c = {"version": 2, "local_addrs": local_addr, "remote_addrs": remote_addr, "proposals": ike,
         "encap": True, "local": {"auth": "psk", "id": local_id},
         "remote": {"auth": "psk", "id": remote_id}, "children": {child: children}}
    c.update(conn_extra or {})
    secrets = {"ike-" + conn: {"id-1": local_id, "id-2": remote_id, "secret": psk}}
    return render({"connections": {conn: c}, "secrets": secrets})


def parse_vici(text):
    """Parse swanctl --pretty output: returns a list of (message_name, dict) in order. Sections
    become dicts, lists become lists of str, values str."""
    messages = []
    stack = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == "}" or line == "]":
            done = stack.pop()
            if not stack:
                messages.append(done)
            continue
        if line.endswith(" {") or line.endswith("{"):
            name = line[:-1].strip()
            node = {}
            if stack:
                stack[-1][1][name] = node
                stack.append((name, node))
            else:
                stack.append((name, node))
            continue
        if stack and isinstance(stack[-1][1], list):
            stack[-1][1].append(line)
            continue
        m = _KV.match(line)
        if not m:
            raise ValueError("unexpected swanctl output line: %r" % raw)
        key, value = m.group(1), m.group(2) or ""
        if value == "[":
            lst = []
            stack[-1][1][key] = lst
            stack.append((key, lst))
        else:
            stack[-1][1][key] = value
    if stack:
        raise ValueError("truncated swanctl output")
    return messages


class Charon(netns.ProcessLog):
    """One charon daemon in namespace `ns` (netns.Netns), its files under `workdir`."""

    def __init__(self, ns, workdir, settings=None, log_levels=None):
        self.ns = ns
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "run").mkdir(exist_ok=True)
        (self.dir / "swanctl").mkdir(exist_ok=True)
        self.conf = self.dir / "strongswan.conf"
        self.socket = "unix://%s" % (self.dir / "charon.vici")
        self.logfile = self.dir / "charon.log"
        self.proc = None
        levels = {"default": 1, "ike": 2, "knl": 1}
        levels.update(log_levels or {})
        charon = {"load_modular": False, "load": PLUGINS, **RETRANSMIT,
                  "plugins": {"vici": {"socket": self.socket}},
                  "filelog": {"bg": {"path": str(self.logfile), "time_format": "%T",
                                     "time_precision": "ms", "ike_name": True, "flush_line": True,
                                     **levels}},
                  "syslog": {"daemon": {"default": -1}}}
        charon.update(settings or {})
        self.conf.write_text(render({"charon": charon, "swanctl": {"socket": self.socket,
                                                                   "load": "openssl"}}))

    def __repr__(self):
        return "Charon(%s)" % self.ns.name

    def start(self, timeout=10.0):
        """Start charon and wait until its vici socket answers."""
        env = dict(os.environ, STRONGSWAN_CONF=str(self.conf))
        script = 'mount --bind "$1" /run && exec "$2"'
        self.stdout = open(self.dir / "charon.stdout", "w")
        self.proc = self.ns.popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                                   self.dir / "run", CHARON], env=env, stdout=self.stdout,
                                  stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("charon exited with %d:\n%s" % (self.proc.returncode, self.diagnostics()))
            if (self.dir / "charon.vici").exists() and self.swanctl(["--stats"], check=False).returncode == 0:
                return self
            if time.monotonic() > deadline:
                raise RuntimeError("charon did not open its vici socket in %.0f s:\n%s" % (timeout, self.diagnostics()))
            time.sleep(0.05)

    def stop(self, timeout=10.0):
        """SIGTERM (charon deletes its SAs, telling the peer) and wait; returns the exit code."""
        if self.proc is None:
            return None
        rc = self.ns.lab.stop(self.proc, timeout)
        self.stdout.close()
        return rc

    def swanctl(self, args, check=True, timeout=30):
        argv = [SWANCTL, *map(str, args)]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, STRONGSWAN_CONF=str(self.conf)))
        if check and p.returncode != 0:
            raise SwanctlError(args, p)
        return p

    def load(self, conf_text):
        """Replace the loaded connections and secrets with those of this swanctl.conf text."""
        path = self.dir / "swanctl" / "swanctl.conf"
        path.write_text(conf_text)
        os.chmod(path, 0o600)
        return self.swanctl(["--load-all", "--noprompt", "--clear", "--file", path])

    def initiate(self, child=None, ike=None, timeout=10, check=True):
        """`swanctl --initiate` (waits for the outcome; output is charon's log of the exchange).
        Returns the CompletedProcess with .elapsed (seconds, wall clock)."""
        args = ["--initiate", "--timeout", timeout]
        args += ["--child", child] if child else []
        args += ["--ike", ike] if ike else []
        t0 = time.monotonic()
        p = self.swanctl(args, check=check, timeout=timeout + 10)
        p.elapsed = time.monotonic() - t0
        return p

    def terminate(self, ike=None, child=None, timeout=10, check=True):
        args = ["--terminate", "--timeout", timeout]
        args += ["--ike", ike] if ike else []
        args += ["--child", child] if child else []
        return self.swanctl(args, check=check, timeout=timeout + 10)

    def rekey(self, ike=None, child=None, check=True):
        args = ["--rekey"]
        args += ["--ike", ike] if ike else []
        args += ["--child", child] if child else []
        return self.swanctl(args, check=check)

    def list_sas(self, ike=None, noblock=False):
        """The IKE SAs charon has, as a list of dicts (swanctl's field names, e.g. state,
        initiator-spi, encr-alg, encr-keysize, integ-alg, prf-alg, dh-group) with "name" added and
        "child-sas" a list of dicts (name, state, spi-in, spi-out, encr-alg, encr-keysize,
        integ-alg, dh-group when PFS, bytes-in/out, packets-in/out, local-ts/remote-ts lists)."""
        # Without --noblock, swanctl waits for SAs busy in an exchange instead of leaving them out.
        args = ["--list-sas", "--pretty"] + (["--ike", ike] if ike else []) + (["--noblock"] if noblock else [])
        sas = []
        for msg_name, body in parse_vici(self.swanctl(args).stdout):
            if msg_name != "list-sa event":
                continue
            for name, sa in body.items():
                sa = dict(sa, name=name)
                sa["child-sas"] = [dict(c, key=k) for k, c in sa.get("child-sas", {}).items()]
                sas.append(sa)
        return sas

    def established(self, ike=None):
        """IKE SAs in state ESTABLISHED."""
        return [sa for sa in self.list_sas(ike) if sa["state"] == "ESTABLISHED"]

    def installed_children(self, ike=None):
        """CHILD SAs in state INSTALLED, over all established IKE SAs."""
        return [c for sa in self.established(ike) for c in sa["child-sas"] if c["state"] == "INSTALLED"]

    def wait_for(self, predicate, timeout=10.0, interval=0.1, what="condition"):
        """Poll predicate(self) until it returns a true value (returned); AssertionError with the
        log tail on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("%s: timed out after %.1f s waiting for %s\n%s"
                                     % (self, timeout, what, self.log_tail()))
            time.sleep(interval)

    def wait_log(self, pattern, mark=0, timeout=10.0):
        """Wait for a log line matching regex `pattern` after `mark`; returns the match."""
        rx = re.compile(pattern)
        return self.wait_for(lambda c: rx.search(c.log_since(mark)), timeout, what="log /%s/" % pattern)

    def esp_keys(self, mark=0):
        """ESP keys of the CHILD SAs installed after `mark`, read from charon's log (needs the
        instance created with log_levels={"chd": 4}): a list of dicts with spi_in, spi_out (hex) and
        encr_i, encr_r, integ_i, integ_r (bytes; "i" = the initiator of the exchange that created
        the SA: for CHILD SAs this charon initiated, its outbound keys are the "i" ones)."""
        out, cur, key, want, direction = [], {}, None, 0, None
        for line in self.log_since(mark).splitlines():
            m = _KEY.search(line)
            if m:
                key, want = "%s_%s" % ("encr" if m.group(1) == "encryption" else "integ", m.group(2)[0]), int(m.group(3))
                cur[key] = b""
                continue
            m = _DUMP.search(line) if key else None
            if m:
                cur[key] += bytes.fromhex(m.group(1).replace(" ", ""))[:want - len(cur[key])]
                key = key if len(cur[key]) < want else None
                continue
            if "adding inbound ESP SA" in line or "adding outbound ESP SA" in line:
                direction = "spi_in" if "inbound" in line else "spi_out"
                continue
            m = _ESP_SA.search(line) if direction else None
            if m:
                cur[direction], direction = m.group(1), None
                if "spi_in" in cur and "spi_out" in cur:
                    out.append(cur)
                    cur = {}
        return out

    def log_tail(self, lines=80):
        return "".join(self.log_since().splitlines(True)[-lines:])

    def diagnostics(self):
        out = ""
        stdout = self.dir / "charon.stdout"
        if stdout.exists() and stdout.stat().st_size:
            out += "--- charon stdout ---\n" + stdout.read_text(errors="replace")
        return out + "--- %s log (tail) ---\n%s" % (self, self.log_tail())
