"""Issue 3: a real strongSwan at head office (the initiator, its own swanctl.conf as a user writes it)
against the firmware's IKEv2 responder on the sim board. strongSwan's view (`swanctl --list-sas`)
and the device's view (its status) must agree; failures must carry the right notify."""
import time

import pytest

import capture
import charon as charon_mod
import netns
import simboard

pytestmark = pytest.mark.interop

GROUP_OF = {"modp2048": "MODP_2048", "ecp256": "ECP_256", "x25519": "CURVE_25519"}


def hq_conf(psk, ike="aes256-sha256-modp2048", esp="aes256-sha256", remote_ts=netns.LAN_SUBNET,
            conn_extra=None, child_extra=None):
    return charon_mod.tunnel_conf(netns.HQ_WAN, netns.DEVICE_WAN, simboard.HQ_ID, simboard.DEVICE_ID, psk,
                                  netns.HQ_SUBNET, remote_ts, ike=ike, esp=esp,
                                  conn_extra=conn_extra, child_extra=child_extra)


def bring_up(lab, hq, sim_board, psk, ike="aes256-sha256-modp2048", esp="aes256-sha256",
             device=None, conn_extra=None, child_extra=None):
    """Provision the board with the same proposals as head office, start it, initiate from hq.
    `device`: more sim_board() arguments (provision flags, timers)."""
    board = sim_board(lab, psk=psk, ike_proposals=ike, esp_proposals=esp, **(device or {}))
    hq.load(hq_conf(psk, ike, esp, conn_extra=conn_extra, child_extra=child_extra))
    p = hq.initiate(child="net")
    assert "CHILD_SA net{1} established" in p.stdout, p.stdout
    return board


def one_child(hq):
    """hq's only IKE SA and its only installed CHILD SA (None while a rekey is in flight)."""
    sas = hq.established()
    if len(sas) != 1:
        return None
    children = [c for c in sas[0]["child-sas"] if c["state"] == "INSTALLED"]
    return (sas[0], children[0]) if len(children) == 1 else None


def device_established(board):
    """The device's established IKE SAs and CHILD SAs (rekeyed ones may linger until deleted)."""
    dev = board.sas()
    if dev is None:
        return None, None
    return ([s for s in dev["ike"] if s["state"] == "established"],
            [c for c in dev["child"] if c["state"] == "established"])


def views_agree(hq, board):
    """The single IKE SA and CHILD SA as strongSwan and the device see them, if they match exactly;
    else None (callers poll: the two sides finish an exchange a moment apart)."""
    got = one_child(hq)
    ikes, children = device_established(board)
    if got is None or ikes is None or len(ikes) != 1 or len(children) != 1:
        return None
    sa, child = got
    ike, dchild = ikes[0], children[0]
    want_ike = {"spi_i": sa["initiator-spi"], "spi_r": sa["responder-spi"], "encr": sa["encr-alg"],
                "keylen": int(sa["encr-keysize"]), "integ": sa["integ-alg"], "prf": sa["prf-alg"],
                "dh": sa["dh-group"], "peer": "hq"}
    # The device is the responder: its inbound SPI is strongSwan's outbound one.
    want_child = {"spi_in": child["spi-out"], "spi_out": child["spi-in"], "encr": child["encr-alg"],
                  "keylen": int(child["encr-keysize"]), "integ": child["integ-alg"],
                  "dh": child.get("dh-group"), "local_ts": child["remote-ts"], "remote_ts": child["local-ts"],
                  "encap": True, "ike_spi_r": sa["responder-spi"]}
    if {k: ike.get(k) for k in want_ike} != want_ike or {k: dchild.get(k) for k in want_child} != want_child:
        return None
    return sa, child


def wait_agree(hq, board, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        got = views_agree(hq, board)
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("strongSwan and the device disagree after %.0f s:\nstrongSwan: %r\ndevice: %r"
                                 % (timeout, hq.list_sas(), board.sas()))
        time.sleep(0.1)


def device_empty(board):
    dev = board.sas()
    return dev is not None and dev["ike"] == [] and dev["child"] == []


def wait_new(hq, board, key, seen, timeout=8.0):
    """Wait until both views agree on an SA pair whose key(sa, child) is not in `seen`: the outcome
    of a rekey. Returns (sa, child)."""
    deadline = time.monotonic() + timeout
    while True:
        got = views_agree(hq, board)
        if got and key(*got) not in seen:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("no new SA (seen %r) agreed on within %.0f s:\nstrongSwan: %r\ndevice: %r"
                                 % (seen, timeout, hq.list_sas(), board.sas()))
        time.sleep(0.1)


def child_spi(sa, child):
    return child["spi-in"]


def ike_spi(sa, child):
    return sa["initiator-spi"]


ESTABLISH = [
    ("aes256-sha256-modp2048", "aes256-sha256"),
    ("aes256-sha256-modp2048", "aes128-sha256-modp2048"),
    ("aes128-sha256-ecp256", "aes128-sha256"),
    ("aes128-sha256-ecp256", "aes256-sha256-ecp256"),
    ("aes256-sha256-x25519", "aes256-sha256"),
    ("aes256-sha256-x25519", "aes128-sha256-x25519"),
]


@pytest.mark.parametrize("ike,esp", ESTABLISH)
def test_establish_same_view(lab, hq_charon, sim_board, psk, ike, esp):
    board = bring_up(lab, hq_charon, sim_board, psk, ike=ike, esp=esp)
    sa, child = wait_agree(hq_charon, board)
    enc, _, group = ike.partition("-sha256-")
    assert (sa["encr-alg"], sa["encr-keysize"], sa["integ-alg"], sa["prf-alg"], sa["dh-group"]) == \
        ("AES_CBC", enc[3:], "HMAC_SHA2_256_128", "PRF_HMAC_SHA2_256", GROUP_OF[group])
    esp_enc, _, pfs = esp.partition("-sha256")
    assert (child["encr-alg"], child["encr-keysize"], child["integ-alg"], child["encap"]) == \
        ("AES_CBC", esp_enc[3:], "HMAC_SHA2_256_128", "yes")
    assert "dh-group" not in child  # the first CHILD SA rides on IKE_AUTH: no KE, PFS or not
    if pfs:
        # PFS shows in a CREATE_CHILD_SA: rekey and check the new CHILD SA used a fresh exchange.
        hq_charon.rekey(child="net")
        sa, child = wait_new(hq_charon, board, child_spi, [child["spi-in"]])
        assert child["dh-group"] == GROUP_OF[pfs[1:]]


def test_defaults_on_both_sides_establish(lab, hq_charon, sim_board, psk):
    # What a user who writes no proposals gets: strongSwan's `default` lists (AEAD and CBC suites, its
    # own group order) against the device's defaults (RFC 8247 / RFC 8221). They must meet on a suite
    # both have, and the CHILD SA must rekey.
    board = sim_board(lab, psk=psk)
    hq_charon.load(hq_conf(psk, ike="default", esp="default"))
    p = hq_charon.initiate(child="net")
    assert "CHILD_SA net{1} established" in p.stdout, p.stdout
    sa, child = wait_agree(hq_charon, board)
    assert (sa["encr-alg"], sa["integ-alg"], sa["prf-alg"]) == ("AES_CBC", "HMAC_SHA2_256_128", "PRF_HMAC_SHA2_256")
    assert sa["dh-group"] in GROUP_OF.values()
    assert (child["encr-alg"], child["integ-alg"]) == ("AES_CBC", "HMAC_SHA2_256_128")
    print("negotiated:", sa["encr-alg"], sa["encr-keysize"], sa["dh-group"], "/", child["encr-alg"],
          child["encr-keysize"])
    hq_charon.rekey(child="net")
    wait_new(hq_charon, board, child_spi, [child["spi-in"]])


def test_address_identities_as_swanctl_without_ids(lab, hq_charon, sim_board, psk):
    # A swanctl.conf that names no identities: strongSwan sends its address as IDi (ID_IPV4_ADDR),
    # accepts any IDr, and its secret names no id. The device is provisioned with the two addresses.
    board = sim_board(lab, psk=psk, id=netns.DEVICE_WAN, peer_id=netns.HQ_WAN)
    conn = {"version": 2, "local_addrs": netns.HQ_WAN, "remote_addrs": netns.DEVICE_WAN,
            "proposals": "aes256-sha256-modp2048", "encap": True, "local": {"auth": "psk"},
            "remote": {"auth": "psk"},
            "children": {"net": {"local_ts": netns.HQ_SUBNET, "remote_ts": netns.LAN_SUBNET,
                                 "esp_proposals": "aes256-sha256"}}}
    hq_charon.load(charon_mod.render({"connections": {"branch": conn}, "secrets": {"ike-1": {"secret": psk}}}))
    p = hq_charon.initiate(child="net")
    assert "CHILD_SA net{1} established" in p.stdout, p.stdout
    sa, _ = wait_agree(hq_charon, board)
    assert (sa["local-id"], sa["remote-id"]) == (netns.HQ_WAN, netns.DEVICE_WAN)


def test_full_tunnel_selectors(lab, hq_charon, sim_board, psk):
    # The branch sends everything to head office: the device's remote selector is 0.0.0.0/0.
    board = sim_board(lab, psk=psk, remote_ts="0.0.0.0/0")
    hq_charon.load(charon_mod.tunnel_conf(netns.HQ_WAN, netns.DEVICE_WAN, simboard.HQ_ID, simboard.DEVICE_ID, psk,
                                          "0.0.0.0/0", netns.LAN_SUBNET))
    p = hq_charon.initiate(child="net")
    assert "CHILD_SA net{1} established" in p.stdout, p.stdout
    _, child = wait_agree(hq_charon, board)
    assert (child["local-ts"], child["remote-ts"]) == (["0.0.0.0/0"], [netns.LAN_SUBNET])


@pytest.mark.parametrize("group", ["modp2048", "x25519"])
def test_child_rekeys_from_short_lifetimes(lab, hq_charon, sim_board, psk, group):
    board = bring_up(lab, hq_charon, sim_board, psk, esp="aes256-sha256-" + group,
                     child_extra={"rekey_time": "2s", "life_time": "4s", "rand_time": "0s"})
    sa, child = wait_agree(hq_charon, board)
    seen = [child["spi-in"]]
    for _ in range(3):
        sa, child = wait_new(hq_charon, board, child_spi, seen)
        seen.append(child["spi-in"])
        assert child["dh-group"] == GROUP_OF[group]
    assert hq_charon.established()[0]["initiator-spi"] == sa["initiator-spi"]


def test_ike_rekeys_from_short_lifetimes(lab, hq_charon, sim_board, psk):
    board = bring_up(lab, hq_charon, sim_board, psk, ike="aes128-sha256-x25519",
                     conn_extra={"rekey_time": "2s", "over_time": "2s", "rand_time": "0s"})
    sa, child = wait_agree(hq_charon, board)
    seen = [sa["initiator-spi"]]
    for _ in range(3):
        sa, c2 = wait_new(hq_charon, board, ike_spi, seen)
        seen.append(sa["initiator-spi"])
        assert (c2["spi-in"], c2["spi-out"]) == (child["spi-in"], child["spi-out"])  # CHILD SAs move over


def test_childless_initiation(lab, hq_charon, sim_board, psk):
    # RFC 6023: strongSwan set to childless = force authenticates without a CHILD SA (only if the
    # responder announced CHILDLESS_IKEV2_SUPPORTED) and creates it with CREATE_CHILD_SA after.
    board = bring_up(lab, hq_charon, sim_board, psk, conn_extra={"childless": "force"})
    wait_agree(hq_charon, board)
    log = hq_charon.log_since()
    auth = [line for line in log.splitlines() if "generating IKE_AUTH request" in line]
    assert auth and "TSi" not in auth[0], log
    assert "generating CREATE_CHILD_SA request 2 [ SA No TSi TSr ]" in log, log


def test_device_rekeys_the_ike_sa_head_office_keeps_longer(lab, hq_charon, sim_board, psk):
    # A head office whose IKE lifetime outlasts the device's (IOS-XE's and VRP's 24 h; here strongSwan
    # at 1 h against the device's 12 s) leaves the rekey to the device, which becomes the new SA's
    # initiator (RFC 7296 2.18); the CHILD SA moves over, strongSwan rekeys it on the new SA, and a
    # rekey of the new SA by strongSwan swaps the roles back.
    board = bring_up(lab, hq_charon, sim_board, psk, ike="aes128-sha256-ecp256", device={"ike_lifetime": 12},
                     conn_extra={"rekey_time": "1h"})
    sa, child = wait_agree(hq_charon, board)
    assert sa.get("initiator") == "yes"
    seen = [sa["initiator-spi"]]
    for _ in range(2):
        sa, c2 = wait_new(hq_charon, board, ike_spi, seen, timeout=20.0)
        seen.append(sa["initiator-spi"])
        assert sa.get("initiator") != "yes"  # strongSwan answered the rekey: the device initiated it
        assert [i["initiator"] for i in device_established(board)[0]] == [True]
        assert (c2["spi-in"], c2["spi-out"]) == (child["spi-in"], child["spi-out"])
    hq_charon.rekey(child="net")
    sa, child = wait_new(hq_charon, board, child_spi, [child["spi-in"]])
    assert sa["initiator-spi"] == seen[-1]
    hq_charon.rekey(ike="branch")
    sa, c2 = wait_new(hq_charon, board, ike_spi, seen)
    assert sa.get("initiator") == "yes" and c2["spi-in"] == child["spi-in"]
    assert "rekeying IKE SA" in board.log_tail()


@pytest.mark.parametrize("hq_charon", [{"make_before_break": True}, {"make_before_break": False}], indirect=True,
                         ids=["make-before-break", "break-before-make"])
def test_reauthentication_from_short_lifetimes(lab, hq_charon, sim_board, psk):
    # reauth_time (ipsec.conf's reauth=yes): strongSwan replaces the IKE SA with a new one from IKE_SA_INIT on,
    # with fresh CHILD SAs, and deletes the old one after (make-before-break) or before (break-before-make);
    # each time both views end with one pair again.
    board = bring_up(lab, hq_charon, sim_board, psk,
                     conn_extra={"reauth_time": "3s", "over_time": "2s", "rand_time": "0s"})
    sa, child = wait_agree(hq_charon, board)
    seen_ike, seen_child = [sa["initiator-spi"]], [child["spi-in"]]
    for _ in range(2):
        sa, child = wait_new(hq_charon, board, ike_spi, seen_ike, timeout=15.0)
        assert child["spi-in"] not in seen_child  # a new CHILD SA, not one moved over as in a rekey
        seen_ike.append(sa["initiator-spi"])
        seen_child.append(child["spi-in"])


def test_delete_child_from_strongswan(lab, hq_charon, sim_board, psk):
    board = bring_up(lab, hq_charon, sim_board, psk)
    wait_agree(hq_charon, board)
    hq_charon.terminate(child="net")
    hq_charon.wait_for(lambda c: board.sas()["child"] == [] and [s["state"] for s in board.sas()["ike"]]
                       == ["established"], what="device to drop the CHILD SA and keep the IKE SA")
    assert hq_charon.established()[0]["child-sas"] == []


def test_delete_ike_from_strongswan(lab, hq_charon, sim_board, psk):
    board = bring_up(lab, hq_charon, sim_board, psk)
    wait_agree(hq_charon, board)
    hq_charon.terminate(ike="branch")
    hq_charon.wait_for(lambda c: device_empty(board), what="device to drop all SAs")


def test_delete_from_device_on_shutdown(lab, hq_charon, sim_board, psk):
    board = bring_up(lab, hq_charon, sim_board, psk)
    wait_agree(hq_charon, board)
    mark = hq_charon.log_mark()
    assert board.stop() == 0
    hq_charon.wait_log(r"received DELETE for IKE_SA branch", mark)
    assert hq_charon.list_sas() == []


def test_strongswan_dpd_answered(lab, hq_charon, sim_board, psk):
    board = bring_up(lab, hq_charon, sim_board, psk, conn_extra={"dpd_delay": "1s", "dpd_timeout": "3s"})
    wait_agree(hq_charon, board)
    mark = hq_charon.log_mark()
    time.sleep(3.5)
    log = hq_charon.log_since(mark)
    assert log.count("sending DPD request") >= 2, log
    assert log.count("parsed INFORMATIONAL response") >= 2, log
    assert "giving up" not in log
    wait_agree(hq_charon, board)


def test_device_dpd_detects_dead_peer(lab, hq_charon, sim_board, psk):
    # Short device timers: a liveness check after 2 s of silence, resent after 0.5 s and 0.75 s,
    # given up at ~2.4 s.
    board = bring_up(lab, hq_charon, sim_board, psk, device={
        "dpd_delay": "2s", "timers": {"retransmit_timeout_ms": 500, "retransmit_base_pct": 150,
                                      "retransmit_tries": 2}})
    wait_agree(hq_charon, board)
    # A head office that vanishes without a DELETE: the device must notice through its own DPD.
    netns._kill_netns_processes(lab.hq.name)
    hq_charon.proc.wait()
    deadline = time.monotonic() + 15
    while not device_empty(board):
        assert time.monotonic() < deadline, "device kept SAs of a dead peer:\n%s" % board.log_tail()
        time.sleep(0.2)


def initiate_refused(hq, board, conf, answer, log_pattern):
    """hq loads `conf` and initiates: it must fail with `answer` in swanctl's output, and the board
    must log a line matching `log_pattern` for it."""
    mark = board.log_mark()
    hq.load(conf)
    p = hq.initiate(child="net", check=False)
    assert p.returncode != 0
    assert answer in p.stdout, p.stdout
    board.wait_log(log_pattern, mark)


def test_wrong_psk_gives_auth_failed(lab, hq_charon, sim_board, psk):
    board = sim_board(lab, psk=psk)
    initiate_refused(hq_charon, board, hq_conf(psk + "-wrong"), "received AUTHENTICATION_FAILED notify error",
                     r"AUTH failed for peer hq\b.*PSK")
    assert hq_charon.list_sas() == []


def test_head_office_expecting_another_device_identity(lab, hq_charon, sim_board, psk):
    # strongSwan's remote id names another device: it refuses our AUTH ("constraint check failed")
    # and says AUTHENTICATION_FAILED in an INFORMATIONAL. The device names both identities and
    # drops the IKE SA instead of showing it established.
    board = sim_board(lab, psk=psk)
    conf = charon_mod.tunnel_conf(netns.HQ_WAN, netns.DEVICE_WAN, simboard.HQ_ID, "branch9.example.net", psk,
                                  netns.HQ_SUBNET, netns.LAN_SUBNET)
    initiate_refused(hq_charon, board, conf, "constraint check failed: identity 'branch9.example.net' required",
                     r"peer hq expects this device as branch9\.example\.net, we are %s" % simboard.DEVICE_ID)
    board.wait_log(r"peer hq rejected our authentication \(AUTHENTICATION_FAILED\)")
    deadline = time.monotonic() + 5
    while board.sas()["ike"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert board.sas()["ike"] == [] and board.sas()["child"] == []


def test_proposal_mismatch_gives_no_proposal_chosen(lab, hq_charon, sim_board, psk):
    board = sim_board(lab, psk=psk)
    # The device names what the peer offered, in the syntax a strongSwan user would recognise.
    initiate_refused(hq_charon, board, hq_conf(psk, ike="aes128gcm16-prfsha256-ecp384"),
                     "received NO_PROPOSAL_CHOSEN notify error", r"proposal mismatch.*aes128gcm16-prfsha256-ecp384")


def test_esp_proposal_mismatch_fails_child_only(lab, hq_charon, sim_board, psk):
    board = sim_board(lab, psk=psk, esp_proposals="aes256-sha256")
    initiate_refused(hq_charon, board, hq_conf(psk, esp="aes128gcm16"), "NO_PROPOSAL_CHOSEN",
                     r"proposal mismatch for CHILD SA.*aes128gcm16")
    # The status file is rewritten on the device's next loop turn, after the answer went out.
    deadline = time.monotonic() + 5
    while [s["state"] for s in board.sas()["ike"]] != ["established"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert board.sas()["child"] == []
    assert [s["state"] for s in board.sas()["ike"]] == ["established"]  # the IKE SA itself is fine


def test_selector_mismatch_gives_ts_unacceptable(lab, hq_charon, sim_board, psk):
    board = sim_board(lab, psk=psk)
    initiate_refused(hq_charon, board, hq_conf(psk, remote_ts="10.30.0.0/16"),
                     "received TS_UNACCEPTABLE notify, no CHILD_SA built", r"TS_UNACCEPTABLE: .*10\.30\.0\.0/16")


def test_transport_mode_request_named_in_the_refusal(lab, hq_charon, sim_board, psk):
    # strongSwan with mode=transport narrows its subnets to the tunnel endpoints' addresses, which
    # the device (tunnel mode only) does not allow: the log line must say transport mode was asked.
    board = sim_board(lab, psk=psk)
    initiate_refused(hq_charon, board, hq_conf(psk, child_extra={"mode": "transport"}),
                     "received TS_UNACCEPTABLE notify, no CHILD_SA built",
                     r"TS_UNACCEPTABLE: peer hq asked .* in transport mode, we allow 10\.20\.1\.0/24")


def test_head_office_without_forced_encapsulation_sees_a_nat(lab, hq_charon, sim_board, psk):
    # No NAT on the path and encap=no at head office: the device's NAT detection makes strongSwan
    # see one in front of the device, so ESP goes in UDP 4500, the only ESP the device carries.
    board = sim_board(lab, psk=psk)
    hq_charon.load(hq_conf(psk, conn_extra={"encap": "no"}))
    p = hq_charon.initiate(child="net")
    assert "remote host is behind NAT" in p.stdout and "faking NAT situation" not in p.stdout, p.stdout
    sa, child = wait_agree(hq_charon, board)
    assert child["encap"] == "yes" and sa["remote-port"] == "4500"


@pytest.mark.parametrize("hq_charon", [{"fragment_size": 300}], indirect=True, ids=["fragment_size=300"])
def test_fragmented_messages_reassembled(lab, hq_charon, sim_board, psk):
    # strongSwan splits what exceeds its fragment_size (RFC 7383) once the device announced it takes
    # fragments (swanctl's default fragmentation=yes): IKE_AUTH here, and both rekeys (a KE payload
    # alone is 256 bytes with MODP-2048).
    board = sim_board(lab, psk=psk, esp_proposals="aes256-sha256-modp2048")
    hq_charon.load(hq_conf(psk, esp="aes256-sha256-modp2048"))
    p = hq_charon.initiate(child="net")
    assert "N(FRAG_SUP)" in p.stdout.split("parsed IKE_SA_INIT response")[1].splitlines()[0], p.stdout
    assert "generating IKE_AUTH request 1 [ EF(1/" in p.stdout, p.stdout
    sa, child = wait_agree(hq_charon, board)
    hq_charon.rekey(child="net")
    sa, child = wait_new(hq_charon, board, child_spi, [child["spi-in"]])
    hq_charon.rekey(ike="branch")
    wait_new(hq_charon, board, ike_spi, [sa["initiator-spi"]])
    assert hq_charon.log_tail(400).count("generating CREATE_CHILD_SA request") >= 2
    assert "generating CREATE_CHILD_SA request 2 [ EF(1/" in hq_charon.log_tail(400), hq_charon.log_tail(60)


def test_invalid_ke_round_trip(lab, hq_charon, sim_board, psk):
    # strongSwan guesses ECP-384 (first group listed, not one of ours); the device answers
    # INVALID_KE_PAYLOAD naming MODP-2048 and strongSwan retries with it.
    board = sim_board(lab, psk=psk, ike_proposals="aes256-sha256-modp2048")
    hq_charon.load(hq_conf(psk, ike="aes256-sha256-ecp384-modp2048"))
    p = hq_charon.initiate(child="net")
    assert "peer didn't accept DH group ECP_384, it requested MODP_2048" in p.stdout, p.stdout
    sa, _ = wait_agree(hq_charon, board)
    assert sa["dh-group"] == "MODP_2048"


def test_no_psk_in_device_output(lab, hq_charon, sim_board, psk):
    board = bring_up(lab, hq_charon, sim_board, psk)
    wait_agree(hq_charon, board)
    hq_charon.load(hq_conf(psk + "-wrong"))
    hq_charon.initiate(child="net", check=False)
    board.stop()
    assert psk not in board.log_since()
    assert psk.encode().hex() not in board.log_since().lower()


def test_capture_decoded_by_scapy(lab, hq_charon, sim_board, psk, tmp_path):
    pcap = tmp_path / "wan.pcap"
    with capture.Capture(lab.hq, lab.hq_wan_if, pcap):
        board = bring_up(lab, hq_charon, sim_board, psk, esp="aes256-sha256-modp2048")
        sa, child = wait_agree(hq_charon, board)
        hq_charon.rekey(child="net")
        wait_new(hq_charon, board, child_spi, [child["spi-in"]])
        hq_charon.terminate(ike="branch")
    msgs = capture.ike_messages(pcap)
    kinds = [(m.exchange, m.response, m.port) for m in msgs]
    # IKE_SA_INIT on 500, then (NAT detected) everything on 4500 behind the non-ESP marker.
    init, auth, create, info = capture.IKE_SA_INIT, capture.IKE_AUTH, capture.CREATE_CHILD_SA, capture.INFORMATIONAL
    assert kinds[:4] == [(init, False, 500), (init, True, 500), (auth, False, 4500), (auth, True, 4500)], kinds
    assert (create, False, 4500) in kinds and (create, True, 4500) in kinds  # the CHILD rekey
    assert kinds[-2:] == [(info, False, 4500), (info, True, 4500)]  # DELETE of the IKE SA and its answer
    assert {(m.spi_i, m.spi_r) for m in msgs[1:]} == {(sa["initiator-spi"], sa["responder-spi"])}
    assert capture.sa_init_choice(msgs[1]) == ((12, 256, 12, 5, 14), 14)
    # strongSwan initiated every exchange here: its requests count 0, 1, 2, ... and each got its answer.
    requests = [m.msg_id for m in msgs if not m.response]
    assert requests == list(range(len(requests)))
    assert [m.msg_id for m in msgs if m.response] == requests
