"""`branchgate logs --port PORT [--follow] [--json]`: a device's recent log lines (its log ring),
read over its serial console with the provisioning protocol; --follow keeps polling for new ones
until Ctrl-C, across device restarts."""
import json
import time

from .cli import CliError
from .link import Link, LinkError
from .status import add_port_options

POLL_S = 0.5


def _emit(args, n, line):
    print(json.dumps({"n": n, "line": line}) if args.json else line, flush=True)


def run(args):
    try:
        with Link(args.port, timeout=args.timeout) as link:
            boot = link.hello()["boot"]
            since = 0
            while True:
                r = link.request("logs", since=since)
                first = r["next"] - len(r["lines"])
                if first > since and since:
                    _emit(args, since, "--- %d lines lost (log ring overrun) ---" % (first - since))
                for i, line in enumerate(r["lines"]):
                    _emit(args, first + i, line)
                since = r["next"]
                if not args.follow:
                    return 0
                time.sleep(POLL_S)
                h = link.wait_hello(60)  # a restart starts a new log
                if h["boot"] != boot:
                    boot, since = h["boot"], 0
                    _emit(args, 0, "--- device restarted ---")
    except LinkError as e:
        raise CliError(str(e)) from None
    except KeyboardInterrupt:
        return 0


def register(subparsers):
    p = subparsers.add_parser("logs", help="show a device's recent log lines over its serial console",
                              description=__doc__.split("\n\n")[0], allow_abbrev=False)
    add_port_options(p)
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until Ctrl-C")
    p.set_defaults(func=run)
