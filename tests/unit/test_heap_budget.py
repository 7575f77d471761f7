"""The heap budget (issue 6): with the firmware loaded as .mpy (bytecode in RAM, the stock-MicroPython
path), the sim board at -X heapsize=112k brings up 4 IKE SAs with 2 CHILD SAs each and forwards
traffic through an hour of head-office rekeys without a MemoryError (tests/simrig.py budget_run: 48
CHILD and 8 IKE rekeys, 48 liveness checks, echo traffic through every CHILD SA after each event,
checked with keys derived on our side; simulated time, run back to back in a few seconds).

The firmware does not fit yet. `make bench` (bench_heap) on this 64-bit sim, 2026-11-27: a peak of
336 KB at first (180 KB held once up with no SA, 7 KB more per CHILD SA); 430-460 KB while
ike/status.py built each status line as one string (kilobytes copied into contiguous blocks of a
fragmented heap: this test caught it); 272 KB at 15:05 (140 KB held once up, 196 KB with the 4 x 2
SAs); 192 KB on 2026-11-27 18:10 after the second session's heap work (107 KB held once up, 139 KB
with the 4 x 2 SAs; the handshakes are now the peak); ~176 KB on 2026-11-27 20:30 after the third
session's (106 KB held once up, 134 KB with the 4 x 2 SAs; ~128 KB on a 32-bit build, where the
ESP32's word size puts it); ~168 KB on 2026-11-28 (~120 KB on the 32-bit build; an IKE SA rekey no
longer loads the CHILD SA code). So the 112k run is a strict xfail, which
turns into a failure the day the firmware fits (then drop the mark), and the same scenario runs at
MEASURED_HEAP to keep it working and to catch growth past today's figure.

The ESP32 is a 32-bit machine (4-byte pointers, 16-byte GC blocks; the venv's sim has 8 and 32), so the
same scenario also runs on a 32-bit MicroPython unix port (tests/mp32.py: Debian's i386 package, the
firmware compiled for x86): that is where the 112 KB are the chip's 112 KB, and there it fits since
2026-11-28 (CHILD SA entries made after their exchange's code has gone, the bring-up code unloaded once
up, MODP key pairs through the builtin pow): 112k passes (20 of 20 runs, 6 of them with the device tests
running beside; 60 of 60 on the next morning's firmware), 110k fails. The margin is thin: that day's
handshake changes made ~6% of runs fail (an IKE SA dropped for memory in an IKE SA rekey's DH), and
with PFS on every CHILD SA every run failed; with the DH of a CREATE_CHILD_SA run after its exchange's
code has gone and cached answers copied low (ike/later.py, Responder._commit), 100 of 100 runs pass
at 112k, 60 of 60 with MODP-2048 PFS (README, Heap). On the 64-bit sim it needs 160k (156k fails), still a
strict xfail at 112k."""
import pytest

import mp32
import simrig

BUDGET_HEAP = "112k"
MEASURED_HEAP = "176k"  # the 64-bit sim's peak today (~160 KB) and a margin; lower it as the firmware shrinks

pytestmark = pytest.mark.skipif(bool(simrig.missing()), reason=simrig.missing() or "-")


def trouble(log):
    """The device's console around its first memory complaint (else its end)."""
    lines = [x for x in log.splitlines() if "INFO status:" not in x]
    for i, x in enumerate(lines):
        if any(t in x for t in simrig.MEMORY_TROUBLE):
            return "\n".join(lines[max(0, i - 5):i + 12])
    return "\n".join(lines[-30:])


def check(r):
    assert r["ok"], "%s at %s:\n%s" % (r["why"], r["heap"], trouble(r["log"]))
    assert (r["child_rekeys"], r["ike_rekeys"], r["dpd"]) == (48, 8, 48)
    assert r["pings_answered"] == r["pings_sent"] == 432


@pytest.mark.xfail(strict=True, reason="the 64-bit sim needs ~160 KB (8-byte pointers, 32-byte GC blocks; make bench)")
def test_four_ike_sas_two_children_each_an_hour_of_rekeys_at_112k():
    check(simrig.budget_run(BUDGET_HEAP))


def test_the_budget_scenario_at_todays_measured_heap():
    check(simrig.budget_run(MEASURED_HEAP))


@pytest.mark.soak
def test_eight_hours_of_rekeys_at_todays_measured_heap():
    r = simrig.budget_run(MEASURED_HEAP, timeline=simrig.Timeline(minutes=480))
    assert r["ok"], "%s:\n%s" % (r["why"], trouble(r["log"]))
    assert r["child_rekeys"] == 384 and r["pings_answered"] == r["pings_sent"]


@pytest.fixture(scope="module")
def micropython32():
    try:
        return mp32.micropython32()
    except mp32.Unavailable as e:
        pytest.skip("no 32-bit MicroPython to measure at the ESP32's word size: %s" % e)


def test_at_the_esp32_word_size_four_ike_sas_two_children_each_an_hour_of_rekeys_at_112k(micropython32):
    print("32-bit MicroPython (%s), budget scenario at %s" % (", ".join(mp32.version()), BUDGET_HEAP))
    check(simrig.budget_run(BUDGET_HEAP, exe=micropython32))


@pytest.mark.soak
@pytest.mark.parametrize("esp", [simrig.ESP, "aes256-sha256-modp2048"])
def test_at_the_esp32_word_size_eight_hours_of_rekeys_at_112k(micropython32, esp):
    r = simrig.budget_run(BUDGET_HEAP, exe=micropython32, timeline=simrig.Timeline(minutes=480), esp=esp)
    assert r["ok"], "%s:\n%s" % (r["why"], trouble(r["log"]))
    assert r["child_rekeys"] == 384 and r["pings_answered"] == r["pings_sent"]


def test_at_the_esp32_word_size_with_pfs_on_every_child_sa_at_112k(micropython32):
    # Every CREATE_CHILD_SA then has a MODP-2048 key exchange: 48 more DH peaks in the hour, and
    # answers that carry a 256-byte KE, cached until the SA's next exchange.
    check(simrig.budget_run(BUDGET_HEAP, exe=micropython32, esp="aes256-sha256-modp2048"))
