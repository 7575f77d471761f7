"""`branchgate hq-config` as a user runs it: the swanctl output, parsed, says what the device's config
says (ids, proposals with defaults expanded, selectors swapped, DPD), the head office's lifetimes end
before the device's soft limits, the PSK only appears on request, and the vendor formats carry the same
tunnel. (Loading into a real charon: tests/interop/test_hqconfig.py.)"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PSK = b"kN3v-0qR7c_Zt2LwY9xJ4hPb8sMdE1uA"  # text, so the vendor formats can carry it
BRANCHGATE = Path(sys.executable).parent / "branchgate"


def bg(*args, stdin=b""):
    cmd = [str(BRANCHGATE)] if BRANCHGATE.exists() else [sys.executable, "-m", "branchgate.cli"]
    return subprocess.run(cmd + [str(a) for a in args], input=stdin, capture_output=True, timeout=60)


def provision(tmp_path, *extra, psk=PSK):
    root = tmp_path / "board"
    p = bg("provision", "--root", root, "--id", "gw1.branch.example.net", "--peer-id", "hq.example.net",
           "--psk-file", "-", "--wan", "192.0.2.2/24", "--lan", "10.20.1.1/24", "--remote-ts", "10.10.0.0/16",
           *extra, stdin=psk)
    assert p.returncode == 0, p.stderr
    return root


def parse(text):
    """swanctl.conf text -> nested dicts (comments dropped)."""
    stack = [{}]
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.endswith("{"):
            node = {}
            stack[-1][line[:-1].strip()] = node
            stack.append(node)
        elif line == "}":
            stack.pop()
        else:
            key, _, value = line.partition("=")
            stack[-1][key.strip()] = value.strip().strip('"')
    assert len(stack) == 1, "unbalanced braces"
    return stack[0]


def seconds(v):
    assert v.endswith("s"), v
    return int(v[:-1])


def test_swanctl_matches_the_device(tmp_path):
    root = provision(tmp_path, "--ike-lifetime", "2h", "--child-lifetime", "30m", "--dpd-delay", "15s",
                     "--esp-proposals", "aes128-sha256-ecp256")
    p = bg("hq-config", "--root", root, "--format", "swanctl", "--hq-addr", "198.51.100.1")
    assert p.returncode == 0, p.stderr
    conf = parse(p.stdout.decode())
    c = conf["connections"]["gw1-branch-example-net"]
    assert (c["version"], c["local_addrs"], c["remote_addrs"], c["encap"]) == ("2", "198.51.100.1", "192.0.2.2", "yes")
    # "default" in the device config is expanded: strongSwan's own default list differs
    assert c["proposals"] == "aes256-aes128-sha256-curve25519-ecp256-modp2048"
    assert (c["local"]["id"], c["remote"]["id"], c["local"]["auth"]) == ("hq.example.net", "gw1.branch.example.net", "psk")
    assert seconds(c["dpd_delay"]) == 15
    child = c["children"]["gw1-branch-example-net"]
    assert (child["local_ts"], child["remote_ts"]) == ("10.10.0.0/16", "10.20.1.0/24")
    assert child["esp_proposals"] == "aes128-sha256-ecp256"
    # device: IKE 7200 s, margin 720; CHILD 1800 s, margin 180 (a tenth by default)
    for (rekey, rand, hard), soft in (((c["rekey_time"], c["rand_time"], None), 7200 - 720),
                                      ((child["rekey_time"], child["rand_time"], child["life_time"]), 1800 - 180)):
        assert 0 < seconds(rekey) - seconds(rand) < seconds(rekey) <= soft
        if hard is not None:
            assert seconds(rekey) < seconds(hard) <= soft
    assert seconds(c["rekey_time"]) + seconds(c["over_time"]) <= 7200 - 720
    assert (child["start_action"], child["dpd_action"]) == ("start", "restart")
    secret = conf["secrets"]["ike-gw1-branch-example-net"]
    assert (secret["id-1"], secret["id-2"]) == ("gw1.branch.example.net", "hq.example.net")
    assert "secret" not in secret  # no PSK without --include-psk ...
    out = p.stdout.decode()
    assert PSK.decode() not in out and PSK.hex() not in out
    assert re.search(r"fingerprint is [0-9a-f]{16}", out)  # ... only how to recognise it


def test_include_psk_to_a_private_file(tmp_path):
    root = provision(tmp_path)
    dest = tmp_path / "hq.conf"
    dest.write_text("old")
    os.chmod(dest, 0o644)
    p = bg("hq-config", "--root", root, "--format", "swanctl", "--include-psk", "-o", dest)
    assert p.returncode == 0, p.stderr
    assert PSK.decode() not in (p.stdout + p.stderr).decode()
    assert dest.stat().st_mode & 0o777 == 0o600
    secret = parse(dest.read_text())["secrets"]["ike-gw1-branch-example-net"]["secret"]
    assert bytes.fromhex(secret[2:]) == PSK


def test_peer_selection_and_errors(tmp_path):
    root = provision(tmp_path)
    p = bg("hq-config", "--root", root, "--format", "swanctl", "--hq-id", "other.example.net")
    assert p.returncode == 1 and b"no such peer" in p.stderr and p.stderr.count(b"\n") == 1
    assert bg("hq-config", "--root", root, "--format", "swanctl", "--hq-id", "HQ.example.net").returncode == 0
    p = bg("hq-config", "--root", tmp_path / "nothing", "--format", "swanctl")
    assert p.returncode == 1 and b"not provisioned" in p.stderr and p.stderr.count(b"\n") == 1


@pytest.mark.parametrize("fmt,lines", [
    ("cisco-iosxe", [" encryption aes-cbc-256 aes-cbc-128", " group 31 19 14",
                     " match identity remote fqdn gw1.branch.example.net", " identity local fqdn hq.example.net",
                     " permit ip 10.10.0.0 0.0.255.255 10.20.1.0 0.0.0.255", " set peer 192.0.2.2",
                     "  pre-shared-key " + PSK.decode()]),
    ("huawei-vrp", [" encryption-algorithm aes-256", " dh group31", " remote-id gw1.branch.example.net",
                    " rule 5 permit ip source 10.10.0.0 0.0.255.255 destination 10.20.1.0 0.0.0.255",
                    " pre-shared-key cipher " + PSK.decode()]),
])
def test_other_vendors(tmp_path, fmt, lines):
    root = provision(tmp_path)
    p = bg("hq-config", "--root", root, "--format", fmt, "--include-psk")
    assert p.returncode == 0, p.stderr
    text = p.stdout.decode()
    assert "UNTESTED" in text
    for line in lines:
        assert line in text.splitlines(), (line, text)
    assert PSK.decode() not in bg("hq-config", "--root", root, "--format", fmt).stdout.decode()


def test_binary_psk_is_refused_for_cisco(tmp_path):
    root = provision(tmp_path, psk=bytes(range(200, 232)))
    p = bg("hq-config", "--root", root, "--format", "cisco-iosxe", "--include-psk")
    assert p.returncode == 1 and b"printable ASCII" in p.stderr and p.stderr.count(b"\n") == 1
