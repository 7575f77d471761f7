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
