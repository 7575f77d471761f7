# IKE fragmentation (RFC 7383) on the responder (firmware/ike/frag.py): support announced only to a
# peer that announces it, SKF fragments authenticated one by one before they are kept and put back
# together in any order, retransmissions answered on fragment 1 only, and limits on what is kept.
import ike_peer as P
from ike import const
from ike import message
from ike import sa as sa_mod

FRAG_SUP = message.Notify(0, b"", const.IKEV2_FRAGMENTATION_SUPPORTED)


def init(r, wan, announce=True):
    i = P.Initiator()
    r.input(i.sa_init(extra=[FRAG_SUP] if announce else []), i.remote, i.natt)
    m = i.init_response(wan.pop()[0])
    i.natt = True
    i.remote = P.HQ_NATT
    return i, m


def auth_fragments(i, n):
    """Initiator.auth()'s request (IDi, AUTH, SA, TSi, TSr), as n fragments with message ID 1."""
    sent = i.auth()
    payloads = P.sk.SkCodec(i.encr, i.keys.sk_ei, i.keys.sk_ai).open(sent, message.decode(sent))[0]
    return i.fragments(const.IKE_AUTH, payloads, n, msg_id=1)


def started(n):
    """A responder after IKE_SA_INIT with a peer that takes fragments, and the peer's IKE_AUTH as n
    fragments: (responder, wan, sad, initiator, fragments)."""
    r, wan, sad = P.rig()
    i, _ = init(r, wan)
    return r, wan, sad, i, auth_fragments(i, n)


def feed(r, i, *datagrams):
    for d in datagrams:
        r.input(d, i.remote, i.natt)


def test_support_announced_only_to_a_peer_that_announces_it():
    r, wan, sad = P.rig()
    _, m = init(r, wan)
    assert m.notify(const.IKEV2_FRAGMENTATION_SUPPORTED) is not None
    _, m = init(r, wan, announce=False)
    assert m.notify(const.IKEV2_FRAGMENTATION_SUPPORTED) is None


def test_fragments_in_any_order_make_the_request():
    r, wan, sad, i, f = started(3)
    for k in (2, 0, 0, 1):  # out of order, fragment 1 twice
        r.input(f[k], i.remote, i.natt)
        assert not wan.sent or k == 1, k
    data, remote, natt = wan.pop()
    assert not wan.sent  # one answer
    m, payloads = i.open(data)
    assert m.is_response and m.msg_id == 1
    i.check_auth(payloads)
    s = r.sas[i.spi_r]
    assert s.state == sa_mod.ESTABLISHED and s.frags is None and len(sad.sas) == 1


def test_a_fragment_that_fails_its_icv_is_not_kept():
    r, wan, sad, i, f = started(2)
    bad = bytearray(f[0])
    bad[-20] ^= 1  # in the ciphertext
    dropped = r.counters["dropped"]
    feed(r, i, bytes(bad), f[1])
    assert not wan.sent and r.counters["dropped"] == dropped + 1
    feed(r, i, f[0])
    i.check_auth(i.open(wan.pop()[0])[1])


def test_retransmission_answered_on_fragment_one_only():
    r, wan, sad, i, f = started(2)
    feed(r, i, *f)
    first = wan.pop()[0]
    feed(r, i, f[1])
    assert not wan.sent
    feed(r, i, f[0])
    assert wan.pop()[0] == first  # the cached answer, byte for byte


def test_a_message_split_anew_into_more_fragments_starts_over():
    # RFC 7383 2.6: a peer that learns of a smaller MTU resends with more, smaller fragments.
    r, wan, sad, i, two = started(2)
    three = auth_fragments(i, 3)
    feed(r, i, two[0], three[1], two[1])  # the last of the smaller split: not mixed in
    assert not wan.sent
    feed(r, i, three[0], three[2])
    i.check_auth(i.open(wan.pop()[0])[1])


def test_too_many_fragments_dropped_without_state():
    r, wan, sad, i, f = started(17)
    dropped = r.counters["dropped"]
    feed(r, i, f[0])
    assert not wan.sent and r.counters["dropped"] == dropped + 1 and r.sas[i.spi_r].frags is None


def test_retransmission_from_a_rebound_port_answered_there_once_authentic():
    # RFC 7296 2.23 with RFC 7383: a NAT rebinding while our answer was lost. Fragment 1, once its ICV
    # checks, gets the cached answer at the new address; the SA stays where it was.
    r, wan, sad, i, f = started(2)
    feed(r, i, *f)
    first = wan.pop()[0]
    moved = P.addr.make(P.addr.parse_ip("10.99.0.1"), 34567)
    bad = bytearray(f[0])
    bad[-1] ^= 1
    r.input(bytes(bad), moved, True)
    r.input(f[1], moved, True)
    assert not wan.sent
    r.input(f[0], moved, True)
    assert wan.pop() == (first, moved, True)
    assert r.sas[i.spi_r].remote == P.HQ_NATT


def test_fragments_held_across_sas_are_bounded():
    # Half-open SAs have keys from unauthenticated peers: together they may not park more than
    # frag.ALL_BYTES of fragments (a 112 KB heap), whatever the number of half-open slots.
    from ike import frag
    r, wan, sad = P.rig()
    peers = []
    for k in range(5):
        i = P.Initiator(remote=P.addr.make(bytes((10, 99, 1, k + 1)), 500))
        r.input(i.sa_init(extra=[FRAG_SUP]), i.remote, False)
        i.init_response(wan.pop()[0])
        i.natt = True
        i.remote = P.addr.make(bytes((10, 99, 1, k + 1)), 4500)
        sent = i.auth(extra=[message.Vendor(bytes(3500))])  # a big IKE_AUTH, in two fragments
        payloads = P.sk.SkCodec(i.encr, i.keys.sk_ei, i.keys.sk_ai).open(sent, message.decode(sent))[0]
        peers.append((i, i.fragments(const.IKE_AUTH, payloads, 2, msg_id=1)))
    dropped = r.counters["dropped"]
    for i, f in peers:
        feed(r, i, f[0])
    held = sum([frag._held(s) for s in r.sas.values()])
    assert 0 < held <= frag.ALL_BYTES and r.counters["dropped"] > dropped, (held, r.counters, [len(f[0]) for _, f in peers])
    i, f = peers[0]
    feed(r, i, f[1])  # the first one completes: its fragments were kept
    assert r.sas[i.spi_r].state == sa_mod.ESTABLISHED
