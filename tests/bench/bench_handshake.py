"""Handshake time as strongSwan sees it: `swanctl --initiate` until the CHILD SA is established
(IKE_SA_INIT + IKE_AUTH), median of 10, from a head-office charon to (a) a strongSwan responder and
(b) the sim board, in the same namespace topology on this machine in the same run. The ratio
sim/strongSwan is the headline (goal: within 1.5x). Also the sim board's CPU time per handshake
(the micropython process, idle-time DH precomputation included)."""
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

RUNS = 10
IDLE_S = 0.3  # between handshakes, as an idle device would have (lets a DH keypair be precomputed)
PROPOSALS = ("aes256-sha256-modp2048", "aes128-sha256-ecp256", "aes256-sha256-x25519")


def hq_conf(psk, ike):
    return charon_mod.tunnel_conf(netns.HQ_WAN, netns.DEVICE_WAN, simboard.HQ_ID, simboard.DEVICE_ID, psk,
                                  netns.HQ_SUBNET, netns.LAN_SUBNET, ike=ike)


def handshakes(hq, runs=RUNS):
    """Initiate and tear down `runs` times (plus one warm-up); returns the times in ms."""
    times = []
    for i in range(runs + 1):
        time.sleep(IDLE_S)
        p = hq.initiate(child="net")
        if i:
            times.append(p.elapsed * 1000.0)
        hq.terminate(ike="branch")
    return times


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


def strongswan_medians(work, psk):
    out = {}
    with netns.hq_device(branch_addr=True) as lab:
        hq = charon_mod.Charon(lab.hq, work / "hq").start()
        branch = charon_mod.Charon(lab.device, work / "branch").start()
        try:
            for ike in PROPOSALS:
                hq.load(hq_conf(psk, ike))
                branch.load(charon_mod.tunnel_conf(netns.DEVICE_WAN, netns.HQ_WAN, simboard.DEVICE_ID, simboard.HQ_ID,
                                                   psk, netns.LAN_SUBNET, netns.HQ_SUBNET, ike=ike, conn="hq"))
                out[ike] = statistics.median(handshakes(hq))
        finally:
            hq.stop()
            branch.stop()
    return out


def sim_medians(work, psk):
    out = {}
    for ike in PROPOSALS:
        with netns.hq_device() as lab:
            board = simboard.SimBoard(lab, work / ("board-" + ike))
            board.provision(psk, ike_proposals=ike)
            board.start()
            hq = charon_mod.Charon(lab.hq, work / ("hq-" + ike)).start()
            try:
                hq.load(hq_conf(psk, ike))
                cpu0 = cpu_seconds(lab.device)
                times = handshakes(hq)
                cpu1 = cpu_seconds(lab.device)
                cpu = (cpu1 - cpu0) * 1000.0 / (RUNS + 1) if cpu0 is not None and cpu1 is not None else None
                out[ike] = (statistics.median(times), cpu)
            finally:
                board.stop()
                hq.stop()
    return out


def main():
    reasons = netns.missing_prerequisites() + charon_mod.missing_prerequisites()
    if reasons:
        print("handshake: skipped (%s)" % "; ".join(reasons))
        return
    psk = "psk-" + secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="bench-handshake-") as work:
        work = Path(work)
        ref = strongswan_medians(work, psk)
        for ike in PROPOSALS:
            print("handshake strongswan-responder %s: %.1f ms (median of %d)" % (ike, ref[ike], RUNS), flush=True)
        missing = simboard.missing_prerequisites()
        if missing:
            print("handshake sim-board: not measured (%s)" % "; ".join(missing))
            return
        sim = sim_medians(work, psk)
    for ike in PROPOSALS:
        median, cpu = sim[ike]
        print("handshake sim-board %s: %.1f ms (median of %d; ratio %.2fx strongSwan)" % (ike, median, RUNS,
                                                                                          median / ref[ike]))
        if cpu is not None:
            print("handshake sim-board cpu %s: %.1f ms per handshake" % (ike, cpu))


if __name__ == "__main__":
    main()
