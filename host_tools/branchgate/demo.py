"""`make demo` (python -m branchgate.demo): the tunnel on the sim board, end to end, on this machine.

Builds three network namespaces (lan-host -- device -- hq, see tests/interop/netns.py), provisions a
sim board with `branchgate provision`, runs it with `branchgate sim run` in the device namespace,
starts strongSwan as the head office, lets strongSwan bring the tunnel up, then prints strongSwan's
`swanctl --list-sas` and the device's own view of its SAs, pings head office from the LAN host
through the tunnel with the device's SA counters before and after, and tears everything down. Needs
root (namespaces) and strongSwan; says what is missing otherwise.
"""
import os
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path

from . import paths

sys.path.insert(0, str(paths.REPO / "tests" / "interop"))  # the namespace/strongSwan harness lives with the tests

import charon as charon_mod  # noqa: E402
import netns  # noqa: E402
import simboard  # noqa: E402

IKE = "aes256-sha256-modp2048"
ESP = "aes256-sha256"
DEMO_HEAP = "224k"


def missing():
    return netns.missing_prerequisites() + charon_mod.missing_prerequisites() + simboard.missing_prerequisites()


def heading(text):
    print("\n=== %s" % text, flush=True)


def show_device(board):
    status = board.sas()
    if status is None:
        print("(the device has not reported a status yet)")
        return
    if not status["ike"]:
        print("no SAs")
    for sa in status["ike"]:
        mark = ("*", "") if sa.get("initiator") else ("", "*")  # * on the device's own SPI
        print("IKE SA %s_i%s %s_r%s, %s, peer %s @ %s" % (sa["spi_i"], mark[0], sa["spi_r"], mark[1], sa["state"],
                                                     sa["peer"], sa["remote"]))
        print("  %s-%s/%s/%s/%s" % (sa["encr"], sa["keylen"], sa["integ"], sa["prf"], sa["dh"]))
        for c in status["child"]:
            if c["ike_spi_r"] != sa["spi_r"]:
                continue
            print("  CHILD SA %s, ESP:%s-%s/%s%s, in %s out %s, %s === %s" % (
                c["state"], c["encr"], c["keylen"], c["integ"], "/" + c["dh"] if c["dh"] else "", c["spi_in"],
                c["spi_out"], ",".join(c["local_ts"]), ",".join(c["remote_ts"])))
            print("    counters: " + " ".join("%s=%s" % kv for kv in sorted(c["counters"].items())))
    dp = status.get("dataplane")
    if dp:
        lan = dp["lan"]
        print("data plane: tunnel MTU %d, LAN->tunnel %d, tunnel->LAN %d, dropped: no policy %d, no SA %d"
              % (dp["tunnel_mtu"], lan["to_tunnel"], lan["to_lan"], dp["esp"]["no_policy"], dp["esp"]["no_sa"]))


def wait_status_change(board, before, timeout=5.0):
    """The device rewrites its status file every 2 s while SAs exist: wait for the counters to move."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = board.sas()
        if now is not None and before is not None and now["child"] != before["child"]:
            return
        time.sleep(0.2)


def run(work):
    lab = netns.lan_device_hq()
    with lab:
        print("namespaces: %s" % ", ".join(ns.name for ns in lab.namespaces))
        psk = "psk-" + secrets.token_urlsafe(24)  # text, never starting with "0x" (read as hex)
        options = {"lan": "%s/%d" % (netns.DEVICE_LAN, netns.LAN_PREFIX), "lan_port": lab.device_lan_if}
        board = simboard.SimBoard(lab, work / "board")
        heading("provisioning the sim board (branchgate provision)")
        print(board.provision(psk, ike_proposals=IKE, esp_proposals=ESP, **options).stdout.strip())
        heading("starting the sim board in %s (branchgate sim run)" % lab.device.name)
        board.start()
        hq = charon_mod.Charon(lab.hq, work / "hq").start()
        try:
            hq.load(charon_mod.tunnel_conf(netns.HQ_WAN, netns.DEVICE_WAN, simboard.HQ_ID, simboard.DEVICE_ID, psk,
                                           netns.HQ_SUBNET, netns.LAN_SUBNET, ike=IKE, esp=ESP))
            heading("strongSwan (head office, %s) initiates" % netns.HQ_WAN)
            p = hq.initiate(child="net", check=False)
            print(p.stdout.strip())
            if p.returncode != 0:
                print("\nthe tunnel did not come up. Device console:\n" + board.log_tail(), file=sys.stderr)
                return 1
            heading("strongSwan's view: swanctl --list-sas")
            print(hq.swanctl(["--list-sas"]).stdout.strip())
            heading("the device's view")
            show_device(board)
            heading("ping %s (hq) from the LAN host %s through the tunnel" % (netns.HQ_HOST, netns.LAN_HOST))
            before = board.sas()
            rtts, out = lab.lan.ping(netns.LAN_HOST, netns.HQ_HOST, count=3)
            print(out.strip())
            ok = bool(rtts) and None not in rtts
            heading("the device's view after the ping")
            wait_status_change(board, before)
            show_device(board)
            heading("teardown: the device sends DELETE on SIGTERM")
            mark = hq.log_mark()
            print("sim board exit code: %s" % board.stop())
            try:
                print(hq.wait_log(r"received DELETE for IKE_SA.*", mark, timeout=5).group(0))
            except AssertionError:
                print("strongSwan saw no DELETE from the device")
                ok = False
            return 0 if ok else 1
        finally:
            board.stop()
            hq.stop()


def main():
    reasons = missing()
    if reasons:
        print("branchgate demo cannot run here:\n  - " + "\n  - ".join(reasons), file=sys.stderr)
        return 2
    # The firmware fits the ESP32's 112 KB heap at the chip's word size, not on this 64-bit micropython
    # (see README, "Heap"): say so and run the sim board with a larger one unless the user chose a heap.
    if "BRANCHGATE_SIM_HEAP" not in os.environ:
        os.environ["BRANCHGATE_SIM_HEAP"] = DEMO_HEAP
        print("note: the sim board runs with a %s heap: its micropython is 64-bit, where the firmware needs "
              "more than the ESP32's 112k (it fits that on a 32-bit build: make bench BENCH=heap32)" % DEMO_HEAP)
    # SIGTERM must unwind through the cleanup like Ctrl-C does, so no namespace is left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="branchgate-demo-") as work:
        return run(Path(work))


if __name__ == "__main__":
    sys.exit(main())
