"""Issue 7, a bad WAN: strongSwan at head office reaches the sim board through the fault relay
(faultrelay.py: loss, duplication, reordering, corruption, delay, NAT rebinding). The tunnel must come
up, rekey its CHILD and IKE SAs, and follow a NAT rebinding (RFC 7296 2.23); each test prints its
figures (relay counters, handshakes, the device's counters and heap)."""
import subprocess
import time

import pytest

import faultrelay
import reliability as rel
import test_responder as tr

pytestmark = pytest.mark.interop

# 20% loss, 20% duplicates, 20% held back 30 ms (reordered), 0-5 ms jitter: each way.
LOSSY = {"drop": 0.2, "dup": 0.2, "reorder": 0.2, "jitter_ms": 5, "reorder_ms": 30}
# Corruption is switched on only once the IKE SA is up: a corrupted IKE_SA_INIT (no integrity
# protection yet) makes both sides sign different octets, and IKE_AUTH then fails by design.
CORRUPT = dict(LOSSY, corrupt=0.1)
TCP_RATE = 100 << 10  # bytes/s


@pytest.fixture
def lab(needs_strongswan):
    """This module's lab: head office reaches the device only through the fault relay."""
    with rel.relay_lab() as lab:
        yield lab


def bring_up(request, lab, tmp_path, sim_board, psk, faults, seed=1, device=None, conn_extra=None):
    hq = rel.start_charon(request, lab, tmp_path / "hq", settings=rel.LOSSY_RETRANSMIT)
    relay = rel.start_relay(request, lab, tmp_path / "relay", faults, seed=seed)
    board = sim_board(lab, psk=psk, ike_proposals=rel.IKE, esp_proposals=rel.ESP, **(device or {}))
    hq.load(rel.hq_conf(psk, remote=faultrelay.FRONT_IP, conn_extra=conn_extra))
    p = hq.initiate(child="net", timeout=60)
    assert "CHILD_SA net{1} established" in p.stdout, p.stdout
    return hq, relay, board


def agree(hq, board, timeout=30.0):
    """Both views agree on one IKE SA and one CHILD SA (through the relay's NAT: encapsulated)."""
    return tr.wait_agree(hq, board, timeout)


def rekey_rounds(hq, board, rounds):
    """`rounds` CHILD SA rekeys and IKE SA rekeys, alternating, each ending with both sides agreeing
    on new SPIs; returns the number of rekeys done."""
    done = 0
    for _ in range(rounds):
        sa, child = agree(hq, board)
        hq.rekey(child="net")
        tr.wait_new(hq, board, tr.child_spi, {child["spi-in"]}, timeout=40)
        sa, child = agree(hq, board)
        hq.rekey(ike="branch")
        tr.wait_new(hq, board, tr.ike_spi, {sa["initiator-spi"]}, timeout=40)
        done += 2
    return done


def run_lossy(request, lab, tmp_path, sim_board, psk, rounds, seed):
    t0 = time.monotonic()
    # DPD every idle second adds exchanges (more datagrams for the faults) between the rekeys.
    hq, relay, board = bring_up(request, lab, tmp_path, sim_board, psk, LOSSY, seed=seed,
                                conn_extra={"dpd_delay": "1s"})
    agree(hq, board)
    up_s = time.monotonic() - t0
    relay.set_faults(**CORRUPT)
    rekeys = rekey_rounds(hq, board, rounds)
    # A few more rounds while some kind of fault has not happened yet (too few datagrams so far).
    for _ in range(6):
        f = relay.figures()
        if all(f["up"][k] + f["down"][k] for k in ("dropped", "duplicated", "reordered", "corrupted")):
            break
        rekeys += rekey_rounds(hq, board, 1)
    f = relay.figures()
    dev = rel.status(board)
    rel.figures("lossy WAN", seed=seed, establish_s=round(up_s, 2), rekeys=rekeys, total_s=round(time.monotonic() - t0, 1),
                relay_up=f["up"], relay_down=f["down"], device_counters=dev["counters"], heap_free=dev["heap_free"])
    # The faults really happened, in both directions.
    for d in ("up", "down"):
        assert f[d]["dropped"], f
    for fault in ("duplicated", "reordered", "corrupted"):
        assert f["up"][fault] + f["down"][fault], f
    # Each corrupted datagram that reached the device was dropped with a counter (IKE: integrity
    # check; a corrupted non-ESP marker makes it ESP, dropped by the ESP engine).
    esp_drops = sum(((dev.get("dataplane") or {}).get("esp") or {}).values())
    assert dev["counters"]["dropped"] + esp_drops >= f["up"]["corrupted"], (dev, f)
    assert not rel.console_faults(board), rel.console_faults(board)
    assert rel.alive(board)
    return hq, relay, board


def test_lossy_wan_establishes_and_rekeys(request, lab, tmp_path, sim_board, psk):
    run_lossy(request, lab, tmp_path, sim_board, psk, rounds=3, seed=7)


@pytest.mark.soak
def test_lossy_wan_soak(request, lab, tmp_path, sim_board, psk):
    deadline = time.monotonic() + rel.soak_seconds()
    hq, relay, board = run_lossy(request, lab, tmp_path, sim_board, psk, rounds=1, seed=int(time.time()))
    rounds = 1
    while time.monotonic() < deadline:
        rekey_rounds(hq, board, 1)
        rounds += 1
    rel.figures("lossy WAN soak", rekey_rounds=rounds, relay=relay.figures(), device=rel.status(board)["counters"])


@pytest.fixture
def lan_relay_lab(needs_strongswan):
    with rel.relay_lab(lan=True) as lab:
        yield lab


def test_tcp_through_lossy_tunnel(request, lan_relay_lab, tmp_path, sim_board, psk):
    """lan-host -> device -> (20% loss, duplicates, reordering each way) -> head office: a TCP
    transfer completes intact while strongSwan rekeys the CHILD SA and the IKE SA under it."""
    import test_dataplane as dp
    lab = lan_relay_lab
    dp.result(dp.tool(lab.lan, "tx-csum-off", lab.lan_if))
    hq, relay, board = bring_up(request, lab, tmp_path, sim_board, psk, LOSSY, seed=11,
                                device={"lan": "%s/%d" % (tr.netns.DEVICE_LAN, tr.netns.LAN_PREFIX),
                                        "lan_port": lab.device_lan_if})
    sa, child = agree(hq, board)
    t0 = time.monotonic()
    sink = dp.started(dp.tool(lab.hq, "sink", tr.netns.HQ_HOST, dp.PORT))
    # Paced, and sending until its stdin closes: both rekeys happen while the data flows, however
    # long the lossy link makes them take.
    src = dp.tool(lab.lan, "source", tr.netns.LAN_HOST, tr.netns.HQ_HOST, dp.PORT, "-", TCP_RATE,
                  stdin=subprocess.PIPE)
    time.sleep(1.0)
    hq.rekey(child="net")
    tr.wait_new(hq, board, tr.child_spi, {child["spi-in"]}, timeout=60)
    sa, child = agree(hq, board)
    hq.rekey(ike="branch")
    tr.wait_new(hq, board, tr.ike_spi, {sa["initiator-spi"]}, timeout=60)
    time.sleep(2.0)  # and data through the new SAs
    assert src.poll() is None, "the transfer ended before the rekeys"
    sent, got = dp.result(src, 300), dp.result(sink, 300)  # closing its stdin ends the transfer
    f = relay.figures()
    st = rel.status(board)
    rel.figures("TCP through lossy tunnel", bytes=sent["bytes"], seconds=round(time.monotonic() - t0, 1),
                intact=(got["bytes"], got["sha256"]) == (sent["bytes"], sent["sha256"]), relay_up=f["up"],
                relay_down=f["down"], child_counters=[c["counters"] for c in st["child"]])
    assert (got["bytes"], got["sha256"]) == (sent["bytes"], sent["sha256"])
    assert f["up"]["dropped"] and f["down"]["dropped"] and f["up"]["duplicated"] + f["down"]["duplicated"]
    assert not rel.console_faults(board), rel.console_faults(board)


def test_nat_rebinding_followed(request, lab, tmp_path, sim_board, psk):
    """RFC 7296 2.23: the NAT gives head office's mapping a new port mid-session; the device sends
    to the address of the last authenticated request, so the next exchange (here a CHILD SA rekey)
    moves it, and everything after goes to the new port."""
    hq, relay, board = bring_up(request, lab, tmp_path, sim_board, psk, {})
    sa, child = agree(hq, board)
    ike = rel.status(board)["ike"][0]
    before = ike["remote"]
    assert before.startswith(faultrelay.NAT_IP + ":"), ike  # the device sees head office through the NAT
    mappings = relay.rebind()
    new_port = mappings["%s:4500->4500" % tr.netns.HQ_WAN]
    mark = board.log_mark()
    # Next request from head office comes from the new port: a CHILD SA rekey.
    hq.rekey(child="net")
    _, new_child = tr.wait_new(hq, board, tr.child_spi, {child["spi-in"]}, timeout=20)
    board.wait_log(r"peer hq moved to %s:%d" % (faultrelay.NAT_IP, new_port), mark)
    after = rel.status(board)["ike"][0]["remote"]
    assert after == "%s:%d" % (faultrelay.NAT_IP, new_port), after
    # Then an IKE SA rekey over the new mapping; nothing went to the given-up port.
    hq.rekey(ike="branch")
    tr.wait_new(hq, board, tr.ike_spi, {sa["initiator-spi"]}, timeout=20)
    f = relay.figures()
    assert f["stale_rx"] == 0, f
    rel.figures("NAT rebinding", before=before, after=after, rebinds=f["rebinds"], stale_rx=f["stale_rx"],
                relay_up=f["up"], relay_down=f["down"])
    assert not rel.console_faults(board)


def test_nat_rebinding_traffic_resumes(request, lan_relay_lab, tmp_path, sim_board, psk):
    """A NAT rebinding while lan-host pings head office and no IKE exchange is due: the device's ESP
    goes to the given-up port until an authenticated IKE message shows it the new one; strongSwan's
    DPD (it hears nothing back) sends one, and the pings get answers again."""
    lab = lan_relay_lab
    hq, relay, board = bring_up(request, lab, tmp_path, sim_board, psk, {}, conn_extra={"dpd_delay": "2s"},
                                device={"lan": "%s/%d" % (tr.netns.DEVICE_LAN, tr.netns.LAN_PREFIX),
                                        "lan_port": lab.device_lan_if})
    agree(hq, board)
    rtts, out = lab.lan.ping(tr.netns.LAN_HOST, tr.netns.HQ_HOST, count=2)
    assert rtts and None not in rtts, out
    new_port = relay.rebind()["%s:4500->4500" % tr.netns.HQ_WAN]
    t0 = time.monotonic()
    lost = 0
    while True:
        rtts, out = lab.lan.ping(tr.netns.LAN_HOST, tr.netns.HQ_HOST, count=1, timeout=0.5)
        if rtts and rtts[0] is not None:
            break
        lost += 1
        assert time.monotonic() - t0 < 30, "traffic did not resume within 30 s of the rebinding"
    resumed_s = time.monotonic() - t0
    rtts, out = lab.lan.ping(tr.netns.LAN_HOST, tr.netns.HQ_HOST, count=3)
    f = relay.figures()
    # The device rewrites status.json on state changes and every 2 s: give the address update time to show.
    expected = "%s:%d" % (faultrelay.NAT_IP, new_port)
    remote = rel.wait_status(board, lambda s: s["ike"] and s["ike"][0]["remote"] == expected, timeout=5,
                             what="IKE SA at the new NAT mapping %s" % expected)["ike"][0]["remote"]
    rel.figures("NAT rebinding, traffic", resumed_s=round(resumed_s, 1), pings_lost=lost,
                esp_to_given_up_port=f["stale_rx"], device_remote=remote, new_port=new_port)
    assert rtts and None not in rtts, out
    assert remote == expected, remote
    assert not rel.console_faults(board)


def test_nat_rebinding_during_retransmission(request, lab, tmp_path, sim_board, psk):
    """The NAT rebinds while an exchange is in flight: the device's response is lost, and strongSwan's
    retransmission comes from the new port. The answer must reach it there (strongSwan answers a
    retransmitted request to wherever it came from; RFC 7296 2.23: to the address of the last valid
    authenticated packet)."""
    hq, relay, board = bring_up(request, lab, tmp_path, sim_board, psk, {})
    sa, child = agree(hq, board)
    relay.set_faults(down={"drop": 1.0})   # the device's answer to the next request is lost ...
    t0 = time.monotonic()
    hq.rekey(child="net")
    relay._wait(lambda f: f["down"]["dropped"] >= 1, "a lost response")
    mappings = relay.rebind()              # ... and the NAT moves head office to a new port
    relay.set_faults()
    new_port = mappings["%s:4500->4500" % tr.netns.HQ_WAN]
    _, new_child = tr.wait_new(hq, board, tr.child_spi, {child["spi-in"]}, timeout=15)
    f = relay.figures()
    rel.figures("NAT rebinding during retransmission", completed_s=round(time.monotonic() - t0, 1),
                new_port=new_port, stale_rx=f["stale_rx"], relay_up=f["up"], relay_down=f["down"],
                device_remote=rel.status(board)["ike"][0]["remote"])
    assert rel.status(board)["ike"][0]["remote"] == "%s:%d" % (faultrelay.NAT_IP, new_port)


def test_simultaneous_ike_rekeys_settle_on_one_sa(request, lab, tmp_path, sim_board, psk):
    """Both sides rekey the IKE SA at once (RFC 7296 2.8.2): the relay delays every datagram 1.2 s,
    so the device's rekey (due at 12 s of its SA's life) and strongSwan's (at 12 s of its own, which
    began a delay later) cross on the way. The device answers the crossing request TEMPORARY_FAILURE
    (2.25); strongSwan notices the collision, takes the device's SA and drops its own rekey. Each
    round ends with one IKE SA, the same CHILD SA, and both views in agreement."""
    hq, relay, board = bring_up(request, lab, tmp_path, sim_board, psk, {"delay_ms": 1200}, device={"ike_lifetime": 13},
                                conn_extra={"rekey_time": "12s", "rand_time": "0s", "over_time": "5s"})
    sa, child = agree(hq, board)
    seen = [sa["initiator-spi"]]
    for _ in range(3):
        sa, c2 = tr.wait_new(hq, board, tr.ike_spi, seen, timeout=30.0)
        seen.append(sa["initiator-spi"])
        assert (c2["spi-in"], c2["spi-out"]) == (child["spi-in"], child["spi-out"])
    collisions = board.log_since().count("collides with our pending request: TEMPORARY_FAILURE")
    rel.figures("simultaneous IKE rekeys", rounds=3, collisions=collisions)
    # The delays make them cross; without any crossing this test would show nothing.
    assert collisions, board.log_tail()
    assert "detected IKE_REKEY collision" in hq.log_since()
    agree(hq, board)
    assert not rel.console_faults(board), rel.console_faults(board)
