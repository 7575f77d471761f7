"""The crypto of `branchgate check` (branchgate.ikecrypto, built on `cryptography`) against independent
implementations: scapy's ESP SecurityAssociation both ways, and the firmware's own DH, key schedule and
PSK AUTH (written separately, for MicroPython) -- the two must agree byte for byte, or the check could
not talk to the device. The echo packets the check builds are valid IPv4/ICMP as scapy reads them."""
import os

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.ipsec import ESP, SecurityAssociation

from branchgate import check, ikecrypto
from crypto import dh as fw_dh
from ike import auth as fw_auth
from ike import keys as fw_keys


@pytest.mark.parametrize("group", [14, 19, 31])
def test_dh_agrees_with_the_firmware(group):
    ours, theirs = ikecrypto.KeyExchange(group), fw_dh.new(group)
    assert len(ours.public) == len(theirs.public)
    assert ours.shared(theirs.public) == theirs.shared(ours.public)


def test_dh_refuses_bad_values():
    with pytest.raises(ikecrypto.DhError):
        ikecrypto.KeyExchange(14).shared(bytes(255) + b"\x01")  # 1: a degenerate public value
    with pytest.raises(ikecrypto.DhError):
        ikecrypto.KeyExchange(19).shared(bytes(64))  # not on the curve


@pytest.mark.parametrize("encr_len", [16, 24, 32])
def test_key_schedule_and_auth_agree_with_the_firmware(encr_len):
    ni, nr, gir, spi_i, spi_r = os.urandom(32), os.urandom(32), os.urandom(256), os.urandom(8), os.urandom(8)
    ours = ikecrypto.IkeKeys(ni, nr, gir, spi_i, spi_r, encr_len)
    theirs = fw_keys.ike_keys(fw_keys.skeyseed(ni, nr, gir), ni, nr, spi_i, spi_r, encr_len)
    for k in ("sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr"):
        assert getattr(ours, k) == bytes(getattr(theirs, k)), k
    assert ikecrypto.child_keys(ours.sk_d, ni, nr, encr_len) == \
        tuple(bytes(x) for x in fw_keys.child_keymat(theirs.sk_d, ni, nr, encr_len))
    octets, psk = os.urandom(300), os.urandom(32)
    assert ikecrypto.psk_auth(psk, octets, nr, ours.sk_pi, 2, b"hq.example.net") == \
        fw_auth.psk_auth(psk, octets, nr, theirs.sk_pi, 2, b"hq.example.net")


@pytest.mark.parametrize("keylen", [16, 32])
def test_esp_against_scapy(keylen):
    k_out, a_out, k_in, a_in = os.urandom(keylen), os.urandom(32), os.urandom(keylen), os.urandom(32)
    sa = ikecrypto.EspSa(b"\xc0\0\1\1", b"\0\0\x20\x02", k_in, a_in, k_out, a_out)
    peer_rx = SecurityAssociation(ESP, spi=0x2002, crypt_algo="AES-CBC", crypt_key=k_out,
                                  auth_algo="SHA2-256-128", auth_key=a_out, tunnel_header=IP())
    peer_tx = SecurityAssociation(ESP, spi=0xC0000101, crypt_algo="AES-CBC", crypt_key=k_in,
                                  auth_algo="SHA2-256-128", auth_key=a_in,
                                  tunnel_header=IP(src="10.99.0.2", dst="10.99.0.1"))
    for size in (0, 1, 14, 15, 56, 1300):
        payload = os.urandom(size)
        echo = check.echo_packet(bytes([10, 10, 1, 1]), bytes([10, 20, 1, 1]), 77, size + 1, payload)
        got = peer_rx.decrypt(IP(src="10.99.0.1", dst="10.99.0.2") / ESP(sa.seal(echo)))
        assert bytes(got) == echo
        pkt = IP(echo)  # scapy's reading of what the check builds: an echo request, right checksums
        assert pkt[ICMP].type == 8 and pkt[ICMP].id == 77 and bytes(pkt[ICMP].payload) == payload
        del pkt.chksum, pkt[ICMP].chksum
        assert bytes(pkt) == echo
        reply = IP(src="10.20.1.1", dst="10.10.1.1") / ICMP(type=0, id=77, seq=size + 1) / payload
        nh, inner = sa.open(bytes(peer_tx.encrypt(reply)[ESP]))
        assert nh == 4 and check.echo_reply_of(inner, bytes([10, 20, 1, 1]), 77, size + 1, payload)
        assert not check.echo_reply_of(inner, bytes([10, 20, 1, 1]), 77, size + 2, payload)
    tampered = bytearray(bytes(peer_tx.encrypt(reply)[ESP]))
    tampered[30] ^= 1
    with pytest.raises(ikecrypto.IntegrityError):
        sa.open(bytes(tampered))
