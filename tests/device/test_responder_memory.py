# Heap exhaustion on the responder: a request is refused before it changes state when the heap is
# low, and an exchange that runs out of memory half way leaves no half-built SA behind.
HEAPSIZE = "2m"

import ike_peer as P
from ike import responder


def test_low_memory_drops_before_any_state():
    r, wan, sad = P.rig()
    old = responder.MIN_FREE
    responder.MIN_FREE = 1 << 40
    try:
        r.input(P.Initiator().sa_init(), P.HQ, False)
    finally:
        responder.MIN_FREE = old
    assert wan.sent == [] and not r.sas and r.counters["dropped"] == 1
    P.establish(r, wan)  # and works again once memory is back


def test_memory_error_mid_exchange_leaves_no_half_built_sa():
    r, wan, sad = P.rig()
    i = P.Initiator()
    r.input(i.sa_init(), P.HQ, False)
    i.init_response(wan.pop()[0])

    def install(*args, **kw):
        raise MemoryError()

    sad.install = install
    req = i.auth()
    r.input(req, P.HQ_NATT, True)
    assert wan.sent == [] and not r.sas and not sad.sas
    r.input(req, P.HQ_NATT, True)  # the retransmit finds nothing and changes nothing
    assert wan.sent == [] and not r.sas


def test_child_sa_entry_is_made_after_the_exchange_code_left_and_before_the_answer():
    # The SAD entry lives as long as the CHILD SA: made once the exchange's modules are unloaded, it
    # fills the holes they leave instead of landing above them; the answer that lets the peer use it
    # goes after it.
    import sys
    r, wan, sad = P.rig()
    i = P.Initiator()
    r.input(i.sa_init(), P.HQ, False)
    i.init_response(wan.pop()[0])
    seen = []
    real = sad.install

    def install(*args, **kw):
        seen.append((len(wan.sent), "ike.auth" in sys.modules, "ike.child" in sys.modules))
        return real(*args, **kw)

    sad.install = install
    r.input(i.auth(), P.HQ_NATT, True)
    assert seen == [(0, False, False)]
    assert len(wan.sent) == 1 and len(sad.sas) == 1  # then the answer


def test_ike_rekey_out_of_memory_for_its_dh_is_taken_anew_when_retransmitted():
    # Nothing has changed when its DH (after the exchange's code has gone) runs out: the SA stays,
    # unanswered, and the peer's retransmission is handled as the request it is.
    import os
    import log
    from crypto import dh
    from ike import const
    from ike import message
    from ike import sa as sa_mod
    r, wan, sad = P.rig()
    i, p = P.establish(r, wan)
    kp = dh.new(const.MODP_2048)
    req = i.request(const.CREATE_CHILD_SA, [message.Sa([P.ike_proposal("aes256-sha256-modp2048", os.urandom(8))]),
                                            message.Nonce(os.urandom(32)), message.Ke(const.MODP_2048, kp.public)])
    shared = dh.KeyPair.shared

    def short(kp, peer):
        raise MemoryError()

    dh.KeyPair.shared = short
    lines = P.capture()
    try:
        r.input(req, P.HQ_NATT, True)
    finally:
        dh.KeyPair.shared = shared
        log.set_output(None)
    assert wan.sent == [] and list(r.sas) == [i.spi_r] and r.sas[i.spi_r].state == sa_mod.ESTABLISHED
    assert any("no memory for the DH" in l for l in P.warns(lines)), lines
    r.input(req, P.HQ_NATT, True)
    m, p = i.open(wan.pop()[0])
    assert m.msg_id == 2 and P.first(p, message.Ke) is not None and len(r.sas) == 2
