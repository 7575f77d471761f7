"""`branchgate check` (the host-side IKEv2 initiator) against an unmodified strongSwan responder -- so
it is proven against somebody else's IKEv2 and ESP, not only ours -- and against the sim board.

strongSwan's branch (charon_lab: 10.20.1.1 on the device namespace's lo) receives the echo requests
through kernel-libipsec's TUN device; the namespace's kernel answers them and the replies go back
through the tunnel. Failures must be one line naming the cause."""
import re
import sys
from pathlib import Path

import pytest

import charon as charon_mod
import netns
import simboard

pytestmark = pytest.mark.interop

ENTRY = Path(sys.executable).parent / "branchgate"  # the console script: CliError -> one line
BRANCHGATE = [str(ENTRY)] if ENTRY.exists() else simboard.BRANCHGATE


def check(ns, psk_file, *extra, host=netns.DEVICE_WAN, timeout=60):
    argv = BRANCHGATE + ["check", "--host", host, "--psk-file", str(psk_file), "--id", simboard.HQ_ID,
                         "--remote-id", simboard.DEVICE_ID, "--inner-addr", netns.HQ_HOST, *extra]
    return ns.run(argv, check=False, timeout=timeout)


def psk_file(tmp_path, psk):
    f = tmp_path / "check.psk"
    f.touch(mode=0o600)
    f.write_text(psk)
    return f


def strongswan_branch(branch, psk, ike="aes256-sha256-modp2048,aes128-sha256-x25519", esp="aes256-sha256"):
    """The branch charon as a responder, written as a strongSwan user would."""
    branch.load(charon_mod.tunnel_conf(netns.DEVICE_WAN, netns.HQ_WAN, simboard.DEVICE_ID, simboard.HQ_ID,
                                       psk, netns.LAN_SUBNET, netns.HQ_SUBNET, ike=ike, esp=esp))


def rtts(stdout):
    return [float(m) for m in re.findall(r"^echo \S+ seq=\d+: ([\d.]+) ms$", stdout, re.M)]


def one_line_error(p):
    assert p.returncode != 0, p.stdout
    assert p.stderr.startswith("branchgate: error: ") and p.stderr.count("\n") == 1, p.stderr
    return p.stderr


def test_check_against_strongswan(charon_lab, branch_charon, psk, tmp_path):
    strongswan_branch(branch_charon, psk)
    mark = branch_charon.log_mark()
    p = check(charon_lab.hq, psk_file(tmp_path, psk), "--target", netns.DEVICE_LAN, "--count", "3")
    assert p.returncode == 0, p.stdout + p.stderr
    assert psk not in p.stdout + p.stderr
    # strongSwan prefers its first proposal: one INVALID_KE_PAYLOAD round trip from our x25519 first
    assert "IKE_SA_INIT with 10.99.0.2:500: aes256-sha256-modp2048" in p.stdout, p.stdout
    ours = re.search(r"CHILD SA ([0-9a-f]{8})_i ([0-9a-f]{8})_o: aes256-sha256, 10.10.1.1/32 === 10.20.1.1/32",
                     p.stdout)
    assert ours, p.stdout
    theirs = branch_charon.wait_log(r"CHILD_SA net\{\d+\} established with SPIs ([0-9a-f]{8})_i ([0-9a-f]{8})_o",
                                    mark)
    assert (theirs.group(1), theirs.group(2)) == (ours.group(2), ours.group(1))
    assert len(rtts(p.stdout)) == 3 and "3 sent, 3 received" in p.stdout, p.stdout
    branch_charon.wait_log(r"received DELETE for IKE_SA", mark)
    assert "IKE SA deleted" in p.stdout
    assert branch_charon.list_sas() == []


@pytest.mark.parametrize("extra,cause", [
    (["--psk-wrong"], "wrong PSK?"),
    (["--ike-proposal", "aes128-sha256-ecp256"], "proposal mismatch"),
    (["--esp-proposal", "aes128-sha256"], "proposal mismatch in the CHILD SA"),
    (["--target", "10.30.0.1"], "TS_UNACCEPTABLE"),
])
def test_check_names_the_cause_against_strongswan(charon_lab, branch_charon, psk, tmp_path, extra, cause):
    strongswan_branch(branch_charon, psk)
    key = psk
    if extra == ["--psk-wrong"]:
        key, extra = psk[::-1] + "x", []
    p = check(charon_lab.hq, psk_file(tmp_path, key), "--target", netns.DEVICE_LAN, "--timeout", "4", *extra)
    err = one_line_error(p)
    assert cause in err, err
    assert psk not in p.stdout + p.stderr


def test_check_no_answer(lab, psk, tmp_path):
    p = check(lab.hq, psk_file(tmp_path, psk), "--timeout", "2", host="10.99.0.7")
    assert "no answer from 10.99.0.7:500" in one_line_error(p)


def sim_board_host_mode(lab, sim_board, psk):
    """Host mode: the tunnel ends at the device's WAN address, which answers echo itself."""
    return sim_board(lab, psk=psk, local_ts=netns.DEVICE_WAN + "/32",
                     ike_proposals="aes128-sha256-ecp256", esp_proposals="aes128-sha256")


def test_check_against_sim_board(lab, sim_board, psk, tmp_path):
    board = sim_board_host_mode(lab, sim_board, psk)
    mark = board.log_mark()
    p = check(lab.hq, psk_file(tmp_path, psk), "--count", "3")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "IKE_SA_INIT with 10.99.0.2:500: aes128-sha256-ecp256" in p.stdout
    ours = re.search(r"CHILD SA ([0-9a-f]{8})_i ([0-9a-f]{8})_o: aes128-sha256, 10.10.1.1/32 === 10.99.0.2/32",
                     p.stdout)
    assert ours, p.stdout
    dev = board.wait_log(r"CHILD SA ([0-9a-f]{8})_i ([0-9a-f]{8})_o established", mark)
    assert (dev.group(1), dev.group(2)) == (ours.group(2), ours.group(1))
    assert len(rtts(p.stdout)) == 3 and "3 sent, 3 received" in p.stdout, p.stdout
    assert "IKE SA deleted" in p.stdout
    board.wait_log(r"deleted by peer", mark)
    assert psk not in board.log_since() + p.stdout + p.stderr
