"""Issue 5: a sim board provisioned over its serial console (a pty, `branchgate provision --port` with
--generate-psk) restarts into the new configuration, and a real strongSwan at head office then brings
the tunnel up with the generated PSK; the device's status over the console shows the SAs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import charon as charon_mod
import netns
import simboard

pytestmark = pytest.mark.interop

BRANCHGATE = [str(Path(sys.executable).parent / "branchgate")]
HEAP = os.environ.get("BRANCHGATE_PROVISION_HEAP", "512k")  # see tests/unit/test_provision_serial.py


def test_serial_provisioning_then_strongswan_brings_the_tunnel_up(lab, hq_charon, tmp_path, sim_build):
    root = tmp_path / "root"
    root.mkdir()
    log = tmp_path / "console.log"
    err = open(tmp_path / "sim.stderr", "w")
    proc = lab.device.popen(BRANCHGATE + ["sim", "run", "--root", str(root), "--heap", HEAP, "--console", "pty",
                                          "--console-log", str(log)], stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        port = proc.stdout.readline().split()[1]
        key = tmp_path / "psk.bin"
        p = subprocess.run(BRANCHGATE + [
            "provision", "--port", port, "--id", simboard.DEVICE_ID, "--peer-id", simboard.HQ_ID,
            "--wan", "%s/%d" % (netns.DEVICE_WAN, netns.WAN_PREFIX), "--local-ts", netns.LAN_SUBNET,
            "--remote-ts", netns.HQ_SUBNET, "--generate-psk", str(key)], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        psk = key.read_bytes()
        hq_charon.load(charon_mod.tunnel_conf(netns.HQ_WAN, netns.DEVICE_WAN, simboard.HQ_ID, simboard.DEVICE_ID,
                                              "0x" + psk.hex(), netns.HQ_SUBNET, netns.LAN_SUBNET))
        out = hq_charon.initiate(child="net").stdout
        assert "CHILD_SA net{1} established" in out, out
        st = json.loads(subprocess.run(BRANCHGATE + ["status", "--port", port, "--json"], capture_output=True,
                                       text=True, timeout=60, check=True).stdout)["status"]
        assert [s["state"] for s in st["ike"]] == ["established"] and st["mode"] == "run"
        assert st["child"] and st["child"][0]["remote_ts"] == [netns.HQ_SUBNET]
        human = subprocess.run(BRANCHGATE + ["status", "--port", port], capture_output=True, text=True, timeout=60,
                               check=True).stdout
        print(human)
        assert "SAs: 1 IKE, 1 CHILD" in human and "IKE hq established %s" % netns.HQ_WAN in human, human
        assert "CHILD established %s === %s" % (netns.LAN_SUBNET, netns.HQ_SUBNET) in human, human
        sent = log.read_bytes()
        for form in (psk, psk.hex().encode(), psk.hex().upper().encode()):
            assert form not in sent
    finally:
        lab.stop(proc)
        err.close()
