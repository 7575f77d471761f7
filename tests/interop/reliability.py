"""Helpers of the reliability tests (test_reliability*.py): head office behind the fault relay, the
device's status as figures, the kernel's UDP counters, and an env-configurable soak duration."""
import json
import os
import sys
import time
from pathlib import Path

import charon as charon_mod
import conftest
import faultrelay
import netns
import simboard

# strongSwan made patient enough for 20% loss each way (a request and its answer both survive
# with p = 0.64; nine tries all fail with p = 0.01%), still giving up within ~25 s.
LOSSY_RETRANSMIT = {"retransmit_timeout": "0.5", "retransmit_tries": 8, "retransmit_base": 1.4}
IKE = "aes256-sha256-x25519"   # the fastest group on the sim board: the tests are about faults
ESP = "aes256-sha256"
SOAK_ENV = "BRANCHGATE_SOAK_SECONDS"
UDPBLAST = str(Path(__file__).resolve().parent / "udpblast.py")
LANBLAST = str(Path(__file__).resolve().parent / "lanblast.py")


def soak_seconds(default=600):
    """How long a soak variant runs (make soak: BRANCHGATE_SOAK_SECONDS, default 10 min)."""
    return float(os.environ.get(SOAK_ENV, default))


def hq_conf(psk, remote=netns.DEVICE_WAN, ike=IKE, esp=ESP, conn_extra=None, child_extra=None, conn="branch"):
    """head office's swanctl.conf for the device at `remote` (the relay's front address, or the device)."""
    return charon_mod.tunnel_conf(netns.HQ_WAN, remote, simboard.HQ_ID, simboard.DEVICE_ID, psk, netns.HQ_SUBNET,
                                  netns.LAN_SUBNET, ike=ike, esp=esp, conn=conn, conn_extra=conn_extra,
                                  child_extra=child_extra)


def multi_conf(psk, conns, remote=netns.DEVICE_WAN, ike=IKE, esp=ESP):
    """swanctl.conf with several connections to the device, {conn name: [child names]}, all with
    the same identities and PSK (as tunnel_conf writes one). Each CHILD SA gets its own /27 of head
    office's subnet (strongSwan refuses a second CHILD SA with the same selectors; its userspace
    ESP installs a route per CHILD SA, sourced from an address of hq inside the selector: see
    hq_addresses())."""
    connections = {}
    n = 0
    for i, (name, kids) in enumerate(conns.items()):
        children = {}
        for k in kids:
            children[k] = {"local_ts": "10.10.1.%d/27" % (32 * n), "remote_ts": netns.LAN_SUBNET, "esp_proposals": esp}
            n += 1
        connections[name] = {"version": 2, "local_addrs": netns.HQ_WAN, "remote_addrs": remote, "proposals": ike,
                             "encap": True, "local": {"auth": "psk", "id": simboard.HQ_ID},
                             "remote": {"auth": "psk", "id": simboard.DEVICE_ID}, "children": children,
                             # configs strongSwan sees as different, or it reuses one IKE SA for all
                             "keyingtries": i + 1}
    secrets = {"ike-hq": {"id-1": simboard.HQ_ID, "id-2": simboard.DEVICE_ID, "secret": psk}}
    return charon_mod.render({"connections": connections, "secrets": secrets})


def hq_addresses(lab, count):
    """An address in each /27 multi_conf() gives a CHILD SA (10.10.1.1 is the first), on hq's lo."""
    for n in range(1, count):
        lab.hq.ip("addr", "add", "10.10.1.%d/32" % (32 * n + 1), "dev", "lo")


def start_charon(request, lab, workdir, settings=None, log_levels=None):
    c = charon_mod.Charon(lab.hq, workdir, settings=settings, log_levels=log_levels)
    conftest.attach(request, "charon hq", c.diagnostics)
    c.start()
    request.addfinalizer(c.stop)
    return c


def relay_lab(lan=False):
    """hq (10.99.0.1/24; 10.10.1.1 on lo) -- relay namespace (front 10.99.0.3, NAT 10.99.0.4) --
    device (10.99.0.2/24): netns.hq_device()'s addressing with the relay in the middle, so every
    datagram between head office and the device passes through it. A Lab with .relay added; with
    lan, also netns.lan_device_hq()'s lan namespace (.lan, .lan_if, .device_lan_if)."""
    lab = netns.Lab()
    try:
        lab.hq = lab.netns("hq")
        lab.relay = lab.netns("rly")
        lab.device = lab.netns("dev")
        lab.hq_wan_if, front_if = lab.veth(lab.hq, "h0", lab.relay, "r0")
        nat_if, lab.device_wan_if = lab.veth(lab.relay, "r1", lab.device, "w0")
        lab.hq.ip("addr", "add", "%s/%d" % (netns.HQ_WAN, netns.WAN_PREFIX), "dev", lab.hq_wan_if)
        lab.hq.ip("addr", "add", "%s/24" % netns.HQ_HOST, "dev", "lo")
        lab.device.ip("addr", "add", "%s/%d" % (netns.DEVICE_WAN, netns.WAN_PREFIX), "dev", lab.device_wan_if)
        # Host routes on both sides: the two halves share the WAN subnet, the relay answers ARP for
        # its addresses on each.
        lab.relay.ip("addr", "add", faultrelay.FRONT_IP + "/32", "dev", front_if)
        lab.relay.ip("route", "add", netns.HQ_WAN + "/32", "dev", front_if)
        lab.relay.ip("addr", "add", faultrelay.NAT_IP + "/32", "dev", nat_if)
        lab.relay.ip("route", "add", netns.DEVICE_WAN + "/32", "dev", nat_if)
        netns._wait_reachable(lab.hq, netns.HQ_WAN, faultrelay.FRONT_IP)
        netns._wait_reachable(lab.device, netns.DEVICE_WAN, faultrelay.NAT_IP)
        if lan:
            lab.lan = lab.netns("lan")
            lab.lan_if, lab.device_lan_if = lab.veth(lab.lan, "l0", lab.device, "l1")
            lab.lan.ip("addr", "add", "%s/%d" % (netns.LAN_HOST, netns.LAN_PREFIX), "dev", lab.lan_if)
            lab.lan.ip("route", "add", "default", "via", netns.DEVICE_LAN)
    except BaseException:
        lab.close()
        raise
    return lab


def start_relay(request, lab, workdir, faults=None, seed=1, record=False):
    r = faultrelay.FaultRelay(lab, workdir, faults, seed=seed, record=record)
    conftest.attach(request, "fault relay", lambda: faultrelay.format_figures(r.figures()))
    r.start(netns.DEVICE_WAN)

    def stop():
        if r.proc is not None:
            print(faultrelay.format_figures(r.stop()))
    request.addfinalizer(stop)
    return r


def status(board):
    """The device's status snapshot (status.json), waiting for the first one."""
    for _ in range(100):
        s = board.sas()
        if s is not None:
            return s
        time.sleep(0.05)
    raise AssertionError("%s wrote no status" % board)


def wait_status(board, pred, timeout=10.0, what="status"):
    deadline = time.monotonic() + timeout
    while True:
        try:
            s = board.sas()
        except ValueError:  # caught between write and rename on a slow disk: read again
            s = None
        if s is not None and pred(s):
            return s
        if time.monotonic() > deadline:
            raise AssertionError("%s: no %s within %.0f s; last status %r\n%s"
                                 % (board, what, timeout, s, board.log_tail(30)))
        time.sleep(0.1)


def budget_heap():
    """Whether the sim board runs with (about) the ESP32's heap, where the collector runs often
    enough for heap_free() to mean something: with a large heap (BRANCHGATE_SIM_HEAP=1m, while the
    firmware is over budget) garbage can sit uncollected for minutes."""
    from branchgate import sim
    h = os.environ.get(sim.HEAP_ENV) or sim.DEFAULT_HEAP
    n = int(h[:-1]) * {"k": 1 << 10, "m": 1 << 20}[h[-1].lower()] if h[-1] in "kKmM" else int(h)
    return n <= 256 << 10


def heap_returned(before, after, slack=8192):
    """The heap-back-to-baseline check (a no-op, said so, off the ESP32 budget; see budget_heap)."""
    if not budget_heap():
        print("heap check not applied: the sim heap is not the ESP32 budget")
        return True
    return after >= before - slack


def heap_free(board, seconds=6.5):
    """The most free heap the device reported over `seconds` (it writes its status every 2 s while
    it has SAs; the largest figure is the one least inflated by garbage not yet collected)."""
    best = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s = board.sas()
        if s is not None:
            best = max(best, s["heap_free"])
        time.sleep(0.2)
    return best


def alive(board):
    return board.proc is not None and board.proc.poll() is None


def console_faults(board, mark=0):
    """Lines showing a crash or exhaustion on the device's console."""
    bad = ("Traceback", "MemoryError", "internal error", "out of memory", "board reset", "watchdog", "safe mode")
    return [l for l in board.log_since(mark).splitlines() if any(b in l for b in bad)]


def udp_counters(ns):
    """The namespace's kernel UDP counters (/proc/net/snmp "Udp:"), e.g. RcvbufErrors: datagrams
    the kernel dropped because the device had not read its socket in time."""
    lines = [l.split() for l in ns.run(["cat", "/proc/net/snmp"]).stdout.splitlines() if l.startswith("Udp:")]
    return dict(zip(lines[0][1:], map(int, lines[1][1:])))


def figures(title, **values):
    """One figures line per test, greppable in the pytest -s output."""
    line = "FIGURES %s: %s" % (title, json.dumps(values, sort_keys=True))
    print(line)
    sys.stdout.flush()
    return line
