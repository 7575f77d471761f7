# Proposal selection (RFC 7296 2.7) with strongSwan's rules (libstrongswan/crypto/proposal/proposal.c,
# default prefer_configured_proposals = yes): the first of OUR proposals, in configured order, that
# matches any proposal the peer offers (peer order); within a transform type our algorithm order wins.
# A proposal with a transform type the other side lacks does not match, except that DH is optional
# for ESP (a NONE group accepts no-PFS) and additional key exchanges (RFC 9370, types 6+) are accepted
# only when the peer lists NONE for them.
# Apart from ike/proposal.py (the proposal strings of the config): an exchange loads only this.
from ike import const
from ike import message
from ike.algos import Chosen

_E = const.TRANS_ENCR
_P = const.TRANS_PRF
_I = const.TRANS_INTEG
_D = const.TRANS_DH
_S = const.TRANS_ESN
# RFC 9370 additional key exchanges: transform types 6..12, ids from the DH registry
_ADDKE_FIRST = const.TRANS_ESN + 1
_ADDKE_LAST = const.TRANS_ESN + 7


def _pick(ours, theirs, optional, none):
    """strongSwan's select_algo for one transform type. Returns (found, alg); alg is None when the
    type is absent on both sides or optional and declined. `none` is the NONE id of optional types."""
    if not ours:
        if not theirs:
            return True, None
        return (optional and none in theirs), None
    if not theirs:
        return (optional and none in ours), None
    for a in ours:
        if a in theirs:
            return True, (None if optional and a == none else a)
    return False, None


def transforms_by_type(p):
    """A message.Proposal's transforms sorted by type, each list in the peer's order -> encr
    [(id, keylen)], integ, prf, dh, esn [id], other [(type, id)] (types we have no list for)."""
    encr, integ, prf, dh, esn, other = [], [], [], [], [], []
    lists = {_I: integ, _P: prf, _D: dh, _S: esn}
    for t in p.transforms:
        if t.type == _E:
            encr.append((t.id, t.keylen))
        elif t.type in lists:
            lists[t.type].append(t.id)
        else:
            other.append((t.type, t.id))
    return encr, integ, prf, dh, esn, other


def _match(spec, p, ke_group, skip_dh):
    encr, integ, prf, dh, esn, other = transforms_by_type(p)
    for t, _ in other:
        if not (_ADDKE_FIRST <= t <= _ADDKE_LAST and (t, const.DH_NONE) in other):
            return None
    ok, e = _pick(spec.encr, encr, False, None)
    if not ok or e is None:
        return None
    ok, i = _pick(spec.integ, integ, False, None)
    if not ok or i is None:
        return None
    ok, f = _pick(spec.prf, prf, False, None)
    if not ok:
        return None
    g = None
    if not skip_dh:
        ok, g = _pick(spec.dh, dh, spec.protocol != const.PROTO_IKE, const.DH_NONE)
        if not ok:
            return None
        # Prefer the group the peer already sent a KE for, if both sides accept it: saves an
        # INVALID_KE_PAYLOAD round trip.
        if g is not None and ke_group is not None and ke_group in spec.dh and ke_group in dh:
            g = ke_group
    ok, s = _pick(spec.esn, esn, False, None)
    if not ok:
        return None
    return Chosen(p.num, p.protocol, p.spi, e[0], e[1], i, f, g, s == const.ESN)


def select(specs, offered, protocol, ke_group=None, skip_dh=False):
    """First of our `specs` (configured order) matching one of the peer's `offered` message.Proposal
    objects (peer order) -> Chosen, or None (answer NO_PROPOSAL_CHOSEN).
    ke_group: the group of the peer's KE payload, preferred among the acceptable groups.
    skip_dh: ignore DH transforms, as for the CHILD SA of IKE_AUTH, which never has a KE exchange
    (RFC 7296 1.2; strongSwan's PROPOSAL_SKIP_KE)."""
    for spec in specs:
        if spec.protocol != protocol:
            continue
        for p in offered:
            if p.protocol != protocol:
                continue
            c = _match(spec, p, ke_group, skip_dh)
            if c is not None:
                return c
    return None


def offer(specs, spi):
    """Our proposals (message.Proposal, numbered from 1) for the configured specs, with our SPI: a
    rekey we start (rekey_child.py, rekey_ike_own.py)."""
    out = []
    for spec in specs:
        t = [message.Transform(_E, e, kl) for e, kl in spec.encr]
        t += [message.Transform(_P, f) for f in spec.prf]
        t += [message.Transform(_I, i) for i in spec.integ]
        t += [message.Transform(_D, g) for g in spec.dh]
        t += [message.Transform(_S, e) for e in spec.esn]
        out.append(message.Proposal(len(out) + 1, spec.protocol, spi, t))
    return out
