"""The harness proven on strongSwan alone: a head-office charon initiates to a branch charon (the
baseline the sim board is compared with), traffic crosses the userspace ESP tunnel, and both sides
report the same SAs."""
import pytest

import capture
import charon as charon_mod
import netns

pytestmark = pytest.mark.interop


def confs(psk, ike="aes256-sha256-modp2048", esp="aes256-sha256"):
    hq = charon_mod.tunnel_conf(netns.HQ_WAN, netns.DEVICE_WAN, "hq.example.net", "branch.example.net", psk,
                                netns.HQ_SUBNET, netns.LAN_SUBNET, ike=ike, esp=esp)
    branch = charon_mod.tunnel_conf(netns.DEVICE_WAN, netns.HQ_WAN, "branch.example.net", "hq.example.net", psk,
                                    netns.LAN_SUBNET, netns.HQ_SUBNET, ike=ike, esp=esp, conn="hq")
    return hq, branch


def test_parse_vici_pretty():
    text = """list-sa event {
  gw {
    state = ESTABLISHED
    remote-eap-id =
    local-id = C=CH, O=strongSwan, CN=gw
    child-sas {
      net-1 {
        spi-in = c1a2b3d4
        local-ts = [
          10.10.1.0/24
          10.10.2.0/24
        ]
      }
    }
  }
}
list-sas reply {
}
"""
    msgs = charon_mod.parse_vici(text)
    assert [name for name, _ in msgs] == ["list-sa event", "list-sas reply"]
    gw = msgs[0][1]["gw"]
    assert gw["local-id"] == "C=CH, O=strongSwan, CN=gw"
    assert gw["remote-eap-id"] == ""
    assert gw["child-sas"]["net-1"] == {"spi-in": "c1a2b3d4", "local-ts": ["10.10.1.0/24", "10.10.2.0/24"]}
    with pytest.raises(ValueError):
        charon_mod.parse_vici("a {\n  b = 1\n")


def test_render_quotes_what_needs_it():
    text = charon_mod.render({"secrets": {"ike-x": {"secret": 'a b"c', "id-1": "hq.example.net"}},
                              "c": {"encap": True, "ts": ["10.0.0.0/8", "10.1.0.0/16"]}})
    assert 'secret = "a b\\"c"' in text
    assert "id-1 = hq.example.net" in text
    assert "encap = yes" in text and "ts = 10.0.0.0/8,10.1.0.0/16" in text


def test_charon_to_charon_tunnel(charon_lab, hq_charon, branch_charon, psk):
    hq_conf, branch_conf = confs(psk)
    hq_charon.load(hq_conf)
    branch_charon.load(branch_conf)

    p = hq_charon.initiate(child="net")
    assert "CHILD_SA net{1} established" in p.stdout

    hq_sa, = hq_charon.established()
    br_sa, = branch_charon.established()
    for key in ("initiator-spi", "responder-spi", "encr-alg", "encr-keysize", "integ-alg", "prf-alg", "dh-group"):
        assert hq_sa[key] == br_sa[key], key
    assert (hq_sa["encr-alg"], hq_sa["encr-keysize"], hq_sa["integ-alg"], hq_sa["prf-alg"], hq_sa["dh-group"]) == \
        ("AES_CBC", "256", "HMAC_SHA2_256_128", "PRF_HMAC_SHA2_256", "MODP_2048")
    assert hq_sa["initiator"] == "yes" and "initiator" not in br_sa
    hq_child, = hq_sa["child-sas"]
    br_child, = br_sa["child-sas"]
    assert (hq_child["spi-in"], hq_child["spi-out"]) == (br_child["spi-out"], br_child["spi-in"])
    assert hq_child["encap"] == "yes" and hq_child["state"] == "INSTALLED"
    assert hq_child["local-ts"] == br_child["remote-ts"] == [netns.HQ_SUBNET]
    assert hq_child["remote-ts"] == br_child["local-ts"] == [netns.LAN_SUBNET]

    rtts, out = charon_lab.hq.ping(netns.HQ_HOST, netns.DEVICE_LAN, count=3)
    assert None not in rtts and len(rtts) == 3, out
    hq_child, = hq_charon.established()[0]["child-sas"]
    br_child, = branch_charon.established()[0]["child-sas"]
    # Each echo is one ESP packet each way, counted by both userspace ESP stacks.
    assert hq_child["packets-out"] == hq_child["packets-in"] == br_child["packets-in"] == "3"

    mark = branch_charon.log_mark()
    hq_charon.terminate(ike="branch")
    assert hq_charon.list_sas() == []
    branch_charon.wait_for(lambda c: not c.list_sas(), what="branch to delete its IKE SA")
    assert "received DELETE for IKE_SA" in branch_charon.log_since(mark)


def test_lab_cleans_up(needs_netns):
    with netns.hq_device() as lab:
        names = [ns.name for ns in lab.namespaces]
        proc = lab.device.popen(["sleep", "60"])
        listed = netns._run(["ip", "netns", "list"]).stdout
        assert all(n in listed for n in names)
    assert proc.poll() is not None
    listed = netns._run(["ip", "netns", "list"]).stdout
    assert not any(n in listed for n in names)


def test_capture_decodes_charon_pair(charon_lab, hq_charon, branch_charon, psk, tmp_path):
    hq_conf, branch_conf = confs(psk, esp="aes256-sha256-modp2048")
    hq_charon.load(hq_conf)
    branch_charon.load(branch_conf)
    pcap = tmp_path / "wan.pcap"
    with capture.Capture(charon_lab.hq, charon_lab.hq_wan_if, pcap):
        hq_charon.initiate(child="net")
        sa, = hq_charon.established()
        first = sa["child-sas"][0]
        charon_lab.hq.ping(netns.HQ_HOST, netns.DEVICE_LAN, count=2)
        hq_charon.rekey(child="net")
        hq_charon.wait_for(lambda c: [x["spi-in"] for x in c.installed_children()] not in ([], [first["spi-in"]]),
                           what="rekey")
        hq_charon.terminate(ike="branch")
    msgs = capture.ike_messages(pcap)
    kinds = [(m.exchange, m.response, m.port) for m in msgs]
    init, auth, create, info = capture.IKE_SA_INIT, capture.IKE_AUTH, capture.CREATE_CHILD_SA, capture.INFORMATIONAL
    assert kinds[:4] == [(init, False, 500), (init, True, 500), (auth, False, 4500), (auth, True, 4500)], kinds
    assert (create, False, 4500) in kinds and (create, True, 4500) in kinds
    assert kinds[-2:] == [(info, False, 4500), (info, True, 4500)]
    assert {(m.spi_i, m.spi_r) for m in msgs[1:]} == {(sa["initiator-spi"], sa["responder-spi"])}
    assert capture.sa_init_choice(msgs[1]) == ((12, 256, 12, 5, 14), 14)
    # The echoes went out under strongSwan's outbound SPI and came back under its inbound one.
    spis = capture.esp_spis(pcap)
    assert spis[:4] == [first["spi-out"], first["spi-in"]] * 2, spis


def test_lan_host_through_strongswan_branch(needs_strongswan, tmp_path, psk):
    """Issue 4's topology with a strongSwan branch in the device's place (the throughput baseline):
    the LAN host reaches head office through the branch's tunnel."""
    with netns.lan_device_hq(branch_addr=True) as lab:
        hq = charon_mod.Charon(lab.hq, tmp_path / "hq").start()
        branch = charon_mod.Charon(lab.device, tmp_path / "branch").start()
        try:
            hq_conf, branch_conf = confs(psk)
            hq.load(hq_conf)
            branch.load(branch_conf)
            hq.initiate(child="net")
            rtts, out = lab.lan.ping(netns.LAN_HOST, netns.HQ_HOST, count=3)
            assert None not in rtts and len(rtts) == 3, out + branch.log_tail()
            child, = branch.installed_children()
            assert child["packets-in"] == child["packets-out"] == "3"
        finally:
            hq.stop()
            branch.stop()


def test_esp_keys_from_log_decrypt_capture(charon_lab, psk, tmp_path):
    """strongSwan's logged ESP keys (the oracle for issue 4's tests) decrypt the captured traffic in
    scapy, both directions, and a wrong key fails the ICV."""
    hq = charon_mod.Charon(charon_lab.hq, tmp_path / "hq", log_levels={"chd": 4}).start()
    branch = charon_mod.Charon(charon_lab.device, tmp_path / "branch").start()
    try:
        hq_conf, branch_conf = confs(psk, esp="aes128-sha256")
        hq.load(hq_conf)
        branch.load(branch_conf)
        pcap = tmp_path / "wan.pcap"
        with capture.Capture(charon_lab.hq, charon_lab.hq_wan_if, pcap):
            hq.initiate(child="net")
            charon_lab.hq.ping(netns.HQ_HOST, netns.DEVICE_LAN, count=2)
        keys, = hq.esp_keys()
        child, = hq.installed_children()
        assert (keys["spi_in"], keys["spi_out"]) == (child["spi-in"], child["spi-out"])
        assert len(keys["encr_i"]) == 16 and len(keys["integ_i"]) == 32
        out = capture.decrypt_esp(pcap, keys["spi_out"], keys["encr_i"], keys["integ_i"])
        back = capture.decrypt_esp(pcap, keys["spi_in"], keys["encr_r"], keys["integ_r"])
        assert [(p.src, p.dst, p.payload.type) for p in out] == [(netns.HQ_HOST, netns.DEVICE_LAN, 8)] * 2
        assert [(p.src, p.dst, p.payload.type) for p in back] == [(netns.DEVICE_LAN, netns.HQ_HOST, 0)] * 2
        from scapy.layers.ipsec import IPSecIntegrityError
        with pytest.raises(IPSecIntegrityError):
            capture.decrypt_esp(pcap, keys["spi_out"], keys["encr_i"], bytes(32))
    finally:
        hq.stop()
        branch.stop()
