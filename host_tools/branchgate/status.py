"""`branchgate status --port PORT [--json]`: what a device is doing, read over its serial console
(the provisioning protocol): identity, firmware, mode (running, or safe mode and why), reset cause,
uptime, heap, config generation and fingerprint, IKE and CHILD SAs with their algorithms and
counters, and the last errors from its log."""
import json

from .cli import CliError
from .link import Link, LinkError


def _sa_lines(st):
    out = []
    for s in st.get("ike", []):
        out.append("  IKE %s %s %s[%s] %s-%s/%s/%s/%s, %d s%s" % (
            s.get("peer") or "?", s["state"], s["remote"], "NAT" if s.get("nat") else "no NAT", s["encr"],
            s["keylen"], s["integ"], s["prf"], s["dh"], s["age_s"],
            ", device is initiator (it rekeyed the SA)" if s.get("initiator") else ""))
    for c in st.get("child", []):
        cnt = c.get("counters", {})
        out.append("  CHILD %s %s === %s, SPIs %s_i %s_o, %s-%s/%s%s, %d s, in %s/%s out %s/%s (packets/bytes)" % (
            c["state"], ",".join(c["local_ts"]), ",".join(c["remote_ts"]), c["spi_in"], c["spi_out"], c["encr"],
            c["keylen"], c["integ"], "/" + c["dh"] if c.get("dh") else "", c["age_s"],
            cnt.get("packets_in", 0), cnt.get("bytes_in", 0), cnt.get("packets_out", 0), cnt.get("bytes_out", 0)))
    return out


def describe(hello, st):
    """Human-readable lines for a hello and a status reply."""
    mode = "running" if st["mode"] == "run" else "SAFE MODE (%s)" % (st.get("safe_mode") or hello.get("reason"))
    lines = [
        "device %s (board %s), firmware %s: %s" % (hello["device"], st.get("board"), hello["fw"], mode),
        "  up %d s, reset cause %s, %d crashes before this boot, heap free %d of %d" % (
            st["uptime_s"], st.get("reset_cause"), st.get("crashes", 0), st["heap_free"],
            st["heap_free"] + st.get("heap_used", 0)),
        "  config generation %s, fingerprint %s%s" % (
            st["generation"], st["fingerprint"], ", ERROR: %s" % st["config_error"] if st.get("config_error") else ""),
        "SAs: %d IKE, %d CHILD" % (len(st.get("ike", [])), len(st.get("child", []))),
    ]
    lines += _sa_lines(st)
    for group, counters in sorted(st.get("counters", {}).items()):
        if isinstance(counters, dict):
            lines.append("counters %s: %s" % (group, ", ".join("%s %s" % kv for kv in sorted(counters.items()))))
    if st.get("errors"):
        lines.append("last errors:")
        lines += ["  " + e for e in st["errors"]]
    return lines


def run(args):
    try:
        with Link(args.port, timeout=args.timeout) as link:
            hello = link.hello()
            st = link.request("status")
    except LinkError as e:
        raise CliError(str(e)) from None
    for r in (hello, st):
        r.pop("id", None)
        r.pop("ok", None)
    if args.json:
        print(json.dumps({"device": hello, "status": st}, indent=2, sort_keys=True))
    else:
        print("\n".join(describe(hello, st)))
    return 0


def add_port_options(p):
    p.add_argument("--port", required=True, metavar="PORT",
                   help="the device's serial console (e.g. /dev/ttyUSB0, or the sim board's pty)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--timeout", type=float, default=1.0, metavar="SECONDS",
                   help="wait this long for each reply before asking again (default 1)")


def register(subparsers):
    p = subparsers.add_parser("status", help="show a device's SAs, counters and health over its serial console",
                              description=__doc__.split("\n\n")[0], allow_abbrev=False)
    add_port_options(p)
    p.set_defaults(func=run)
