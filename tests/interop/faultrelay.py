"""WAN fault emulator for the reliability tests: a userspace UDP relay (this kernel has no netem).

Head office talks to the relay's front address instead of the device; the relay forwards each
datagram from a NAT address with a port of its own per head-office socket (a NAT mapping), so the
device sees a peer behind a NAT, as a branch on the internet does. Both UDP 500 and 4500 are carried
(strongSwan floats to 4500; with kernel-libipsec its ESP is always ESP-in-UDP on 4500).

    hq 10.99.0.1 --> 10.99.0.3:{500,4500} [relay namespace] 10.99.0.4:<mapped> --> device 10.99.0.2
                     (front address)                         (NAT address)

(the relay has its own namespace between the two: charon holds the wildcard UDP 500/4500 in hq's.)

Faults, each a rate in [0, 1] applied per datagram and direction ("up": head office -> device,
"down": device -> head office): drop, dup (send twice), reorder (hold it back reorder_ms so later
ones overtake it), corrupt (flip 1-3 bytes), rebind (before forwarding an "up" datagram, move its
mapping to a new NAT port: RFC 7296 2.23's NAT rebinding); plus delay_ms and jitter_ms for every
datagram. One random generator per direction from --seed: the same input gives the same decisions.

Run as a script in the relay namespace (FaultRelay below does that for a test):
    faultrelay.py --listen IP --nat IP --target IP --faults FILE --stats FILE [--seed N] [--record FILE]
SIGHUP re-reads the faults file, SIGUSR1 rebinds every mapping now, SIGTERM prints the figures and
exits. The figures (JSON) are rewritten to the stats file while it runs. --record appends every
datagram received, one JSON line {"t", "dir", "port", "hex"}, before any fault is applied.
"""
import argparse
import heapq
import json
import os
import random
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PORTS = (500, 4500)
FRONT_IP = "10.99.0.3"
NAT_IP = "10.99.0.4"
RATES = ("drop", "dup", "reorder", "corrupt", "rebind")
TIMES = ("delay_ms", "jitter_ms", "reorder_ms")
COUNTERS = ("received", "relayed", "dropped", "duplicated", "reordered", "corrupted", "send_errors")
STALE_KEPT = 8  # old NAT ports kept open after a rebind: what reaches them is counted, then dropped


def parse_faults(d):
    """{"drop": 0.2, ..., "up": {...overrides}, "down": {...}} -> {"up": {...}, "down": {...}}."""
    base = {k: 0.0 for k in RATES}
    base.update({"delay_ms": 0.0, "jitter_ms": 0.0, "reorder_ms": 30.0})
    out = {}
    for direction in ("up", "down"):
        f = dict(base)
        for src in (d, d.get(direction, {})):
            for k, v in src.items():
                if k in RATES or k in TIMES:
                    f[k] = float(v)
                elif k not in ("up", "down"):
                    raise ValueError("unknown fault %r" % k)
        for k in RATES:
            if not 0.0 <= f[k] <= 1.0:
                raise ValueError("%s rate %r not in [0, 1]" % (k, f[k]))
        out[direction] = f
    return out


class Mapping:
    """One NAT mapping: a head-office socket (client address, front port) <-> a NAT port."""

    def __init__(self, relay, front, client, port):
        self.front = front
        self.client = client
        self.port = port
        self.back = None
        self.bind(relay)

    def bind(self, relay):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((relay.nat_ip, 0))
        s.setblocking(False)
        self.back = s
        self.nat_port = s.getsockname()[1]


class Relay:
    def __init__(self, listen_ip, nat_ip, target_ip, faults, seed=0, ports=PORTS, record=None):
        self.listen_ip = listen_ip
        self.nat_ip = nat_ip
        self.target_ip = target_ip
        self.faults = parse_faults(faults)
        self.rng = {"up": random.Random("%s-up" % seed), "down": random.Random("%s-down" % seed)}
        self.counters = {d: {k: 0 for k in COUNTERS} for d in ("up", "down")}
        self.rebinds = 0
        self.stale_rx = 0     # datagrams from the device to a NAT port given up by a rebind
        self.foreign_rx = 0   # datagrams on a NAT port from anyone but the device
        self.fronts = {}      # socket -> port
        self.mappings = {}    # (client, port) -> Mapping
        self.by_back = {}     # back socket -> Mapping
        self.stale = []       # old back sockets
        self.queue = []       # (due, seq, sock, data, dest, direction)
        self.seq = 0
        self.record = record
        for p in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((listen_ip, p))
            s.setblocking(False)
            self.fronts[s] = p

    # ---- faults -------------------------------------------------------------------------------

    def forward(self, direction, sock, data, dest):
        """Apply this direction's faults to one datagram and queue what survives."""
        f = self.faults[direction]
        rng = self.rng[direction]
        n = self.counters[direction]
        n["received"] += 1
        if rng.random() < f["drop"]:
            n["dropped"] += 1
            return
        if data and rng.random() < f["corrupt"]:
            b = bytearray(data)
            for _ in range(rng.randint(1, 3)):
                b[rng.randrange(len(b))] ^= rng.randint(1, 255)
            data = bytes(b)
            n["corrupted"] += 1
        copies = 1
        if rng.random() < f["dup"]:
            copies = 2
            n["duplicated"] += 1
        now = time.monotonic()
        for _ in range(copies):
            delay = f["delay_ms"] + rng.uniform(0, f["jitter_ms"])
            if rng.random() < f["reorder"]:
                delay += f["reorder_ms"]
                n["reordered"] += 1
            self.seq += 1
            heapq.heappush(self.queue, (now + delay / 1000.0, self.seq, sock, data, dest, direction))

    def flush(self):
        now = time.monotonic()
        while self.queue and self.queue[0][0] <= now:
            _, _, sock, data, dest, direction = heapq.heappop(self.queue)
            try:
                sock.sendto(data, dest)
                self.counters[direction]["relayed"] += 1
            except OSError:
                self.counters[direction]["send_errors"] += 1  # socket closed by a rebind, buffer full

    def rebind(self, m):
        old = m.back
        del self.by_back[old]
        self.stale.append(old)
        while len(self.stale) > STALE_KEPT:
            self.stale.pop(0).close()
        m.bind(self)
        self.by_back[m.back] = m
        self.rebinds += 1

    def rebind_all(self):
        for m in list(self.mappings.values()):
            self.rebind(m)

    # ---- I/O ----------------------------------------------------------------------------------

    def _record(self, direction, port, data):
        if self.record is not None:
            self.record.write(json.dumps({"t": time.time(), "dir": direction, "port": port, "hex": data.hex()}) + "\n")
            self.record.flush()

    def from_front(self, sock):
        port = self.fronts[sock]
        data, client = sock.recvfrom(65535)
        self._record("up", port, data)
        m = self.mappings.get((client, port))
        if m is None:
            m = self.mappings[(client, port)] = Mapping(self, sock, client, port)
            self.by_back[m.back] = m
        elif self.faults["up"]["rebind"] and self.rng["up"].random() < self.faults["up"]["rebind"]:
            self.rebind(m)
        self.forward("up", m.back, data, (self.target_ip, port))

    def from_back(self, sock):
        data, src = sock.recvfrom(65535)
        m = self.by_back.get(sock)
        if m is None:
            self.stale_rx += 1
            return
        if src != (self.target_ip, m.port):
            self.foreign_rx += 1
            return
        self._record("down", m.port, data)
        self.forward("down", m.front, data, m.client)

    def figures(self):
        return {"up": dict(self.counters["up"]), "down": dict(self.counters["down"]), "rebinds": self.rebinds,
                "stale_rx": self.stale_rx, "foreign_rx": self.foreign_rx,
                "mappings": {"%s:%d->%d" % (m.client[0], m.client[1], m.port): m.nat_port
                             for m in self.mappings.values()},
                "faults": self.faults}

    def sockets(self):
        return list(self.fronts) + list(self.by_back) + self.stale

    def close(self):
        for s in self.sockets():
            s.close()

    def run(self, stats_path, stop):
        """Relay until stop() is true; figures rewritten to stats_path at most every 100 ms."""
        written = 0.0
        while not stop():
            socks = self.sockets()
            timeout = 0.1
            if self.queue:
                timeout = max(0.0, min(timeout, self.queue[0][0] - time.monotonic()))
            try:
                readable = select.select(socks, [], [], timeout)[0]
            except InterruptedError:
                readable = []
            for s in readable:
                if s.fileno() < 0:
                    continue  # closed by a rebind in this round
                try:
                    if s in self.fronts:
                        self.from_front(s)
                    else:
                        self.from_back(s)
                except (BlockingIOError, ConnectionRefusedError):
                    pass
            self.flush()
            now = time.monotonic()
            if now - written >= 0.1:
                write_stats(stats_path, self.figures())
                written = now
        write_stats(stats_path, self.figures())


def write_stats(path, figures):
    tmp = str(path) + ".new"
    with open(tmp, "w") as f:
        json.dump(figures, f)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", default=FRONT_IP)
    ap.add_argument("--nat", default=NAT_IP)
    ap.add_argument("--target", required=True)
    ap.add_argument("--faults", required=True, help="JSON file of rates (re-read on SIGHUP)")
    ap.add_argument("--stats", required=True, help="JSON file the figures are written to")
    ap.add_argument("--seed", default="0")
    ap.add_argument("--record", help="append every datagram received (JSON lines)")
    a = ap.parse_args(argv)
    record = open(a.record, "a") if a.record else None
    relay = Relay(a.listen, a.nat, a.target, json.loads(Path(a.faults).read_text()), a.seed, record=record)
    flags = {"stop": False, "reload": False, "rebind": False}
    signal.signal(signal.SIGTERM, lambda *_: flags.update(stop=True))
    signal.signal(signal.SIGINT, lambda *_: flags.update(stop=True))
    signal.signal(signal.SIGHUP, lambda *_: flags.update(reload=True))
    signal.signal(signal.SIGUSR1, lambda *_: flags.update(rebind=True))

    def stop():
        if flags["reload"]:
            flags["reload"] = False
            relay.faults = parse_faults(json.loads(Path(a.faults).read_text()))
        if flags["rebind"]:
            flags["rebind"] = False
            relay.rebind_all()
        return flags["stop"]

    relay.run(a.stats, stop)
    print(format_figures(relay.figures()))
    return 0


def format_figures(f):
    lines = []
    for d, what in (("up", "hq->device"), ("down", "device->hq")):
        n = f[d]
        lines.append("relay %-10s received %d relayed %d dropped %d duplicated %d reordered %d corrupted %d "
                     "send errors %d" % (what, n["received"], n["relayed"], n["dropped"], n["duplicated"],
                                         n["reordered"], n["corrupted"], n["send_errors"]))
    lines.append("relay NAT rebinds %d, datagrams to given-up NAT ports %d, foreign %d"
                 % (f["rebinds"], f["stale_rx"], f["foreign_rx"]))
    return "\n".join(lines)


class FaultRelay:
    """The relay as a test uses it: started in lab.relay (see reliability.relay_lab()), its faults
    changed and its NAT mappings rebound while it runs."""

    def __init__(self, lab, workdir, faults=None, seed=0, record=False, front=FRONT_IP, nat=NAT_IP):
        self.lab = lab
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.front = front
        self.nat = nat
        self.faults_file = self.dir / "faults.json"
        self.stats_file = self.dir / "relay-stats.json"
        self.record_file = self.dir / "relay-record.jsonl" if record else None
        self.out = self.dir / "relay.out"
        self.faults_file.write_text(json.dumps(faults or {}))
        self.seed = seed
        self.proc = None

    def start(self, target, timeout=10.0):
        argv = [sys.executable, Path(__file__).resolve(), "--listen", self.front, "--nat", self.nat, "--target", target,
                "--faults", self.faults_file, "--stats", self.stats_file, "--seed", self.seed]
        if self.record_file:
            argv += ["--record", self.record_file]
        self._out = open(self.out, "w")
        self.proc = self.lab.relay.popen(argv, stdout=self._out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self.stats_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fault relay did not start:\n" + self.out.read_text())
            time.sleep(0.05)
        return self

    def set_faults(self, **faults):
        """Replace the fault rates (parse_faults syntax) while running."""
        self.faults_file.write_text(json.dumps(faults))
        parse_faults(faults)
        self.proc.send_signal(signal.SIGHUP)
        self._wait(lambda f: f["faults"] == parse_faults(faults), "new faults")

    def rebind(self):
        """Move every NAT mapping to a new port now; returns the new {mapping: port}."""
        before = self.figures()["rebinds"]
        self.proc.send_signal(signal.SIGUSR1)
        return self._wait(lambda f: f["rebinds"] > before, "rebind")["mappings"]

    def figures(self):
        for _ in range(50):
            try:
                return json.loads(self.stats_file.read_text())
            except (OSError, ValueError):
                time.sleep(0.02)
        raise RuntimeError("cannot read the relay's figures")

    def _wait(self, pred, what, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            f = self.figures()
            if pred(f):
                return f
            if time.monotonic() > deadline:
                raise RuntimeError("fault relay: no %s within %.0f s" % (what, timeout))
            time.sleep(0.05)

    def records(self, direction=None):
        """The recorded datagrams [(dir, port, bytes)] (needs record=True)."""
        out = []
        for line in self.record_file.read_text().splitlines():
            r = json.loads(line)
            if direction is None or r["dir"] == direction:
                out.append((r["dir"], r["port"], bytes.fromhex(r["hex"])))
        return out

    def stop(self):
        """SIGTERM; returns the final figures (also printed by the relay to relay.out)."""
        if self.proc is None:
            return None
        self.lab.stop(self.proc)
        self._out.close()
        self.proc = None
        return self.figures()


if __name__ == "__main__":
    sys.exit(main())
