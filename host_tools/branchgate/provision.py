"""`branchgate provision --root DIR | --port PORT`: give a board its identity, head-office peer,
pre-shared key, selectors, proposals and addressing: a sim board's filesystem at DIR, or a device (a
board, or the sim board's pty) over its serial console with the provisioning protocol (link.py,
firmware/provision.py). The settings are validated by the firmware's own config store
(firmware/config.py, imported under CPython), so the host accepts exactly what the device accepts; the
device validates and commits them again, atomically. The PSK is read from a file or stdin (or made by
--generate-psk), never from the command line, and is never printed; only its fingerprint (an HMAC
under the PSK) is, which the device reports back to confirm what it stored."""
import argparse
import ipaddress
import os
import sys
from pathlib import Path

from .cli import CliError
from .fwimport import firmware_module

PSK_BYTES = 32  # --generate-psk: 256 random bits
RESTART_TIMEOUT = 60.0  # a board reboots and brings its WAN up in seconds; the sim in less than one
BOOT_TIMEOUT = 15.0  # for the first answer: a board may just be booting

# Settings fields -> the option a user typed, to name it in errors.
_OPTION_FOR = (
    ("peers[0].remote_ts", "--remote-ts"),
    ("peers[0].local_ts", "--local-ts"),
    ("peers[0].ike_proposals", "--ike-proposals"),
    ("peers[0].esp_proposals", "--esp-proposals"),
    ("peers[0].ike_lifetime", "--ike-lifetime"),
    ("peers[0].child_lifetime", "--child-lifetime"),
    ("peers[0].dpd_delay", "--dpd-delay"),
    ("peers[0].name", "--peer-name"),
    ("peers[0].id", "--peer-id"),
    ("secrets.psk", "--psk-file"),
    ("wan.gateway", "--gateway"),
    ("wan.addr", "--wan"),
    ("lan.addr", "--lan"),
    ("lan.port", "--lan-port"),
    ("log_level", "--log-level"),
    ("id", "--id"),
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text):
    """'3600', '90s', '45m', '4h', '1d' -> seconds (strongSwan's notation)."""
    t = text.strip().lower()
    scale = _UNITS.get(t[-1:], None)
    if scale is not None:
        t = t[:-1]
    if not t.isdigit():
        raise ValueError("not a duration: %r (use e.g. 3600, 45m, 4h, 1d)" % text)
    return int(t) * (scale or 1)


def _duration_arg(text):
    try:
        return duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def read_psk(source, stdin=None):
    """The PSK from a file name or '-' (stdin), as bytes. A text file's trailing newline is not part
    of the key; '0x<hex>' (strongSwan's secrets notation) is a binary key; other binary content (e.g.
    32 random bytes) is used as is."""
    try:
        data = (stdin or sys.stdin.buffer).read() if source == "-" else Path(source).read_bytes()
    except OSError as e:
        raise CliError("--psk-file %s: %s" % (source, e.strerror or e))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        stripped = text.rstrip("\r\n")
        if stripped.isprintable():
            data = stripped.encode("utf-8")
            if stripped[:2].lower() == "0x":
                try:
                    data = bytes.fromhex(stripped[2:])
                except ValueError:
                    raise CliError("--psk-file: starts with 0x but is not hex") from None
    if not data:
        raise CliError("--psk-file: the PSK is empty")
    return data


def _split(values):
    out = []
    for v in values or ():
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def build(args):
    """(settings dict, PSK bytes) from the parsed options; ConfigError-free, validation comes after."""
    peer = {"name": args.peer_name, "id": args.peer_id, "remote_ts": _split(args.remote_ts)}
    if args.local_ts:
        peer["local_ts"] = _split(args.local_ts)
    for opt in ("ike_proposals", "esp_proposals", "ike_lifetime", "child_lifetime", "dpd_delay"):
        v = getattr(args, opt)
        if v is not None:
            peer[opt] = v
    settings = {"id": args.id, "log_level": args.log_level, "peers": [peer],
                "wan": {"addr": args.wan, "gateway": args.gateway}}
    if args.lan is not None:
        settings["lan"] = {"addr": args.lan, "port": args.lan_port}
    elif args.lan_port is not None:
        raise CliError("--lan-port needs --lan ADDR/PREFIX")
    return settings


def _user_message(msg):
    for field, option in _OPTION_FOR:
        if msg.startswith(field):
            return "%s (%s" % (option, msg[:msg.index(":")]) + ")" + msg[msg.index(":"):]
    return msg


def check_psk(psk, force=False):
    """Refuse a weak PSK (the firmware's rule) unless force."""
    weak = firmware_module("config").psk_weakness(psk)
    if weak and not force:
        raise CliError("weak PSK: %s (use a longer random one: --generate-psk FILE, or --force)" % weak)


def generate_psk(path):
    """PSK_BYTES random bytes, written to a new file readable by its owner only -> the PSK."""
    psk = os.urandom(PSK_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CliError("--generate-psk %s: the file exists; not overwriting a key (use --psk-file to "
                       "provision it)" % path) from None
    except OSError as e:
        raise CliError("--generate-psk %s: %s" % (path, e.strerror or e)) from None
    with os.fdopen(fd, "wb") as f:
        f.write(psk)
    return psk


def validate(settings, psk):
    """-> (secrets dict, config.Config) as the device will store them; CliError naming the option."""
    config = firmware_module("config")
    secrets = config.secrets_for({settings["peers"][0]["name"]: psk})
    try:
        return secrets, config.validate(settings, secrets)
    except config.ConfigError as e:
        raise CliError(_user_message(str(e))) from None


def provision_root(root, settings, psk, force=False):
    """Validate and commit settings + PSK into the sim board filesystem at root -> config.Config."""
    config = firmware_module("config")
    check_psk(psk, force)
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise CliError("--root %s: not a directory" % root)
    secrets = config.secrets_for({settings["peers"][0]["name"]: psk})
    try:
        config.validate(settings, secrets)  # before touching the filesystem
        root.mkdir(parents=True, exist_ok=True)
        return config.save(str(root), settings, secrets)
    except config.ConfigError as e:
        raise CliError(_user_message(str(e))) from None
    except OSError as e:
        raise CliError("--root %s: %s" % (root, e.strerror or e)) from None


def _psk(args, settings):
    """The PSK from --psk-file, or a new one from --generate-psk once the settings are known good."""
    if args.generate_psk is None:
        psk = read_psk(args.psk_file)
        check_psk(psk, args.force)
        return psk
    validate(settings, b"\0" * PSK_BYTES)  # no key file for settings that cannot be used
    psk = generate_psk(args.generate_psk)
    print("generated a %d-byte PSK in %s (mode 0600)" % (PSK_BYTES, args.generate_psk))
    return psk


def _describe(cfg):
    config = firmware_module("config")
    peer = cfg.peers[0]
    print("  id %s, WAN %s, LAN %s" % (cfg.id, cfg.wan.cidr, cfg.lan.cidr if cfg.lan else "none (host mode)"))
    print("  peer %s (%s): %s <-> %s, PSK fingerprint %s" % (
        peer.name, peer.id, ",".join(peer.local_ts), ",".join(peer.remote_ts),
        config.psk_fingerprint(peer.psk)))
    for w in warnings(cfg):
        print("branchgate: warning: %s" % w, file=sys.stderr)


def warnings(cfg):
    """Settings the device accepts that still carry no traffic: the LAN (or, in host mode, the device
    itself) outside every local traffic selector of a peer. A subnet only partly inside is left alone
    (selectors for part of a LAN are a choice)."""
    out = []
    for peer in cfg.peers:
        local = [ipaddress.ip_network(t) for t in peer.local_ts]
        if cfg.lan is not None:
            lan = ipaddress.ip_network(cfg.lan.network)
            if not any(lan.overlaps(t) for t in local):
                out.append("the LAN %s is outside peer %s's local traffic selectors (%s): no LAN host's "
                           "traffic will enter that tunnel" % (lan, peer.name, ", ".join(peer.local_ts)))
        else:
            ip = ipaddress.ip_address(cfg.wan.ip)
            if not any(ip in t for t in local):
                out.append("host mode (no LAN) and peer %s's local traffic selectors (%s) do not hold the "
                           "device's address %s: nothing the device sends or answers will enter that tunnel"
                           % (peer.name, ", ".join(peer.local_ts), ip))
    return out


def run(args):
    settings = build(args)
    psk = _psk(args, settings)
    if args.port is not None:
        return run_port(args, settings, psk)
    cfg = provision_root(args.root, settings, psk, force=True)  # (the PSK was checked above)
    config = firmware_module("config")
    print("provisioned %s: generation %d, config fingerprint %s" % (
        os.path.join(args.root, config.config_dir()), cfg.generation, cfg.fingerprint))
    _describe(cfg)
    return 0


def provision_port(link, settings, secrets, cfg, restart=True, progress=print, restart_timeout=RESTART_TIMEOUT):
    """Provision the device on an open link.Link: stage the settings and secrets, commit (the device
    checks the host's fingerprint before it writes), confirm the PSK fingerprint, and restart it into
    the new configuration. -> the device's hello after the restart (or before, without restart)."""
    from .link import DeviceError, LinkError
    config = firmware_module("config")
    hello = link.wait_hello(BOOT_TIMEOUT)
    progress("device %s: firmware %s, %s mode, config generation %s, fingerprint %s" % (
        hello["device"], hello["fw"], hello["mode"], hello["generation"], hello["fingerprint"]))
    link.request("begin")
    text = config.canon(settings)
    link.put("settings", text, lambda done, total: progress("  settings: %d/%d bytes" % (done, total)))
    link.put("secrets", config.canon(secrets))
    progress("  secrets: sent (write-only)")
    # A commit takes a while on a board (config store import, validation, three flash writes); sent again
    # while it runs, it is answered from the reply cache, not committed twice.
    try:
        reply = link.request("commit", fp=cfg.fingerprint, timeout=max(link.timeout, 2.0), retries=6)
    except DeviceError as e:
        if "out of memory" in str(e) and hello["mode"] == "run":
            raise DeviceError("%s: the config store does not fit next to the running tunnel; start the device "
                              "in safe mode (button held at boot) and provision again" % e) from None
        raise
    peer = cfg.peers[0]
    if reply.get("fingerprint") != cfg.fingerprint:
        raise LinkError("the device committed fingerprint %s, expected %s"
                        % (reply.get("fingerprint"), cfg.fingerprint))
    if reply.get("psk", {}).get(peer.name) != config.psk_fingerprint(peer.psk):
        raise LinkError("the device reports a different PSK fingerprint for peer %s" % peer.name)
    progress("committed generation %d, config fingerprint %s; PSK fingerprint %s confirmed" % (
        reply["generation"], reply["fingerprint"], reply["psk"][peer.name]))
    if not restart:
        return hello
    link.request("reboot")
    progress("restarting the device ...")
    after = link.wait_hello(restart_timeout, boot_not=hello["boot"])
    if after.get("fingerprint") != cfg.fingerprint:
        raise LinkError("the device restarted with config fingerprint %s, not %s"
                        % (after.get("fingerprint"), cfg.fingerprint))
    if after.get("mode") != "run":
        raise LinkError("the device restarted in safe mode (%s): the tunnel is not running" % after.get("reason"))
    progress("device running the new configuration (fingerprint %s)" % cfg.fingerprint)
    return after


def run_port(args, settings, psk):
    from .link import Link, LinkError
    secrets, cfg = validate(settings, psk)
    _describe(cfg)
    try:
        with Link(args.port, timeout=args.timeout) as link:
            provision_port(link, settings, secrets, cfg, restart=not args.no_restart,
                           progress=lambda line: print(line, flush=True))
    except LinkError as e:
        raise CliError(str(e)) from None
    return 0


class _RefusePsk(argparse.Action):
    """`--psk VALUE` would put the key in shell history and `ps`: refuse without echoing VALUE (argparse
    would otherwise print it, or take --psk as an abbreviation of --psk-file)."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.exit(2, "%s: error: the PSK never goes on the command line: use --psk-file FILE, or "
                       "--psk-file - to read it from stdin\n" % parser.prog)


def add_options(p):
    """The provisioning options shared by every target (--root now; the serial --port later)."""
    p.add_argument("--id", required=True, help="our IKE identity: FQDN, user@domain, IPv4 or keyid:...")
    p.add_argument("--peer-id", required=True, help="the head office's IKE identity")
    p.add_argument("--peer-name", default="hq", help="name of the head-office peer (default: hq)")
    key = p.add_mutually_exclusive_group(required=True)
    key.add_argument("--psk-file", metavar="FILE",
                     help="file holding the pre-shared key, or - for stdin (never on the command line)")
    key.add_argument("--generate-psk", metavar="FILE",
                     help="make a random %d-byte PSK, write it to FILE (new, mode 0600) and provision it"
                          % PSK_BYTES)
    p.add_argument("--psk", "--secret", nargs="?", action=_RefusePsk, help=argparse.SUPPRESS)
    p.add_argument("--force", action="store_true", help="accept a weak PSK")
    p.add_argument("--wan", required=True, metavar="ADDR/PREFIX", help="our WAN address, e.g. 192.0.2.2/24")
    p.add_argument("--gateway", metavar="ADDR", help="WAN default gateway")
    p.add_argument("--lan", metavar="ADDR/PREFIX", help="our LAN address; without it: host mode")
    p.add_argument("--lan-port", metavar="IFNAME", help="LAN interface of the sim board")
    p.add_argument("--local-ts", action="append", metavar="CIDR",
                   help="local traffic selector (repeatable or comma list; default: the LAN subnet, "
                        "or the WAN address /32 in host mode)")
    p.add_argument("--remote-ts", action="append", required=True, metavar="CIDR",
                   help="remote (head office) traffic selector (repeatable or comma list)")
    p.add_argument("--ike-proposals", metavar="LIST",
                   help="IKE proposals in strongSwan syntax, e.g. aes256-sha256-modp2048,aes128-sha256-x25519")
    p.add_argument("--esp-proposals", metavar="LIST",
                   help="ESP proposals in strongSwan syntax, e.g. aes256-sha256 (add a DH group for PFS)")
    p.add_argument("--ike-lifetime", type=_duration_arg, metavar="TIME", help="IKE SA lifetime (default 4h)")
    p.add_argument("--child-lifetime", type=_duration_arg, metavar="TIME", help="CHILD SA lifetime (default 1h)")
    p.add_argument("--dpd-delay", type=_duration_arg, metavar="TIME",
                   help="liveness check interval (default 30s; 0 = off)")
    p.add_argument("--log-level", default="info", choices=("error", "warn", "info", "debug"))


def register(subparsers):
    p = subparsers.add_parser("provision", help="give a board its identity, peer, PSK and addressing",
                              description=__doc__.split("\n\n")[0], allow_abbrev=False)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--root", metavar="DIR", help="the sim board's filesystem (created if missing)")
    target.add_argument("--port", metavar="PORT",
                        help="the device's serial console (e.g. /dev/ttyUSB0, or the sim board's pty)")
    add_options(p)
    p.add_argument("--no-restart", action="store_true",
                   help="with --port: commit only; the device keeps running its old configuration until reset")
    p.add_argument("--timeout", type=float, default=1.0, metavar="SECONDS",
                   help="with --port: wait this long for each reply before sending again (default 1)")
    p.set_defaults(func=run)
