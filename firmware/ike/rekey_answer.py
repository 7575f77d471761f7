# The peer's answer to a CREATE_CHILD_SA we started (a rekey of a CHILD SA, rekey_child.py, or of
# the IKE SA, rekey_ike_own.py): its payloads sorted out, and what a refusal means for a retry.
from crypto import dh
from ike import const
from ike import message


def read(payloads):
    """(error, sa, nonce, ke, tsi, tsr): the first error Notify (then nothing else is read), else
    None, the first SA payload and the last payload of each other kind (None where there is none)."""
    sa_p = nonce = ke = tsi = tsr = None
    for p in payloads:
        if isinstance(p, message.Notify) and p.notify_type <= const.NOTIFY_ERROR_MAX:
            return p, None, None, None, None, None
        if isinstance(p, message.Sa):
            sa_p = sa_p or p
        elif isinstance(p, message.Nonce):
            nonce = p
        elif isinstance(p, message.Ke):
            ke = p
        elif isinstance(p, message.TsI):
            tsi = p
        elif isinstance(p, message.TsR):
            tsr = p
    return None, sa_p, nonce, ke, tsi, tsr


def retry_group(err, kp):
    """The DH group to retry with after the refusal `err`: the one an INVALID_KE_PAYLOAD names, if
    we support it and our KE (keypair kp) was another; else None."""
    if err.notify_type != const.INVALID_KE_PAYLOAD or len(err.data) != 2 or kp is None:
        return None
    g = (err.data[0] << 8) | err.data[1]
    return g if g != kp.group and g in dh.SUPPORTED else None


def refusal(s, err):
    """The log text for the refusal `err` from the peer of IKE SA s."""
    from ike import names
    return "peer %s refused it (%s)" % (s.name(), names.notify(err.notify_type))
