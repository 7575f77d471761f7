# Time kept with ticks_ms only (no RTC): lifetimes and timeouts across the tick counter's wrap-around.
# fakeclock gives the firmware an ESP32's 2**30 ms tick period and starts it 10 s before the wrap, so
# each interval below spans it; `now - then` instead of ticks_diff would see a jump of -2**30 there.
import fakeclock  # first: the firmware's `import time` must get the fake clock

import os

import esp_pair
import ike_peer as P
import recovery
from board_sim_wdt import SimWdt
from ike import const
from ike import message
from ipsec import sad as sad_mod

C = fakeclock.clock


def scratch(name):
    return "/tmp/bg-%s-%s" % (name, "".join(["%02x" % b for b in os.urandom(4)]))


def reset_clock(before_wrap_ms):
    C.now = fakeclock.PERIOD - before_wrap_ms
    C.slept = []


def test_fake_clock_wraps_like_the_chip():
    reset_clock(10)
    t0 = C.ticks_ms()
    C.advance(25)
    assert C.ticks_ms() == 15 and C.ticks_diff(C.ticks_ms(), t0) == 25 and C.ticks_diff(t0, C.ticks_ms()) == -25


def test_half_open_sa_expires_after_its_timeout_across_the_wrap():
    reset_clock(10000)
    r, wan, sad = P.rig()
    r.input(P.Initiator().sa_init(), P.HQ, False)
    wan.pop()
    assert r.half_open() == 1
    C.advance(25000)  # 25 s after, 15 s past the wrap: timeout (30 s) not reached
    r.tick()
    assert r.half_open() == 1
    C.advance(6000)
    r.tick()
    assert r.half_open() == 0


def test_dpd_and_retransmit_across_the_wrap():
    reset_clock(5000)
    r, wan, sad = P.rig(dpd_delay=10)
    i, p = P.establish(r, wan)
    C.advance(9000)
    r.tick()
    assert wan.sent == []  # 9 s of silence: no liveness check yet
    C.advance(2000)
    r.tick()
    m, p = i.open(wan.pop()[0])
    assert m.exchange == const.INFORMATIONAL and not m.is_response and p == []
    C.advance(3900)
    r.tick()
    assert wan.sent == []  # the first retransmit is due after 4 s
    C.advance(200)
    r.tick()
    m2, p = i.open(wan.pop()[0])
    assert m2.msg_id == m.msg_id


def test_child_sa_lifetime_across_the_wrap():
    reset_clock(3000)
    events = []
    a, eng, sa, b, eng_b, sa_b = esp_pair.pair(lifetime=sad_mod.Lifetime(soft_s=5, hard_s=10),
                                               clock=C.ticks_ms, events=events)
    for step in range(4):  # 4 s, across the wrap
        C.advance(1000)
        a.tick()
    assert events == []
    C.advance(1500)
    a.tick()
    assert events == ["soft"]
    C.advance(5000)
    a.tick()
    assert events == ["soft", "hard"]


def test_uptime_and_crash_counter_across_wraps():
    # Uptime is summed tick to tick: it outlasts the 6.2 days a single ticks_diff can span.
    import health
    d = scratch("health")
    os.mkdir(d)
    cwd = os.getcwd()
    os.chdir(d)  # the crash counter lives in the board's root
    try:
        reset_clock(1000)
        recovery.set_crashes(2)
        health.booted("soft", 2)
        C.advance(health.HEALTHY_MS - 1000)  # across the wrap
        health.tick()
        assert recovery.crashes() == 2
        C.advance(1000)
        health.tick()
        assert recovery.crashes() == 0
        for day in range(20):  # the ticks wrap three times more
            C.advance(86400000)
            health.tick()
        assert health.uptime_s() == health.HEALTHY_MS // 1000 + 20 * 86400
        os.remove(recovery.CRASH_FILE)
    finally:
        os.chdir(cwd)
        os.rmdir(d)


class FakeWdt:
    """Fails the test if not fed within `timeout` ms (of the fake clock)."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.fed = C.ticks_ms()
        self.feeds = 0

    def feed(self):
        late = C.ticks_diff(C.ticks_ms(), self.fed)
        assert late <= self.timeout, "watchdog not fed for %d ms" % late
        self.fed = C.ticks_ms()
        self.feeds += 1


def test_retry_backs_off_and_feeds_the_watchdog():
    reset_clock(2000)
    fails = [OSError(99), OSError(99), OSError("link down"), OSError(99), OSError(99), OSError(99), OSError(99)]

    def bind():
        if fails:
            raise fails.pop(0)
        return "bound"

    wdt = FakeWdt(1000)
    assert recovery.retry(bind, "WAN", wdt, first_ms=1000, max_ms=8000) == "bound"
    # 1, 2, 4, 8, 8, 8, 8 s between the 8 tries, slept in slices of at most 1 s with a feed after each
    assert sum(C.slept) == 39000 and max(C.slept) == 1000 and wdt.feeds == 39


def test_sim_watchdog_across_the_wrap():
    d = scratch("wdt")
    os.mkdir(d)
    cwd = os.getcwd()
    os.chdir(d)  # it writes its heartbeat file in the board's root
    try:
        reset_clock(500)
        w = SimWdt(1000)
        C.advance(900)  # across the wrap, in time
        w.feed()
        reset_clock(500)
        w = SimWdt(1000)
        C.advance(1001)  # across the wrap, too late
        try:
            w.feed()
            raise AssertionError("a late feed must reset the board")
        except SystemExit as e:
            assert e.args[0] == 76
        assert open("wdt.beat").read() == "1000\n"
        os.remove("wdt.beat")
    finally:
        os.chdir(cwd)
        os.rmdir(d)


def test_longest_configurable_lifetimes_expire_on_the_chips_clock():
    # ticks_diff spans +-2**29 ms (6.2 days) on the ESP32: the longest lifetime config.py accepts must
    # still be measured right. Stepped a day at a time (the loop runs far more often), over a wrap.
    import config
    life = config.MAX_LIFETIME
    reset_clock(86400000)
    r, wan, sad = P.rig(ike_lifetime=life, child_lifetime=life, ike_rekey_margin=0, child_rekey_margin=0)
    i, p = P.establish(r, wan)
    elapsed = 0
    while elapsed + 86400000 < life * 1000:
        C.advance(86400000)
        elapsed += 86400000
        r.tick()
        assert wan.sent == [], "deleted after %d s of a %d s lifetime" % (elapsed // 1000, life)
    C.advance(life * 1000 - elapsed)
    r.tick()
    m, p = i.open(wan.pop()[0])
    assert m.exchange == const.INFORMATIONAL and not m.is_response
    assert P.first(p, message.Delete) is not None
