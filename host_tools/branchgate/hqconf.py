"""`branchgate hq-config`: the head office's half of a branch tunnel, generated from the device's own
configuration so the two cannot disagree: identities, proposals (strongSwan syntax, defaults
expanded), traffic selectors (swapped), DPD, and lifetimes SHORTER than the device's: the head office
rekeys first, every time, and the device's own rekeys at its soft expiry (lifetime - margin) stay a
fallback (a rekey by the device makes it the new IKE SA's initiator).

Formats: `swanctl` (strongSwan 5.9+, tested against a real charon), `cisco-iosxe` and `huawei-vrp`
(written from the vendors' documentation; UNTESTED against real gear).

The PSK: the settings can be shown freely, the PSK only on request. Without --include-psk the secret is
a comment naming the PSK's fingerprint (the tool never invents a key: a placeholder a user forgets to
replace must not become a working, well-known key). With --include-psk it is written out, and with
--output FILE that file is created with mode 0600. With --port (the settings read over the device's
serial console) only the fingerprint is known: the device never sends its PSK back."""
import os
import re
import sys

from .cli import CliError
from .fwimport import firmware_module

FORMATS = ("swanctl", "cisco-iosxe", "huawei-vrp")
_SAFE = re.compile(r"^[A-Za-z0-9_.,:/@%+*#-]+$")


class Tunnel:
    """Everything the head office needs for one device, from its point of view: `name` (connection
    name), `hq_id` / `device_id` (identity texts, strongSwan syntax), `hq_addr` (None = any),
    `device_addr`, `ike` / `esp` (lists of strongSwan proposal strings, defaults expanded),
    `local_ts` / `remote_ts` (the head office's: the device's remote / local selectors), `host_mode`
    (the device's own WAN address is its selector), lifetimes in
    seconds (see lifetimes()), `dpd_delay`, `psk` (bytes) and `psk_fingerprint`."""

    def __init__(self, cfg, peer, name=None, hq_addr=None, device_addr=None):
        config = firmware_module("config")
        self.name = name or slug(cfg.id.text)
        self.child = self.name
        self.hq_id = peer.id.text
        self.device_id = cfg.id.text
        self.hq_addr = hq_addr
        self.device_addr = device_addr or cfg.wan.ip
        self.ike = [str(s) for s in peer.ike_proposals]
        self.esp = [str(s) for s in peer.esp_proposals]
        self.local_ts = list(peer.remote_ts)
        self.remote_ts = list(peer.local_ts)
        self.host_mode = cfg.wan.ip + "/32" in self.remote_ts  # the tunnel ends at the device itself
        self.ike_life = lifetimes(peer.ike_lifetime, peer.ike_rekey_margin)
        self.child_life = lifetimes(peer.child_lifetime, peer.child_rekey_margin)
        self.dpd_delay = peer.dpd_delay
        self.psk = peer.psk
        self.psk_fingerprint = config.psk_fingerprint(peer.psk)
        self.device_fingerprint = cfg.fingerprint


def lifetimes(device_life, margin):
    """The head office's (rekey, rand, hard) for an SA the device holds for `device_life` seconds
    with `margin`: the device counts lifetime - margin as its soft limit, so the head office rekeys
    in [0.8, 0.9] of that (rekey - rand .. rekey: strongSwan subtracts a random part of rand_time) and
    gives the SA up itself at the soft limit, never outliving the device's copy."""
    soft = device_life - margin
    rekey = soft * 9 // 10
    return rekey, soft // 10, soft


def slug(text):
    """A connection name from an identity: 'gw1.branch.example.net' -> 'gw1-branch-example-net'."""
    return re.sub(r"[^A-Za-z0-9_]+", "-", text).strip("-") or "branch"


def _value(v):
    return v if _SAFE.match(v) else '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')


def _dur(seconds):
    return "%ds" % seconds


def _cidrs(items):
    return ",".join(items)


def swanctl_connection(t):
    """The `connections` entry for one tunnel (text, indented for the connections block)."""
    ike_rekey, ike_rand, ike_hard = t.ike_life
    child_rekey, child_rand, child_hard = t.child_life
    lines = [
        "    # branch %s (device config fingerprint %s)" % (t.device_id, t.device_fingerprint),
        "    %s {" % t.name,
        "        version = 2",
    ]
    if t.hq_addr:
        lines.append("        local_addrs = %s" % _value(t.hq_addr))
    lines += [
        "        remote_addrs = %s" % _value(t.device_addr),
        "        proposals = %s" % _value(",".join(t.ike)),
        "        # The device carries ESP only inside UDP 4500 (RFC 3948), and its NAT detection payload",
        "        # claims a NAT so that peers encapsulate; forcing it here as well costs nothing.",
        "        encap = yes",
        "        dpd_delay = %s" % _dur(t.dpd_delay),
        "        # The device rekeys at its soft expiry and deletes at its lifetime: rekey (and expire) first.",
        "        rekey_time = %s" % _dur(ike_rekey),
        "        rand_time = %s" % _dur(ike_rand),
        "        over_time = %s" % _dur(ike_hard - ike_rekey),
        "        local {",
        "            auth = psk",
        "            id = %s" % _value(t.hq_id),
        "        }",
        "        remote {",
        "            auth = psk",
        "            id = %s" % _value(t.device_id),
        "        }",
        "        children {",
        "            %s {" % t.child,
        "                local_ts = %s" % _value(_cidrs(t.local_ts)),
        "                remote_ts = %s" % _value(_cidrs(t.remote_ts)),
    ]
    if t.host_mode:
        lines += ["                # Host mode: the selector is the device's own address. Fine with kernel IPsec",
                  "                # (XFRM); kernel-libipsec cannot route it (\"conflicts with IKE traffic\")."]
    lines += [
        "                esp_proposals = %s" % _value(",".join(t.esp)),
        "                rekey_time = %s" % _dur(child_rekey),
        "                rand_time = %s" % _dur(child_rand),
        "                life_time = %s" % _dur(child_hard),
        "                # The device only answers: head office brings the tunnel up and back.",
        "                start_action = start",
        "                dpd_action = restart",
        "                close_action = start",
        "            }",
        "        }",
        "    }",
    ]
    return "\n".join(lines) + "\n"


def swanctl_secret(t, include_psk):
    lines = ["    ike-%s {" % t.name,
             "        id-1 = %s" % _value(t.device_id),
             "        id-2 = %s" % _value(t.hq_id)]
    if include_psk:
        lines.append("        secret = 0x%s" % t.psk.hex())
    else:
        lines.append("        # secret = <the PSK provisioned on %s: its fingerprint is %s>"
                     % (t.device_id, t.psk_fingerprint))
        lines.append("        # (or run `branchgate hq-config --include-psk` to have it written here)")
    lines.append("    }")
    return "\n".join(lines) + "\n"


def swanctl(tunnels, include_psk):
    """A complete swanctl.conf for one or more tunnels (fleet.py writes many into one file)."""
    head = ("# swanctl.conf for the head office, generated by `branchgate hq-config` from the branch\n"
            "# device's configuration. Load it with `swanctl --load-all`.\n")
    return (head + "connections {\n" + "".join(swanctl_connection(t) for t in tunnels) + "}\n\n"
            + "secrets {\n" + "".join(swanctl_secret(t, include_psk) for t in tunnels) + "}\n")


# ---- other vendors: the same tunnel in their words (UNTESTED against real gear) ----

_CISCO_ENCR = {"aes128": "aes-cbc-128", "aes192": "aes-cbc-192", "aes256": "aes-cbc-256", "3des": "3des"}
_HUAWEI_ENCR = {"aes128": "aes-128", "aes192": "aes-192", "aes256": "aes-256", "3des": "3des"}
_CISCO_ESP = {"aes128": "esp-aes", "aes256": "esp-aes 256"}
_GROUP_NUM = {"modp2048": 14, "ecp256": 19, "curve25519": 31, "x25519": 31}
_HUAWEI_GROUP = {14: "dh group14", 19: "dh group19", 31: "dh group31"}


def _algorithms(text):
    """One of the device's proposals (strongSwan syntax, as str(Spec) writes it: integrity is always
    sha256) -> (encryption keywords, DH group numbers)."""
    words = text.split("-")
    return [w for w in words if w in _CISCO_ENCR], [_GROUP_NUM[w] for w in words if w in _GROUP_NUM]


def _printable_psk(t, vendor):
    try:
        text = t.psk.decode("ascii")
    except UnicodeDecodeError:
        text = None
    if text is None or not text.isprintable() or " " in text:
        raise CliError("the device's PSK is binary; %s takes only printable ASCII keys (provision a text "
                       "PSK, e.g. `openssl rand -base64 32`, to use %s)" % (vendor, vendor))
    return text


def _wildcard(cidr):
    """'10.10.0.0/16' -> '10.10.0.0 0.0.255.255' (address and wildcard mask, as ACLs take them)."""
    net, plen = cidr.split("/")
    mask = 0xFFFFFFFF >> int(plen)
    return "%s %s" % (net, ".".join(str((mask >> s) & 0xFF) for s in (24, 16, 8, 0)))


def _cisco_identity(text):
    config = firmware_module("config")
    ident = config.Identity(text)
    const = firmware_module("ike.const")
    if ident.type == const.ID_IPV4_ADDR:
        return "address %s" % config.ip_str(ident.data)
    if ident.type == const.ID_RFC822_ADDR:
        return "email %s" % ident.data.decode()
    if ident.type == const.ID_KEY_ID:
        return "key-id %s" % ident.data.decode(errors="replace")
    return "fqdn %s" % ident.data.decode()


def _pfs_lines(t, line):
    """[line % DH group] if the device's first ESP proposal asks for PFS, else []."""
    groups = _algorithms(t.esp[0])[1]
    return [line % groups[0]] if groups else []


def _psk_line(t, include_psk, vendor, indent, command, comment):
    """The vendor's PSK `command` with the device's PSK, or commented out naming its fingerprint."""
    if include_psk:
        return "%s%s %s" % (indent, command, _printable_psk(t, vendor))
    return "%s%s %s <the PSK provisioned on the device, fingerprint %s>" % (indent, comment, command,
                                                                            t.psk_fingerprint)


def cisco(t, include_psk):
    """IOS-XE IKEv2 with a crypto map and an ACL (policy-based, as the device's selectors are; a VTI
    would propose 0.0.0.0/0 and be narrowed). UNTESTED against a real router."""
    n = t.name.upper()
    ike_rekey, _, _ = t.ike_life
    child_rekey, _, _ = t.child_life
    out = ["! Cisco IOS-XE head-office config for branch %s, generated by branchgate." % t.device_id,
           "! UNTESTED against real gear: review before use. The device carries ESP only inside UDP 4500;",
           "! its NAT detection payload claims a NAT, so IOS-XE encapsulates (IKEv2 NAT-T is on by default).",
           "crypto ikev2 proposal BG-%s" % n]
    encr, groups = _algorithms(t.ike[0])  # the device's first (preferred) proposal
    out += [" encryption %s" % " ".join(_CISCO_ENCR[w] for w in encr),
            " integrity sha256", " prf sha256", " group %s" % " ".join(str(g) for g in groups)]
    out += ["crypto ikev2 policy BG-%s" % n, " proposal BG-%s" % n,
            "crypto ikev2 keyring BG-%s" % n, " peer %s" % t.name, "  address %s" % t.device_addr,
            "  identity %s" % _cisco_identity(t.device_id)]
    out.append(_psk_line(t, include_psk, "Cisco IOS-XE", "  ", "pre-shared-key", "!"))
    out += ["crypto ikev2 profile BG-%s" % n,
            " match identity remote %s" % _cisco_identity(t.device_id),
            " identity local %s" % _cisco_identity(t.hq_id),
            " authentication remote pre-share", " authentication local pre-share",
            " keyring local BG-%s" % n,
            " lifetime %d" % ike_rekey]
    if t.dpd_delay:
        out.append(" dpd %d 3 periodic" % max(t.dpd_delay, 10))  # IOS-XE's minimum interval is 10 s
    esp_encr = _algorithms(t.esp[0])[0]
    out += ["crypto ipsec transform-set BG-%s %s esp-sha256-hmac" % (n, _CISCO_ESP[esp_encr[0]]),
            " mode tunnel",
            "ip access-list extended BG-%s" % n]
    for a in t.local_ts:
        for b in t.remote_ts:
            out.append(" permit ip %s %s" % (_wildcard(a), _wildcard(b)))
    out += ["crypto map BRANCHGATE 10 ipsec-isakmp",
            " set peer %s" % t.device_addr,
            " set transform-set BG-%s" % n,
            " set ikev2-profile BG-%s" % n,
            " set security-association lifetime seconds %d" % child_rekey]
    out += _pfs_lines(t, " set pfs group%d")
    out += [" match address BG-%s" % n,
            "! then on the WAN interface: interface <WAN> / crypto map BRANCHGATE"]
    return "\n".join(out) + "\n"


def huawei(t, include_psk):
    """Huawei VRP (AR routers) IKEv2 with an ACL-based IPsec policy. UNTESTED against real gear."""
    n = t.name.upper()
    ike_rekey, _, _ = t.ike_life
    child_rekey, _, _ = t.child_life
    encr, groups = _algorithms(t.ike[0])
    esp_encr = _algorithms(t.esp[0])[0]
    out = ["# Huawei VRP head-office config for branch %s, generated by branchgate." % t.device_id,
           "# UNTESTED against real gear: review before use. The device carries ESP only inside UDP 4500;",
           "# its NAT detection payload claims a NAT, so with NAT traversal on (below) VRP encapsulates.",
           "acl number 3999",
           " description branchgate %s" % t.name]
    rule = 5
    for a in t.local_ts:
        for b in t.remote_ts:
            out.append(" rule %d permit ip source %s destination %s" % (rule, _wildcard(a), _wildcard(b)))
            rule += 5
    out += ["ike proposal 10",
            " encryption-algorithm %s" % _HUAWEI_ENCR[encr[0]],
            " authentication-algorithm sha2-256",
            " integrity-algorithm hmac-sha2-256",
            " prf hmac-sha2-256",
            " %s" % _HUAWEI_GROUP[groups[0]],
            " sa duration %d" % ike_rekey,
            "ike peer BG-%s" % n,
            " version 2",
            " ike-proposal 10",
            " local-id-type %s" % _huawei_id_type(t.hq_id),
            " local-id %s" % t.hq_id,
            " remote-id %s" % t.device_id,
            " remote-address %s" % t.device_addr,
            " nat traversal"]
    out.append(_psk_line(t, include_psk, "Huawei VRP", " ", "pre-shared-key cipher", "#"))
    if t.dpd_delay:
        out.append(" dpd type periodic idle-time %d" % t.dpd_delay)
    out += ["ipsec proposal BG-%s" % n,
            " transform esp",
            " encapsulation-mode tunnel",
            " esp authentication-algorithm sha2-256",
            " esp encryption-algorithm %s" % _HUAWEI_ENCR[esp_encr[0]],
            "ipsec policy BRANCHGATE 10 isakmp",
            " security acl 3999",
            " ike-peer BG-%s" % n,
            " proposal BG-%s" % n,
            " sa duration time-based %d" % child_rekey]
    out += _pfs_lines(t, " pfs dh-group%d")
    out.append("# then on the WAN interface: ipsec policy BRANCHGATE")
    return "\n".join(out) + "\n"


def _huawei_id_type(text):
    config = firmware_module("config")
    ident = config.Identity(text)
    const = firmware_module("ike.const")
    if ident.type == const.ID_IPV4_ADDR:
        return "ip"
    if ident.type == const.ID_RFC822_ADDR:
        return "user-fqdn"
    if ident.type == const.ID_KEY_ID:
        return "key-id"
    return "fqdn"


def render(fmt, tunnels, include_psk):
    if fmt == "swanctl":
        return swanctl(tunnels, include_psk)
    vendor = cisco if fmt == "cisco-iosxe" else huawei
    return "\n".join(vendor(t, include_psk) for t in tunnels)


# ---- the command ----

def load_root(root):
    """The device configuration committed at root (the sim board's filesystem) -> config.Config."""
    config = firmware_module("config")
    try:
        return config.load(str(root))
    except config.ConfigError as e:
        raise CliError("--root %s: %s" % (root, e)) from None


def load_port(port, timeout=1.0):
    """The device's committed configuration read over its serial console -> (config.Config, {peer
    name: PSK fingerprint}). The PSK never leaves the device: the Config's PSKs are placeholders, its
    fingerprint the device's."""
    from .link import Link, LinkError
    config = firmware_module("config")
    try:
        with Link(port, timeout=timeout) as link:
            link.wait_hello(15.0)
            reply = link.settings()
    except LinkError as e:
        raise CliError(str(e)) from None
    settings, fps = reply.get("settings"), reply.get("psk") or {}
    try:
        cfg = config.validate(settings, {"psk": dict((p["name"], "00") for p in settings["peers"])},
                              reply.get("generation", 0))
    except (ValueError, TypeError, KeyError) as e:
        raise CliError("--port %s: the device sent settings this tool cannot read: %s" % (port, e)) from None
    cfg.fingerprint = reply.get("fingerprint")
    return cfg, fps


def pick_peer(cfg, hq_id):
    """The device's peer entry for this head office: the one whose id is hq_id, or the only one."""
    if hq_id is None:
        if len(cfg.peers) > 1:
            raise CliError("the device has %d head-office peers (%s): choose one with --hq-id"
                           % (len(cfg.peers), ", ".join(p.id.text for p in cfg.peers)))
        return cfg.peers[0]
    config = firmware_module("config")
    try:
        want = config.Identity(hq_id)
    except ValueError as e:
        raise CliError("--hq-id '%s' %s" % (hq_id, e)) from None
    for p in cfg.peers:
        if p.id.matches(want.type, want.data):
            return p
    raise CliError("--hq-id %s: the device has no such peer (it knows %s)"
                   % (hq_id, ", ".join(p.id.text for p in cfg.peers)))


def write_private(path, text):
    """Write text to path, readable by the owner only (it may hold PSKs)."""
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
    with os.fdopen(fd, "w") as f:
        f.write(text)


def run(args):
    if args.port is not None:
        if args.include_psk:
            raise CliError("--include-psk needs --root: the device never sends its PSK back over --port "
                           "(the PSK is write-only; the output names its fingerprint)")
        cfg, psk_fps = load_port(args.port, args.timeout)
    else:
        cfg, psk_fps = load_root(args.root), None
    peer = pick_peer(cfg, args.hq_id)
    t = Tunnel(cfg, peer, name=args.name, hq_addr=args.hq_addr, device_addr=args.device_addr)
    if psk_fps is not None:  # --port: only the fingerprint of the device's PSK is known
        t.psk, t.psk_fingerprint = None, psk_fps.get(peer.name)
    text = render(args.format, [t], args.include_psk)
    if args.output:
        try:
            write_private(args.output, text)
        except OSError as e:
            raise CliError("--output %s: %s" % (args.output, e.strerror or e)) from None
        print("wrote %s (%s config for %s%s)" % (args.output, args.format, t.device_id,
                                                ", with its PSK, mode 0600" if args.include_psk else ""),
              file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def ipv4_arg(text):
    config = firmware_module("config")
    try:
        config.parse_ipv4(text)
    except ValueError:
        import argparse
        raise argparse.ArgumentTypeError("not an IPv4 address: %r" % text)
    return text


def register(subparsers):
    p = subparsers.add_parser("hq-config", help="print the head office's config matching a device",
                              description=__doc__.split("\n\n")[0])
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--root", metavar="DIR", help="the device's filesystem (sim board root)")
    target.add_argument("--port", metavar="PORT",
                        help="read the device's settings over its serial console (e.g. /dev/ttyUSB0, or the "
                             "sim board's pty); the PSK stays on the device")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--hq-id", metavar="ID", help="the head office's identity (selects the device's peer entry)")
    p.add_argument("--hq-addr", type=ipv4_arg, metavar="ADDR", help="the head office's own address (default: any)")
    p.add_argument("--device-addr", type=ipv4_arg, metavar="ADDR",
                   help="the address head office reaches the device at (default: its WAN address; "
                        "give the public address when the device sits behind a NAT router)")
    p.add_argument("--name", metavar="NAME", help="connection name (default: from the device's identity)")
    p.add_argument("--include-psk", action="store_true",
                   help="write the device's PSK into the secrets (otherwise a comment with its fingerprint)")
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE (mode 0600) instead of stdout")
    p.add_argument("--timeout", type=float, default=1.0, metavar="SECONDS",
                   help="with --port: wait this long for each reply before asking again (default 1)")
    p.set_defaults(func=run)
