# SA lifetimes kept by the SAD (RFC 4301 4.4.2.1): the check that fires "soft" (rekey) and "hard"
# (delete) on an SA's sad.Lifetime. A module of its own, imported only for an SA that has limits: the
# IKE responder times its CHILD SAs itself and installs them without (Sad.install(lifetime=None)), so
# the device never loads this code.
from micropython import const

from ipsec.sad import AGE_S, BASE, FIRED, LIM, REBASE, TRAFFIC

_SOFT = const(1)             # in Sa.c[FIRED]: "soft" or "hard" fired (sad.py has the other bit)


def _reached(cnt, limits, secs):
    """Has the SA with counters cnt (Sa.c) reached one of these lifetime limits?"""
    if secs and cnt[AGE_S] >= secs:
        return True
    for i in range(TRAFFIC):
        if limits[i] and cnt[BASE + i] + cnt[i] >= limits[i]:
            return True
    return False


def check(sa):
    """Sad._check for an SA with a lifetime: mark what is due now ("hard" or "soft", each at most
    once) and return its kind (or None), and set the limits the engine holds the traffic counters
    against: the next lifetime limit, or where the counters move into the running total."""
    lt = sa.lifetime
    cnt = sa.c
    kind = None
    if not sa.dead:
        if _reached(cnt, lt.hard, lt.hard_s):
            sa.dead = True
            sa.sending = False
            cnt[FIRED] |= _SOFT
            kind = "hard"
        elif not cnt[FIRED] & _SOFT and _reached(cnt, lt.soft, lt.soft_s):
            cnt[FIRED] |= _SOFT
            kind = "soft"
    for i in range(TRAFFIC):
        nxt = 0
        if not sa.dead:
            nxt = lt.hard[i]
            s = lt.soft[i]
            if s and not cnt[FIRED] & _SOFT and (not nxt or s < nxt):
                nxt = s
        cnt[LIM + i] = min(nxt - cnt[BASE + i], REBASE) if nxt else REBASE
    return kind
