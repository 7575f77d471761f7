"""Boot and recovery on the sim board (firmware/main.py, recovery.py, board.py, board_sim.py and
`branchgate sim run`'s reset emulation), each test against the real firmware in its own micropython
process: the watchdog is fed through handshakes and traffic and resets a firmware that stalls; a crash
loop, the button held at boot or a missing configuration start the provisioning console only; a WAN
address that is not there yet is retried with backoff until it appears; and the chip's code paths
(board_esp32.py: network.LAN, machine.WDT, machine.reset, a W5500 on SPI) run under fakes of the
chip (tests/device/hwboard.py)."""
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import simrig
from branchgate import sim

HEAP = "1m"  # these tests are about recovery, not the heap budget (test_heap_budget.py)
NEEDS_PORT_500 = pytest.mark.skipif(bool(simrig.missing()), reason=simrig.missing() or "-")


@pytest.fixture(scope="module")
def build():
    return sim.build_firmware()


def provisioned(tmp_path, salt):
    wan = simrig.wan_ip(salt)
    simrig.provision(tmp_path, wan, dpd_delay=0)
    return wan


class SimRun:
    """`branchgate sim run --root ROOT` (which restarts the firmware on its reset exits)."""

    def __init__(self, root, env=None):
        self.console = Path(root) / "simrun.log"
        self._log = open(self.console, "wb")
        e = dict(os.environ, **(env or {}))
        e.pop(sim.HEAP_ENV, None)
        self.proc = subprocess.Popen([sys.executable, "-m", "branchgate", "sim", "run", "--root", str(root),
                                      "--heap", HEAP], stdin=subprocess.PIPE, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=e)

    def output(self):
        return self.console.read_text(errors="replace")

    wait_for = simrig.Device.wait_for

    def firmware_pid(self):
        kids = Path("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)).read_text().split()
        assert len(kids) == 1, kids
        return int(kids[0])

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(30)
        finally:
            self._log.close()


@NEEDS_PORT_500
def test_watchdog_fed_through_handshakes_and_traffic(tmp_path, build):
    wan = provisioned(tmp_path, 1)
    dev = simrig.Device(tmp_path, HEAP, env={"BRANCHGATE_WDT_MS": "1000"}, build=build)
    h = simrig.HeadOffice(0, wan)
    try:
        dev.wait_for("INFO main: up")
        h.establish()
        h.add_child()
        for _ in range(3):
            h.rekey_child(0)
            h.rekey_ike()
            assert h.ping(0, 10) == 10 and h.ping(1, 10) == 10
        time.sleep(2.5)  # idle: the loop still comes round (poll timeout) to feed
        beat = tmp_path / "wdt.beat"  # rewritten every quarter timeout while fed
        assert beat.read_text() == "1000\n" and time.time() - beat.stat().st_mtime < 1.0
    finally:
        h.close()
        rc = dev.stop()
    assert rc == 0 and "watchdog" not in dev.output(), dev.output()


@NEEDS_PORT_500
def test_stalled_firmware_is_reset_by_the_watchdog(tmp_path, build):
    provisioned(tmp_path, 2)
    dev = simrig.Device(tmp_path, HEAP, env={"BRANCHGATE_WDT_MS": "300"}, build=build)
    try:
        dev.wait_for("INFO main: up")
        os.kill(dev.proc.pid, signal.SIGSTOP)  # the loop stalls for longer than the timeout
        time.sleep(0.8)
        os.kill(dev.proc.pid, signal.SIGCONT)
        assert dev.wait(10) == 76  # board.EXIT_WATCHDOG: the sim board's watchdog reset
    finally:
        dev.kill()
    assert "ERROR board: watchdog: not fed for" in dev.output()


@NEEDS_PORT_500
def test_sim_run_restarts_a_firmware_that_stops_feeding_its_watchdog(tmp_path):
    provisioned(tmp_path, 3)
    run = SimRun(tmp_path, env={"BRANCHGATE_WDT_MS": "1000"})
    try:
        run.wait_for("INFO main: up")
        os.kill(run.firmware_pid(), signal.SIGSTOP)  # hangs for good: only the runner can help
        run.wait_for("watchdog not fed", timeout=10)
        run.wait_for("INFO main: up", count=2)
    finally:
        rc = run.stop()
    out = run.output()
    assert "INFO main: boot: reset cause watchdog, 1 crashes in a row before" in out, out
    assert rc == 0


def test_crash_loop_enters_safe_mode_after_three_crashes(tmp_path):
    provisioned(tmp_path, 4)
    (tmp_path / "board.json").write_text('{"chip": "unix"}')  # a damaged definition: boot crashes
    run = SimRun(tmp_path)
    try:
        run.wait_for("WARN main: safe mode (3 crashes in a row)")
    finally:
        rc = run.stop()
    out = run.output()
    assert out.count("ERROR boot: unhandled KeyError: restarting") == 3, out
    assert out.count("board reset (soft), starting the firmware again") == 3
    for n, cause in enumerate(("power-on", "soft", "soft", "soft")):
        assert "INFO main: boot: reset cause %s, %d crashes in a row before" % (cause, n) in out
    assert rc == 0
    assert (tmp_path / "crashes").read_text() == "0\n"  # safe mode reached: the next reset tries again


@NEEDS_PORT_500
def test_crash_count_survives_resets_but_not_a_power_cycle_or_a_healthy_run(tmp_path, build):
    provisioned(tmp_path, 5)
    (tmp_path / "crashes").write_text("3\n")
    dev = simrig.Device(tmp_path, HEAP, env={"BRANCHGATE_RESET_CAUSE": "soft"}, build=build)
    dev.wait_for("WARN main: safe mode (3 crashes in a row)")
    dev.stop()
    (tmp_path / "crashes").write_text("3\n")
    dev = simrig.Device(tmp_path, HEAP, env={"BRANCHGATE_RESET_CAUSE": "power-on"}, build=build)
    dev.wait_for("INFO main: up")
    assert (tmp_path / "crashes").read_text() == "1\n"  # this boot, until it proves healthy
    assert dev.stop() == 0
    assert (tmp_path / "crashes").read_text() == "0\n"  # an orderly stop is no crash
    (tmp_path / "crashes").write_text("2\n")
    dev = simrig.Device(tmp_path, HEAP, env={"BRANCHGATE_RESET_CAUSE": "soft"}, build=build)
    dev.wait_for("INFO main: up")
    assert "reset cause soft, 2 crashes in a row before" in dev.output()
    assert dev.stop() == 0


@NEEDS_PORT_500
def test_button_held_at_boot_starts_the_console_only(tmp_path, build):
    wan = provisioned(tmp_path, 6)
    (tmp_path / "button").write_text("")
    dev = simrig.Device(tmp_path, HEAP, build=build)
    try:
        dev.wait_for("WARN main: safe mode (button held at boot)")
        dev.wait_for("console only")
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((wan, 500))  # the device has not taken its WAN sockets
        s.close()
    finally:
        assert dev.stop() == 0
    assert "INFO main: up" not in dev.output()
    (tmp_path / "button").unlink()
    dev = simrig.Device(tmp_path, HEAP, build=build)
    dev.wait_for("INFO main: up")
    assert dev.stop() == 0


def test_unprovisioned_board_starts_the_console_only(tmp_path, build):
    dev = simrig.Device(tmp_path, HEAP, build=build)
    try:
        dev.wait_for("WARN main: safe mode (no valid configuration)")
    finally:
        assert dev.stop() == 0
    assert "not provisioned" in dev.output()


def _netns_missing():
    if os.geteuid() != 0:
        return "not root: the WAN-address test builds a network namespace"
    if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        return "`ip netns` does not work here"
    return ""


@pytest.mark.skipif(bool(_netns_missing()), reason=_netns_missing() or "-")
def test_wan_address_missing_is_retried_with_backoff_until_it_appears(tmp_path, build):
    ns = "bgboot-" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        simrig.provision(tmp_path, "10.77.0.2")
        dev = simrig.Device(tmp_path, HEAP, build=build, prefix=("ip", "netns", "exec", ns))
        try:
            dev.wait_for("try 2 failed, next in 2000 ms", timeout=10)
            assert "try 1 failed, next in 1000 ms" in dev.output()
            assert "INFO main: up" not in dev.output()
            subprocess.run(["ip", "-n", ns, "addr", "add", "10.77.0.2/8", "dev", "lo"], check=True)
            dev.wait_for("INFO main: up", timeout=10)
        finally:
            rc = dev.stop()
        out = dev.output()
        assert "WARN boot: WAN 10.77.0.2/8 (is the address on an interface?): errno 99" in out, out
        assert "INFO boot: WAN 10.77.0.2/8 (is the address on an interface?): up after 2 failed tries" in out
        assert rc == 0
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def hardware_root(tmp_path, board_name="wt32-eth01", **over):
    """A board root with a hardware definition (as `image build` writes it) and a LAN-mode config."""
    from branchgate import boards
    d = dict(boards.load(board_name).data, **over)
    d.pop("sources")
    (tmp_path / "board.json").write_text(json.dumps(d))
    wan = simrig.wan_ip(8)
    simrig.provision(tmp_path, wan, lan="10.20.1.1/24")
    return wan


@NEEDS_PORT_500
def test_hardware_boot_path_with_fake_machine_network_and_w5500(tmp_path, build):
    # main.main() on the chip's code paths (board_esp32, machine.*, network.LAN) with the WT32-ETH01
    # definition, a fake chip (tests/device/hwboard.py) and the W5500 model on SPI; a tunnel through it.
    wan = hardware_root(tmp_path)
    dev = simrig.Device(tmp_path, HEAP, build=build, script=simrig.DEVICE_TESTS / "hwboard.py")
    h = simrig.HeadOffice(0, wan, device_ts="10.20.1.0/24", target="10.20.1.1")
    try:
        dev.wait_for("INFO main: up")
        h.establish()
        h.add_child()
        assert h.ping(0, 3) == 3 and h.ping(1, 3) == 3  # the device's LAN address answers through the tunnel
    finally:
        h.close()
        rc = dev.stop()
    out = dev.output()
    assert rc == 0 and "HW WDT starved" not in out, out
    # ENVIRONMENT.md: WT32-ETH01 mdc=23, mdio=18, PHY_LAN8720, phy_addr=1, power=16 (v1.4); clock in on GPIO0
    assert "HW LAN mdc=23 mdio=18 phy_addr=1 phy_type=PHY_LAN8720 power=16 ref_clk=0 ref_clk_mode=1\n" in out, out
    assert "HW LAN.active(True)\nHW LAN.ipconfig addr4=%s/8\n" % wan in out
    assert "HW SPI bus=2 baudrate=20000000 sck=14 mosi=15 miso=35\n" in out
    assert "HW WDT timeout=30000\n" in out
    assert "INFO main: boot: reset cause watchdog, 0 crashes in a row before" in out
    assert "HW W5500 resets=1 opens=1 mac=02:0a:c4:11:22:33\n" in out  # locally administered, from the chip id


def test_hardware_crash_resets_through_machine_reset(tmp_path, build):
    hardware_root(tmp_path, led=None)  # a damaged definition
    dev = simrig.Device(tmp_path, HEAP, build=build, script=simrig.DEVICE_TESTS / "hwboard.py")
    assert dev.wait(30) == 75  # hwboard's machine.reset()
    out = dev.output()
    assert "ERROR boot: unhandled TypeError: restarting" in out and "HW machine.reset()" in out, out
    assert (tmp_path / "crashes").read_text() == "1\n"
