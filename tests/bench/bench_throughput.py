"""Tunnel throughput lan-host <-> hq through the branch, in issue 4's topology (tests/interop/netns.py):
the sim board (firmware on the MicroPython unix port, its LAN port on AF_PACKET) as the branch, then a
strongSwan branch (userspace ESP, kernel-libipsec, the kernel forwarding its LAN) in its place, same
machine, same run, strongSwan at head office both times. iperf3 UDP with 1400-byte IP packets (1372
bytes of payload) at increasing rates until more than 1% is lost, each direction; the best rate with at
most 1% loss is the figure (the better of two sweeps per branch, in the order sim, strongSwan,
strongSwan, sim), the sim/strongSwan ratio the headline. Then the engine's own figures (us
per seal/open, bytes allocated per packet) from tests/bench/mp_esp.py.

Needs root, strongSwan and iperf3; prints why not otherwise. The sim board's heap is `branchgate sim
run`'s default ($BRANCHGATE_SIM_HEAP or 112k)."""
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
INTEROP = HERE.parent / "interop"
sys.path[:0] = [str(HERE.parent), str(INTEROP), str(HERE.parent.parent / "host_tools")]

import charon as charon_mod  # noqa: E402
import netns  # noqa: E402
import simboard  # noqa: E402

IKE = "aes256-sha256-x25519"
ESP = "aes256-sha256"
PAYLOAD = 1372          # UDP payload of a 1400-byte IP packet
PORT = 5201
SECONDS = 2
RATES_MBIT = (5, 10, 20, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960)
MAX_LOSS = 1.0          # percent
BISECT = 3
TOOL = INTEROP / "test_dataplane.py"


def missing():
    reasons = netns.missing_prerequisites() + charon_mod.missing_prerequisites() + simboard.missing_prerequisites()
    if not shutil.which("iperf3"):
        reasons.append("no iperf3 (apt-get install iperf3)")
    return reasons


def iperf(lab, rate_mbit, reverse):
    """One iperf3 UDP run from lan-host to hq (reverse: hq to lan-host) -> (receiver Mbit/s, packets/s,
    loss %)."""
    argv = ["iperf3", "-c", netns.HQ_HOST, "-B", netns.LAN_HOST, "-p", PORT, "-u", "-b", "%.1fM" % rate_mbit,
            "-l", PAYLOAD, "-t", SECONDS, "--json"] + (["-R"] if reverse else [])
    for _ in range(10):
        p = lab.lan.run(argv, check=False, timeout=SECONDS + 30)
        try:
            out = json.loads(p.stdout)
        except ValueError:
            raise RuntimeError("iperf3: %s%s" % (p.stdout, p.stderr)) from None
        if "busy" not in out.get("error", ""):
            break
        time.sleep(0.5)  # the server is still closing the previous test
    end = out.get("end", {}).get("sum")
    if end is None:
        return 0.0, 0.0, 100.0  # nothing came through (the run timed out)
    packets = end["packets"] - end["lost_packets"]
    secs = end["seconds"] or SECONDS
    return packets * PAYLOAD * 8 / secs / 1e6, packets / secs, end["lost_percent"]


def sweep(lab, reverse):
    """Increasing rates until loss > MAX_LOSS, then BISECT halvings between the last rate within it and
    the first beyond; the best (Mbit/s, packets/s) received with loss within MAX_LOSS."""
    best = (0.0, 0.0)
    good, bad = 0, None

    def attempt(rate):
        nonlocal best
        mbit, pps, loss = iperf(lab, rate, reverse)
        if loss <= MAX_LOSS and mbit > best[0]:
            best = (mbit, pps)
        return loss <= MAX_LOSS

    for rate in RATES_MBIT:
        if not attempt(rate):
            bad = rate
            break
        good = rate
    for _ in range(BISECT if bad else 0):
        mid = (good + bad) / 2
        if attempt(mid):
            good = mid
        else:
            bad = mid
    return best


def measure(lab, label):
    server = lab.hq.popen(["iperf3", "-s", "-B", netns.HQ_HOST, "-p", PORT], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    try:
        rtts, out = lab.lan.ping(netns.LAN_HOST, netns.HQ_HOST, count=3, timeout=2.0)
        if None in rtts:
            raise RuntimeError("%s: no ping through the tunnel:\n%s" % (label, out))
        figures = {}
        for direction, reverse in (("lan->hq", False), ("hq->lan", True)):
            figures[direction] = sweep(lab, reverse)
            mbit, pps = figures[direction]
            print("throughput %s %s 1400B: %.1f Mbit/s (%.0f packets/s at <= %.0f%% loss)"
                  % (label, direction, mbit, pps, MAX_LOSS), flush=True)
        return figures
    finally:
        lab.stop(server)


def _hq(lab, work, psk):
    hq = charon_mod.Charon(lab.hq, work / "hq").start()
    hq.load(charon_mod.tunnel_conf(netns.HQ_WAN, netns.DEVICE_WAN, simboard.HQ_ID, simboard.DEVICE_ID, psk,
                                   netns.HQ_SUBNET, netns.LAN_SUBNET, ike=IKE, esp=ESP))
    return hq


def _up(hq):
    p = hq.initiate(child="net", check=False)
    if "CHILD_SA net{1} established" not in p.stdout:
        raise RuntimeError("tunnel did not come up:\n%s" % p.stdout)


def _tx_checksum_off(lab):
    # See test_dataplane.py: veth leaves TCP/UDP checksums to an offload a real wire never skips.
    lab.lan.run([sys.executable, TOOL, "tx-csum-off", lab.lan_if])


def sim_branch(work):
    psk = "psk-" + secrets.token_urlsafe(24)
    with netns.lan_device_hq() as lab:
        _tx_checksum_off(lab)
        board = simboard.SimBoard(lab, work / "board")
        board.provision(psk, ike_proposals=IKE, esp_proposals=ESP,
                        lan="%s/%d" % (netns.DEVICE_LAN, netns.LAN_PREFIX), lan_port=lab.device_lan_if)
        board.start()
        hq = _hq(lab, work / "sim", psk)
        try:
            _up(hq)
            return measure(lab, "sim board")
        finally:
            board.stop()
            hq.stop()


def strongswan_branch(work):
    psk = "psk-" + secrets.token_urlsafe(24)
    with netns.lan_device_hq(branch_addr=True) as lab:
        _tx_checksum_off(lab)
        branch = charon_mod.Charon(lab.device, work / "branch").start()
        hq = _hq(lab, work / "swan", psk)
        try:
            branch.load(charon_mod.tunnel_conf(netns.DEVICE_WAN, netns.HQ_WAN, simboard.DEVICE_ID, simboard.HQ_ID,
                                               psk, netns.LAN_SUBNET, netns.HQ_SUBNET, ike=IKE, esp=ESP))
            _up(hq)
            return measure(lab, "strongSwan branch")
        finally:
            branch.stop()
            hq.stop()


def engine_figures():
    from branchgate.mpy import compile_tree
    from mp import FIRMWARE, run_mp
    with tempfile.TemporaryDirectory() as build:
        compile_tree(FIRMWARE, build)
        p = run_mp([str(HERE / "mp_esp.py")], heap="112k", extra_path=[build])
    if p.returncode != 0:
        raise RuntimeError("mp_esp.py failed:\n%s%s" % (p.stdout, p.stderr))
    for line in p.stdout.splitlines():
        print(line + " [micropython, heap 112k]")


def main():
    reasons = missing()
    if reasons:
        print("throughput: skipped: " + "; ".join(reasons))
        return
    print("sim board heap: %s" % (os.environ.get("BRANCHGATE_SIM_HEAP") or "112k"), flush=True)
    # Each branch is measured twice, in mirrored order (sim, strongSwan, strongSwan, sim): a load on
    # the machine that drifts over the minutes of the run weighs on both alike. The best of each
    # side's two sweeps is its figure.
    runs = {"sim": [], "swan": []}
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as work:
        work = Path(work)
        for k, side in enumerate(("sim", "swan", "swan", "sim")):
            sub = work / ("%d-%s" % (k, side))
            runs[side].append(sim_branch(sub) if side == "sim" else strongswan_branch(sub))
    sim = {d: max(r[d] for r in runs["sim"]) for d in ("lan->hq", "hq->lan")}
    swan = {d: max(r[d] for r in runs["swan"]) for d in ("lan->hq", "hq->lan")}
    for direction in ("lan->hq", "hq->lan"):
        s, w = sim[direction], swan[direction]
        print("throughput ratio sim/strongSwan %s: %.2f (%.1f vs %.1f Mbit/s)"
              % (direction, s[0] / w[0] if w[0] else 0.0, s[0], w[0]))
    engine_figures()


if __name__ == "__main__":
    main()
