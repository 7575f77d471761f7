"""Handshake time as strongSwan sees it: `swanctl --initiate` until the CHILD SA is established
(IKE_SA_INIT + IKE_AUTH), median of 15, from a head-office charon to (a) a strongSwan responder and
(b) the sim board, in two copies of the same namespace topology on this machine, up at the same time.
The two are measured turn about, one handshake each, so that both see the same load on the machine
(measured one after the other, minutes apart, the ratio moved by a third from run to run). The ratio
sim/strongSwan is the headline (goal: within 1.5x). Also the sim board's CPU time per handshake (the
micropython process, idle-time DH precomputation included)."""
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "interop"))

import charon as charon_mod  # noqa: E402
import netns  # noqa: E402
import simboard  # noqa: E402

RUNS = 15
IDLE_S = 0.3  # between handshakes, as an idle device would have (lets a DH keypair be precomputed)
PROPOSALS = ("aes256-sha256-modp2048", "aes128-sha256-ecp256", "aes256-sha256-x25519")


def hq_conf(psk, ike):
    return charon_mod.tunnel_conf(netns.HQ_WAN, netns.DEVICE_WAN, simboard.HQ_ID, simboard.DEVICE_ID, psk,
                                  netns.HQ_SUBNET, netns.LAN_SUBNET, ike=ike)


def handshake(hq):
    """Initiate and tear down once; returns the time to established in ms."""
    time.sleep(IDLE_S)
    p = hq.initiate(child="net")
    hq.terminate(ike="branch")
    return p.elapsed * 1000.0


def cpu_seconds(ns, comm="micropython"):
    """utime+stime of the process named `comm` in namespace ns (the sim board's interpreter)."""
    tick = os.sysconf("SC_CLK_TCK")
    for pid in ns.pids():
        try:
            if Path("/proc/%s/comm" % pid).read_text().strip() != comm:
                continue
            fields = Path("/proc/%s/stat" % pid).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        return (int(fields[11]) + int(fields[12])) / tick
    return None


def measure(work, psk, ike):
    """(strongSwan median, sim median, sim CPU ms per handshake or None) for one IKE proposal."""
    with netns.hq_device(branch_addr=True) as ref_lab, netns.hq_device() as sim_lab:
        started = []
        try:
            hq_ref = charon_mod.Charon(ref_lab.hq, work / ("hq-ref-" + ike)).start()
            started.append(hq_ref)
            branch = charon_mod.Charon(ref_lab.device, work / ("branch-" + ike)).start()
            started.append(branch)
            board = simboard.SimBoard(sim_lab, work / ("board-" + ike))
            board.provision(psk, ike_proposals=ike)
            board.start()
            started.append(board)
            hq_sim = charon_mod.Charon(sim_lab.hq, work / ("hq-sim-" + ike)).start()
            started.append(hq_sim)
            hq_ref.load(hq_conf(psk, ike))
            branch.load(charon_mod.tunnel_conf(netns.DEVICE_WAN, netns.HQ_WAN, simboard.DEVICE_ID, simboard.HQ_ID,
                                               psk, netns.LAN_SUBNET, netns.HQ_SUBNET, ike=ike, conn="hq"))
            hq_sim.load(hq_conf(psk, ike))
            handshake(hq_ref)  # warm-up: caches, the device's first keypair of this group
            handshake(hq_sim)
            ref, sim = [], []
            cpu0 = cpu_seconds(sim_lab.device)
            for _ in range(RUNS):
                ref.append(handshake(hq_ref))
                sim.append(handshake(hq_sim))
            cpu1 = cpu_seconds(sim_lab.device)
        finally:
            for x in reversed(started):
                x.stop()
    cpu = (cpu1 - cpu0) * 1000.0 / RUNS if cpu0 is not None and cpu1 is not None else None
    return statistics.median(ref), statistics.median(sim), cpu


def main():
    reasons = netns.missing_prerequisites() + charon_mod.missing_prerequisites() + simboard.missing_prerequisites()
    if reasons:
        print("handshake: skipped (%s)" % "; ".join(reasons))
        return
    psk = "psk-" + secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="bench-handshake-") as work:
        for ike in PROPOSALS:
            ref, sim, cpu = measure(Path(work), psk, ike)
            print("handshake strongswan-responder %s: %.1f ms (median of %d)" % (ike, ref, RUNS), flush=True)
            print("handshake sim-board %s: %.1f ms (median of %d, turn about with strongSwan's; ratio %.2fx "
                  "strongSwan)" % (ike, sim, RUNS, sim / ref), flush=True)
            if cpu is not None:
                print("handshake sim-board cpu %s: %.1f ms per handshake" % (ike, cpu), flush=True)


if __name__ == "__main__":
    main()
