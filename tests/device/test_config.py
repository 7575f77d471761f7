# config.py and log.py on the sim board's runtime: validation naming the field, typed identities,
# defaults, the commit protocol, and a power cut at every filesystem step of a commit.
import json
import os

import config
import log
from ike import const

PSK = b"correct horse battery staple 42"
# HMAC-SHA256(PSK, "branchgate psk fingerprint v1")[:16 hex], from CPython's hmac module
PSK_FP = "853481cfc7173450"


def settings(**peer):
    p = {"name": "hq", "id": "hq.example.net", "remote_ts": ["10.0.0.0/16"]}
    p.update(peer)
    return {"id": "gw1.branch.example.net", "wan": {"addr": "192.0.2.2/24", "gateway": "192.0.2.1"},
            "lan": {"addr": "10.20.1.1/24", "port": "veth-lan"}, "peers": [p]}


def secrets(psk=PSK, name="hq"):
    return config.secrets_for({name: psk})


def error(s, k=None):
    try:
        config.validate(s, secrets() if k is None else k)
    except config.ConfigError as e:
        return str(e)
    raise AssertionError("accepted: %r" % (s,))


def copy(d):
    return json.loads(json.dumps(d))


def tmpdir():
    d = "/tmp/bg-cfg-" + "".join("%02x" % b for b in os.urandom(6))
    os.mkdir(d)
    return d


def rmtree(d):
    for entry in os.ilistdir(d):
        p = d + "/" + entry[0]
        if entry[1] == 0x4000:
            rmtree(p)
        else:
            os.remove(p)
    os.rmdir(d)


def test_valid_config_and_defaults():
    c = config.validate(settings(), secrets())
    assert c.id.type == const.ID_FQDN and c.id.data == b"gw1.branch.example.net"
    assert c.wan.addr == bytes((192, 0, 2, 2)) and c.wan.prefix == 24 and c.wan.gateway == bytes((192, 0, 2, 1))
    assert c.lan.network == "10.20.1.0/24" and c.lan.port == "veth-lan" and c.lan.ip == "10.20.1.1"
    p = c.peers[0]
    assert p.psk == PSK and p.local_ts == ["10.20.1.0/24"] and p.remote_ts == ["10.0.0.0/16"]
    assert (p.ike_lifetime, p.child_lifetime, p.dpd_delay) == (4 * 3600, 3600, 30)
    assert (p.ike_rekey_margin, p.child_rekey_margin) == (1440, 360)
    assert str(p.ike_proposals[0]) == "aes256-aes128-sha256-curve25519-ecp256-modp2048"
    assert str(p.esp_proposals[0]) == "aes256-aes128-sha256"
    assert c.limits.max_half_open == 16 and c.limits.cookie_threshold == 8 and c.timers.retransmit_tries == 5
    assert c.log_level == "info" and c.generation == 0
    assert PSK_FP in repr(p) and "horse" not in repr(p)
    # host mode: without a LAN the box itself is the only local selector
    s = settings()
    del s["lan"]
    assert config.validate(s, secrets()).peers[0].local_ts == ["192.0.2.2/32"]


def test_identities():
    cases = (
        ("hq.example.net", const.ID_FQDN, b"hq.example.net"),
        ("@hq.example.net", const.ID_FQDN, b"hq.example.net"),
        ("fqdn:hq", const.ID_FQDN, b"hq"),
        ("ops@example.net", const.ID_RFC822_ADDR, b"ops@example.net"),
        ("email:ops@example.net", const.ID_RFC822_ADDR, b"ops@example.net"),
        ("203.0.113.7", const.ID_IPV4_ADDR, bytes((203, 0, 113, 7))),
        ("ipv4:203.0.113.7", const.ID_IPV4_ADDR, bytes((203, 0, 113, 7))),
        ("keyid:branch-17", const.ID_KEY_ID, b"branch-17"),
        ("keyid:#00ff10", const.ID_KEY_ID, b"\x00\xff\x10"),
    )
    for text, t, data in cases:
        i = config.Identity(text)
        assert (i.type, i.data) == (t, data), text
        assert i.matches(t, data) and not i.matches(t + 1, data)
    assert config.Identity("HQ.Example.net").matches(const.ID_FQDN, b"hq.example.NET")
    assert not config.Identity("keyid:Ab").matches(const.ID_KEY_ID, b"ab")
    for bad in ("a b", "", "hq..example", "-hq.example", "x:y", "keyid:", "keyid:#zz", "@", "u@", "300.1.2.3"):
        try:
            config.Identity(bad)
        except ValueError:
            continue
        raise AssertionError("accepted identity %r" % bad)
    assert error(settings(id="ipv4:1.2.3")) == "peers[0].id: 'ipv4:1.2.3' is not an IPv4 address"


def test_peer_lookup_by_ipv4_and_email():
    s = settings(id="203.0.113.7")
    s["peers"].append({"name": "backup", "id": "ops@example.net", "remote_ts": "10.1.0.0/16"})
    k = config.secrets_for({"hq": PSK, "backup": PSK + b"!"})
    c = config.validate(s, k)
    assert c.peer_for(const.ID_IPV4_ADDR, bytes((203, 0, 113, 7))).name == "hq"
    assert c.peer_for(const.ID_RFC822_ADDR, memoryview(b"OPS@example.net")).name == "backup"
    assert c.peer_for(const.ID_FQDN, b"203.0.113.7") is None
    assert c.peer("backup").psk == PSK + b"!" and c.peer("nope") is None


def test_view_keeps_what_the_device_reads_and_shares_equal_values():
    import cfgview
    s = settings()
    s["peers"].append({"name": "backup", "id": "ops@example.net", "remote_ts": "10.1.0.0/16"})
    s["peers"].append({"name": "lab", "id": "lab.example.net", "remote_ts": "10.0.0.0/16",
                       "esp_proposals": ["aes128-sha256", "aes256-aes128-sha256"]})
    c = config.validate(s, config.secrets_for({"hq": PSK, "backup": PSK + b"!", "lab": PSK + b"?"}), 7)
    v = config.view(c, cfgview.Record)
    assert (v.generation, v.fingerprint, v.log_level) == (7, c.fingerprint, "info")
    assert (v.id.type, v.id.data) == (const.ID_FQDN, b"gw1.branch.example.net")
    assert (v.wan.addr, v.wan.cidr, v.wan.gateway) == (c.wan.addr, "192.0.2.2/24", bytes((192, 0, 2, 1)))
    assert (v.lan.addr, v.lan.prefix, v.lan.port) == (bytes((10, 20, 1, 1)), 24, "veth-lan")
    for k in config.LIMIT_DEFAULTS:
        assert getattr(v.limits, k) == getattr(c.limits, k)
    for k in config.TIMER_DEFAULTS:
        assert getattr(v.timers, k) == getattr(c.timers, k)
    hq, backup, lab = v.peers
    for q, p in zip(v.peers, c.peers):
        assert (q.name, q.psk, q.id.type, q.id.data) == (p.name, p.psk, p.id.type, p.id.data)
        assert (q.ike_lifetime, q.child_lifetime, q.child_rekey_margin, q.dpd_delay) == (
            p.ike_lifetime, p.child_lifetime, p.child_rekey_margin, p.dpd_delay)
        assert list(q.local_ts) == p.local_ts and list(q.remote_ts) == p.remote_ts
        assert [str(x) for x in q.ike_proposals] == [str(x) for x in p.ike_proposals]
        assert [str(x) for x in q.esp_proposals] == [str(x) for x in p.esp_proposals]
    # equal proposals and selectors are one object; the last ESP Spec of lab equals the default
    assert hq.ike_proposals is backup.ike_proposals is lab.ike_proposals
    assert hq.esp_proposals is backup.esp_proposals and lab.esp_proposals is not hq.esp_proposals
    assert lab.esp_proposals[1] is hq.esp_proposals[0]
    assert hq.local_ts is backup.local_ts is lab.local_ts and hq.remote_ts is lab.remote_ts
    assert cfgview.peer_for(v, const.ID_RFC822_ADDR, b"OPS@example.net") is backup
    assert repr(backup) == "<Record>"
    # host mode: no LAN record
    del s["lan"]
    assert config.view(config.validate(s, config.secrets_for({"hq": PSK, "backup": PSK, "lab": PSK})),
                       cfgview.Record).lan is None


def test_boot_load_unloads_the_store():
    import sys

    import cfgview
    root = tmpdir()
    try:
        config.save(root, settings(), secrets())
        v = cfgview.load(root)
        assert v.generation == 1 and v.peers[0].psk == PSK
        assert "config" not in sys.modules and "ike.proposal" not in sys.modules
        config.erase(root)
        try:
            cfgview.load(root)
        except ValueError as e:  # config.ConfigError
            assert "not provisioned" in str(e)
        else:
            raise AssertionError("loaded")
        assert "config" not in sys.modules
    finally:
        rmtree(root)


def test_errors_name_the_field():
    cases = (
        (settings(remote_ts=["10.0.0.0/16", "10.0.0.0/33"]),
         "peers[0].remote_ts[1]: '10.0.0.0/33' is not a CIDR (prefix 0-32)"),
        (settings(remote_ts=["10.0.0.1/16"]),
         "peers[0].remote_ts[0]: '10.0.0.1/16' has host bits set (did you mean 10.0.0.0/16?)"),
        (settings(local_ts="10.20.1.0/24,fe80::/64"), "peers[0].local_ts[1]: 'fe80::/64' IPv6 is not supported"),
        (settings(remote_ts=["010.0.0.0/8"]), "peers[0].remote_ts[0]: '010.0.0.0/8' is not an IPv4 address/prefix"),
        (settings(remote_ts=[]), "peers[0].remote_ts: must be a non-empty list"),
        (settings(ike_proposals="aes256-sha256-modp2048,aes128gcm16-prfsha256-ecp384"),
         "peers[0].ike_proposals: unsupported algorithm 'aes128gcm16' in ike_proposals"),
        (settings(esp_proposals=["aes192-sha256"]),
         "peers[0].esp_proposals: unsupported algorithm 'aes192' in esp_proposals"),
        (settings(ike_lifetime=5), "peers[0].ike_lifetime: 5 is out of range 10-518400"),
        (settings(child_lifetime="1h"), "peers[0].child_lifetime: must be an integer"),
        (settings(dpd_delay=True), "peers[0].dpd_delay: must be an integer"),
        (settings(child_lifetime=600, child_rekey_margin=600),
         "peers[0].child_rekey_margin: must be less than child_lifetime (600)"),
        (settings(name="h q"), "peers[0].name: 'h q': use letters, digits, '-', '_' or '.'"),
        (settings(colour="blue"), "peers[0].colour: unknown setting"),
    )
    for s, msg in cases:
        assert error(s) == msg, (error(s), msg)
    s = settings()
    s["wan"]["addr"] = "192.0.2.0/24"
    assert error(s) == "wan.addr: '192.0.2.0/24' is the network or broadcast address, not a host address"
    s = settings()
    s["wan"]["addr"] = "192.0.2.2"
    assert error(s) == "wan.addr: '192.0.2.2' needs a prefix length (a.b.c.d/nn)"
    s = settings()
    s["wan"]["gateway"] = "198.51.100.1"
    assert error(s) == "wan.gateway: '198.51.100.1' is not another host in 192.0.2.0/24"
    s = settings()
    s["lan"]["addr"] = "192.0.2.200/25"
    assert error(s) == "lan.addr: 192.0.2.128/25 overlaps the WAN subnet 192.0.2.0/24"
    s = settings()
    s["log_level"] = "verbose"
    assert error(s).startswith("log_level: 'verbose' is not one of error, warn, info, debug")
    s = settings()
    s["limits"] = {"max_half_open": 4}
    assert error(s) == "limits.cookie_threshold: must not exceed max_half_open (4)"
    s = settings()
    s["limits"] = {"max_ike_sas": 0}
    assert error(s) == "limits.max_ike_sas: 0 is out of range 1-64"
    s = settings()
    s["peers"].append(copy(s["peers"][0]))
    s["peers"][1]["name"] = "hq2"
    assert error(s, config.secrets_for({"hq": PSK, "hq2": PSK})) == "peers[1].id: 'hq.example.net' is used twice"
    s = settings()
    del s["wan"]
    assert error(s) == "wan: is required"
    assert error(settings(), {"psk": {}}) == "secrets.psk.hq: is required (peer 'hq' has no PSK)"
    assert error(settings(), {"psk": {"hq": "abc"}}) == "secrets.psk.hq: must be the PSK in hex (1-256 bytes)"
    assert error(settings(), {"psk": {"hq": "00", "other": "00"}}) == "secrets.psk.other: unknown setting"


def test_canon_is_sorted_compact_ascii():
    v = {"b": [1, True, None], "a": {"z": "q\"\\", "y": "\u00e9"}, "c": False}
    assert config.canon(v) == '{"a":{"y":"\\u00e9","z":"q\\"\\\\"},"b":[1,true,null],"c":false}'
    assert json.loads(config.canon(v)) == v


def test_psk_rules():
    assert config.psk_fingerprint(PSK) == PSK_FP
    assert config.psk_fingerprint(bytes(range(32))) == "5217a504973b2409"
    assert config.psk_weakness(PSK) is None
    assert config.psk_weakness(os.urandom(32)) is None
    assert config.psk_weakness(b"Tr0ub4dor&3-horse-battery") is None
    assert config.psk_weakness(b"3f9a1c0b7e2d5a8f6c4b") is None  # 80 random bits in hex
    weak = (
        (b"short-but-random!", "shorter than 20 characters"),
        (b"aaaaaaaaaaaaaaaaaaaaaaaa", "fewer than 8 different characters"),
        (b"abcdefgh" * 3, "a repeated pattern"),
        (b"abcdefghijklmnopqrstuvw", "a keyboard or alphabet sequence"),
        (b"qwertyuiopasdfghjklzxc", "a keyboard or alphabet sequence"),
        (b"12345678901234567890123", "a keyboard or alphabet sequence"),
        (b"Password2024Secret1234", "made of common words and digits"),
        (b"changeme-changeme-1234", "made of common words and digits"),
        (b"20240131555123456789", "made of common words and digits"),
    )
    for psk, why in weak:
        assert config.psk_weakness(psk) == why, (psk, config.psk_weakness(psk))


def test_save_and_load():
    root = tmpdir()
    try:
        try:
            config.load(root)
            raise AssertionError("loaded from an empty root")
        except config.NotProvisioned:
            pass
        c1 = config.save(root, settings(), secrets())
        assert c1.generation == 1
        got = config.load(root)
        assert got.generation == 1 and got.fingerprint == c1.fingerprint and got.peers[0].psk == PSK
        c2 = config.save(root + "/", settings(remote_ts="10.9.0.0/16"), secrets(b"another long passphrase 2"))
        assert c2.generation == 2 and c2.fingerprint != c1.fingerprint
        got = config.load(root)
        assert got.peers[0].remote_ts == ["10.9.0.0/16"] and got.peers[0].psk == b"another long passphrase 2"
        # after the commit only the new PSK is on flash
        sec = open(root + "/config.d/secrets.json").read()
        assert config.secrets_for({"x": b"another long passphrase 2"})["psk"]["x"] in sec
        assert config.secrets_for({"x": PSK})["psk"]["x"] not in sec
        assert sorted(os.listdir(root + "/config.d")) == ["secrets.json", "settings.json"]
        # nothing in the board's root that an `import config` could pick up instead of config.mpy
        assert os.listdir(root) == ["config.d"]
        # the settings file names no secret
        assert "horse" not in open(root + "/config.d/settings.json").read()
        # a config that fails validation changes nothing
        try:
            config.save(root, settings(remote_ts="10.0.0.0/33"), secrets())
            raise AssertionError("saved an invalid config")
        except config.ConfigError:
            pass
        assert config.load(root).generation == 2
        config.erase(root)
        try:
            config.load(root)
            raise AssertionError("loaded after erase")
        except config.NotProvisioned:
            pass
        assert config.save(root, settings(), secrets()).generation == 1
    finally:
        rmtree(root)


def test_damaged_files_are_detected():
    root = tmpdir()
    try:
        config.save(root, settings(), secrets())
        path = root + "/config.d/settings.json"
        good = open(path).read()
        with open(path, "w") as f:
            f.write(good.replace("10.0.0.0/16", "10.0.0.0/8"))
        assert "checksum mismatch" in load_error(root)
        with open(path, "w") as f:
            f.write(good[:len(good) // 2])
        assert load_error(root) == "settings.json: not valid JSON (damaged?)"
        with open(path, "w") as f:
            f.write(good)
        assert config.load(root).generation == 1
        os.remove(root + "/config.d/secrets.json")
        assert load_error(root) == "secrets.json: no secrets for settings generation 1"
        # a new commit recovers and keeps the generation increasing
        assert config.save(root, settings(), secrets()).generation == 2
    finally:
        rmtree(root)


def load_error(root):
    try:
        config.load(root)
    except config.ConfigError as e:
        return str(e)
    raise AssertionError("loaded")


class PowerCut(Exception):
    pass


class Flaky:
    """Filesystem calls of config.py, cut after `budget` writes/renames. The cut write stores only
    the first half of its data, as a power cut mid-write may."""

    def __init__(self, budget):
        self.budget = budget
        self.steps = []

    def _tick(self, what):
        if self.budget == 0:
            raise PowerCut(what)
        self.budget -= 1
        self.steps.append(what)

    def open(self, path, mode="r"):
        f = _real_open(path, mode)
        if "w" not in mode:
            return f
        flaky = self

        class File:
            def write(self, data):
                if flaky.budget == 0:
                    f.write(data[:len(data) // 2])
                    f.close()
                flaky._tick("write " + path.split("/")[-1])
                return f.write(data)

            def __getattr__(self, name):
                return getattr(f, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                f.close()

        return File()

    def rename(self, a, b):
        self._tick("rename " + b.split("/")[-1])
        os.rename(a, b)

    def __getattr__(self, name):
        return getattr(os, name)


_real_open = open


def commit_with_cut(root, budget, s, k):
    flaky = Flaky(budget)
    config.os = flaky
    config.open = flaky.open
    try:
        config.save(root, s, k)
        return flaky.steps, True
    except PowerCut:
        return flaky.steps, False
    finally:
        config.os = os
        del config.open


def test_power_cut_at_every_step_leaves_old_or_new():
    old_s, old_k = settings(), secrets()
    new_s, new_k = settings(remote_ts="10.99.0.0/16", dpd_delay=5), secrets(PSK + b" new")
    old_fp = config.validate(old_s, old_k).fingerprint
    new_fp = config.validate(new_s, new_k).fingerprint
    budget = 0
    seen = []
    while True:
        root = tmpdir()
        try:
            config.save(root, old_s, old_k)
            steps, done = commit_with_cut(root, budget, new_s, new_k)
            c = config.load(root)
            assert c.fingerprint in (old_fp, new_fp), "a mix after %r" % steps
            committed = "rename settings.json" in steps
            if committed:
                assert (c.fingerprint, c.generation, c.peers[0].psk, c.peers[0].dpd_delay) == \
                    (new_fp, 2, PSK + b" new", 5), steps
            else:
                assert (c.fingerprint, c.generation, c.peers[0].psk, c.peers[0].remote_ts) == \
                    (old_fp, 1, PSK, ["10.0.0.0/16"]), steps
            seen.append(committed)
            # whatever the cut left behind, the next commit works
            assert config.save(root, new_s, new_k).fingerprint == config.load(root).fingerprint == new_fp
        finally:
            rmtree(root)
        if done:
            break
        budget += 1
    phases = [s for i, s in enumerate(steps) if i == 0 or steps[i - 1] != s]
    assert phases == ["write secrets.json.new", "rename secrets.json", "write settings.json.new",
                      "rename settings.json", "write secrets.json.new", "rename secrets.json"], steps
    assert len(steps) > len(phases)  # the files were also cut mid-way
    assert True in seen and False in seen


def test_power_cut_during_first_commit_leaves_unprovisioned():
    for budget in range(4):
        root = tmpdir()
        try:
            commit_with_cut(root, budget, settings(), secrets())
            try:
                config.load(root)
                raise AssertionError("half a first commit loaded")
            except config.NotProvisioned:
                pass
        finally:
            rmtree(root)


def test_log_levels_ring_and_output():
    lines = []
    log.set_output(lines.append)
    try:
        log.set_level("warn")
        lg = log.get("ike.test")
        lg.info("hidden %d", 1)
        lg.debug("hidden")
        lg.warn("peer %s silent for %d s", "hq", 30)
        lg.error("100%")  # no args: not a format
        assert lines == ["WARN ike.test: peer hq silent for 30 s", "ERROR ike.test: 100%"]
        log.set_level("debug")
        assert log.level() == "debug" and log.enabled(log.DEBUG)
        start, _ = log.recent()
        for i in range(log.RING + 5):
            lg.debug("line %d", i)
        nxt, got = log.recent(start)
        assert nxt == start + log.RING + 5 and len(got) == log.RING
        assert got[0] == "DEBUG ike.test: line 5" and got[-1] == "DEBUG ike.test: line %d" % (log.RING + 4)
        assert log.recent(nxt) == (nxt, [])
        lg.info("x")
        assert log.recent(nxt) == (nxt + 1, ["INFO ike.test: x"])
        try:
            log.set_level("loud")
            raise AssertionError("unknown level accepted")
        except ValueError:
            pass
    finally:
        log.set_output(None)
        log.set_level("info")
