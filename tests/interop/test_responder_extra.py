"""Issue 3, more of the responder against a real strongSwan: the stateless COOKIE round trip
(RFC 7296 2.6) and the device's status file agreeing with strongSwan's view."""
import json
import time

import pytest

import simboard
import test_responder as tr

pytestmark = pytest.mark.interop


def start_board(lab, request_tmp, psk, **settings):
    board = simboard.SimBoard(lab, request_tmp / "board")
    board.provision(psk)
    for section, values in settings.items():
        board.configure(section, **values)
    return board.start()


def test_cookie_round_trip(lab, hq_charon, psk, tmp_path):
    # cookie_threshold 0: every IKE_SA_INIT must come back with our COOKIE before we keep any state.
    board = start_board(lab, tmp_path, psk, limits={"cookie_threshold": 0})
    try:
        mark = hq_charon.log_mark()
        hq_charon.load(tr.hq_conf(psk))
        p = hq_charon.initiate(child="net")
        assert "CHILD_SA net{1} established" in p.stdout, p.stdout
        assert "received COOKIE" in hq_charon.log_since(mark) or "COOKIE" in p.stdout, p.stdout
        tr.wait_agree(hq_charon, board)
    finally:
        board.stop()


def test_status_file_matches_strongswan(lab, hq_charon, psk, tmp_path):
    board = start_board(lab, tmp_path, psk)
    try:
        hq_charon.load(tr.hq_conf(psk))
        hq_charon.initiate(child="net")
        sa, child = tr.wait_agree(hq_charon, board)
        deadline = time.monotonic() + 5
        while True:
            status = json.loads((board.root / "status.json").read_text())
            if status["child"]:
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        ike, c = status["ike"][0], status["child"][0]
        assert (ike["spi_i"], ike["spi_r"]) == (sa["initiator-spi"], sa["responder-spi"])
        assert (c["spi_in"], c["spi_out"]) == (child["spi-out"], child["spi-in"])
    finally:
        assert board.stop() == 0


def test_ikev1_logged_and_dropped(lab, hq_charon, psk, tmp_path):
    board = start_board(lab, tmp_path, psk)
    try:
        mark = board.log_mark()
        # An IKEv1 Main Mode header (version 0x10) sent from head office's namespace.
        v1 = bytes(8) + bytes(8) + bytes((1, 0x10, 2, 0)) + bytes(4) + (28).to_bytes(4, "big")
        code = ("import socket, sys\n"
                "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                "s.settimeout(1.5)\n"
                "s.sendto(bytes.fromhex(sys.argv[1]), (sys.argv[2], 500))\n"
                "try:\n    s.recvfrom(2048)\n    print('answered')\n"
                "except socket.timeout:\n    print('silent')\n")
        p = lab.hq.run(["python3", "-c", code, v1.hex(), tr.netns.DEVICE_WAN])
        assert p.stdout.strip() == "silent"
        board.wait_log(r"IKEv1 .* dropped", mark)
        # and the device still serves IKEv2
        hq_charon.load(tr.hq_conf(psk))
        hq_charon.initiate(child="net")
        tr.wait_agree(hq_charon, board)
    finally:
        board.stop()


def test_device_rekeys_child_at_soft_expiry(lab, hq_charon, sim_board, psk):
    # The device's CHILD lifetime is the shorter one: it rekeys (at 10 s - 1 s margin) and deletes
    # the old SA itself; strongSwan follows.
    board = tr.bring_up(lab, hq_charon, sim_board, psk, esp="aes256-sha256-modp2048",
                        device={"child_lifetime": "10s"})
    sa, child = tr.wait_agree(hq_charon, board)
    seen = [child["spi-in"]]
    for _ in range(2):
        sa, child = tr.wait_new(hq_charon, board, tr.child_spi, seen, timeout=15)
        seen.append(child["spi-in"])
        assert child["dh-group"] == "MODP_2048"
    assert "rekeying CHILD SA" in board.log_since()


def test_both_sides_rekey_on_the_same_schedule(lab, hq_charon, sim_board, psk):
    # Both sides want to rekey the CHILD SA at about the same moment: whichever starts first, the
    # two end up with one CHILD SA they agree on, again and again. (Requests that really cross in
    # flight, RFC 7296 2.8.1, are covered deterministically in tests/device/test_responder_rekey.py.)
    board = tr.bring_up(lab, hq_charon, sim_board, psk, device={"child_lifetime": "10s"},
                        child_extra={"rekey_time": "9s", "life_time": "20s", "rand_time": "0s"})
    sa, child = tr.wait_agree(hq_charon, board)
    seen = [child["spi-in"]]
    for _ in range(3):
        sa, child = tr.wait_new(hq_charon, board, tr.child_spi, seen, timeout=20)
        seen.append(child["spi-in"])
    assert hq_charon.established()[0]["initiator-spi"] == sa["initiator-spi"]
