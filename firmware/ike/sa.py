# IKE and CHILD SA state. Plain records: the exchange modules (init, auth, child, rekey, info) change
# them, the responder keeps the tables and the timers.
import time

from micropython import const

from ike import algos
from ike import message

HALF_OPEN = const(0)    # IKE_SA_INIT answered, IKE_AUTH not yet seen
ESTABLISHED = const(1)
DELETING = const(2)     # our DELETE is in flight; the SA goes when it is answered or times out
REKEYED = const(3)      # replaced by a rekey; waits for the peer's DELETE
REKEYING = const(4)     # CHILD SA: our rekey of it is in flight
STATES = ("half-open", "established", "deleting", "rekeyed", "rekeying")

REKEYED_LINGER_MS = const(30000)  # a replaced SA whose DELETE never comes is removed after this


class ChildSa:
    # Rarely set fields are class defaults: an instance stores only the fields assigned to it (a
    # CHILD SA that is up: those of __init__ and its SAD entry), its dict a size class or two smaller.
    rekeyed_at = None
    expired = None        # the SAD's "hard" event: delete it
    rekey_due = False     # the SAD's "soft" / "seq_limit" event: rekey it
    rekey_after = None    # ticks before which we do not start a rekey (after a refusal)
    rekey_refused = False
    collision = None      # (Ni, Nr, new ChildSa) of the peer's rekey crossing ours (2.8.1)
    entry = None          # the SAD's record of it

    def __init__(self, spi_in, spi_out, chosen, local_ts, remote_ts, lifetime):
        self.spi_in = spi_in      # ours: the peer sends ESP with it
        self.spi_out = spi_out    # the peer's: we send ESP with it
        self.chosen = algos.kept(chosen)  # (encr, keylen, integ, dh), shared
        # The selectors are read only by our rekey of it and the status view: kept as they go on
        # the wire (a TSi payload holding the local ones, a TSr the remote ones), one bytes object
        # instead of two lists of Selector objects, read again there (decode_payloads(PT_TSI, ..),
        # ts.describe_encoded).
        self.selectors = message.encode_payloads([message.TsI(local_ts), message.TsR(remote_ts)])[1]
        self.lifetime = lifetime
        self.state = ESTABLISHED
        self.created = time.ticks_ms()


# Where the answer to a request of ours, or its timeout, goes (Request.then; responder._answered).
# A code, not a function: the handler's module is imported when the answer comes, so a request in
# flight holds no code of a transient module (a CHILD SA rekey's ~9 KB, a DELETE's ~3.5 KB), and
# requests started on different ticks do not keep a copy each.
REKEY_CHILD = const(1)  # rekey_child.answered
DELETE = const(2)       # info.answered
REKEY_IKE = const(3)    # rekey_ike_own.answered


class Request:
    """One request of ours in flight (we may have one outstanding per IKE SA: window size 1)."""

    def __init__(self, msg_id, data, then, arg):
        self.msg_id = msg_id
        self.data = data
        self.then = then  # REKEY_CHILD, DELETE, or None: a liveness check (responder._answered)
        self.arg = arg    # what the handler needs, e.g. the CHILD SA
        self.tries = 1
        self.sent = time.ticks_ms()


class IkeSa:
    # As ChildSa: fields that most SAs never set, or set only late, are class defaults, so that an
    # established SA's attribute table stays in a smaller size class (23 slots, not 29).
    peer = None              # config peer, known after IKE_AUTH
    hs = None                # (Ni, Nr, IKE_SA_INIT request and response octets, SK_pi, SK_pr):
                             # what IKE_AUTH needs, dropped once it is over
    sk_d = None              # SK_d, from which CHILD SA keys and the IKE SA rekey derive
    nat = False              # the peer does NAT traversal: ESP in UDP, keepalives (ike/natt.py)
    rx = None                # SkCodec for initiator->responder
    tx = None
    rx_id = 0                # next request id expected from the peer; the cached response is for rx_id - 1
    resp = None              # that response's octets, resent byte for byte on a retransmitted request
    tx_id = 0                # id of our next request
    out = None               # Request in flight
    init_key = None          # SPIi | peer address: finds IKE_SA_INIT retransmits
    doomed = None            # why to remove it once the current response is sent (a failed
                             # IKE_AUTH: kept half-open to answer a retransmission, auth.answered)
    rekeyed_at = None
    rekey_after = None       # ticks before which we do not start a rekey of it (after a refusal)
    rekey_refused = False    # the peer refused our rekey: left to its hard expiry
    flags = 0                # FLAG_INITIATOR if we are its original initiator (we made it by
                             # rekeying, rekey_ike_own.py): set on every message we send on it
    esp_rx = 0               # ESP packets received at the last liveness look
    frags = None             # the fragmented message being collected (ike/frag.py)

    def __init__(self, spi_i, spi_r, remote, natt):
        self.spi_i = spi_i
        self.spi_r = spi_r
        self.remote = remote          # peer's socket address (follows NAT rebinding, 2.23)
        self.natt = natt              # IKE on UDP 4500 with the non-ESP marker
        self.state = HALF_OPEN
        self.chosen = None            # IKE proposal (algos.kept: shared)
        self.children = []
        self.created = self.last_rx = time.ticks_ms()

    def name(self):
        return self.peer.name if self.peer is not None else "half-open"

    def ours(self):
        """Our SPI of it (the responder's key for it): SPIr, or SPIi if we are its original initiator."""
        return self.spi_i if self.flags else self.spi_r

    def child_by_out(self, spi_out):
        for c in self.children:
            if c.spi_out == spi_out:
                return c
        return None

    def child_by_in(self, spi_in):
        for c in self.children:
            if c.spi_in == spi_in:
                return c
        return None
