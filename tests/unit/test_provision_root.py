"""`branchgate provision --root DIR` as a user runs it (subprocess): what it writes is what the firmware
loads (checked under MicroPython too), errors are one line naming the option, weak PSKs are refused
unless --force, and the PSK never appears in its output."""
import hashlib
import hmac
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mp import run_mp_code

PSK = b"correct horse battery staple 42"
BRANCHGATE = Path(sys.executable).parent / "branchgate"


def fp(psk):
    """The PSK fingerprint, computed independently with CPython's hmac module."""
    return hmac.new(psk, b"branchgate psk fingerprint v1", hashlib.sha256).hexdigest()[:16]


def provision(root, *extra, psk_file=None, stdin=None):
    cmd = [str(BRANCHGATE)] if BRANCHGATE.exists() else [sys.executable, "-m", "branchgate.cli"]
    cmd += ["provision", "--root", str(root), "--id", "gw1.branch.example.net", "--peer-id", "hq.example.net",
            "--psk-file", str(psk_file) if psk_file else "-", "--wan", "192.0.2.2/24"]
    cmd += list(extra)
    if "--remote-ts" not in extra:
        cmd += ["--remote-ts", "10.0.0.0/16"]
    return subprocess.run(cmd, input=stdin if stdin is not None else b"", capture_output=True, timeout=60)


def load_cpython(root):
    import config  # firmware/ is on sys.path (tests/conftest.py)
    return config.load(str(root))


def assert_one_line_error(p, *words):
    assert p.returncode != 0
    err = p.stderr.decode()
    assert err.startswith("branchgate: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)
    return err


def test_writes_a_config_the_firmware_loads(tmp_path):
    root = tmp_path / "board"
    root.mkdir()  # an existing empty directory is fine
    psk_file = tmp_path / "psk.txt"
    psk_file.write_bytes(PSK + b"\n")  # a text file's newline is not part of the key
    p = provision(root, "--lan", "10.20.1.1/24", "--lan-port", "veth-lan", "--gateway", "192.0.2.1",
                  "--local-ts", "10.20.1.0/24,10.20.2.0/24", "--remote-ts", "10.0.0.0/16", "--remote-ts", "10.1.0.0/16",
                  "--ike-proposals", "aes256-sha256-modp2048,aes128-sha256-x25519", "--esp-proposals", "aes128-sha256",
                  "--ike-lifetime", "3h", "--child-lifetime", "45m", "--dpd-delay", "10", "--log-level", "debug",
                  psk_file=psk_file)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert sorted(os.listdir(root / "config.d")) == ["secrets.json", "settings.json"]
    c = load_cpython(root)
    peer = c.peers[0]
    assert peer.psk == PSK
    assert (c.log_level, c.lan.port, c.wan.gateway) == ("debug", "veth-lan", bytes((192, 0, 2, 1)))
    assert peer.local_ts == ["10.20.1.0/24", "10.20.2.0/24"] and peer.remote_ts == ["10.0.0.0/16", "10.1.0.0/16"]
    assert [str(s) for s in peer.ike_proposals] == ["aes256-sha256-modp2048", "aes128-sha256-curve25519"]
    assert [str(s) for s in peer.esp_proposals] == ["aes128-sha256"]
    assert (peer.ike_lifetime, peer.child_lifetime, peer.dpd_delay) == (10800, 2700, 10)
    assert "generation 1" in out and c.fingerprint in out and fp(PSK) in out
    # the device (MicroPython) reads the same config, with the same fingerprint
    dev = run_mp_code("import config\nc = config.load(%r)\nprint(c.generation, c.fingerprint, "
                      "config.psk_fingerprint(c.peers[0].psk))" % str(root))
    assert dev.split() == ["1", c.fingerprint, fp(PSK)]
    # provisioning again commits a new generation
    assert provision(root, psk_file=psk_file).returncode == 0
    assert load_cpython(root).generation == 2


def test_psk_from_stdin_text_hex_and_binary(tmp_path):
    binary = bytes(range(200, 232))
    cases = ((PSK + b"\r\n", PSK), (b"0x" + binary.hex().encode() + b"\n", binary), (binary, binary),
             (binary + b"\n", binary + b"\n"))  # binary content is used as is
    for i, (stdin, psk) in enumerate(cases):
        root = tmp_path / str(i)
        p = provision(root, stdin=stdin)
        assert p.returncode == 0, p.stderr
        assert load_cpython(root).peers[0].psk == psk
        assert fp(psk) in p.stdout.decode()


def test_bad_cidr_is_one_line_naming_the_field(tmp_path):
    root = tmp_path / "board"
    p = provision(root, "--remote-ts", "10.0.0.0/33", stdin=PSK)
    assert_one_line_error(p, "--remote-ts", "peers[0].remote_ts[0]", "'10.0.0.0/33' is not a CIDR")
    assert not root.exists()  # nothing written
    p = provision(root, "--lan", "10.20.1.0/24", stdin=PSK)
    assert_one_line_error(p, "--lan", "network or broadcast address")
    p = provision(root, "--ike-proposals", "aes128gcm16-prfsha256-ecp384", stdin=PSK)
    assert_one_line_error(p, "--ike-proposals", "unsupported algorithm 'aes128gcm16'")
    p = provision(root, "--esp-proposals", "aes256-sha256-esn", stdin=PSK)  # 32-bit sequence numbers only
    assert_one_line_error(p, "--esp-proposals", "unsupported algorithm 'esn'")
    p = provision(root, "--lan-port", "eth9", stdin=PSK)
    assert_one_line_error(p, "--lan-port needs --lan")


def test_weak_psk_refused_unless_forced(tmp_path):
    root = tmp_path / "board"
    for weak in (b"short\n", b"password1234567890123\n", b"aaaaaaaaaaaaaaaaaaaaaaaaaaaa"):
        p = provision(root, stdin=weak)
        assert_one_line_error(p, "weak PSK", "--force")
        assert not root.exists()
    p = provision(root, "--force", stdin=b"short\n")
    assert p.returncode == 0, p.stderr
    assert load_cpython(root).peers[0].psk == b"short"


def test_psk_never_printed(tmp_path):
    secret = b"Zq9-unique-marker-psk-7Hx2"
    outputs = []
    for extra in ((), ("--remote-ts", "10.0.0.0/33"), ("--id", "bad id"), ("--esp-proposals", "aes192-sha256"),
                  ("--log-level", "debug")):
        p = provision(tmp_path / "board", *extra, stdin=secret + b"\n")
        outputs.append(p.stdout + p.stderr)
    weak = provision(tmp_path / "weak", stdin=b"weak-marker\n")
    outputs.append(weak.stdout + weak.stderr)
    assert weak.returncode != 0
    blob = b"\n".join(outputs)
    for needle in (secret, secret.hex().encode(), b"weak-marker"):
        assert needle not in blob
    assert fp(secret).encode() in blob  # the fingerprint is what the user gets instead
    stored = (tmp_path / "board" / "config.d" / "settings.json").read_bytes()
    assert secret.hex().encode() not in stored and secret not in stored


def test_psk_is_not_a_command_line_option(tmp_path):
    for args in (("--psk", "hunter2hunter2hunter2"), ("--psk=hunter2hunter2hunter2",),
                 ("--secret", "hunter2hunter2hunter2")):
        p = provision(tmp_path / "board", *args, stdin=PSK)
        assert p.returncode == 2, p.stderr
        assert b"hunter2" not in p.stdout + p.stderr  # not even in the refusal
    assert b"never goes on the command line" in provision(tmp_path / "b", "--psk", "x", stdin=PSK).stderr
    assert not (tmp_path / "board").exists()


def test_root_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    assert_one_line_error(provision(f, stdin=PSK), "--root", "not a directory")


@pytest.mark.parametrize("option,value,words", [
    ("--ike-lifetime", "4x", "not a duration"),
    ("--psk-file", None, "No such file"),
])
def test_option_errors(tmp_path, option, value, words):
    if option == "--psk-file":
        p = provision(tmp_path / "b", psk_file=tmp_path / "missing")
        assert_one_line_error(p, "--psk-file", words)
    else:
        p = provision(tmp_path / "b", option, value, stdin=PSK)
        assert p.returncode == 2 and words.encode() in p.stderr  # argparse usage error


@pytest.mark.parametrize("extra,warned", [
    (("--lan", "10.30.1.1/24", "--local-ts", "10.20.1.0/24"), "the LAN 10.30.1.0/24 is outside peer hq's local"),
    (("--local-ts", "10.20.1.0/24"), "do not hold the device's address 192.0.2.2"),
    (("--lan", "10.20.1.1/24", "--local-ts", "10.20.1.128/25"), None),  # part of the LAN: a choice
    (("--lan", "10.20.1.1/24"), None),                                   # the default: the LAN
    ((), None),                                                          # host mode's default: the device
])
def test_warns_of_selectors_that_carry_nothing(tmp_path, extra, warned):
    # Accepted (the device would run it) but named: the tunnel would come up and carry no traffic.
    p = provision(tmp_path / "board", *extra, stdin=PSK)
    assert p.returncode == 0, p.stderr
    err = p.stderr.decode()
    if warned:
        assert err.startswith("branchgate: warning: ") and warned in err and err.count("\n") == 1, err
    else:
        assert err == "", err
