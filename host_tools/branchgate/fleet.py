"""`branchgate fleet --inventory devices.csv`: many branches at once. For every row of the inventory
it generates a PSK (a fresh random one, kept on re-runs), provisions a device configuration with the
same code as `branchgate provision`, and writes one combined head-office swanctl.conf.

Inventory: a CSV file with a header row. Columns (only name, id and wan are required):
  name         connection name, and the directory under --out (letters, digits, '-', '_', '.')
  id           the device's IKE identity
  wan          the device's WAN address/prefix        gateway     its WAN gateway
  lan          its LAN address/prefix (none: host mode) lan_port  the sim board's LAN interface
  local_ts     the device's selectors (default: the LAN subnet, or its WAN address in host mode)
  remote_ts    head-office selectors (default: --remote-ts)
  device_addr  where head office reaches it (default: its WAN address; the public one behind NAT)
  port         its serial port: with --provision, provisioned there as by `provision --port`
  ike_proposals, esp_proposals   (default: --ike-proposals / --esp-proposals, or the firmware's)
Several values in a cell are separated by spaces or ';' (or ',' inside a quoted cell).

Output in --out DIR: DIR/NAME/psk (mode 0600), DIR/NAME/root (the device's filesystem: its
config.d), and DIR/swanctl.conf (mode 0600: it holds every PSK)."""
import argparse
import csv
import re
import secrets
import sys
from pathlib import Path

from . import hqconf, provision
from .cli import CliError
from .fwimport import firmware_module

COLUMNS = ("name", "id", "wan", "gateway", "lan", "lan_port", "local_ts", "remote_ts", "device_addr", "port",
           "ike_proposals", "esp_proposals")
REQUIRED = ("name", "id", "wan")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


def _values(cell):
    return [v for v in re.split(r"[;,\s]+", cell or "") if v]


def read_inventory(path):
    """The inventory rows as dicts (line number under "line"); CliError naming the line for a bad one."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in reader.fieldnames or ()]
            for col in REQUIRED:
                if col not in header:
                    raise CliError("%s: no '%s' column (the header row needs at least %s)"
                                   % (path, col, ", ".join(REQUIRED)))
            unknown = [h for h in header if h not in COLUMNS]
            if unknown:
                raise CliError("%s: unknown column '%s' (known: %s)" % (path, unknown[0], ", ".join(COLUMNS)))
            rows = []
            for raw in reader:
                row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
                if not any(row.values()):
                    continue
                row["line"] = reader.line_num
                rows.append(row)
    except OSError as e:
        raise CliError("--inventory %s: %s" % (path, e.strerror or e)) from None
    except csv.Error as e:
        raise CliError("%s: %s" % (path, e)) from None
    if not rows:
        raise CliError("%s: no devices in the inventory" % path)
    return rows


class Device:
    """One inventory row, validated: `name`, `line`, `settings` (the provisioning settings dict),
    `port`, `device_addr`, and later `psk` and `cfg`."""

    def __init__(self, row, args):
        self.line = row["line"]
        self.name = row["name"]
        where = "line %d (%s)" % (self.line, self.name or "no name")
        for col in REQUIRED:
            if not row.get(col):
                raise CliError("%s: %s: '%s' is empty" % (args.inventory, where, col))
        if not _NAME.match(self.name):
            raise CliError("%s: %s: name: use letters, digits, '-', '_' or '.' (at most 32)" % (args.inventory, where))
        opts = argparse.Namespace(
            id=row["id"], peer_id=args.hq_id, peer_name="hq", wan=row["wan"], gateway=row.get("gateway") or None,
            lan=row.get("lan") or None, lan_port=row.get("lan_port") or None,
            local_ts=_values(row.get("local_ts")) or None,
            remote_ts=_values(row.get("remote_ts")) or args.remote_ts,
            ike_proposals=_values(row.get("ike_proposals")) or args.ike_proposals,
            esp_proposals=_values(row.get("esp_proposals")) or args.esp_proposals,
            ike_lifetime=args.ike_lifetime, child_lifetime=args.child_lifetime, dpd_delay=args.dpd_delay,
            log_level="info")
        if not opts.remote_ts:
            raise CliError("%s: %s: no remote_ts column value and no --remote-ts" % (args.inventory, where))
        try:
            self.settings = provision.build(opts)
        except CliError as e:
            raise CliError("%s: %s: %s" % (args.inventory, where, e)) from None
        self.port = row.get("port") or None
        self.device_addr = row.get("device_addr") or None
        if self.device_addr is not None:
            try:
                firmware_module("config").parse_ipv4(self.device_addr)
            except ValueError:
                raise CliError("%s: %s: device_addr '%s' is not an IPv4 address"
                               % (args.inventory, where, self.device_addr)) from None
        self.where = where
        self.psk = None
        self.cfg = None


def _check_unique(devices, inventory):
    seen = {}
    for d in devices:
        for key, value in (("name", d.name), ("id", d.settings["id"]), ("wan", d.settings["wan"]["addr"].split("/")[0])):
            other = seen.get((key, value.lower()))
            if other is not None:
                raise CliError("%s: %s: %s '%s' is already used on line %d" % (inventory, d.where, key, value, other.line))
            seen[(key, value.lower())] = d


def device_psk(path):
    """The device's PSK: the one in `path` from an earlier run, else a new random one written there
    (mode 0600). Text (43 base64url characters, 256 bits): every vendor's PSK field takes it."""
    if path.exists():
        return provision.read_psk(str(path))
    psk = secrets.token_urlsafe(32).encode()
    while psk.startswith(b"0x"):  # a PSK file starting with 0x is read as hex
        psk = secrets.token_urlsafe(32).encode()
    hqconf.write_private(path, psk.decode())
    return psk


def provision_serial(d, timeout):
    """Provision device d over its serial port, as `branchgate provision --port` does (restarting it
    into the new configuration) -> None, or why it failed (one line; the other devices go on)."""
    from .link import Link, LinkError
    secrets, cfg = provision.validate(d.settings, d.psk)
    try:
        with Link(d.port, timeout=timeout) as link:
            provision.provision_port(link, d.settings, secrets, cfg,
                                     progress=lambda line: print("  " + line.strip(), flush=True))
    except LinkError as e:
        return str(e)
    return None


def run(args):
    devices = [Device(row, args) for row in read_inventory(args.inventory)]
    _check_unique(devices, args.inventory)
    config = firmware_module("config")
    for d in devices:  # all rows valid before anything is written
        try:
            config.validate(d.settings, config.secrets_for({"hq": b"x" * 32}))
        except config.ConfigError as e:
            raise CliError("%s: %s: %s" % (args.inventory, d.where, provision._user_message(str(e)))) from None
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CliError("--out %s: %s" % (out, e.strerror or e)) from None
    tunnels = []
    not_provisioned = []
    for i, d in enumerate(devices, 1):
        ddir = out / d.name
        ddir.mkdir(exist_ok=True)
        d.psk = device_psk(ddir / "psk")
        d.cfg = provision.provision_root(ddir / "root", d.settings, d.psk)
        tunnels.append(hqconf.Tunnel(d.cfg, d.cfg.peers[0], name=d.name, hq_addr=args.hq_addr,
                                     device_addr=d.device_addr))
        print("[%d/%d] %s (%s): config %s in %s, PSK fingerprint %s" % (
            i, len(devices), d.name, d.cfg.id, d.cfg.fingerprint, ddir / "root",
            config.psk_fingerprint(d.psk)), flush=True)
        if d.port and args.provision:
            why = provision_serial(d, args.timeout)
            if why:
                print("  %s: not provisioned over %s: %s" % (d.name, d.port, why), file=sys.stderr, flush=True)
                not_provisioned.append(d.name)
        elif d.port:
            print("  %s: port %s given; add --provision to provision it" % (d.name, d.port), flush=True)
    conf = out / "swanctl.conf"
    hqconf.write_private(conf, hqconf.swanctl(tunnels, include_psk=True))
    print("head office: %s (%d connections, with their PSKs, mode 0600)" % (conf, len(tunnels)))
    if not_provisioned:
        raise CliError("%d device(s) not provisioned over serial: %s (the rest is done; run again to retry)"
                       % (len(not_provisioned), ", ".join(not_provisioned)))
    return 0


def register(subparsers):
    p = subparsers.add_parser("fleet", help="PSKs, device configs and one head-office config for many branches",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--inventory", required=True, metavar="CSV", help="the devices, one per row (see below)")
    p.add_argument("--out", default="fleet", metavar="DIR", help="output directory (default: ./fleet)")
    p.add_argument("--hq-id", required=True, metavar="ID", help="the head office's IKE identity")
    p.add_argument("--hq-addr", type=hqconf.ipv4_arg, metavar="ADDR", help="the head office's address (default: any)")
    p.add_argument("--remote-ts", action="append", metavar="CIDR",
                   help="head-office selectors for rows without remote_ts (repeatable or comma list)")
    p.add_argument("--ike-proposals", metavar="LIST", help="IKE proposals for rows without their own")
    p.add_argument("--esp-proposals", metavar="LIST", help="ESP proposals for rows without their own")
    p.add_argument("--ike-lifetime", type=provision._duration_arg, metavar="TIME", help="device IKE SA lifetime")
    p.add_argument("--child-lifetime", type=provision._duration_arg, metavar="TIME", help="device CHILD SA lifetime")
    p.add_argument("--dpd-delay", type=provision._duration_arg, metavar="TIME", help="liveness check interval")
    p.add_argument("--provision", action="store_true",
                   help="also provision each device that has a port over serial, and restart it")
    p.add_argument("--timeout", type=float, default=1.0, metavar="S",
                   help="serial: wait for each reply before resending (default 1 s)")
    p.epilog = __doc__.split("\n\n", 1)[1]
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.set_defaults(func=run)
