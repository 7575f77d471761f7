"""The LAN side on a real veth: the AF_PACKET driver under the real `micropython` binary in one network
namespace, a Linux host in another. The host's own kernel is the oracle: it resolves the gateway by
ARP, pings the gateway's LAN and WAN addresses, pings "head office" through a stand-in tunnel, takes
an ICMP "fragmentation needed" into its PMTU cache, and sends a SYN whose MSS must arrive clamped."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from mp import MICROPYTHON, mp_env  # noqa: E402

pytestmark = pytest.mark.interop


def _why_skip():
    if os.geteuid() != 0:
        return "needs root for network namespaces and AF_PACKET"
    if not shutil.which("ip"):
        return "needs iproute2 (`ip netns`)"
    name = "bgprobe%d" % os.getpid()
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        return "`ip netns add` does not work here"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


def sh(*args):
    subprocess.run(args, check=True, capture_output=True, text=True)


@pytest.fixture
def lan():
    why = _why_skip()
    if why:
        pytest.skip(why)
    tag = "bglan%d" % os.getpid()
    dev, host = tag + "d", tag + "h"
    sh("ip", "netns", "add", dev)
    try:
        sh("ip", "netns", "add", host)
        sh("ip", "-n", dev, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", host)
        # The device's interface carries no address: the gateway in MicroPython owns it.
        sh("ip", "netns", "exec", dev, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        sh("ip", "netns", "exec", host, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        sh("ip", "-n", dev, "link", "set", "lan0", "up")
        sh("ip", "-n", host, "link", "set", "lo", "up")
        sh("ip", "-n", host, "addr", "add", "10.20.1.10/24", "dev", "eth0")
        sh("ip", "-n", host, "link", "set", "eth0", "up")
        sh("ip", "-n", host, "route", "add", "default", "via", "10.20.1.1")
        with tempfile.TemporaryDirectory() as tmp:
            stop = Path(tmp) / "stop"
            proc = subprocess.Popen(
                ["ip", "netns", "exec", dev, MICROPYTHON, "-X", "heapsize=112k",
                 str(HERE / "lan_device.py"), "lan0", str(stop)],
                env=mp_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
                yield Lan(dev, host, proc, stop)
            finally:
                stop.touch()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    finally:
        subprocess.run(["ip", "netns", "del", host], capture_output=True)
        subprocess.run(["ip", "netns", "del", dev], capture_output=True)


class Lan:
    def __init__(self, dev, host, proc, stop):
        self.dev, self.host, self.proc, self.stop = dev, host, proc, stop

    def on_host(self, *args):
        p = subprocess.run(["ip", "netns", "exec", self.host, sys.executable, str(HERE / "lan_host.py"),
                            *map(str, args)], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    def host_cmd(self, *args):
        return subprocess.run(["ip", "-n", self.host, *args], capture_output=True, text=True).stdout

    def finish(self):
        """Stop the device; return its counters and the MSS it saw (fails if it crashed, e.g. on an
        allocation under heap_lock)."""
        self.stop.touch()
        out, err = self.proc.communicate(timeout=10)
        assert self.proc.returncode == 0, out + err
        counters = {}
        syn_mss = None
        for line in out.splitlines():
            parts = line.split()
            if parts[0] == "counter":
                counters[parts[1]] = int(parts[2])
            elif parts[0] == "syn_mss":
                syn_mss = int(parts[1])
        return counters, syn_mss


def test_lan_host_reaches_gateway_and_tunnel(lan):
    dev_mac = subprocess.run(["ip", "-n", lan.dev, "-o", "link", "show", "lan0"], capture_output=True,
                             text=True).stdout.split("link/ether")[1].split()[0]

    r = lan.on_host("ping", "10.20.1.1", 56)
    assert r["type"] == 0 and r["src"] == "10.20.1.1" and r["data_ok"] and r["icmp_ok"] and r["ip_ok"]
    neigh = lan.host_cmd("neigh", "show", "10.20.1.1")
    assert dev_mac in neigh, neigh                      # the host's kernel resolved us by ARP

    r = lan.on_host("ping", "10.99.0.2", 1000)          # the WAN address answers from the LAN too
    assert r["type"] == 0 and r["src"] == "10.99.0.2" and r["data_ok"]

    r = lan.on_host("ping", "10.10.1.5", 1200)          # head office, through the stand-in tunnel
    assert r["type"] == 0 and r["src"] == "10.10.1.5" and r["data_ok"] and r["ip_ok"]
    assert r["ttl"] == 63                               # the reply was forwarded: TTL 64 - 1

    r = lan.on_host("ping", "10.10.1.5", 1472, "df")   # 1500 bytes with DF > tunnel MTU 1400
    assert (r["type"], r["code"], r["src"], r["mtu"]) == (3, 4, "10.20.1.1", 1400) and r["icmp_ok"]
    assert "mtu 1400" in lan.host_cmd("route", "get", "10.10.1.5")   # the kernel took it into PMTU

    lan.on_host("syn", "10.10.1.5", 80)

    counters, syn_mss = lan.finish()
    assert syn_mss == 1360                              # kernel offered 1460 (MTU 1500), clamped
    assert counters["echo_replies"] == 2 and counters["arp_replies"] >= 1   # LAN + WAN address
    assert counters["arp_requests"] >= 1                # the announce (the host was learned from its request)
    assert counters["drop_too_big"] >= 1 and counters["icmp_errors"] >= 1
    assert counters["to_lan"] >= 1 and counters["to_tunnel"] == 2   # the ping and the SYN
