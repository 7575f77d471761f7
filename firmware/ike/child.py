# CHILD SA negotiation (RFC 7296 1.2, 1.3, 2.9, 2.17), shared by IKE_AUTH (first CHILD SA, never PFS)
# and CREATE_CHILD_SA (new or rekeyed CHILD SA, PFS when the proposal has a DH group): ESP proposal,
# traffic selectors narrowed to the configured ones, keys, and the hand-off to the SAD.
import time

import log
from ike import const
from ike import message
from ike import responder
from ike import sa as sa_mod
from ike import ts

_LOG = log.Logger("ike")


def _error(notify_type, data=b""):
    return [message.Notify(0, b"", notify_type, data)]


def negotiate(r, s, payloads, ni, nr, nonce_payload, old=None, msg_id=0):
    """Returns the reply payloads, or None when a key exchange (PFS) leaves the rest for after the DH
    (finish). nonce_payload: our Nr payload in CREATE_CHILD_SA (goes after the
    SA payload, and allows PFS); None in IKE_AUTH. old: the CHILD SA a rekey replaces (_rekeyed)."""
    peer = s.peer
    sa_p = tsi = tsr = ke = None
    transport = False
    for p in payloads:
        if isinstance(p, message.Sa):
            sa_p = sa_p or p
        elif isinstance(p, message.TsI):
            tsi = p
        elif isinstance(p, message.TsR):
            tsr = p
        elif isinstance(p, message.Ke):
            ke = p
        elif isinstance(p, message.Notify) and p.notify_type == const.USE_TRANSPORT_MODE:
            transport = True
    if sa_p is None or tsi is None or tsr is None:
        _LOG.warn("CHILD SA request from peer %s lacks SA or TS payloads" % peer.name)
        return _error(const.INVALID_SYNTAX)
    limit = r.cfg.limits.max_child_sas
    n = 0
    for o in r.sas.values():
        n += len(o.children)
    if n >= limit:
        _LOG.warn("refusing CHILD SA for peer %s: %d CHILD SAs up (limit max_child_sas=%d)"
                  % (peer.name, n, limit))
        return _error(const.NO_ADDITIONAL_SAS)
    specs = peer.esp_proposals
    # Selection and the key schedule are imported here, not kept in this module's globals: each is
    # unloaded once done, before the SAD entry is made (the peak of a handshake: IKE_AUTH of the
    # last SA, with all others up).
    from ike import selection
    first = nonce_payload is None
    chosen = selection.select(specs, sa_p.proposals, const.PROTO_ESP,
                              ke.group if ke is not None else None, first)
    # The first CHILD SA takes no KE, so its DH groups are not compared; its rekeys will be. A
    # mismatch there (PFS on one side only, or other groups) comes up fine and fails an hour later:
    # said now, if the peer lists its groups here (strongSwan leaves them out of IKE_AUTH).
    pfs_mismatch = (first and chosen is not None and _lists_dh(sa_p.proposals)
                    and selection.select(specs, sa_p.proposals, const.PROTO_ESP) is None)
    selection = None
    responder.unload("ike.selection")
    if chosen is None or pfs_mismatch:
        from ike import proposal  # to name both sides' algorithms
        offered = proposal.describe_proposals(sa_p.proposals) or "nothing"
        accepted = proposal.describe_specs(specs)
        if chosen is None:
            _LOG.warn("proposal mismatch for CHILD SA with peer %s: peer offered %s, we accept %s"
                      % (peer.name, offered, accepted))
            return _error(const.NO_PROPOSAL_CHOSEN)
        _LOG.warn("PFS mismatch with peer %s: it offered %s, we accept %s; the CHILD SA comes up (IKE_AUTH "
                  "has no key exchange) but its rekeys will fail with NO_PROPOSAL_CHOSEN: configure the same "
                  "DH groups (or none) in the ESP proposals of both sides" % (peer.name, offered, accepted))
    if len(chosen.spi) != 4:
        _LOG.warn("peer %s proposed an ESP SPI of %d bytes" % (peer.name, len(chosen.spi)))
        return _error(const.INVALID_SYNTAX)
    # The peer's selectors, made now rather than kept for every peer from boot on.
    ours = [ts.from_cidr(c) for c in peer.local_ts]
    theirs = [ts.from_cidr(c) for c in peer.remote_ts]
    remote_ts = ts.narrow(tsi.selectors, theirs)
    local_ts = ts.narrow(tsr.selectors, ours)
    if not remote_ts or not local_ts:
        # A transport-mode request from a peer configured with subnets narrows them to its own
        # address, often to nothing: say which mode it asked for.
        _LOG.warn("TS_UNACCEPTABLE: peer %s asked %s === %s%s, we allow %s === %s (tunnel mode)" % (
            peer.name, ts.describe(tsr.selectors), ts.describe(tsi.selectors),
            " in transport mode" if transport else "", ts.describe(ours), ts.describe(theirs)))
        return _error(const.TS_UNACCEPTABLE)
    if transport:
        _LOG.info("peer %s asked for transport mode; we only do tunnel mode (not echoed)" % peer.name)
    if chosen.dh is not None:
        if ke is None or ke.group != chosen.dh:
            g = chosen.dh
            _LOG.info("peer %s sent %s for the CHILD SA, we want DH group %d: asked it to retry "
                      "(INVALID_KE_PAYLOAD)" % (peer.name, "no KE" if ke is None else
                                                "a KE for DH group %d" % ke.group, g))
            return _error(const.INVALID_KE_PAYLOAD, bytes((g >> 8, g & 0xFF)))
        from crypto import dh  # PFS only: the first CHILD SA (IKE_AUTH) and most rekeys take no KE
        try:
            dh.check(ke.group, ke.data)
        except dh.DhError as e:
            _LOG.warn("peer %s sent an invalid DH public value for group %d: %s" % (peer.name, ke.group, e))
            return _error(const.INVALID_SYNTAX)
        # The DH, the keys and the SA once this code, the selectors' and the request's have gone
        # (ike/later.py): the selectors wait as they go on the wire, not as Selector objects.
        chosen.spi = bytes(chosen.spi)
        sel = message.encode_payloads([message.TsI(local_ts), message.TsR(remote_ts)])[1]
        r.later = (s, msg_id, ke.group, bytes(ke.data), "ike.child", (chosen, ni, nr, sel, old))
        return None
    return _make(r, s, chosen, ni, nr, None, local_ts, remote_ts, nonce_payload, None, old)


def finish(r, s, kp, gir, chosen, ni, nr, sel, old):
    """A CHILD SA with PFS once its DH is done: the answer's payloads."""
    tsi, tsr = message.decode_payloads(const.PT_TSI, sel)[0]
    return _make(r, s, chosen, ni, nr, gir, tsi.selectors, tsr.selectors, message.Nonce(nr),
                 message.Ke(chosen.dh, kp.public), old)


def _make(r, s, chosen, ni, nr, gir, local_ts, remote_ts, nonce_payload, reply_ke, old):
    peer = s.peer
    spi_in = r.sad.new_spi()
    spi_out = bytes(chosen.spi)
    from ike import keys
    elen = keys.key_bytes(chosen.encr, chosen.keylen)
    enc_i, auth_i, enc_r, auth_r = keys.child_keymat(s.sk_d, ni, nr, elen, 32, gir)
    keys = gir = None
    responder.unload("ike.keys")
    responder.unload("crypto.prf")
    c = sa_mod.ChildSa(spi_in, spi_out, chosen, local_ts, remote_ts, peer.child_lifetime * 1000)
    # The initiator->responder keys protect what we receive.
    r.install_later(s, c, (spi_in, spi_out, chosen.encr, elen * 8, enc_i, auth_i, enc_r, auth_r,
                           local_ts, remote_ts, s.remote, s.nat))
    s.children.append(c)
    _LOG.info("CHILD SA %s_i %s_o established with peer %s: %s, %s === %s%s" % (
        _hex(spi_in), _hex(spi_out), peer.name, c.chosen, ts.describe(local_ts), ts.describe(remote_ts),
        ", UDP-encapsulated" if s.nat else ""))
    _rekeyed(s, old, c, ni, nr)
    r.changed()
    reply = [message.Sa([chosen.to_payload_proposal(spi_in)])]
    if nonce_payload is not None:
        reply.append(nonce_payload)
    if reply_ke is not None:
        reply.append(reply_ke)
    reply.append(message.TsI(remote_ts))
    reply.append(message.TsR(local_ts))
    return reply


def _rekeyed(s, old, c, ni, nr):
    """CHILD SA c, made by a CREATE_CHILD_SA, replaces `old` (None: a new CHILD SA)."""
    if old is None:
        return
    if old.state == sa_mod.REKEYING:
        # Both sides rekey it at once (2.8.1): answered as usual; which new SA stays is decided
        # by the nonces when our own rekey's answer comes (rekey_child.py).
        old.collision = (ni, nr, c)
        _LOG.info("CHILD SA %s_i: rekey collision with peer %s" % (_hex(old.spi_in), s.name()))
    else:
        # The initiator deletes the old SA once the new one is in; we keep receiving on it until then.
        old.state = sa_mod.REKEYED
        old.rekeyed_at = time.ticks_ms()
        _LOG.info("CHILD SA %s_i rekeyed by %s_i" % (_hex(old.spi_in), _hex(c.spi_in)))


def _lists_dh(proposals):
    for p in proposals:
        for t in p.transforms:
            if t.type == const.TRANS_DH:
                return True
    return False


def _hex(b):
    return "".join(["%02x" % x for x in b])
