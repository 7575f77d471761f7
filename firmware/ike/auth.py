# IKE_AUTH with a pre-shared key, responder side (RFC 7296 1.2, 2.15): find the peer by IDi, verify
# its AUTH in constant time, answer with IDr and our AUTH, and negotiate the first CHILD SA.
# AUTH = prf(prf(PSK, "Key Pad for IKEv2"), <message octets> | Nonce | prf(SK_p, ID body)).
import cfgview
import log
from crypto import ct
from crypto.hmac import hmac_sha256
from ike import child
from ike import const
from ike import identity
from ike import message
from ike import sa as sa_mod

KEY_PAD = b"Key Pad for IKEv2"

_LOG = log.Logger("ike")


def psk_auth(psk, octets, nonce, sk_p, id_type, id_data):
    id_body = bytes((id_type, 0, 0, 0)) + bytes(id_data)
    return hmac_sha256(hmac_sha256(psk, KEY_PAD), octets, nonce, hmac_sha256(sk_p, id_body))


def _fail(r, s, why):
    _LOG.warn(why)
    r.counters["auth_failed"] += 1
    s.doomed = "closed: authentication failed"
    return [message.Notify(0, b"", const.AUTHENTICATION_FAILED)]


def answered(r, s):
    """The AUTHENTICATION_FAILED answer is sent; it may be lost, and the peer's retransmission must
    get it again byte for byte (2.1) instead of silence. The SA keeps only what that takes (the
    response, its message ID, the peer's address) and stays half-open: it holds that slot until the
    half-open timeout, or until a new IKE_SA_INIT needs it (init.py). No IKE_SA_INIT leads to it."""
    _LOG.info("IKE SA %s with %s %s" % (identity.hexs(s.spi_r), s.name(), s.doomed))
    r.inits.pop(s.init_key, None)
    s.init_key = s.hs = s.sk_d = s.rx = s.tx = None
    r.changed()


def _first(payloads, cls):
    for p in payloads:
        if isinstance(p, cls):
            return p
    return None


def _notified(payloads, notify_type):
    for p in payloads:
        if isinstance(p, message.Notify) and p.notify_type == notify_type:
            return p
    return None


def handle(r, s, msg, payloads):
    idi = _first(payloads, message.IdI)
    a = _first(payloads, message.Auth)
    if idi is None or a is None:
        return _fail(r, s, "IKE_AUTH from %s without ID or AUTH payload (EAP is not supported)"
                     % identity.where(s))
    who = identity.describe(idi.id_type, idi.data)
    peer = cfgview.peer_for(r.cfg, idi.id_type, idi.data)
    if peer is None:
        return _fail(r, s, "AUTH failed: no peer configured with identity %s (from %s)" % (who, identity.where(s)))
    if a.method != const.SHARED_KEY_MESSAGE_INTEGRITY_CODE:
        return _fail(r, s, "AUTH failed for peer %s: it uses authentication method %d (certificates?), "
                     "we are configured for a pre-shared key" % (peer.name, a.method))
    psk = peer.psk
    ni, nr, init_req, init_resp, sk_pi, sk_pr = s.hs
    expect = psk_auth(psk, init_req, nr, sk_pi, idi.id_type, idi.data)
    if not ct.eq(a.data, expect):
        return _fail(r, s, "AUTH failed for peer %s (wrong PSK?)" % peer.name)
    our_type = r.cfg.id.type
    our_data = r.cfg.id.data
    reply = [message.IdR(our_type, our_data),
             message.Auth(const.SHARED_KEY_MESSAGE_INTEGRITY_CODE,
                          psk_auth(psk, init_resp, ni, sk_pr, our_type, our_data))]
    s.peer = peer
    s.state = sa_mod.ESTABLISHED
    # init_key stays registered: a late copy of the IKE_SA_INIT must not open a second SA.
    # The handshake's octets and keys go now, not after the CHILD SA's negotiation (heap peak).
    s.hs = None
    init_req = init_resp = None
    r.changed()
    r.counters["established"] += 1
    _LOG.info("IKE SA %s established with peer %s (%s) at %s: %s" % (
        identity.spis(s), peer.name, who, identity.where(s), s.chosen))
    idr = _first(payloads, message.IdR)
    if idr is not None and not cfgview.id_matches(r.cfg.id, idr.id_type, idr.data):
        # The identity the peer wants us to have (2.5): it will refuse our AUTH (strongSwan's
        # "constraint check failed"), and the log at head office names only its own side.
        _LOG.warn("peer %s expects this device as %s, we are %s: it will refuse our authentication (check "
                  "its remote id)" % (peer.name, identity.describe(idr.id_type, idr.data),
                                      identity.describe(our_type, our_data)))
    if _notified(payloads, const.INITIAL_CONTACT) is not None:
        # The peer has no other SAs with us (it restarted): drop our stale ones.
        for o in list(r.sas.values()):
            if o is not s and o.peer is s.peer:
                r.remove(o, "deleted: peer %s sent INITIAL_CONTACT" % peer.name)
    if _first(payloads, message.Sa) is not None:
        reply.extend(child.negotiate(r, s, payloads, ni, nr, None))
    return reply
