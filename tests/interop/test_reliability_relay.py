"""The fault relay itself (faultrelay.py), on loopback without namespaces or root: rates as
configured, the same decisions for the same seed, NAT rebinding seen by the far end, corruption and
duplicates visible there, both ports carried."""
import socket
import threading
import time

import pytest

import faultrelay

FRONT, NAT, DEVICE = "127.0.0.3", "127.0.0.4", "127.0.0.2"
PORTS = (15500, 14500)  # stand-ins for 500 and 4500 (no root needed)


class Rig:
    def __init__(self, tmp_path, faults, seed=1):
        self.relay = faultrelay.Relay(FRONT, NAT, DEVICE, faults, seed=seed, ports=PORTS)
        self.devices = {}
        for p in PORTS:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((DEVICE, p))
            s.settimeout(0.2)
            self.devices[p] = s
        self.stop = False
        self.got = {p: [] for p in PORTS}
        self.thread = threading.Thread(target=self.relay.run, args=(tmp_path / "stats.json", lambda: self.stop))
        self.thread.start()
        # Readers keep up with the relay (a socket buffer would overflow while the test sends).
        self.readers = [threading.Thread(target=self._read, args=(p,)) for p in PORTS]
        for t in self.readers:
            t.start()
        self.client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.client.bind(("127.0.0.1", 0))
        self.client.settimeout(0.2)

    def _read(self, port):
        while not self.stop:
            try:
                self.got[port].append(self.devices[port].recvfrom(2048))
            except socket.timeout:
                pass

    def close(self):
        if not self.stop:
            self.stop = True
            self.thread.join()
            for t in self.readers:
                t.join()
            self.relay.close()
            for s in [self.client, *self.devices.values()]:
                s.close()

    def send(self, n, port=PORTS[0], pace=0.0002):
        for i in range(n):
            self.client.sendto(b"%06d" % i + bytes(20), (FRONT, port))
            time.sleep(pace)

    def drain(self, port=PORTS[0]):
        """What reached the device on `port` since the last drain, once the relay has gone quiet."""
        n = -1
        while n != len(self.got[port]):
            n = len(self.got[port])
            time.sleep(0.3)
        out = self.got[port][:n]
        del self.got[port][:n]
        return out


@pytest.fixture
def rig(tmp_path):
    made = []

    def make(faults, seed=1):
        r = Rig(tmp_path, faults, seed)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def test_rates_and_seed(rig):
    figures = []
    for _ in range(2):
        r = rig({"drop": 0.2, "dup": 0.1, "reorder": 0.2, "corrupt": 0.05}, seed=42)
        r.send(2000)
        got = r.drain()
        r.close()
        up = r.relay.figures()["up"]
        figures.append(up)
        assert up["received"] == 2000
        assert 0.15 < up["dropped"] / 2000 < 0.25, up
        assert 0.06 < up["duplicated"] / 2000 < 0.14, up
        assert up["relayed"] == len(got) == 2000 - up["dropped"] + up["duplicated"], (up, len(got))
        seqs = [int(d[:6]) for d, _ in got if d[:6].isdigit()]
        assert any(b < a for a, b in zip(seqs, seqs[1:])), "nothing arrived out of order"
        assert sum(1 for d, _ in got if d[6:] != bytes(20)) >= up["corrupted"] * 0.9, "corruption not visible"
    assert figures[0] == figures[1]  # the same seed, the same decisions


def test_rebinding_and_both_ports(rig):
    r = rig({})
    r.send(3, PORTS[0])
    r.send(3, PORTS[1])
    first = {p: {src for _, src in r.drain(p)} for p in PORTS}
    assert all(len(v) == 1 and next(iter(v))[0] == NAT for v in first.values()), first
    mappings = r.relay.figures()
    r.relay.rebind_all()
    r.send(3, PORTS[0])
    after = {src for _, src in r.drain(PORTS[0])}
    assert len(after) == 1 and after != first[PORTS[0]], (first, after)
    # The device's answer to the old port is lost (counted), to the new one relayed to the client.
    old_src, new_src = next(iter(first[PORTS[0]])), next(iter(after))
    r.devices[PORTS[0]].sendto(b"to-old", old_src)
    r.devices[PORTS[0]].sendto(b"to-new", new_src)
    r.client.settimeout(2.0)
    assert r.client.recvfrom(2048)[0] == b"to-new"
    time.sleep(0.2)
    f = r.relay.figures()
    assert f["stale_rx"] == 1 and f["rebinds"] == 2 and f["down"]["relayed"] == 1, f
    assert mappings["rebinds"] == 0
