# The device's configuration store: validation, typed values, and power-cut-safe commits.
#
# Layout, under ROOT/config.d/ (ROOT "" = the current directory: the board's / and the sim board's
# --root directory, which `branchgate sim run` makes its working directory). Not "config/": next to
# config.mpy in the filesystem root, MicroPython would import that directory instead of this module;
# a name with a dot can never be a module's.
#   settings.json  {"generation": N, "settings": {...}, "sha256": H}
#   secrets.json   {"entries": [{"generation": N, "secrets": {"psk": {peer name: hex}}}, ...], "sha256": H}
# H is the SHA-256 of the canonical JSON (sorted keys, no spaces, ASCII) of the object without "sha256",
# so a damaged file is detected. Settings and secrets are kept apart: settings can be shown, copied and
# fingerprinted; secrets are only ever read by the device itself and never printed.
#
# Commit of generation N+1 over N (save()); each file is written as NAME.new, then renamed over NAME
# (rename is atomic on littlefs and POSIX, so a file is always wholly old or wholly new):
#   1. secrets.json <- entries for N+1 AND N      (the old settings still find their secrets)
#   2. settings.json <- generation N+1            (THE commit point)
#   3. secrets.json <- the N+1 entry only         (drop the old PSKs; a cut here changes nothing)
# The loader reads settings.json and takes the secrets entry of the same generation, so a power cut
# before step 2 completes leaves generation N (old), after it N+1 (new); never settings of one with
# secrets of the other. Leftover *.new files are ignored and overwritten by the next commit.
#
# Values are validated whole before anything is written (ConfigError names the field:
# "peers[0].remote_ts[1]: '10.0.0.0/33' is not a CIDR"), and again on load.
# Times are seconds (retransmit in ms); all limits stay far below 2**30 (ESP32 small ints, also in ms).
import binascii
import hashlib
import json
import os

import cfgview
import log
from crypto import hmac
from ike import const, proposal

VERSION = 1
MIN_PSK_LEN = 20
MAX_LIFETIME = 6 * 86400  # in ms below 2**29: ticks_diff on an ESP32 (period 2**30) spans half the period
_PSK_LABEL = b"branchgate psk fingerprint v1"

# A branch box answers; its head office should rekey first, so hq-config writes shorter lifetimes there.
PEER_DEFAULTS = {
    "ike_lifetime": 4 * 3600,
    "child_lifetime": 3600,
    "dpd_delay": 30,
}
LIMIT_DEFAULTS = {
    "max_ike_sas": 4,
    "max_child_sas": 8,
    "max_half_open": 16,
    "cookie_threshold": 8,  # half-open SAs in total before COOKIE is demanded (strongSwan: 30)
    "cookie_threshold_ip": 3,  # ... from one IP address (strongSwan: 3)
    "block_threshold": 5,  # half-open SAs from one IP before its requests are dropped (strongSwan: 5)
}
TIMER_DEFAULTS = {  # strongSwan's retransmission defaults: 4 s, x1.8, 5 tries; half-open 30 s
    "retransmit_timeout_ms": 4000,
    "retransmit_base_pct": 180,
    "retransmit_tries": 5,
    "half_open_timeout": 30,
}
_LIMIT_RANGE = {
    "max_ike_sas": (1, 64),
    "max_child_sas": (1, 128),
    "max_half_open": (1, 256),
    "cookie_threshold": (0, 256),
    "cookie_threshold_ip": (0, 256),
    "block_threshold": (0, 256),
}
_TIMER_RANGE = {
    "retransmit_timeout_ms": (100, 60000),
    "retransmit_base_pct": (100, 400),
    "retransmit_tries": (0, 20),
    "half_open_timeout": (1, 600),
}
# Guessable building blocks of a passphrase (weak PSK rule): left after removing these, too little
# remains.
_COMMON = ("password", "passw0rd", "secret", "changeme", "qwerty", "letmein", "welcome", "admin",
           "default", "branchgate", "strongswan", "ipsec", "vpn", "test", "example", "abc")
_SEQUENCES = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiopasdfghjklzxcvbnm")


class ConfigError(ValueError):
    """An invalid or unreadable configuration; the message starts with the field or file."""


class NotProvisioned(ConfigError):
    """No configuration has been committed yet."""


# ---- small helpers (MicroPython has no os.path, str.isalnum, or sort_keys in json) ----

def _join(*parts):
    return "/".join(parts)


DIR = "config.d"


def config_dir(root=""):
    """ROOT/config.d; relative for root "" (the board and the sim run in their filesystem root)."""
    root = root.rstrip("/")
    return _join(root, DIR) if root else DIR


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _hex(b):
    return binascii.hexlify(b).decode()


def _printable(s):
    for c in s:
        if not " " <= c <= "~":
            return False
    return True


def _emit(v, out):
    """Canonical JSON of v, passed token by token to out(str): sorted keys, no spaces, ASCII only.
    The same bytes on CPython and MicroPython (whose dicts have no stable order), so fingerprints and
    checksums agree on host and device. Streaming keeps the boot-time checksum within a small heap."""
    if v is None:
        out("null")
    elif v is True:
        out("true")
    elif v is False:
        out("false")
    elif isinstance(v, int):
        out(str(v))
    elif isinstance(v, str):
        out('"')
        if _printable(v) and '"' not in v and "\\" not in v:
            out(v)
        else:
            for c in v:
                if c == '"' or c == "\\":
                    out("\\" + c)
                elif " " <= c <= "~":
                    out(c)
                elif ord(c) < 0x10000:
                    out("\\u%04x" % ord(c))
                else:
                    raise ValueError("character outside the BMP")
        out('"')
    elif isinstance(v, (list, tuple)):
        out("[")
        for i in range(len(v)):
            if i:
                out(",")
            _emit(v[i], out)
        out("]")
    elif isinstance(v, dict):
        out("{")
        first = True
        for k in sorted(v):
            if not first:
                out(",")
            first = False
            _emit(k, out)
            out(":")
            _emit(v[k], out)
        out("}")
    else:
        raise ValueError("cannot store %s" % type(v).__name__)


def canon(v):
    """Canonical JSON text of v (see _emit)."""
    parts = []
    _emit(v, parts.append)
    return "".join(parts)


def _digest(*objs):
    """SHA-256 over the canonical JSON of objs, one after the other, as hex."""
    h = hashlib.sha256()

    def feed(s):
        h.update(s.encode())

    for o in objs:
        _emit(o, feed)
    return _hex(h.digest())


# ---- PSK rules ----

def psk_fingerprint(psk):
    """HMAC-SHA256 keyed by the PSK over a fixed label, 16 hex digits: lets a tool confirm which PSK
    a device holds without the PSK ever leaving it (the PSK is write-only)."""
    return _hex(hmac.hmac_sha256(psk, _PSK_LABEL))[:16]


def psk_weakness(psk):
    """Why `psk` (bytes) is too weak to use, or None. Weak: under 20 characters, few distinct
    characters, a repeated pattern, an alphabet/keyboard run, or little beyond common words and digits."""
    n = len(psk)
    if n < MIN_PSK_LEN:
        return "shorter than %d characters" % MIN_PSK_LEN
    distinct = []
    for b in psk:
        if b not in distinct:
            distinct.append(b)
    if len(distinct) < 8:
        return "fewer than 8 different characters"
    for period in range(1, n // 2 + 1):
        if n % period == 0 and psk[:period] * (n // period) == psk:
            return "a repeated pattern"
    low = bytes(psk).lower()
    letters = bytearray()
    for b in low:
        if 0x61 <= b <= 0x7A or 0x30 <= b <= 0x39:
            letters.append(b)
    text = bytes(letters).decode()
    for seq in _SEQUENCES:
        if len(text) >= 8 and text in seq * (1 + n // len(seq)):
            return "a keyboard or alphabet sequence"
    rest = text
    for w in _COMMON:
        rest = rest.replace(w, "")
    letters_left = 0
    for c in rest:
        if "a" <= c <= "z":
            letters_left += 1
    # (a random hex or base64 string has no common word in it, so passes)
    if (rest != text or letters_left == 0) and letters_left < 8 and n - len(text) < 4:
        return "made of common words and digits"
    return None


# ---- typed values ----

def parse_ipv4(text):
    """Strict dotted quad -> 4 bytes; ValueError otherwise (no leading zeros: '010' is ambiguous)."""
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError
    out = bytearray(4)
    for i in range(4):
        p = parts[i]
        if not p or len(p) > 3 or not p.isdigit() or (len(p) > 1 and p[0] == "0"):
            raise ValueError
        v = int(p)
        if v > 255:
            raise ValueError
        out[i] = v
    return bytes(out)


def ip_str(b):
    return "%d.%d.%d.%d" % (b[0], b[1], b[2], b[3])


def _u32(b):
    return (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]


def _b4(v):
    return bytes(((v >> 24) & 0xFF, (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF))


def _mask(prefix):
    return (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF


def parse_cidr(text):
    """'10.20.1.0/24' -> (4 address bytes, prefix). A bare address is /32. ValueError with the reason."""
    if ":" in text:
        raise ValueError("IPv6 is not supported")
    addr, sep, plen = text.partition("/")
    try:
        ip = parse_ipv4(addr)
    except ValueError:
        raise ValueError("is not an IPv4 address/prefix")
    if not sep:
        return ip, 32
    if not plen.isdigit() or len(plen) > 2 or int(plen) > 32:
        raise ValueError("is not a CIDR (prefix 0-32)")
    return ip, int(plen)


class Identity:
    """An IKE identity as strongSwan writes it: 'host.example.net' or 'fqdn:...' / '@...' (ID_FQDN),
    'user@example.net' or 'email:...' (ID_RFC822_ADDR), '192.0.2.1' or 'ipv4:...' (ID_IPV4_ADDR),
    'keyid:text' or 'keyid:#hex' (ID_KEY_ID)."""

    def __init__(self, text):
        self.text = text
        self.type, self.data = _parse_identity(text)

    def matches(self, id_type, data):
        """Does an ID payload (type, data) name this identity? (The device's rule: cfgview.id_matches.)"""
        return cfgview.id_matches(self, id_type, data)

    def __str__(self):
        return self.text

    def __repr__(self):
        return "Identity(%r)" % self.text


def _hostname_ok(name):
    if not name or len(name) > 253:
        return False
    for label in name.split("."):
        if not label or len(label) > 63 or label[0] == "-" or label[-1] == "-":
            return False
        for c in label:
            if not ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c == "-" or c == "_"):
                return False
    return True


def _parse_identity(text):
    if not text or not _printable(text) or " " in text:
        raise ValueError("is not an identity (no spaces, printable ASCII)")
    kind, sep, rest = text.partition(":")
    if not sep:
        kind, rest = "", text
    if kind == "keyid":
        if rest.startswith("#"):
            try:
                data = binascii.unhexlify(rest[1:])
            except ValueError:
                raise ValueError("keyid:#... must be hex")
        else:
            data = rest.encode()
        if not data:
            raise ValueError("keyid: is empty")
        return const.ID_KEY_ID, data
    if kind in ("email", "rfc822") or (kind == "" and "@" in rest[1:]):
        user, _, domain = rest.rpartition("@")
        if not user or not _hostname_ok(domain):
            raise ValueError("is not an email identity (user@domain)")
        return const.ID_RFC822_ADDR, rest.encode()
    if kind == "ipv4" or (kind == "" and rest and rest[-1].isdigit() and rest.count(".") == 3):
        try:
            return const.ID_IPV4_ADDR, parse_ipv4(rest)
        except ValueError:
            raise ValueError("is not an IPv4 address")
    if kind in ("fqdn", "dns") or kind == "":
        if kind == "" and rest.startswith("@"):
            rest = rest[1:]
        if not _hostname_ok(rest):
            raise ValueError("is not a host name (FQDN), email, IPv4 address or keyid:")
        return const.ID_FQDN, rest.encode()
    raise ValueError("has an unknown type prefix '%s:'" % kind)


class Iface:
    """An interface address: `addr` (4 bytes), `prefix`, `ip` ('a.b.c.d'), `cidr` ('a.b.c.d/nn'),
    `network` ('net/nn'); plus `gateway` (4 bytes or None) on the WAN and `port` on the LAN."""

    def __init__(self, cidr, gateway=None, port=None):
        self.addr, self.prefix = parse_cidr(cidr)
        self.ip = ip_str(self.addr)
        self.cidr = cidr
        self.network = "%s/%d" % (ip_str(_b4(_u32(self.addr) & _mask(self.prefix))), self.prefix)
        self.gateway = None if gateway is None else parse_ipv4(gateway)
        self.port = port

    def contains(self, ip):
        m = _mask(self.prefix)
        return _u32(ip) & m == _u32(self.addr) & m


class Section:
    """Plain attributes from a dict (limits, timers)."""

    def __init__(self, d):
        for k in d:
            setattr(self, k, d[k])


class Peer:
    """One head office: name, id (Identity), psk (bytes), ike_proposals / esp_proposals ([Spec]),
    local_ts / remote_ts (['net/nn'], normalized CIDR), ike_lifetime, ike_rekey_margin,
    child_lifetime, child_rekey_margin, dpd_delay (s; 0 = off). Soft expiry (rekey) at
    lifetime - margin, hard expiry (delete) at lifetime."""

    def __init__(self, d, psk):
        self.name = d["name"]
        self.id = Identity(d["id"])
        self.psk = psk
        self.ike_proposals = proposal.parse_list(d["ike_proposals"], const.PROTO_IKE)
        self.esp_proposals = proposal.parse_list(d["esp_proposals"], const.PROTO_ESP)
        self.local_ts = d["local_ts"]
        self.remote_ts = d["remote_ts"]
        self.ike_lifetime = d["ike_lifetime"]
        self.ike_rekey_margin = d["ike_rekey_margin"]
        self.child_lifetime = d["child_lifetime"]
        self.child_rekey_margin = d["child_rekey_margin"]
        self.dpd_delay = d["dpd_delay"]

    def __repr__(self):  # never the PSK
        return "Peer(%s, id=%s, psk=%s)" % (self.name, self.id, psk_fingerprint(self.psk))


class Config:
    """A validated configuration. `settings` is the normalized settings dict (defaults filled in),
    `fingerprint` identifies settings + PSKs (via psk_fingerprint only), `generation` counts commits
    (0 before the first)."""

    def __init__(self, settings, psks, generation):
        self.settings = settings
        self.generation = generation
        self.id = Identity(settings["id"])
        self.log_level = settings["log_level"]
        w = settings["wan"]
        self.wan = Iface(w["addr"], w["gateway"])
        lan = settings["lan"]
        self.lan = None if lan is None else Iface(lan["addr"], port=lan["port"])
        self.peers = [Peer(p, psks[p["name"]]) for p in settings["peers"]]
        self.limits = Section(settings["limits"])
        self.timers = Section(settings["timers"])
        self.fingerprint = fingerprint(settings, psks)

    def peer_for(self, id_type, data):
        """The peer whose identity an IDi payload names, or None."""
        for p in self.peers:
            if p.id.matches(id_type, data):
                return p
        return None

    def peer(self, name):
        for p in self.peers:
            if p.name == name:
                return p
        return None


# ---- the copy the running device keeps ----
# The device unloads this module after boot (cfgview.load), so it keeps its configuration in objects
# of a class from outside (cfgview.Record): only the attributes main, the board, the responder, ike/*
# and the data plane read (one that starts reading another adds it here), with equal values shared
# between peers, which usually have the same proposals and local selectors (a Spec is ~0.5 KB).
_VIEW = ("generation", "fingerprint", "log_level")
_VIEW_ID = ("type", "data")
_VIEW_WAN = ("addr", "cidr", "gateway")
_VIEW_LAN = ("addr", "prefix", "port")
_VIEW_PEER = ("name", "psk", "ike_lifetime", "ike_rekey_margin", "child_lifetime", "child_rekey_margin", "dpd_delay")


def _copy(record, obj, names):
    r = record()
    for k in names:
        setattr(r, k, getattr(obj, k))
    return r


def view(cfg, record):
    """What the running device reads of cfg, in `record` instances (an attribute holder from another
    module); lists become tuples."""
    specs = []  # (fields, Spec) of the Specs kept
    seen = {}  # the strings and tuples kept, each mapping to itself

    def kept(v):
        return seen.setdefault(v, v)

    def spec(v):
        key = (v.protocol, v.encr, v.integ, v.prf, v.dh, v.esn)
        for k, s in specs:
            if k == key:
                return s
        specs.append((key, v))
        return v

    r = _copy(record, cfg, _VIEW)
    r.id = _copy(record, cfg.id, _VIEW_ID)
    r.wan = _copy(record, cfg.wan, _VIEW_WAN)
    r.lan = None if cfg.lan is None else _copy(record, cfg.lan, _VIEW_LAN)
    r.limits = _copy(record, cfg.limits, LIMIT_DEFAULTS)
    r.timers = _copy(record, cfg.timers, TIMER_DEFAULTS)
    peers = []
    for p in cfg.peers:
        q = _copy(record, p, _VIEW_PEER)
        q.id = _copy(record, p.id, _VIEW_ID)
        q.ike_proposals = kept(tuple([spec(s) for s in p.ike_proposals]))
        q.esp_proposals = kept(tuple([spec(s) for s in p.esp_proposals]))
        q.local_ts = kept(tuple([kept(c) for c in p.local_ts]))
        q.remote_ts = kept(tuple([kept(c) for c in p.remote_ts]))
        peers.append(q)
    r.peers = tuple(peers)
    return r


def fingerprint(settings, psks):
    """16 hex digits over the canonical normalized settings and each peer's psk_fingerprint."""
    fps = {}
    for name in psks:
        fps[name] = psk_fingerprint(psks[name])
    return _digest(settings, fps)[:16]


# ---- validation ----

def _fail(path, msg):
    raise ConfigError("%s: %s" % (path, msg))


def _dict(path, v, allowed):
    if not isinstance(v, dict):
        _fail(path, "must be an object")
    for k in v:
        if k not in allowed:
            _fail(path + "." + str(k), "unknown setting")
    return v


def _text(path, v, maxlen=64):
    if not isinstance(v, str):
        _fail(path, "must be a string")
    v = v.strip()
    if not v or len(v) > maxlen or not _printable(v):
        _fail(path, "must be 1-%d printable ASCII characters" % maxlen)
    return v


def _int(path, v, lo, hi):
    if isinstance(v, bool) or not isinstance(v, int):
        _fail(path, "must be an integer")
    if not lo <= v <= hi:
        _fail(path, "%d is out of range %d-%d" % (v, lo, hi))
    return v


def _list(path, v):
    """A list of strings, or one comma-separated string."""
    if isinstance(v, str):
        v = v.split(",")
    if not isinstance(v, list) or not v:
        _fail(path, "must be a non-empty list")
    return [_text("%s[%d]" % (path, i), v[i], 256) for i in range(len(v))]


def _identity(path, v):
    v = _text(path, v, 255)
    try:
        Identity(v)
    except ValueError as e:
        _fail(path, "'%s' %s" % (v, e))
    return v


def _iface(path, v, host):
    v = _text(path, v, 18)
    try:
        ip, prefix = parse_cidr(v)
    except ValueError as e:
        _fail(path, "'%s' %s" % (v, e))
    if "/" not in v:
        _fail(path, "'%s' needs a prefix length (a.b.c.d/nn)" % v)
    if host and prefix < 31:
        host_bits = _u32(ip) & ~_mask(prefix) & 0xFFFFFFFF
        if host_bits == 0 or host_bits == ~_mask(prefix) & 0xFFFFFFFF:
            _fail(path, "'%s' is the network or broadcast address, not a host address" % v)
    return v


def _ts(path, v):
    v = _text(path, v, 18)
    try:
        ip, prefix = parse_cidr(v)
    except ValueError as e:
        _fail(path, "'%s' %s" % (v, e))
    net = _u32(ip) & _mask(prefix)
    if net != _u32(ip):
        _fail(path, "'%s' has host bits set (did you mean %s/%d?)" % (v, ip_str(_b4(net)), prefix))
    return "%s/%d" % (ip_str(ip), prefix)


def _proposals(path, v, protocol):
    texts = _list(path, v)
    try:
        proposal.parse_list(texts, protocol)
    except proposal.ProposalError as e:
        _fail(path, str(e))
    return texts


def _numbers(path, v, defaults, ranges):
    v = _dict(path, {} if v is None else v, defaults)
    out = {}
    for k in defaults:
        lo, hi = ranges[k]
        out[k] = _int(path + "." + k, v.get(k, defaults[k]), lo, hi)
    return out


_PEER_KEYS = ("name", "id", "ike_proposals", "esp_proposals", "local_ts", "remote_ts", "ike_lifetime",
              "ike_rekey_margin", "child_lifetime", "child_rekey_margin", "dpd_delay")


def _peer(path, p, default_local_ts):
    p = _dict(path, p, _PEER_KEYS)
    for k in ("name", "id", "remote_ts"):
        if k not in p:
            _fail(path + "." + k, "is required")
    name = _text(path + ".name", p["name"], 32)
    for c in name:
        if not ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c in "-_."):
            _fail(path + ".name", "'%s': use letters, digits, '-', '_' or '.'" % name)
    out = {
        "name": name,
        "id": _identity(path + ".id", p["id"]),
        "ike_proposals": _proposals(path + ".ike_proposals", p.get("ike_proposals", proposal.DEFAULT_IKE),
                                    const.PROTO_IKE),
        "esp_proposals": _proposals(path + ".esp_proposals", p.get("esp_proposals", proposal.DEFAULT_ESP),
                                    const.PROTO_ESP),
    }
    for k in ("local_ts", "remote_ts"):
        raw = _list(path + "." + k, p.get(k, default_local_ts))
        out[k] = [_ts("%s.%s[%d]" % (path, k, i), raw[i]) for i in range(len(raw))]
    for kind in ("ike", "child"):
        life_key = kind + "_lifetime"
        margin_key = kind + "_rekey_margin"
        life = _int(path + "." + life_key, p.get(life_key, PEER_DEFAULTS[life_key]), 10, MAX_LIFETIME)
        margin = _int(path + "." + margin_key, p.get(margin_key, life // 10), 0, MAX_LIFETIME)
        if margin >= life:
            _fail(path + "." + margin_key, "must be less than %s (%d)" % (life_key, life))
        out[life_key] = life
        out[margin_key] = margin
    dpd = _int(path + ".dpd_delay", p.get("dpd_delay", PEER_DEFAULTS["dpd_delay"]), 0, 3600)
    out["dpd_delay"] = dpd
    return out


def _normalize(s):
    s = _dict("settings", s, ("version", "id", "log_level", "wan", "lan", "peers", "limits", "timers"))
    if s.get("version", VERSION) != VERSION:
        _fail("version", "%r is not %d (written by a different firmware?)" % (s.get("version"), VERSION))
    for k in ("id", "wan", "peers"):
        if k not in s:
            _fail(k, "is required")
    out = {"version": VERSION, "id": _identity("id", s["id"])}
    level = s.get("log_level", "info")
    if level not in log.NAMES:
        _fail("log_level", "%r is not one of %s" % (level, ", ".join(log.NAMES)))
    out["log_level"] = level

    w = _dict("wan", s["wan"], ("addr", "gateway"))
    if "addr" not in w:
        _fail("wan.addr", "is required")
    wan = {"addr": _iface("wan.addr", w["addr"], True), "gateway": None}
    wan_if = Iface(wan["addr"])
    if w.get("gateway") is not None:
        gw = _text("wan.gateway", w["gateway"], 15)
        try:
            gw_ip = parse_ipv4(gw)
        except ValueError:
            _fail("wan.gateway", "'%s' is not an IPv4 address" % gw)
        if not wan_if.contains(gw_ip) or gw_ip == wan_if.addr:
            _fail("wan.gateway", "'%s' is not another host in %s" % (gw, wan_if.network))
        wan["gateway"] = gw
    out["wan"] = wan

    lan = s.get("lan")
    if lan is not None:
        lan = _dict("lan", lan, ("addr", "port"))
        if "addr" not in lan:
            _fail("lan.addr", "is required")
        addr = _iface("lan.addr", lan["addr"], True)
        lan_if = Iface(addr)
        if lan_if.contains(wan_if.addr) or wan_if.contains(lan_if.addr):
            _fail("lan.addr", "%s overlaps the WAN subnet %s" % (lan_if.network, wan_if.network))
        port = lan.get("port")
        lan = {"addr": addr, "port": None if port is None else _text("lan.port", port, 32)}
        default_local_ts = [lan_if.network]
    else:
        default_local_ts = [wan_if.ip + "/32"]  # host mode: only the box itself is behind the tunnel
    out["lan"] = lan

    peers = s["peers"]
    if not isinstance(peers, list) or not peers:
        _fail("peers", "at least one peer is required")
    out["peers"] = [_peer("peers[%d]" % i, peers[i], default_local_ts) for i in range(len(peers))]
    for i in range(len(peers)):
        for j in range(i):
            a, b = out["peers"][i], out["peers"][j]
            if a["name"] == b["name"]:
                _fail("peers[%d].name" % i, "'%s' is used twice" % a["name"])
            ia, ib = Identity(a["id"]), Identity(b["id"])
            if ia.matches(ib.type, ib.data):
                _fail("peers[%d].id" % i, "'%s' is used twice" % a["id"])

    out["limits"] = _numbers("limits", s.get("limits"), LIMIT_DEFAULTS, _LIMIT_RANGE)
    lim = out["limits"]
    if lim["cookie_threshold"] > lim["max_half_open"]:
        _fail("limits.cookie_threshold", "must not exceed max_half_open (%d)" % lim["max_half_open"])
    out["timers"] = _numbers("timers", s.get("timers"), TIMER_DEFAULTS, _TIMER_RANGE)
    return out


def _psks(secrets, settings):
    secrets = _dict("secrets", secrets, ("psk",))
    given = _dict("secrets.psk", secrets.get("psk", {}), [p["name"] for p in settings["peers"]])
    psks = {}
    for p in settings["peers"]:
        name = p["name"]
        path = "secrets.psk." + name
        if name not in given:
            _fail(path, "is required (peer '%s' has no PSK)" % name)
        v = given[name]
        if not isinstance(v, str) or not v or len(v) > 512 or len(v) % 2:
            _fail(path, "must be the PSK in hex (1-256 bytes)")
        try:
            psks[name] = binascii.unhexlify(v)
        except ValueError:
            _fail(path, "must be the PSK in hex (1-256 bytes)")
    return psks


def validate(settings, secrets, generation=0):
    """Check a settings dict and a secrets dict ({"psk": {peer name: hex}}) whole -> Config, or
    raise ConfigError naming the first bad field."""
    norm = _normalize(settings)
    return Config(norm, _psks(secrets, norm), generation)


def secrets_for(psks):
    """The secrets dict for {peer name: PSK bytes}."""
    out = {}
    for name in psks:
        out[name] = _hex(psks[name])
    return {"psk": out}


# ---- storage ----

def _read_json(path):
    """Parsed and checksum-verified file content, or None if the file does not exist."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    name = path[path.rfind("/") + 1:]
    try:
        obj = json.loads(text)
    except ValueError:
        raise ConfigError("%s: not valid JSON (damaged?)" % name)
    if not isinstance(obj, dict) or "sha256" not in obj:
        raise ConfigError("%s: not a branchgate config file" % name)
    check = obj.pop("sha256")
    if check != _digest(obj):
        raise ConfigError("%s: checksum mismatch (damaged or edited by hand)" % name)
    return obj


def _write_atomic(path, obj):
    body = dict(obj)
    body["sha256"] = _digest(obj)
    tmp = path + ".new"
    with open(tmp, "w") as f:
        parts = []

        def out(s):  # a few writes of ~64 tokens: little heap, few flash operations
            parts.append(s)
            if len(parts) == 64:
                f.write("".join(parts))
                parts.clear()

        _emit(body, out)
        f.write("".join(parts))
        f.flush()
        if hasattr(os, "fsync"):  # CPython; MicroPython's littlefs commits the file on close
            os.fsync(f.fileno())
    os.rename(tmp, path)


def _generation(obj):
    g = obj.get("generation") if isinstance(obj, dict) else None
    if isinstance(g, bool) or not isinstance(g, int) or g < 1:
        raise ConfigError("settings.json: bad generation")
    return g


def read(root=""):
    """The committed (settings dict, secrets dict, generation) as stored, unvalidated; raises
    NotProvisioned if nothing was committed and ConfigError if the files are damaged."""
    d = config_dir(root)
    st = _read_json(_join(d, "settings.json"))
    if st is None:
        raise NotProvisioned("%s: no configuration (not provisioned yet)" % d)
    gen = _generation(st)
    sec = _read_json(_join(d, "secrets.json"))
    for e in (sec or {}).get("entries", ()):
        if isinstance(e, dict) and e.get("generation") == gen:
            return st.get("settings"), e.get("secrets"), gen
    raise ConfigError("secrets.json: no secrets for settings generation %d" % gen)


def load(root=""):
    """The committed configuration, validated -> Config."""
    settings, secrets, gen = read(root)
    return validate(settings, secrets, gen)


def save(root, settings, secrets):
    """Validate and commit a new configuration (see the commit order at the top) -> Config."""
    cfg = validate(settings, secrets)
    d = config_dir(root)
    if not _exists(d):
        os.mkdir(d)
    old_gen, old_entry = 0, None
    try:
        _, old_secrets, old_gen = read(root)
        old_entry = {"generation": old_gen, "secrets": old_secrets}
    except NotProvisioned:
        pass
    except ConfigError:
        old_gen = _highest_generation(d)
    gen = old_gen + 1
    new_entry = {"generation": gen, "secrets": secrets_for(_psks(secrets, cfg.settings))}
    entries = [new_entry] if old_entry is None else [new_entry, old_entry]
    _write_atomic(_join(d, "secrets.json"), {"entries": entries})
    _write_atomic(_join(d, "settings.json"), {"generation": gen, "settings": cfg.settings})
    _write_atomic(_join(d, "secrets.json"), {"entries": [new_entry]})
    cfg.generation = gen
    return cfg


def _highest_generation(d):
    """After damage, keep generations increasing past anything still on flash."""
    g = 0
    for name in ("settings.json", "secrets.json"):
        try:
            obj = _read_json(_join(d, name))
        except ConfigError:
            continue
        for e in [obj] + list((obj or {}).get("entries", ())):
            if isinstance(e, dict) and isinstance(e.get("generation"), int):
                g = max(g, e["generation"])
    return g


def erase(root=""):
    """Factory reset: settings first (the device is then unprovisioned), then the secrets."""
    d = config_dir(root)
    for name in ("settings.json", "settings.json.new", "secrets.json", "secrets.json.new"):
        p = _join(d, name)
        if _exists(p):
            os.remove(p)
