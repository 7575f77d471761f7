# The IKEv2 responder: takes IKE datagrams from the WAN, finds the SA, enforces the message-ID window
# (retransmitted requests get the cached response byte for byte, anything else out of window is
# dropped), opens the SK payload and hands the request on (ike/exchange.py) to the module of its
# exchange (init, auth, create, info), which returns the response payloads. It also runs our own
# requests on established SAs (DPD, DELETE) with retransmission, and the timers: half-open expiry,
# lifetimes, liveness.
import gc
import os
import sys
import time

import log
from ike import const
from ike import message
from ike import sa as sa_mod
from ike import sk
from net import addr

ZERO_SPI = bytes(8)

_LOG = log.Logger("ike")
_mem_free = getattr(gc, "mem_free", None)  # MicroPython's; CPython (host-side tests) has no heap limit

# Modules needed only while a request of their exchange is handled, or one of ours is started by a
# timer (DELETE, rekey), or the status is written: imported for it and unloaded after, so their
# bytecode is not in the heap between handshakes (rekeys come hourly). Their interned names stay;
# the code goes.
_TRANSIENT = ("ike.exchange", "ike.frag", "ike.init", "ike.auth", "ike.create", "ike.rekey_ike",
              "ike.rekey_ike_own", "ike.rekey_answer", "ike.child", "ike.later",
              "ike.natt", "ike.keys", "ike.ts", "ike.status", "ike.rekey_child", "crypto.prf", "ike.words",
              "ike.proposal", "ike.selection", "ike.info", "ike.identity", "ike.structs", "ike.names")
MIN_FREE = 12288         # heap a request may need (DH, messages, the exchange's code): below, drop
TICK_MS = 250            # timer resolution: retransmits, DPD, lifetimes
IDLE_MS = 100            # this long without an IKE datagram is idle enough to precompute a DH keypair
STATUS_REFRESH_MS = 2000  # counters move without state changes: the status file is refreshed this often
QUIET_MS = 10000         # per-datagram warnings of one kind: the first logged, then one summary this often


def unload_transient():
    """Unload what an exchange brought in, then collect at once rather than when an allocation fails:
    the heap is compacted from the bottom, and the next datagram's 1600-byte receive buffer still
    finds a contiguous block (the hour-of-rekeys peak: -20 KB)."""
    n = 0
    for name in _TRANSIENT:
        if unload(name):
            n += 1
    if n:
        gc.collect()


def unload(name):
    """Forget the module `name` (package.module): its code goes once nothing holds it. True if it
    was loaded."""
    if sys.modules.pop(name, None) is None:
        return False
    pkg, leaf = name.split(".")
    if hasattr(sys.modules[pkg], leaf):
        delattr(sys.modules[pkg], leaf)
    return True


class Responder:
    def __init__(self, cfg, wan, sad, status_path=None):
        self.cfg = cfg
        self.wan = wan
        self.sad = sad
        self.sas = {}        # our SPI (IkeSa.ours(): SPIr, SPIi of one we initiated) -> IkeSa
        self.inits = {}      # SPIi | peer address -> half-open IkeSa, for IKE_SA_INIT retransmits
        self.cookies = None  # made when first needed (stateless cookies, 2.6)
        self.dh_pool = {}    # group -> a keypair computed while idle, for the next handshake
        self.installs = []   # (IkeSa, ChildSa, Sad.install's arguments) of the exchange under way
        self.answer = None   # the IkeSa whose cached response (resp) the exchange under way made
        self.later = None    # the second half of the exchange under way, after its DH (ike/later.py)
        self.counters = {"rx": 0, "dropped": 0, "ikev1": 0, "established": 0, "auth_failed": 0}
        self.status_path = status_path
        self.quiet = {}      # kind of dropped datagram -> [ticks its window began, drops not logged in it]
        self.dirty = True    # a state change not yet shown (status line, status file)
        self.started = self.status_written = self.last_input = time.ticks_ms()
        specs = self.ike_specs()
        self.next_group = specs[0].dh[0] if specs and specs[0].dh else None

    # ---- configuration --------------------------------------------------------------------------

    def ike_specs(self):
        # The peer is unknown until IKE_AUTH: IKE_SA_INIT accepts what any peer is configured for.
        specs = []
        for p in self.cfg.peers:
            specs.extend(p.ike_proposals)
        return specs

    def sad_event(self, entry, kind):
        """The SAD's events: "soft" (lifetime) and "seq_limit" (sequence numbers running out) ask
        for a rekey, "hard" for a delete; _tick_sa does either at the next chance."""
        for s in self.sas.values():
            c = s.child_by_in(entry.spi_in)
            if c is not None:
                if kind == "hard":
                    c.expired = kind
                else:
                    c.rekey_due = True
                return

    # ---- tables -------------------------------------------------------------------------------

    def half_open(self, ip=None):
        """Half-open SAs in all, or from address `ip` (4 bytes)."""
        n = 0
        for s in self.sas.values():
            if s.state == sa_mod.HALF_OPEN and (ip is None or addr.split(s.remote)[0] == ip):
                n += 1
        return n

    def established(self):
        n = 0
        for s in self.sas.values():
            if s.state != sa_mod.HALF_OPEN:
                n += 1
        return n

    def new_ike_spi(self):
        while True:
            spi = os.urandom(8)
            if spi != ZERO_SPI and spi not in self.sas:
                return spi

    def add(self, sa, init_key):
        self.sas[sa.ours()] = sa
        if init_key is not None:
            sa.init_key = init_key
            self.inits[init_key] = sa
        self.changed()

    def remove(self, sa, why):
        """Forget an IKE SA and its CHILD SAs (no message sent)."""
        for c in sa.children:
            self.remove_child_entry(c)
        sa.children = []
        self.sas.pop(sa.ours(), None)
        self.inits.pop(sa.init_key, None)
        if sa.state != sa_mod.HALF_OPEN or why:
            _LOG.info("IKE SA %s with %s %s" % (spi_hex(sa.ours()), sa.name(), why))
        self.changed()

    def install_later(self, s, c, args):
        """Give CHILD SA c of IKE SA s its SAD entry (Sad.install(*args)) once the exchange is over.
        The entry (AES contexts, HMAC pads, counters: ~1.2 KB in a dozen blocks) lives as long as the
        SA; made while the exchange's code and garbage fill the low heap, it would land above them
        and leave holes under it when they go. Made after, it fills those holes. Nothing reads or
        sends ESP on the SA before: the answer that tells the peer of it goes after (_commit), and
        the loop reads no packet in between."""
        self.installs.append((s, c, args))

    def _commit(self):
        """After an exchange's code has gone: finish it if it left its DH for now, install its CHILD
        SAs, then send its answer. Out of memory for an install, the IKE SA goes unanswered, as when
        an exchange runs out (exchange.dropped): the peer retransmits or starts over."""
        if self.later is not None:
            from ike import later
            later.run(self)
            later = None
            unload_transient()
        s, self.answer = self.answer, None
        while self.installs:
            o, c, args = self.installs.pop()
            if c not in o.children:
                continue  # gone with its exchange (a collision, a DELETE)
            try:
                c.entry = self.sad.install(*args)
            except MemoryError:
                self.installs = []
                self.remove(o, "dropped: out of memory installing CHILD SA %s" % spi_hex(c.spi_in))
                gc.collect()
                return
        if s is not None:
            # The cached answer lives until the SA's next exchange. Sealed while the exchange's
            # code filled the low heap, it sits above it; copied now, it goes into the holes that
            # code left. Four such islands (with PFS, answers carry a 256-byte KE) left no block
            # for a 1600-byte datagram in 20 KB free.
            s.resp = s.resp[:]
            self.send(s, s.resp)

    def remove_child_entry(self, c):
        if c.entry is not None:
            self.sad.remove(c.spi_in)
            c.entry = None

    def remove_child(self, sa, c, why):
        self.remove_child_entry(c)
        if c in sa.children:
            sa.children.remove(c)
        _LOG.info("CHILD SA %s/%s with %s %s" % (spi_hex(c.spi_in), spi_hex(c.spi_out), sa.name(), why))
        self.changed()

    def changed(self):
        self.dirty = True

    def flush_status(self, now):
        """Status line on changes; the status file also every STATUS_REFRESH_MS while SAs exist.
        True if it wrote (its modules are loaded then)."""
        if not self.dirty and (self.status_path is None or not self.sas or
                               time.ticks_diff(now, self.status_written) < STATUS_REFRESH_MS):
            return False
        from ike import status
        status.flush(self, self.dirty)
        self.dirty = False
        self.status_written = now
        return True

    def take_dh(self, group):
        from crypto import dh
        self.next_group = group  # the peer's choice: precompute that one while idle
        kp = self.dh_pool.pop(group, None)
        return kp if kp is not None else dh.new(group)

    # ---- input --------------------------------------------------------------------------------

    def input(self, data, remote, natt):
        """One IKE datagram (non-ESP marker stripped) from `remote`; natt: it came on UDP 4500."""
        self.last_input = time.ticks_ms()
        try:
            self._input(data, remote, natt)
        finally:
            unload_transient()
            self._commit()

    def _input(self, data, remote, natt):
        self.counters["rx"] += 1
        if _mem_free is not None and _mem_free() < MIN_FREE:
            gc.collect()
            if _mem_free() < MIN_FREE:
                # Not enough heap to see a request through: drop it before it changes any state
                # (the peer retransmits), instead of failing half way.
                if self.hush("datagrams for low memory"):
                    return self.drop(None)
                return self.drop("IKE datagram from %s dropped: low memory (%d bytes free)"
                                 % (addr.describe(remote), _mem_free()), _LOG.warn)
        if len(data) < const.HEADER_LEN:
            return self.drop("%d-byte datagram from %s is too short for IKE" % (len(data), addr.describe(remote)))
        major = data[17] >> 4
        if major == 1:
            self.counters["ikev1"] += 1
            if self.hush("IKEv1 datagrams"):
                return self.drop(None)
            return self.drop("IKEv1 packet from %s dropped: IKEv1 is not supported (RFC 9395), configure the "
                             "peer for IKEv2" % addr.describe(remote), _LOG.warn)
        spi_i = bytes(data[0:8])
        spi_r = bytes(data[8:16])
        exchange = data[18]
        flags = data[19]
        msg_id = (data[20] << 24) | (data[21] << 16) | (data[22] << 8) | data[23]
        if major != const.IKE_MAJOR_VERSION:
            if exchange == const.IKE_SA_INIT and not flags & const.FLAG_RESPONSE:
                from ike import init
                init.reject(self, spi_i, msg_id, remote, natt, const.INVALID_MAJOR_VERSION, b"",
                            None if self.hush("datagrams of an unsupported IKE version") else
                            "IKE version %d.%d from %s not supported" % (major, data[17] & 15,
                                                                         addr.describe(remote)))
                return None
            return self.drop("IKE major version %d from %s" % (major, addr.describe(remote)))
        # Our SPI is SPIr of an IKE SA the peer started, SPIi of one we started (by rekeying, 2.18):
        # the Initiator flag of the peer's message says which.
        ours = spi_r if flags & const.FLAG_INITIATOR else spi_i
        if flags & const.FLAG_RESPONSE:
            s = self.sas.get(ours)
            if s is None or s.spi_i != spi_i or s.spi_r != spi_r:
                return self.drop("response for unknown IKE SA %s from %s" % (spi_hex(ours), addr.describe(remote)))
            return self._response(s, data, msg_id)
        if exchange == const.IKE_SA_INIT and spi_r == ZERO_SPI:
            s = self.inits.get(spi_i + addr.key(remote))
            if s is not None:
                if msg_id == 0 and s.resp is not None and s.state == sa_mod.HALF_OPEN:
                    self.send(s, s.resp)   # a retransmitted IKE_SA_INIT
                return None
            from ike import init
            return init.handle(self, data, spi_i, msg_id, remote, natt)
        s = self.sas.get(ours)
        if s is None or s.spi_i != spi_i or s.spi_r != spi_r:
            return self.drop("request for unknown IKE SA %s from %s" % (spi_hex(ours), addr.describe(remote)))
        return self._request(s, data, exchange, msg_id, remote, natt)

    def drop(self, why, level=None):
        self.counters["dropped"] += 1
        if why is not None:
            (level or _LOG.debug)(why)
        return None

    def hush(self, kind):
        """True if a datagram of this kind should be dropped without its warning: one was logged less
        than QUIET_MS ago (counted; a summary line says how many, see quiet_summary). A flood of
        them must not flood the console (115200 baud)."""
        now = time.ticks_ms()
        q = self.quiet.get(kind)
        if q is not None and time.ticks_diff(now, q[0]) >= QUIET_MS:
            self.quiet_summary(now)  # its window is over: summed up (a new one) or forgotten
            q = self.quiet.get(kind)
        if q is None:
            self.quiet[kind] = [now, 0]
            return False
        q[1] += 1
        return True

    def quiet_summary(self, now):
        for kind in list(self.quiet):
            q = self.quiet[kind]
            ms = time.ticks_diff(now, q[0])
            if ms >= QUIET_MS:
                if q[1]:
                    _LOG.warn("dropped %d more %s in the last %d s" % (q[1], kind, ms // 1000))
                    q[0] = now  # a new window: its drops are summed up at its end
                    q[1] = 0
                else:
                    del self.quiet[kind]  # quiet for a whole window: the next one is logged in full

    def _open(self, s, data, keep=True):
        """(msg, inner payloads) of a protected message from the peer of s, or (None, None): dropped,
        or a fragment of a message not yet whole (RFC 7383, ike/frag.py). keep=False only checks
        that it is authentic: a fragment then is not kept, and its payloads are ()."""
        try:
            msg = message.decode(data)
            last = msg.payloads[-1] if msg.payloads else None
            if isinstance(last, message.Fragment):
                if not keep:
                    s.rx.open_fragment(data, msg)  # raises unless authentic
                    return msg, ()
                from ike import frag
                got = frag.add(self, s, data, msg)
                if got is None:
                    return None, None
                payloads, crit = got
            elif isinstance(last, message.Encrypted):
                payloads, crit = s.rx.open(data, msg)
            else:
                raise message.ParseError("no SK payload")
        except sk.IntegrityError:
            self.drop("message with bad integrity checksum for IKE SA %s dropped" % spi_hex(s.ours()))
            return None, None
        except message.ParseError as e:
            self.drop("malformed message for IKE SA %s dropped: %s" % (spi_hex(s.ours()), e.reason))
            return None, None
        msg.unsupported_critical = crit
        return msg, payloads

    def _request(self, s, data, exchange, msg_id, remote, natt):
        if msg_id == s.rx_id - 1 and s.resp is not None:
            f = const.HEADER_LEN + 4  # an SKF payload's Fragment Number, after its generic header
            if data[16] == const.PT_SKF and (len(data) < f + 2 or (data[f] << 8 | data[f + 1]) != 1):
                return None  # a fragmented one is answered on its first fragment only (RFC 7383 2.6.1)
            if s.state == sa_mod.HALF_OPEN and s.doomed is None:
                return None  # a request with the IKE_SA_INIT's message ID
            if natt != s.natt or addr.key(remote) != addr.key(s.remote):
                # A retransmission from elsewhere: a NAT rebound the peer while our answer was lost
                # (2.23). Answered where it came from once it proves authentic, as strongSwan does;
                # the SA itself moves with the peer's next new request. (A failed IKE_AUTH's SA
                # has no keys left to check that with: not answered.)
                if s.rx is not None and self._open(s, data, False)[0] is not None:
                    self.wan.send_ike(s.resp, remote, natt)
                return None
            self.send(s, s.resp)  # retransmitted request: the same answer, byte for byte
            return None
        if msg_id != s.rx_id:
            return self.drop("request with message ID %d for IKE SA %s dropped (expected %d)"
                             % (msg_id, spi_hex(s.ours()), s.rx_id))
        if s.state == sa_mod.HALF_OPEN and exchange != const.IKE_AUTH:
            return self.drop("exchange %d before IKE_AUTH dropped" % exchange)
        if s.state != sa_mod.HALF_OPEN and exchange == const.IKE_AUTH:
            # IKE_AUTH is the second exchange only: its octets (s.hs) are gone once authenticated.
            return self.drop("IKE_AUTH on the authenticated IKE SA %s dropped" % spi_hex(s.ours()))
        if s.rx is None:
            return None
        msg, payloads = self._open(s, data)
        if msg is None:
            return None
        s.last_rx = time.ticks_ms()
        from ike import exchange as x  # the rest: a transient module
        x.handle(self, s, exchange, msg_id, msg, payloads, remote, natt)
        return None

    def send(self, s, data):
        self.wan.send_ike(data, s.remote, s.natt)

    # ---- our requests -------------------------------------------------------------------------

    def request(self, s, exchange, payloads, then=None, arg=None):
        """Send a request of ours on an established SA; False if one is already in flight. then, arg:
        where its answer goes (sa.Request); none: a liveness check."""
        if s.out is not None:
            return False
        m = message.Message(s.spi_i, s.spi_r, exchange, s.flags, s.tx_id, payloads)
        s.out = sa_mod.Request(s.tx_id, s.tx.seal(m), then, arg)
        s.tx_id += 1
        self.send(s, s.out.data)
        return True

    def _response(self, s, data, msg_id):
        out = s.out
        if out is None or msg_id != out.msg_id:
            return self.drop("unexpected response %d for IKE SA %s" % (msg_id, spi_hex(s.ours())))
        msg, payloads = self._open(s, data)
        if msg is None:
            return None
        s.out = None
        s.last_rx = time.ticks_ms()
        self._answered(s, out, payloads)
        return None

    def _answered(self, s, out, payloads):
        """Our request `out` was answered (payloads) or given up (None): on to its handler, whose
        module is imported only now (sa.Request.then)."""
        then = out.then
        if then == sa_mod.REKEY_CHILD:
            from ike import rekey_child
            rekey_child.answered(self, s, out.arg, payloads)
        elif then == sa_mod.DELETE:
            from ike import info
            info.answered(self, s, out.arg, payloads)
        elif then == sa_mod.REKEY_IKE:
            from ike import rekey_ike_own
            rekey_ike_own.answered(self, s, out.arg, payloads)
        elif payloads is None:  # a liveness check (whose answer needs nothing more) not answered
            self.remove(s, "deleted: dead peer (no answer to a liveness check and %d retransmits)"
                        % self.cfg.timers.retransmit_tries)

    # ---- timers -------------------------------------------------------------------------------

    def tick(self, idle=False):
        """Run due timers; idle: nothing arrived since the last call. Returns the ms until the loop
        should call again."""
        now = time.ticks_ms()
        # Called on every pass of the loop (thousands a second under traffic): the transient modules
        # are looked for only if a timer or the status imported something (imports only add to
        # sys.modules, and the last datagram's or tick's unload left none behind).
        loaded = len(sys.modules)
        for s in list(self.sas.values()):
            if self._tick_sa(s, now):
                # One rekey started a tick: its DH keypair can take seconds of pure Python on the
                # chip, and the loop must get back to the ESP in between (SAs that came up together
                # fall due together). The next tick skips this SA (its request is in flight).
                break
        if self.quiet:
            self.quiet_summary(now)
        if len(sys.modules) != loaded:
            unload_transient()  # what a timer brought in (DELETE, rekey) goes before the status is built
        quiet = time.ticks_diff(now, self.last_input)
        if self.dirty and not idle and quiet < IDLE_MS:
            # A new state shows once nothing is waiting to be read (or IKE has paused, if ESP keeps
            # the loop busy): the next datagram of a handshake goes first (IKE_AUTH is on its way).
            return 0
        if self.flush_status(now):
            unload_transient()
        if self.next_group is None or self.next_group in self.dh_pool:
            return TICK_MS
        if idle and quiet >= IDLE_MS:
            self._precompute()
            return TICK_MS
        return IDLE_MS - quiet if quiet < IDLE_MS else IDLE_MS  # a keypair to make once the peers pause

    def _tick_sa(self, s, now):
        """The timers of IKE SA s; True if they started a rekey."""
        age = time.ticks_diff(now, s.created)
        if s.state == sa_mod.HALF_OPEN:
            if age >= self.cfg.timers.half_open_timeout * 1000:
                # (A failed IKE_AUTH's SA goes silently: its end was logged when it was answered.)
                self.remove(s, None if s.doomed else
                            "expired half-open (no IKE_AUTH from %s)" % addr.describe(s.remote))
            return
        if s.state == sa_mod.REKEYED:
            if time.ticks_diff(now, s.rekeyed_at) >= sa_mod.REKEYED_LINGER_MS:
                self.remove(s, "removed: replaced by rekey, peer never deleted it")
            return
        out = s.out
        if out is not None:
            t = self.cfg.timers
            delay = t.retransmit_timeout_ms  # grows by retransmit_base_pct with each retransmit
            for _ in range(out.tries - 1):
                delay = delay * t.retransmit_base_pct // 100
            if time.ticks_diff(now, out.sent) >= delay:
                if out.tries > t.retransmit_tries:
                    s.out = None
                    self._answered(s, out, None)
                    return
                out.tries += 1
                out.sent = now
                self.send(s, out.data)
            return
        if s.state != sa_mod.ESTABLISHED:
            return
        # An established SA with no request of ours in flight: lifetimes, our IKE and CHILD SA rekeys
        # at soft expiry (rekey_ike_own.py, rekey_child.py), liveness checks (DPD) when the peer is
        # silent.
        peer = s.peer
        life = peer.ike_lifetime * 1000
        if life and age >= life:
            from ike import info
            info.delete_ike(self, s, "IKE SA lifetime expired (%s)" % (
                "peer refused our rekey" if s.rekey_refused else "not rekeyed"))
            return
        if (life and age >= life - peer.ike_rekey_margin * 1000 and not s.rekey_refused
                and (s.rekey_after is None or time.ticks_diff(now, s.rekey_after) >= 0)):
            from ike import rekey_ike_own
            rekey_ike_own.start(self, s)
            return True
        for c in s.children:
            if c.state == sa_mod.REKEYED and time.ticks_diff(now, c.rekeyed_at) >= sa_mod.REKEYED_LINGER_MS:
                self.remove_child(s, c, "removed: replaced by rekey, peer never deleted it")
                return
            life = c.lifetime
            why = None
            if c.state == sa_mod.ESTABLISHED and c.expired:
                why = "ESP %s reached" % c.expired
            elif c.state == sa_mod.ESTABLISHED and life and time.ticks_diff(now, c.created) >= life:
                why = "CHILD SA lifetime expired (peer did not rekey)"
            if why is not None:
                from ike import info
                info.delete_child(self, s, c, why)
                return
            # Soft expiry: we rekey then unless the head office did first.
            soft = (peer.child_lifetime - peer.child_rekey_margin) * 1000
            due = c.rekey_due or time.ticks_diff(now, c.created) >= soft
            if (c.state == sa_mod.ESTABLISHED and due and not c.rekey_refused
                    and (c.rekey_after is None or time.ticks_diff(now, c.rekey_after) >= 0)):
                from ike import rekey_child
                rekey_child.start(self, s, c)
                return True
        delay = peer.dpd_delay * 1000
        if delay and time.ticks_diff(now, s.last_rx) >= delay:
            # ESP from the peer is as good a sign of life as IKE (RFC 7296 1.4 / 2.4): the inbound
            # packets of its CHILD SAs (Sa.count, not Sa.counters, which builds a dict of all eleven).
            from ipsec.sad import PACKETS_IN
            n = 0
            for c in s.children:
                if c.entry is not None:
                    n += c.entry.count(PACKETS_IN)
            if n != s.esp_rx:
                s.esp_rx = n
                s.last_rx = now
                return
            _LOG.debug("peer %s silent for %d s: liveness check" % (s.name(), delay // 1000))
            self.request(s, const.INFORMATIONAL, [])

    def _precompute(self):
        # One keypair of the group the next handshake will most likely use, made while idle (never
        # between two messages of a handshake): the handshake then costs one DH operation instead of
        # two. One group only: each group's code stays in the heap while a keypair of it is kept.
        from crypto import dh
        g = self.next_group
        self.dh_pool = {}
        try:
            if g in dh.SUPPORTED:
                self.dh_pool[g] = dh.new(g)
        except MemoryError:
            pass  # not now: the next handshake makes its own keypair
        if not self.dh_pool:
            self.next_group = None

    def shutdown(self):
        """Tell every peer we are going (info.py)."""
        from ike import info
        info.shutdown(self)


def spi_hex(spi):
    return "".join(["%02x" % b for b in spi])
