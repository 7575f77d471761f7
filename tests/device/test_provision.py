# The provisioning protocol's device side (provision.py) on the sim board's runtime: framing, resync
# after line noise, the reply cache, staging in chunks, commit through the config store (atomic,
# checked against the host's fingerprint), reading the settings back, and the PSK never coming back.
import binascii
import json
import os
import select
import sys

import config
import log
import provision

PSK = b"Zq8#mV2!rT6wLp0$xN4^kB7&"
PSK_FP = config.psk_fingerprint(PSK)


class Tx:
    def __init__(self):
        self.b = bytearray()

    def write(self, data):
        self.b.extend(data)


def console(root="/nonexistent"):
    tx = Tx()
    return provision.Console(select.poll(), None, root, "test", sys.stdin, tx), tx


def send(c, obj, raw=None):
    for b in raw if raw is not None else provision.frame(json.dumps(obj)):
        c.feed(b)


def replies(tx):
    """Frames in everything sent, checked independently of provision.unframe."""
    out = []
    for line in bytes(tx.b).split(b"\n"):
        if not line:
            continue
        assert line[:5] == b"%BG1 ", line
        n = int(line[5:9], 16)
        crc = int(line[10:18], 16)
        p = line[19:]
        assert len(p) == n and binascii.crc32(p) & 0xFFFFFFFF == crc, line
        assert b"%" not in p
        out.append(json.loads(p))
    return out


def settings(remote="10.0.0.0/16"):
    return {"id": "gw1.branch.example.net", "wan": {"addr": "192.0.2.2/24"},
            "peers": [{"name": "hq", "id": "hq.example.net", "remote_ts": [remote]}]}


def tmpdir():
    d = "/tmp/bg-prov-" + "".join(["%02x" % b for b in os.urandom(6)])
    os.mkdir(d)
    return d


def test_frame_format():
    f = provision.frame('{"a":1}')
    assert f == b"%BG1 0007 " + (b"%08x" % (binascii.crc32(b'{"a":1}') & 0xFFFFFFFF)) + b' {"a":1}\n'
    assert provision.unframe(f[:-1]) == '{"a":1}'
    assert provision.unframe(f[:-1].replace(b"1}", b"2}")) is None  # CRC
    assert provision.unframe(f[:-2]) is None  # length


def test_noise_is_skipped_and_frames_resync():
    c, tx = console()
    good = provision.frame(json.dumps({"id": 7, "op": "logs"}))
    noise = b"INFO main: up\n\x00\xff%%%BG1 zzzz\n%BG1 0003 00000000 {}\n" + good[:20] + os.urandom(300)
    send(c, None, noise + b"garbage " + good + good[:-9] + b"\n" + b"x" * 1000 + good)
    r = replies(tx)
    # The first good frame and the last one (the same id: from the reply cache); nothing for the noise
    assert [x["id"] for x in r] == [7, 7] and r[0]["ok"] and r[0] == r[1]


def test_other_version_unknown_op_and_bad_request_are_refused():
    c, tx = console()
    send(c, None, b"%BG2 0002 00000000 {}\n")
    send(c, {"id": 1, "op": "fly"})
    send(c, {"id": 2, "op": "put", "k": "settings", "o": "x"})
    send(c, None, provision.frame("[1]"))
    r = replies(tx)
    assert "version 2 not supported" in r[0]["error"] and not r[0]["ok"]
    assert r[1] == {"id": 1, "ok": False, "error": "unknown op 'fly'"}
    assert not r[2]["ok"] and r[2]["id"] == 2
    assert r[3]["error"] == "request is not an object"


def test_put_at_offsets_and_repeats():
    c, tx = console()
    send(c, {"id": 1, "op": "put", "k": "settings", "o": 0, "d": "abc"})
    send(c, {"id": 2, "op": "put", "k": "settings", "o": 3, "d": "def"})
    send(c, {"id": 2, "op": "put", "k": "settings", "o": 3, "d": "def"})  # a retry: not applied twice
    send(c, {"id": 3, "op": "put", "k": "settings", "o": 9, "d": "x"})    # a gap
    send(c, {"id": 4, "op": "put", "k": "other", "o": 0, "d": "x"})
    r = replies(tx)
    assert [x.get("n") for x in r[:3]] == [3, 6, 6] and c.stage["settings"] == "abcdef"
    assert not r[3]["ok"] and not r[4]["ok"]
    for i in range(provision.MAX_STAGE // 150 + 1):  # a bounded staging area
        send(c, {"id": 100 + i, "op": "put", "k": "secrets", "o": 150 * i, "d": "x" * 150})
    r = replies(tx)[-1]
    assert not r["ok"] and "more than" in r["error"] and len(c.stage["secrets"]) <= provision.MAX_STAGE
    send(c, {"id": 5, "op": "begin"})
    assert c.stage["settings"] == ""


def stage(c, s, psk, rid):
    send(c, {"id": rid, "op": "begin"})
    text = json.dumps(s)
    send(c, {"id": rid + 1, "op": "put", "k": "settings", "o": 0, "d": text[:50]})
    send(c, {"id": rid + 2, "op": "put", "k": "settings", "o": 50, "d": text[50:]})
    send(c, {"id": rid + 3, "op": "put", "k": "secrets", "o": 0, "d": json.dumps(config.secrets_for({"hq": psk}))})


def test_commit_checks_the_fingerprint_then_commits_atomically():
    root = tmpdir()
    c, tx = console(root)
    want = config.validate(settings(), config.secrets_for({"hq": PSK})).fingerprint
    stage(c, settings(), PSK, 10)
    send(c, {"id": 20, "op": "commit", "fp": "0000000000000000"})
    r = replies(tx)[-1]
    assert not r["ok"] and "is not the host's" in r["error"]
    try:
        config.read(root)
        raise AssertionError("a refused commit wrote a config")
    except config.NotProvisioned:
        pass
    stage(c, settings(), PSK, 30)
    send(c, {"id": 40, "op": "commit", "fp": want})
    send(c, {"id": 40, "op": "commit", "fp": want})  # the reply was lost: answered, not run again
    r = replies(tx)
    assert r[-1] == r[-2] and r[-1]["ok"]
    assert r[-1]["generation"] == 1 and r[-1]["fingerprint"] == want and r[-1]["psk"] == {"hq": PSK_FP}
    assert config.load(root).fingerprint == want and config.load(root).generation == 1
    assert c.stage == {"settings": "", "secrets": ""}  # no secrets kept after a commit
    send(c, {"id": 41, "op": "hello"})
    h = replies(tx)[-1]
    assert h["generation"] == 1 and h["fingerprint"] == want and h["mode"] == "console" and h["proto"] == 1
    assert h["device"] == provision.device_id(root) and len(h["device"]) == 17
    # The PSK, in any encoding, never in what the device sent
    out = bytes(tx.b)
    for form in (PSK, binascii.hexlify(PSK), binascii.hexlify(PSK).upper(), binascii.b2a_base64(PSK)[:-1]):
        assert form not in out


def test_settings_are_read_back_without_the_psk():
    root = tmpdir()
    c, tx = console(root)
    send(c, {"id": 1, "op": "settings"})
    r = replies(tx)[-1]
    assert not r["ok"] and "not provisioned" in r["error"], r
    want = config.validate(settings(), config.secrets_for({"hq": PSK}))
    stage(c, settings(), PSK, 10)
    send(c, {"id": 20, "op": "commit", "fp": want.fingerprint})
    send(c, {"id": 21, "op": "settings"})
    r = replies(tx)[-1]
    assert r["ok"] and r["id"] == 21 and r["generation"] == 1 and r["fingerprint"] == want.fingerprint
    assert r["settings"] == want.settings == config.read(root)[0] and r["psk"] == {"hq": PSK_FP}
    assert sorted(r) == ["fingerprint", "generation", "id", "ok", "psk", "settings"]
    out = bytes(tx.b)
    for form in (PSK, binascii.hexlify(PSK), binascii.hexlify(PSK).upper(), binascii.b2a_base64(PSK)[:-1]):
        assert form not in out


def test_invalid_settings_are_refused_naming_the_field():
    root = tmpdir()
    c, tx = console(root)
    stage(c, settings("10.0.0.0/33"), PSK, 1)
    send(c, {"id": 9, "op": "commit", "fp": "x"})
    r = replies(tx)[-1]
    assert not r["ok"] and r["error"].startswith("peers[0].remote_ts[0]:"), r
    stage(c, settings(), PSK, 11)
    send(c, {"id": 15, "op": "put", "k": "secrets", "o": 0, "d": '{"psk": {"hq": "zz11"}}'})
    send(c, {"id": 16, "op": "commit", "fp": "x"})
    r = replies(tx)[-1]
    assert not r["ok"] and r["error"].startswith("secrets.psk.hq:") and "zz11" not in r["error"], r


def test_logs_follow_with_a_cursor():
    c, tx = console()
    lg = log.Logger("t")
    log.set_output(lambda line: None)
    lg.info("one")
    send(c, {"id": 1, "op": "logs", "since": 0})
    r = replies(tx)[-1]
    assert r["lines"][-1] == "INFO t: one"
    lg.warn("two: %d%%", 100)
    send(c, {"id": 2, "op": "logs", "since": r["next"]})
    r2 = replies(tx)[-1]  # (replies() checks that no '%' went out inside a frame)
    assert r2["lines"] == ["WARN t: two: 100%"] and r2["next"] == r["next"] + 1
    log.set_output(None)


def test_idle_after_a_quiet_minute_with_the_same_boot_id():
    import time

    import health
    root = tmpdir()
    c, tx = console(root)
    assert not c.idle()
    send(c, {"id": 1, "op": "hello"})
    assert replies(tx)[-1]["boot"] == health.BOOT_ID
    os.remove(root + "/device_id")
    os.rmdir(root)
    c.heard = time.ticks_add(time.ticks_ms(), 1000 - provision.IDLE_MS)  # a second short: a tick may pass
    assert not c.idle()
    c.heard = time.ticks_add(time.ticks_ms(), -provision.IDLE_MS)
    assert c.idle()
    c.handle(0)  # the console was readable: a session again
    assert not c.idle()
