"""Issue 7, hostile input to the LIVE sim board: >= 100,000 malformed datagrams on UDP 500/4500, an
IKE_SA_INIT flood from many addresses and ports, and initiators that push past the configured limits.
The device must keep running with its heap back at its baseline, account for what it dropped, keep
its established tunnel, and let a legitimate strongSwan in. Each test prints its FIGURES line.

The blasts come from tests/interop/udpblast.py (WAN) and lanblast.py (LAN) run by CPython in the
head-office and LAN-host namespaces.

Per-source limits, as strongSwan's (config.py LIMIT_DEFAULTS, `limits` in the device's settings):
cookie_threshold (8) half-open SAs in all, or cookie_threshold_ip (3) from one address, and every
IKE_SA_INIT must bring our COOKIE back (RFC 7296 2.6: stateless, no DH); block_threshold (5)
half-open SAs from one address and its IKE_SA_INITs are dropped unanswered (logged at debug only);
max_half_open (16): TEMPORARY_FAILURE; max_ike_sas (4) / max_child_sas (8): NO_ADDITIONAL_SAS."""
import json
import os
import subprocess
import sys
import threading
import time

import pytest

import netns
import reliability as rel
import test_responder as tr

pytestmark = pytest.mark.interop

MALFORMED_COUNT = int(os.environ.get("BRANCHGATE_MALFORMED_COUNT", 100000))
MALFORMED_RATE = int(os.environ.get("BRANCHGATE_MALFORMED_RATE", 5000))  # starting rate (adapted)
MALFORMED_MIN_RATE = 3000  # the blast ends within ~35 s however slow the device is
HALF_OPEN_S = 3   # half-open SAs expire this fast here, so the heap is measured without them
FLOOD_SOURCES = ["10.99.0.%d" % n for n in range(100, 116)]


def blast(lab, tmp_path, mode, spec, timeout=300):
    f = tmp_path / ("%s.json" % mode)
    f.write_text(json.dumps(spec))
    p = lab.hq.run([sys.executable, rel.UDPBLAST, mode, f], timeout=timeout)
    return json.loads(p.stdout.strip().splitlines()[-1])


def start(lab, hq, sim_board, psk):
    board = sim_board(lab, psk=psk, ike_proposals=rel.IKE, esp_proposals=rel.ESP,
                      timers={"half_open_timeout": HALF_OPEN_S})
    hq.load(rel.hq_conf(psk))
    return board


def settle(board, timeout=30.0):
    """Wait until the device has read everything (its rx counter stops moving across two status
    refreshes) and no half-open SA is left; returns the status."""
    last = None
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(2.2)
        s = rel.status(board)
        key = (s["counters"]["rx"], s["counters"]["dropped"])
        if key == last and not [i for i in s["ike"] if i["state"] == "half-open"]:
            return s
        assert time.monotonic() < deadline, "device did not settle: %r" % s
        last = key


ESP_OUTCOMES = ("packets_in", "replay_drops", "icv_failures", "pad_errors", "proto_drops", "dummy_drops",
                "policy_drops", "expired_drops")


def esp_outcomes(status):
    """ESP datagrams the device has accounted for: engine drops before an SA is found, and each
    CHILD SA's packets in and drops."""
    eng = (status.get("dataplane") or {}).get("esp") or {}
    n = eng.get("malformed", 0) + eng.get("no_sa", 0)
    for c in status["child"]:
        n += sum(c["counters"].get(k, 0) for k in ESP_OUTCOMES)
    return n


def blast_adaptive(lab, tmp_path, live):
    """MALFORMED_COUNT malformed datagrams in chunks of about two seconds, the rate adapted to what
    the device absorbs: down while its socket overflows (its namespace's UDP RcvbufErrors), up while
    it keeps up, never below MALFORMED_MIN_RATE. Returns the blaster's figures, summed, with the
    rates used."""
    total = {"sent": 0, "ike": 0, "esp": 0, "by_kind": {}, "by_port": {}, "replies": 0, "rates": []}
    rate = MALFORMED_RATE
    t0 = time.monotonic()
    seed = 7
    while total["sent"] < MALFORMED_COUNT:
        chunk = min(max(rate * 2, 2000), MALFORMED_COUNT - total["sent"])
        before = rel.udp_counters(lab.device)["RcvbufErrors"]
        out = blast(lab, tmp_path, "malformed", {"target": netns.DEVICE_WAN, "src": netns.HQ_WAN, "count": chunk,
                                                 "rate": rate, "seed": seed, "sockets": 32, "live": live})
        seed += 1
        time.sleep(0.2)
        lost = rel.udp_counters(lab.device)["RcvbufErrors"] - before
        total["rates"].append(rate)
        rate = max(MALFORMED_MIN_RATE, int(rate * 0.7)) if lost > 0.02 * chunk else int(rate * 1.15)
        for k in ("sent", "ike", "esp", "replies"):
            total[k] += out[k]
        for group in ("by_kind", "by_port"):
            for k, v in out[group].items():
                total[group][str(k)] = total[group].get(str(k), 0) + v
    total["seconds"] = round(time.monotonic() - t0, 1)
    return total


def test_malformed_flood_live_device(request, lab, hq_charon, sim_board, psk, tmp_path):
    board = start(lab, hq_charon, sim_board, psk)
    p = hq_charon.initiate(child="net")
    assert "CHILD_SA net{1} established" in p.stdout, p.stdout
    sa, child = tr.wait_agree(hq_charon, board)
    heap_before = rel.heap_free(board)
    before = rel.status(board)
    udp_before = rel.udp_counters(lab.device)
    mark = board.log_mark()
    live = {"spi_i": sa["initiator-spi"], "spi_r": sa["responder-spi"], "msg_id": 2, "esp_spi": child["spi-out"]}
    sent = blast_adaptive(lab, tmp_path, live)
    after = settle(board)
    udp_after = rel.udp_counters(lab.device)
    heap_after = rel.heap_free(board)
    kernel_drops = udp_after["RcvbufErrors"] - udp_before["RcvbufErrors"]
    delivered = udp_after["InDatagrams"] - udp_before["InDatagrams"]
    rx = after["counters"]["rx"] - before["counters"]["rx"]
    dropped = after["counters"]["dropped"] - before["counters"]["dropped"]
    console = board.log_since(mark).splitlines()
    esp_counted = esp_outcomes(after) - esp_outcomes(before)
    rel.figures("malformed input", sent=sent, kernel_rcvbuf_drops=kernel_drops, delivered_to_device=delivered,
                ike_rx=rx, ike_dropped=dropped, ikev1=after["counters"]["ikev1"] - before["counters"]["ikev1"],
                heap_before=heap_before, heap_after=heap_after, console_lines=len(console),
                esp_counted=esp_outcomes(after) - esp_outcomes(before), dataplane=after.get("dataplane"),
                child_counters=[c["counters"] for c in after["child"]])
    assert rel.alive(board) and not rel.console_faults(board), rel.console_faults(board)
    # Every datagram reached the device or was dropped by its kernel for want of reading in time.
    send_errors = sum(v for k, v in sent["by_kind"].items() if k.endswith("_send_error"))
    assert delivered + kernel_drops >= sent["sent"] - send_errors
    assert delivered >= 0.2 * sent["sent"], "the device read only %d of %d datagrams" % (delivered, sent["sent"])
    # The IKE datagrams it read were counted, and nearly all of them dropped with a counter (the
    # rest: mutated IKE_SA_INITs that were still valid, answered or taken as retransmits).
    assert sent["ike"] - kernel_drops <= rx <= sent["ike"]
    assert dropped >= 0.9 * rx, (dropped, rx)
    # Every ESP datagram it read ended in exactly one counter: accepted, or dropped for a reason.
    assert sent["esp"] - kernel_drops <= esp_counted <= sent["esp"], (esp_counted, sent["esp"])
    assert rel.heap_returned(heap_before, heap_after), (heap_before, heap_after)
    # The tunnel that was up is the same, and strongSwan can still rekey it and start a new one.
    assert tr.views_agree(hq_charon, board) is not None
    hq_charon.rekey(child="net")
    tr.wait_new(hq_charon, board, tr.child_spi, {child["spi-in"]})
    hq_charon.terminate(ike="branch")
    hq_charon.wait_for(lambda c: not c.list_sas(), what="IKE SA gone")
    p = hq_charon.initiate(child="net")
    assert "CHILD_SA net{" in p.stdout and "established" in p.stdout, p.stdout
    tr.wait_agree(hq_charon, board)


@pytest.mark.soak
def test_malformed_flood_soak(request, lab, hq_charon, sim_board, psk, tmp_path, monkeypatch):
    """The same for BRANCHGATE_SOAK_SECONDS (make soak), at the rate the device absorbs."""
    monkeypatch.setattr(sys.modules[__name__], "MALFORMED_COUNT", int(rel.soak_seconds() * MALFORMED_RATE))
    test_malformed_flood_live_device(request, lab, hq_charon, sim_board, psk, tmp_path)


def add_sources(lab, sources):
    for a in sources:
        lab.hq.ip("addr", "add", a + "/32", "dev", lab.hq_wan_if)


class Watch:
    """Samples the device's status while something runs: most half-open SAs, least free heap."""

    def __init__(self, board):
        self.board = board
        self.max_half_open = 0
        self.min_heap = None
        self.samples = 0

    def sample(self):
        try:
            s = self.board.sas()
        except ValueError:
            return
        if s is None:
            return
        self.samples += 1
        half = len([i for i in s["ike"] if i["state"] == "half-open"])
        self.max_half_open = max(self.max_half_open, half)
        self.min_heap = s["heap_free"] if self.min_heap is None else min(self.min_heap, s["heap_free"])


def test_init_flood_cookies_and_legit_initiator(request, lab, hq_charon, sim_board, psk, tmp_path):
    """1,000 IKE_SA_INITs from 16 addresses x 8 ports within a few seconds, never returning a
    cookie; strongSwan initiates in the middle of it. Limits are the defaults (config.py):
    cookie_threshold 8 half-open in all, cookie_threshold_ip 3 per address, block_threshold 5 per
    address, max_half_open 16."""
    add_sources(lab, FLOOD_SOURCES)
    board = sim_board(lab, psk=psk, ike_proposals=rel.IKE, esp_proposals=rel.ESP, timers={"half_open_timeout": 10})
    hq_charon.load(rel.hq_conf(psk))
    heap_before = rel.heap_free(board, 0.5)
    spec = {"target": netns.DEVICE_WAN, "sources": FLOOD_SOURCES, "sockets": 8, "count": 1000, "rate": 300}
    f = tmp_path / "flood.json"
    f.write_text(json.dumps(spec))
    flood = lab.hq.popen([sys.executable, rel.UDPBLAST, "init-flood", f], stdout=subprocess.PIPE, text=True)
    watch = Watch(board)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.7:
        watch.sample()
        time.sleep(0.02)
    result = {}
    th = threading.Thread(target=lambda: result.update(p=hq_charon.initiate(child="net", timeout=20, check=False)))
    th.start()
    while flood.poll() is None or th.is_alive():
        watch.sample()
        time.sleep(0.02)
    th.join()
    out = json.loads(flood.stdout.read().strip().splitlines()[-1])
    p = result["p"]
    legit_s = p.elapsed
    tr.wait_agree(hq_charon, board)
    status = rel.status(board)
    rel.figures("IKE_SA_INIT flood", flood=out, legit_initiate_s=round(legit_s, 2),
                legit_got_cookie="N(COOKIE)" in p.stdout, max_half_open=watch.max_half_open,
                min_heap_free=watch.min_heap, heap_before=heap_before, status_samples=watch.samples,
                device_counters=status["counters"],
                limits={"cookie_threshold": 8, "cookie_threshold_ip": 3, "block_threshold": 5, "max_half_open": 16})
    assert "CHILD_SA net{1} established" in p.stdout, p.stdout
    assert "N(COOKIE)" in p.stdout, p.stdout  # it came in the middle of the flood: cookies were on
    answers = out["answers"]
    assert answers.get("cookie", 0) > 0.9 * out["sent"], answers    # cookies switched on ...
    assert answers.get("sa", 0) <= 8, answers                          # ... at the threshold
    assert watch.max_half_open <= 16, watch.max_half_open
    assert rel.alive(board) and not rel.console_faults(board), rel.console_faults(board)


@pytest.mark.soak
def test_init_flood_soak(request, lab, hq_charon, sim_board, psk, tmp_path):
    """Floods of 1,000 IKE_SA_INITs back to back for BRANCHGATE_SOAK_SECONDS, strongSwan bringing a
    tunnel up and down between them; the device's least free heap and most half-open SAs shown."""
    add_sources(lab, FLOOD_SOURCES)
    board = sim_board(lab, psk=psk, ike_proposals=rel.IKE, esp_proposals=rel.ESP, timers={"half_open_timeout": 10})
    hq_charon.load(rel.hq_conf(psk))
    spec = {"target": netns.DEVICE_WAN, "sources": FLOOD_SOURCES, "sockets": 8, "count": 1000, "rate": 300}
    watch = Watch(board)
    deadline = time.monotonic() + rel.soak_seconds()
    floods = handshakes = 0
    while time.monotonic() < deadline:
        f = tmp_path / "flood.json"
        f.write_text(json.dumps(spec))
        flood = lab.hq.popen([sys.executable, rel.UDPBLAST, "init-flood", f], stdout=subprocess.PIPE, text=True)
        p = hq_charon.initiate(child="net", timeout=20)
        assert "established" in p.stdout, p.stdout
        handshakes += 1
        while flood.poll() is None:
            watch.sample()
            time.sleep(0.05)
        floods += 1
        hq_charon.terminate(ike="branch")
    rel.figures("IKE_SA_INIT flood soak", floods=floods, handshakes=handshakes, max_half_open=watch.max_half_open,
                min_heap_free=watch.min_heap, device_counters=rel.status(board)["counters"])
    assert watch.max_half_open <= 16
    assert rel.alive(board) and not rel.console_faults(board), rel.console_faults(board)


def test_limits_half_open_ike_child(request, lab, sim_board, psk, tmp_path):
    """Configured limits, each pushed past: per-address cookie and block thresholds, max_half_open
    (TEMPORARY_FAILURE), max_ike_sas and max_child_sas (NO_ADDITIONAL_SAS): the right answer, a log
    line naming the limit, never a MemoryError."""
    limits = {"max_ike_sas": 2, "max_child_sas": 3, "max_half_open": 6, "cookie_threshold": 4,
              "cookie_threshold_ip": 2, "block_threshold": 4}
    sources = ["10.99.0.100", "10.99.0.101", "10.99.0.102"]
    add_sources(lab, sources)
    hq = rel.start_charon(request, lab, tmp_path / "hq")
    rel.hq_addresses(lab, 5)
    board = sim_board(lab, psk=psk, ike_proposals=rel.IKE, esp_proposals=rel.ESP, timers={"half_open_timeout": 4})
    board.stop()
    board.configure("limits", **limits)
    board.start()
    mark = board.log_mark()
    runs = [blast(lab, tmp_path, "init-cookie", {"target": netns.DEVICE_WAN, "src": src, "count": n, "timeout": 1.0})
            for src, n in ((sources[0], 6), (sources[1], 2), (sources[2], 2))]
    outcomes = [r["outcomes"] for r in runs]
    # Address 1: 2 half-open without cookies, 2 more with them, then blocked (silently dropped).
    assert outcomes[0] == ["sa", "sa", "cookie+sa", "cookie+sa", "silence", "silence"], outcomes
    # Address 2: 4 half-open in all, so cookies for everyone; 6 reaches max_half_open.
    assert outcomes[1] == ["cookie+sa", "cookie+sa"], outcomes
    # Address 3: past max_half_open: TEMPORARY_FAILURE (43).
    assert outcomes[2] == ["cookie+notify_43", "cookie+notify_43"], outcomes
    # (blocked requests are dropped silently and logged at debug level only: the flood path)
    board.wait_log(r"limit max_half_open=6", mark)
    rel.wait_status(board, lambda s: not s["ike"], timeout=15, what="half-open SAs expired")

    # IKE SAs: two connections fit, the third gets NO_ADDITIONAL_SAS (35) in IKE_SA_INIT.
    hq.load(rel.multi_conf(psk, {"branch": ["net", "net2", "net3"], "branch2": ["net"], "branch3": ["net"]}))
    hq.initiate(ike="branch", child="net")
    hq.initiate(ike="branch2", child="net")
    p = hq.initiate(ike="branch3", child="net", check=False)
    assert p.returncode != 0 and "NO_ADDITIONAL_SAS" in p.stdout, p.stdout
    board.wait_log(r"limit max_ike_sas=2", mark)
    # CHILD SAs: two up (one per IKE SA), a third fits, a fourth gets NO_ADDITIONAL_SAS.
    hq.initiate(ike="branch", child="net2")
    p = hq.initiate(ike="branch", child="net3", check=False)
    assert p.returncode != 0 and "NO_ADDITIONAL_SAS" in p.stdout, p.stdout
    board.wait_log(r"limit max_child_sas=3", mark)
    s = rel.status(board)
    rel.figures("limits", limits=limits, half_open_outcomes=outcomes, ike_sas=len(s["ike"]), child_sas=len(s["child"]),
                device_counters=s["counters"])
    assert len(s["ike"]) == 2 and len(s["child"]) == 3, s
    assert rel.alive(board) and not rel.console_faults(board), rel.console_faults(board)


LAN_COUNT = int(os.environ.get("BRANCHGATE_LAN_FRAMES", 20000))


def test_malformed_lan_frames(request, lan_lab, hq_charon, sim_board, psk, tmp_path):
    """Malformed frames on the LAN port (runts, bad IPv4 headers and checksums, fragments, broken TCP
    options, bad ARP, odd ethertypes...): the gateway counts and drops them, keeps its heap, and the
    LAN host still reaches head office through the tunnel."""
    import test_dataplane as dp
    lab = lan_lab
    dp.result(dp.tool(lab.lan, "tx-csum-off", lab.lan_if))
    board = sim_board(lab, psk=psk, ike_proposals=rel.IKE, esp_proposals=rel.ESP,
                      lan="%s/%d" % (netns.DEVICE_LAN, netns.LAN_PREFIX), lan_port=lab.device_lan_if)
    hq_charon.load(rel.hq_conf(psk))
    hq_charon.initiate(child="net")
    tr.wait_agree(hq_charon, board)
    rtts, out = lab.lan.ping(netns.LAN_HOST, netns.HQ_HOST, count=2)
    assert rtts and None not in rtts, out
    heap_before = rel.heap_free(board)
    before = rel.status(board)["dataplane"]["lan"]
    mac = json.loads(lab.device.ip("-j", "link", "show", lab.device_lan_if).stdout)[0]["address"].replace(":", "")
    spec = {"ifname": lab.lan_if, "device_mac": mac, "count": LAN_COUNT, "rate": 4000, "seed": 5}
    f = tmp_path / "lan.json"
    f.write_text(json.dumps(spec))
    sent = json.loads(lab.lan.run([sys.executable, rel.LANBLAST, f], timeout=300).stdout.strip().splitlines()[-1])
    last = None
    for _ in range(20):  # until the gateway's frame counter stops moving across a status refresh
        time.sleep(2.2)
        after = rel.status(board)["dataplane"]["lan"]
        if after == last:
            break
        last = after
    heap_after = rel.heap_free(board)
    delta = {k: after[k] - before[k] for k in after if after[k] != before[k]}
    drops = sum(v for k, v in delta.items() if k.startswith("drop_"))
    rel.figures("malformed LAN frames", sent=sent, counters_delta=delta, drops=drops, heap_before=heap_before,
                heap_after=heap_after)
    assert rel.alive(board) and not rel.console_faults(board), rel.console_faults(board)
    assert delta.get("rx_frames", 0) >= 0.5 * sent["sent"], delta   # the device read them...
    assert drops >= 0.5 * delta["rx_frames"], delta                     # ... and counted its drops
    for k in ("drop_short", "drop_malformed", "drop_checksum", "drop_fragment", "drop_ethertype", "drop_policy"):
        assert delta.get(k), (k, delta)
    assert rel.heap_returned(heap_before, heap_after), (heap_before, heap_after)
    rtts, out = lab.lan.ping(netns.LAN_HOST, netns.HQ_HOST, count=3)
    assert rtts and None not in rtts, out
