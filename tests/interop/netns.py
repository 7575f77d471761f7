"""Network namespaces for the interop tests, the demo and the benchmarks.

Namespaces are global on a machine where several people test at once, so every name carries a
per-run tag ("bg" + 5 random characters): namespaces are "<tag>-<role>", interfaces "<tag><suffix>"
(at most 15 characters). A Lab owns everything it creates and tears it down on close(), at interpreter
exit, and -- if the owning process died without either -- the next Lab reaps it (see reap_stale).

Topologies (addresses fixed by issues 3 and 4; traffic never leaves these namespaces):
  hq_device():     hq (WAN 10.99.0.1, protected 10.10.1.1/24 on lo) <-> device (WAN 10.99.0.2)
  lan_device_hq(): lan (10.20.1.10/24, default via 10.20.1.1) <-> device <-> hq; the device's LAN
                   veth end carries no IP address: the firmware serves 10.20.1.1 itself over
                   AF_PACKET (a strongSwan branch in its place gets the address with branch_addr=True).
"""
import atexit
import json
import os
import random
import signal
import string
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PING = HERE / "ping.py"

WAN_PREFIX = 24
HQ_WAN = "10.99.0.1"
DEVICE_WAN = "10.99.0.2"
HQ_SUBNET = "10.10.1.0/24"
HQ_HOST = "10.10.1.1"
LAN_SUBNET = "10.20.1.0/24"
DEVICE_LAN = "10.20.1.1"
LAN_HOST = "10.20.1.10"
LAN_PREFIX = 24

# One JSON file per live Lab: {"pid": owner, "netns": [names]}; lets a later run reap what a killed
# run left behind without touching anybody else's namespaces.
STATE_DIR = Path("/run/branchgate-netns")

_open_labs = set()


class LabError(RuntimeError):
    pass


def missing_prerequisites():
    """Reasons the namespace tests cannot run here (empty list when they can)."""
    reasons = []
    if os.geteuid() != 0:
        reasons.append("not root (network namespaces need CAP_SYS_ADMIN)")
    try:
        if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
            reasons.append("`ip netns` does not work here")
    except FileNotFoundError:
        reasons.append("no `ip` command (iproute2)")
    if not os.path.exists("/dev/net/tun"):
        reasons.append("no /dev/net/tun (strongSwan's userspace ESP needs it)")
    return reasons


def _run(argv, check=True, timeout=30, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise LabError("%s failed (rc %d): %s" % (" ".join(argv), p.returncode, (p.stderr or p.stdout).strip()))
    return p


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_netns_processes(name):
    """SIGKILL whatever still runs in namespace `name` (a uniquely tagged one of ours)."""
    p = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    for pid in p.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def _delete_netns(name):
    _kill_netns_processes(name)
    subprocess.run(["ip", "netns", "del", name], capture_output=True)


def reap_stale():
    """Delete namespaces recorded by Labs whose owning process no longer exists."""
    if not STATE_DIR.is_dir():
        return
    for f in STATE_DIR.glob("*.json"):
        try:
            state = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if _alive(state["pid"]):
            continue
        for name in state["netns"]:
            _delete_netns(name)
        f.unlink(missing_ok=True)


class Netns:
    """One namespace of a Lab."""

    def __init__(self, lab, role):
        self.lab = lab
        self.role = role
        self.name = "%s-%s" % (lab.tag, role)

    def __repr__(self):
        return "Netns(%s)" % self.name

    def argv(self, args):
        return ["ip", "netns", "exec", self.name, *map(str, args)]

    def run(self, args, check=True, timeout=30, **kw):
        """Run a command inside the namespace; returns CompletedProcess (text), raises LabError when
        check is set and it fails."""
        return _run(self.argv(args), check=check, timeout=timeout, **kw)

    def popen(self, args, **kw):
        """Start a long-running command inside the namespace; the Lab stops it on close()."""
        return self.lab.track(subprocess.Popen(self.argv(args), **kw))

    def pids(self):
        """Processes running in this namespace."""
        return [int(p) for p in _run(["ip", "netns", "pids", self.name], check=False).stdout.split()]

    def ip(self, *args, check=True):
        return _run(["ip", "-n", self.name, *map(str, args)], check=check)

    def sysctl(self, key, value):
        self.run(["sysctl", "-q", "-w", "%s=%s" % (key, value)])

    def ping(self, src, dst, count=3, timeout=2.0):
        """ICMP echo from src to dst; returns (rtts_ms_or_None_list, output)."""
        p = self.run([sys.executable, PING, src, dst, count, timeout], check=False,
                     timeout=count * timeout + 10)
        rtts = []
        for line in p.stdout.splitlines():
            if line.startswith("reply from"):
                rtts.append(float(line.rsplit("time=", 1)[1].split()[0]))
            elif line.startswith("no reply"):
                rtts.append(None)
        return rtts, p.stdout


class Lab:
    """A set of uniquely named namespaces and the processes started in them."""

    def __init__(self):
        reap_stale()
        self.tag = "bg" + "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        self.namespaces = []
        self.procs = []
        self.closed = False
        self.hq = self.device = self.lan = None  # set by the topology builders below
        _open_labs.add(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _record(self):
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        state = {"pid": os.getpid(), "netns": [ns.name for ns in self.namespaces]}
        (STATE_DIR / (self.tag + ".json")).write_text(json.dumps(state))

    def ifname(self, suffix):
        name = self.tag + suffix
        if len(name) > 15:
            raise LabError("interface name %r longer than 15 characters" % name)
        return name

    def netns(self, role):
        """Create namespace "<tag>-<role>" with lo up and IPv6 off (no stray router solicitations
        on the LAN port)."""
        ns = Netns(self, role)
        self.namespaces.append(ns)
        self._record()
        _run(["ip", "netns", "add", ns.name])
        ns.ip("link", "set", "lo", "up")
        ns.sysctl("net.ipv6.conf.all.disable_ipv6", 1)
        ns.sysctl("net.ipv6.conf.default.disable_ipv6", 1)
        return ns

    def veth(self, ns_a, suffix_a, ns_b, suffix_b):
        """A veth pair between two namespaces, both ends up; returns the two interface names."""
        a, b = self.ifname(suffix_a), self.ifname(suffix_b)
        _run(["ip", "link", "add", a, "netns", ns_a.name, "type", "veth", "peer", "name", b, "netns", ns_b.name])
        ns_a.ip("link", "set", a, "up")
        ns_b.ip("link", "set", b, "up")
        return a, b

    def track(self, proc):
        self.procs.append(proc)
        return proc

    def stop(self, proc, timeout=5.0):
        """SIGTERM a process started by this Lab, SIGKILL it after `timeout`; returns its exit code."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def close(self):
        if self.closed:
            return
        self.closed = True
        for proc in reversed(self.procs):
            self.stop(proc)
        for ns in reversed(self.namespaces):
            _delete_netns(ns.name)
        (STATE_DIR / (self.tag + ".json")).unlink(missing_ok=True)
        _open_labs.discard(self)


class ProcessLog:
    """Reading the log file (self.logfile, a Path) of a process started in a Lab: a mixin."""

    def log_mark(self):
        """Position in the log; pass to log_since() to see only what came after."""
        return self.logfile.stat().st_size if self.logfile.exists() else 0

    def log_since(self, mark=0):
        if not self.logfile.exists():
            return ""
        with open(self.logfile, "rb") as f:
            f.seek(mark)
            return f.read().decode(errors="replace")


@atexit.register
def _close_open_labs():
    for lab in list(_open_labs):
        lab.close()


def _wait_reachable(ns, src, dst, timeout=5.0):
    """Neighbour resolution on a fresh veth can take a moment; fail loudly if it never works."""
    deadline = time.monotonic() + timeout
    while True:
        rtts, out = ns.ping(src, dst, count=1, timeout=0.5)
        if rtts and rtts[0] is not None:
            return
        if time.monotonic() > deadline:
            raise LabError("%s cannot reach %s from %s:\n%s" % (ns, dst, src, out))


def hq_device(branch_addr=False):
    """Issue 3's topology. Returns a Lab with .hq, .device, .hq_wan_if, .device_wan_if. With
    branch_addr, the device namespace gets 10.20.1.1/24 on lo (a strongSwan branch in its place)."""
    lab = Lab()
    try:
        lab.hq = lab.netns("hq")
        lab.device = lab.netns("dev")
        lab.hq_wan_if, lab.device_wan_if = lab.veth(lab.hq, "h0", lab.device, "w0")
        lab.hq.ip("addr", "add", "%s/%d" % (HQ_WAN, WAN_PREFIX), "dev", lab.hq_wan_if)
        lab.hq.ip("addr", "add", "%s/%d" % (HQ_HOST, 24), "dev", "lo")
        lab.device.ip("addr", "add", "%s/%d" % (DEVICE_WAN, WAN_PREFIX), "dev", lab.device_wan_if)
        if branch_addr:
            lab.device.ip("addr", "add", "%s/%d" % (DEVICE_LAN, LAN_PREFIX), "dev", "lo")
        _wait_reachable(lab.hq, HQ_WAN, DEVICE_WAN)
    except BaseException:
        lab.close()
        raise
    return lab


def lan_device_hq(branch_addr=False):
    """Issue 4's topology: hq_device() plus a lan namespace. Adds .lan, .lan_if, .device_lan_if.
    The device's LAN veth end stays address-less for the firmware's AF_PACKET port unless
    branch_addr (a strongSwan branch routes between its two sides with the kernel)."""
    lab = hq_device()
    try:
        lab.lan = lab.netns("lan")
        lab.lan_if, lab.device_lan_if = lab.veth(lab.lan, "l0", lab.device, "l1")
        lab.lan.ip("addr", "add", "%s/%d" % (LAN_HOST, LAN_PREFIX), "dev", lab.lan_if)
        lab.lan.ip("route", "add", "default", "via", DEVICE_LAN)
        if branch_addr:
            lab.device.ip("addr", "add", "%s/%d" % (DEVICE_LAN, LAN_PREFIX), "dev", lab.device_lan_if)
            lab.device.sysctl("net.ipv4.ip_forward", 1)
    except BaseException:
        lab.close()
        raise
    return lab
