"""`branchgate fleet` with a small inventory: one PSK per device (random, 0600, kept on re-runs), a
device configuration per row that the firmware's config store loads with that PSK, and one head-office
swanctl.conf with every tunnel; bad rows are named by line before anything is written; PSKs are never
printed. (The combined file in a real charon: tests/interop/test_hqconfig.py.)"""
import subprocess
import sys
from pathlib import Path

import config  # firmware/config.py, the store the device runs

from test_hqconf import parse
from test_provision_serial import PtyBoard, assert_no_psk, wan

BRANCHGATE = Path(sys.executable).parent / "branchgate"

INVENTORY = """name,id,wan,lan,remote_ts,device_addr,port,esp_proposals
gw1,gw1.branch.example.net,192.0.2.2/24,10.20.1.1/24,,,,
gw2,gw2.branch.example.net,198.51.100.7/24,,"10.10.0.0/16,10.11.0.0/16",203.0.113.9,/dev/ttyUSB7,aes128-sha256-x25519
"""


def fleet(tmp_path, inventory=INVENTORY, *extra):
    inv = tmp_path / "devices.csv"
    inv.write_text(inventory)
    cmd = [str(BRANCHGATE)] if BRANCHGATE.exists() else [sys.executable, "-m", "branchgate.cli"]
    return subprocess.run(cmd + ["fleet", "--inventory", str(inv), "--out", str(tmp_path / "out"),
                                 "--hq-id", "hq.example.net", "--remote-ts", "10.10.0.0/16", *extra],
                          capture_output=True, text=True, timeout=120)


def test_fleet_writes_psks_configs_and_one_hq_file(tmp_path):
    p = fleet(tmp_path)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "out"
    psks = {}
    for name in ("gw1", "gw2"):
        f = out / name / "psk"
        assert f.stat().st_mode & 0o777 == 0o600
        psks[name] = f.read_bytes()
        assert len(psks[name]) == 43  # 32 random bytes, base64url
        cfg = config.load(str(out / name / "root"))
        assert cfg.peers[0].psk == psks[name] and cfg.peers[0].id.text == "hq.example.net"
        assert psks[name].decode() not in p.stdout + p.stderr
    assert psks["gw1"] != psks["gw2"]
    assert config.load(str(out / "gw2" / "root")).peers[0].local_ts == ["198.51.100.7/32"]  # host mode
    assert "[1/2] gw1" in p.stdout and "[2/2] gw2" in p.stdout
    assert "add --provision" in p.stdout  # gw2 has a port

    hq = out / "swanctl.conf"
    assert hq.stat().st_mode & 0o777 == 0o600
    conf = parse(hq.read_text())
    gw1, gw2 = conf["connections"]["gw1"], conf["connections"]["gw2"]
    assert (gw1["remote_addrs"], gw2["remote_addrs"]) == ("192.0.2.2", "203.0.113.9")
    assert gw1["children"]["gw1"]["remote_ts"] == "10.20.1.0/24"
    assert gw2["children"]["gw2"]["local_ts"] == "10.10.0.0/16,10.11.0.0/16"
    assert gw2["children"]["gw2"]["esp_proposals"] == "aes128-sha256-curve25519"  # canonical name
    for name in ("gw1", "gw2"):
        assert bytes.fromhex(conf["secrets"]["ike-" + name]["secret"][2:]) == psks[name]

    again = fleet(tmp_path)  # a re-run keeps every device's PSK
    assert again.returncode == 0, again.stderr
    assert all((out / n / "psk").read_bytes() == psks[n] for n in psks)


def test_unreachable_serial_port_is_reported_and_the_rest_done(tmp_path):
    p = fleet(tmp_path, INVENTORY, "--provision")
    assert p.returncode == 1
    assert "gw2: not provisioned over /dev/ttyUSB7: cannot open /dev/ttyUSB7" in p.stderr
    assert p.stderr.splitlines()[-1].startswith("branchgate: error: 1 device(s) not provisioned over serial: gw2")
    assert (tmp_path / "out" / "swanctl.conf").exists() and (tmp_path / "out" / "gw2" / "psk").exists()


def test_provision_over_serial(tmp_path):
    """gw1 is a sim board on a pty: fleet provisions it as `provision --port` would and restarts it into
    the configuration fleet wrote for it."""
    board = PtyBoard(tmp_path / "board", tmp_path / "console.log")
    try:
        w = wan()
        p = fleet(tmp_path, "name,id,wan,port\ngw1,gw1.branch.example.net,%s,%s\n" % (w, board.port),
                  "--provision")
        assert p.returncode == 0, p.stdout + p.stderr
        cfg = config.load(str(tmp_path / "out" / "gw1" / "root"))
        assert "device running the new configuration (fingerprint %s)" % cfg.fingerprint in p.stdout, p.stdout
        on_device = config.load(str(board.root))
        assert (on_device.fingerprint, on_device.peers[0].psk) == (cfg.fingerprint, cfg.peers[0].psk)
        assert_no_psk(board.sent() + (p.stdout + p.stderr).encode(), cfg.peers[0].psk)
    finally:
        board.stop()


def test_bad_rows_are_named_before_anything_is_written(tmp_path):
    bad = INVENTORY + "gw3,gw1.branch.example.net,192.0.2.30/24,,,,,\n"
    p = fleet(tmp_path, bad)
    assert p.returncode == 1 and p.stderr.count("\n") == 1
    assert "line 4 (gw3): id 'gw1.branch.example.net' is already used on line 2" in p.stderr
    assert not (tmp_path / "out").exists()
    p = fleet(tmp_path, INVENTORY + "gw4,gw4.example.net,192.0.2.300/24,,,,,\n")
    assert p.returncode == 1 and "line 4 (gw4): --wan" in p.stderr and p.stderr.count("\n") == 1
    p = fleet(tmp_path, "name,id\ngw1,gw1.example.net\n")
    assert p.returncode == 1 and "no 'wan' column" in p.stderr
