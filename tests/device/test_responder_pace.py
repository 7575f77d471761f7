# What the responder does around and between datagrams (firmware/ike/init.py, responder.py): the
# IKE_SA_INIT answer goes before the DH secret is computed (the peer computes its own meanwhile) and
# a peer value that cannot give a secret is refused before anything is sent; the status is written
# once the loop is idle, not between two datagrams of a handshake; the next handshake's keypair is
# made only after IDLE_MS without IKE. Runs on a fake clock.
import fakeclock  # first: the firmware's `import time` must get the fake clock

import os

import ike_peer as P
from crypto import dh
from ike import const
from ike import message
from ike import responder

C = fakeclock.clock
X25519 = dict(group=const.CURVE25519, ike="aes128-sha256-x25519")


def test_init_answer_goes_before_the_dh_secret():
    r, wan, sad = P.rig()
    i = P.Initiator()
    seen = []
    shared = dh.KeyPair.shared

    def spy(kp, peer):
        if kp is not i.kp:  # the responder's
            seen.append(len(wan.sent))
        return shared(kp, peer)

    dh.KeyPair.shared = spy
    try:
        i, p = P.establish(r, wan, i)  # the keys derived after the answer are the ones IKE_AUTH needs
    finally:
        dh.KeyPair.shared = shared
    assert seen == [1], seen
    assert P.first(p, message.Auth) is not None


def test_peer_values_without_a_secret_refused_before_any_answer():
    # X25519 low-order points (RFC 7748 6.1), canonical or not, with or without the top bit, which
    # X25519 masks; a point off P-256; MODP values outside [2, p-2].
    p25519 = (1 << 255) - 19
    e8 = 0x57119fd0dd4e22d8868e1c58c45c44045bef839c55b1d0b1248c50a3bc959c5f
    cases = [(X25519, u.to_bytes(32, "little")) for u in (0, 1, p25519 - 1, e8, p25519, p25519 + 1)]
    cases.append((X25519, (e8 | 1 << 255).to_bytes(32, "little")))
    cases.append((dict(group=const.ECP_256, ike="aes128-sha256-ecp256"), bytes(63) + b"\x01"))
    cases.append((dict(), bytes(255) + b"\x01"))
    cases.append((dict(), b"\xff" * 256))
    for kw, value in cases:
        r, wan, sad = P.rig(ike_proposals=[kw.get("ike", "aes256-sha256-modp2048")])
        m = message.decode(P.Initiator(**kw).sa_init())
        m.get(message.Ke).data = value
        r.input(m.encode(), P.HQ, False)
        answer = message.decode(wan.pop()[0])
        assert answer.notify(const.INVALID_SYNTAX) is not None and answer.spi_r == bytes(8), value
        assert not r.sas and not wan.sent


def test_status_written_when_the_loop_is_idle():
    path = P.status_path()
    r, wan, sad = P.rig(path)
    try:
        i = P.Initiator()
        r.input(i.sa_init(), P.HQ, False)
        i.init_response(wan.pop()[0])
        assert r.tick(False) == 0  # something was read: poll again at once, status not yet
        try:
            os.stat(path)
            assert False, "status written between two datagrams"
        except OSError:
            pass
        i.natt = True
        i.remote = P.HQ_NATT
        r.input(i.auth(), i.remote, i.natt)
        wan.pop()
        r.tick(True)  # nothing more to read
        with open(path) as f:
            assert '"state": "established"' in f.read()
        assert not r.dirty
        r.input(i.request(const.INFORMATIONAL, []), i.remote, i.natt)
        wan.pop()
        r.changed()  # say, a CHILD SA's lifetime ran out while ESP keeps the loop busy
        assert r.tick(False) == 0 and r.dirty
        C.advance(responder.IDLE_MS)
        assert r.tick(False) != 0 and not r.dirty  # still busy, but IKE has paused: written
    finally:
        os.remove(path)


def test_keypair_made_only_after_idle_ms_without_ike():
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    assert not r.dh_pool  # the handshake took the pooled one or made its own
    C.advance(responder.IDLE_MS - 1)
    assert r.tick(True) == 1 and not r.dh_pool  # idle, but an IKE_AUTH could still be coming
    C.advance(1)
    r.tick(True)
    assert list(r.dh_pool) == [const.MODP_2048]
    r.input(i.request(const.INFORMATIONAL, []), i.remote, i.natt)
    assert r.dh_pool  # kept for the next handshake


def test_ticks_leave_no_transient_module_loaded():
    # The loop's tick looks for transient modules only when a timer or the status imported some:
    # what they import must still go at once.
    import sys
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    r.tick(True)  # the status of the new SA: ike.status, ike.ts
    assert [m for m in responder._TRANSIENT if m in sys.modules] == []
    s = list(r.sas.values())[0]
    s.created = C.ticks_add(C.ticks_ms(), -s.peer.ike_lifetime * 1000)
    r.tick(False)  # the IKE SA's lifetime is over: DELETE (ike.info, ike.words, ...)
    m, payloads = i.open(wan.pop()[0])
    assert P.first(payloads, message.Delete).protocol == const.PROTO_IKE
    assert [m for m in responder._TRANSIENT if m in sys.modules] == []
