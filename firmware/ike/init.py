# IKE_SA_INIT, responder side (RFC 7296 1.2): limits and cookies first (no state, no DH for a flood),
# then proposal and KE group, nonces, DH, the key schedule and NAT detection. The new SA is half-open
# until IKE_AUTH.
import gc
import os

import log
from crypto import dh
from ike import algos
from ike import const
from ike import keys
from ike import message
from ike import natt
from ike import responder
from ike import sa as sa_mod
from ike import sk
from net import addr

NONCE_LEN = 32
ZERO_SPI = bytes(8)

_LOG = log.Logger("ike")
# Refusals, each kind rate-limited in the log on its own (responder.hush): a flood logs its first
# line, which names the cause, then a summary per window. Notify type, kind, ...
_QUIET = (const.INVALID_SYNTAX, "malformed IKE_SA_INIT requests",
          const.UNSUPPORTED_CRITICAL_PAYLOAD, "malformed IKE_SA_INIT requests",
          const.TEMPORARY_FAILURE, "IKE_SA_INIT requests over max_half_open",
          const.NO_ADDITIONAL_SAS, "IKE_SA_INIT requests over max_ike_sas",
          const.NO_PROPOSAL_CHOSEN, "IKE_SA_INIT requests with no acceptable proposal",
          const.INVALID_KE_PAYLOAD, "IKE_SA_INIT requests with a KE of another DH group")


def reject(r, spi_i, msg_id, remote, on_natt, notify_type, data, why, level=None):
    """Unprotected error response to an IKE_SA_INIT (no SA is created)."""
    r.counters["dropped"] += 1
    if why:
        for k in range(0, len(_QUIET), 2):
            if _QUIET[k] == notify_type and r.hush(_QUIET[k + 1]):
                why = None
                break
    if why:
        (level or _LOG.warn)(why)
    m = message.Message(spi_i, ZERO_SPI, const.IKE_SA_INIT, const.FLAG_RESPONSE, msg_id,
                        [message.Notify(0, b"", notify_type, data)])
    r.wan.send_ike(m.encode(), remote, on_natt)


def handle(r, data, spi_i, msg_id, remote, on_natt):
    who = addr.describe(remote)
    try:
        msg = message.decode(data)
    except message.ParseError as e:
        return r.drop("malformed IKE_SA_INIT from %s dropped: %s" % (who, e.reason))
    if msg_id != 0:
        return r.drop("IKE_SA_INIT from %s with message ID %d dropped" % (who, msg_id))
    if msg.unsupported_critical is not None:
        return reject(r, spi_i, 0, remote, on_natt, const.UNSUPPORTED_CRITICAL_PAYLOAD,
                      bytes((msg.unsupported_critical,)),
                      "IKE_SA_INIT from %s has critical payload type %d we do not support"
                      % (who, msg.unsupported_critical))
    sa_p = msg.get(message.Sa)
    ke = msg.get(message.Ke)
    nonce = msg.get(message.Nonce)
    if sa_p is None or ke is None or nonce is None or not 16 <= len(nonce.data) <= 256:
        return reject(r, spi_i, 0, remote, on_natt, const.INVALID_SYNTAX, b"",
                      "IKE_SA_INIT from %s lacks SA, KE or a valid nonce" % who)
    ni = bytes(nonce.data)
    limits = r.cfg.limits
    ip = addr.split(remote)[0]
    half = r.half_open()
    half_ip = r.half_open(ip)
    if (half >= limits.cookie_threshold or half_ip >= limits.cookie_threshold_ip or
            (limits.block_threshold and half_ip >= limits.block_threshold)):
        # A limit is reached: SAs that failed IKE_AUTH, kept only to answer a retransmission of it
        # (auth.answered), give up their slots first.
        for s in list(r.sas.values()):
            if s.state == sa_mod.HALF_OPEN and s.doomed:
                r.remove(s, None)
        half = r.half_open()
        half_ip = r.half_open(ip)
    # Per-source limits as strongSwan's (block_threshold, cookie_threshold_ip): one address flooding
    # us is silenced first, without an answer (0 turns blocking off).
    if limits.block_threshold and half_ip >= limits.block_threshold:
        return r.drop("IKE_SA_INIT from %s dropped: %d half-open SAs from that address (block_threshold=%d)"
                      % (who, half_ip, limits.block_threshold))
    if half >= limits.cookie_threshold or half_ip >= limits.cookie_threshold_ip:
        c = msg.notify(const.COOKIE)
        if r.cookies is None:
            from ike import cookie  # its secret must outlive the exchange: kept by r.cookies
            r.cookies = cookie.Cookies()
        if c is None or not r.cookies.valid(c.data, ni, addr.key(remote), spi_i):
            # Stateless: the initiator must come back with the cookie (RFC 7296 2.6). Not logged per
            # packet: this is the flood path.
            r.counters["dropped"] += 1
            m = message.Message(spi_i, ZERO_SPI, const.IKE_SA_INIT, const.FLAG_RESPONSE, 0, [
                message.Notify(0, b"", const.COOKIE, r.cookies.make(ni, addr.key(remote), spi_i))])
            r.wan.send_ike(m.encode(), remote, on_natt)
            return None
    if half >= limits.max_half_open:
        return reject(r, spi_i, 0, remote, on_natt, const.TEMPORARY_FAILURE, b"",
                      "refusing IKE_SA_INIT from %s: %d half-open SAs (limit max_half_open=%d)"
                      % (who, half, limits.max_half_open))
    if r.established() >= limits.max_ike_sas:
        return reject(r, spi_i, 0, remote, on_natt, const.NO_ADDITIONAL_SAS, b"",
                      "refusing IKE_SA_INIT from %s: %d IKE SAs up (limit max_ike_sas=%d)"
                      % (who, r.established(), limits.max_ike_sas))
    specs = r.ike_specs()
    from ike import selection  # not kept in this module's globals: it goes before the DH computation
    chosen = selection.select(specs, sa_p.proposals, const.PROTO_IKE, ke.group)
    selection = None
    if chosen is None:
        from ike import proposal  # to name both sides' algorithms
        return reject(r, spi_i, 0, remote, on_natt, const.NO_PROPOSAL_CHOSEN, b"",
                      "proposal mismatch: peer %s offered %s, we accept %s"
                      % (who, proposal.describe_proposals(sa_p.proposals) or "nothing",
                         proposal.describe_specs(specs)))
    if chosen.dh != ke.group:
        g = chosen.dh
        return reject(r, spi_i, 0, remote, on_natt, const.INVALID_KE_PAYLOAD, bytes((g >> 8, g & 0xFF)),
                      "peer %s sent a key exchange for DH group %d, we prefer group %d: asked it to retry "
                      "(INVALID_KE_PAYLOAD)" % (who, ke.group, g), _LOG.info)
    spi_r = r.new_ike_spi()
    local = r.wan.local(on_natt)
    nat = natt.detect(msg, ZERO_SPI, local, remote)
    frag_ok = msg.notify(const.IKEV2_FRAGMENTATION_SUPPORTED) is not None
    group = ke.group
    public = ke.data
    msg = sa_p = nonce = ke = None
    responder.unload("ike.selection")
    try:
        dh.check(group, public)
    except dh.DhError as e:
        return reject(r, spi_i, 0, remote, on_natt, const.INVALID_SYNTAX, b"",
                      "peer %s sent an invalid DH public value for group %d: %s" % (who, group, e))
    kp = r.take_dh(chosen.dh)
    nr = os.urandom(NONCE_LEN)
    reply = [message.Sa([chosen.to_payload_proposal()]), message.Ke(chosen.dh, kp.public),
             message.Nonce(nr)]
    if frag_ok:
        reply.append(message.Notify(0, b"", const.IKEV2_FRAGMENTATION_SUPPORTED))  # RFC 7383 2.3
    # IKE_AUTH may come without a CHILD SA (RFC 6023; auth.py): a peer set to insist on that
    # (strongSwan's childless = force) asks for this first.
    reply.append(message.Notify(0, b"", const.CHILDLESS_IKEV2_SUPPORTED))
    if nat is not None:
        reply.extend(natt.notifies(spi_i, spi_r, remote))
    resp = message.Message(spi_i, spi_r, const.IKE_SA_INIT, const.FLAG_RESPONSE, 0, reply).encode()
    reply = None
    # The answer needs no DH result: it goes first, and g^ir is computed while the peer computes
    # its own (a handshake is shorter by the peer's DH time). The SA is made after the DH, with its
    # keys: what lives on is allocated once the DH's garbage is collected, not under it (the heap
    # of the ESP32). The loop reads nothing in between, so no IKE_AUTH can come before it. The DH
    # is the handshake's peak: the request's payloads and the selection code went first.
    r.wan.send_ike(resp, remote, on_natt)
    gc.collect()
    try:
        gir = kp.shared(public)
    except dh.DhError as e:  # checked above: only a value dh.check let pass by mistake gets here
        return r.drop("peer %s sent an invalid DH public value for group %d: %s" % (who, group, e), _LOG.warn)
    s = sa_mod.IkeSa(spi_i, spi_r, remote, on_natt)
    s.chosen = algos.kept(chosen)
    s.nat = nat is not None  # ESP in UDP: our NAT-D makes the peer encapsulate even without a NAT (natt.py)
    s.resp = resp
    s.rx_id = 1
    _derive(s, gir, ni, nr, bytes(data), chosen)
    r.add(s, spi_i + addr.key(remote))
    if nat is None:
        _LOG.warn("peer %s does not do NAT traversal (no NAT_DETECTION notifies): the device carries ESP "
                  "only in UDP 4500, so its CHILD SAs will carry nothing" % who)
    _LOG.info("IKE_SA_INIT from %s: %s%s" % (who, s.chosen,
                                            ", NAT detected" if nat is not None and (nat[0] or nat[1]) else ""))
    return None


def _derive(s, gir, ni, nr, request, chosen):
    """The IKE SA's keys (2.14) from g^ir, and what IKE_AUTH will sign (2.15)."""
    k = keys.ike_keys(keys.skeyseed(ni, nr, gir), ni, nr, s.spi_i, s.spi_r,
                      keys.key_bytes(chosen.encr, chosen.keylen))
    s.sk_d = k.sk_d
    s.rx = sk.SkCodec(chosen.encr, k.sk_ei, k.sk_ai)
    s.tx = sk.SkCodec(chosen.encr, k.sk_er, k.sk_ar)
    # SK_pi/SK_pr, not k: an IkeKeys would keep ike.keys (its class's module) in the heap until IKE_AUTH.
    s.hs = (ni, nr, request, s.resp, k.sk_pi, k.sk_pr)
