"""Fixtures for the strongSwan interop tests (tests marked `interop`).

  lab / lan_lab           issue 3's hq<->device / issue 4's lan--device--hq namespaces (netns.py)
  charon_lab              hq<->device where the device side is a strongSwan branch (10.20.1.1 on lo)
  hq_charon(lab)          a started charon in lab.hq; its log is attached to any failure report
  branch_charon           a started charon in charon_lab.device (the baseline "branch")
  psk                     a fresh random PSK (never a constant: a leak test can look for it)
  sim_board               factory: sim_board(lab, psk=..., timers=None, **provision_options) -> started
                          SimBoard (simboard.py)

Issue 4 (LAN): sim_board(lan_lab, psk=..., lan="10.20.1.1/24", lan_port=lan_lab.device_lan_if); traffic
with lan_lab.lan.ping(netns.LAN_HOST, netns.HQ_HOST) or lan_lab.lan.popen([...]) (iperf3, ...). For ESP
keys as an independent oracle, create the hq Charon with log_levels={"chd": 4} and read esp_keys();
capture.py decodes captures with scapy.

needs_netns / needs_strongswan skip a test, saying why, when not root, without `ip netns`, /dev/net/tun
or strongSwan; every fixture above depends on the one it needs.
"""
import secrets
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import charon as charon_mod  # noqa: E402
import netns  # noqa: E402
import simboard  # noqa: E402


NETNS_MISSING = netns.missing_prerequisites()
STRONGSWAN_MISSING = charon_mod.missing_prerequisites()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.parent == HERE:
            item.add_marker(pytest.mark.interop)


@pytest.fixture
def needs_netns():
    if NETNS_MISSING:
        pytest.skip("needs network namespaces: " + "; ".join(NETNS_MISSING))


@pytest.fixture
def needs_strongswan(needs_netns):
    if STRONGSWAN_MISSING:
        pytest.skip("needs strongSwan: " + "; ".join(STRONGSWAN_MISSING))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the logs of every daemon and sim board the test started."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name, dump in getattr(item, "_bg_diagnostics", []):
            try:
                report.sections.append((name, dump()))
            except Exception as e:  # a dump must never hide the failure itself
                report.sections.append((name, "cannot collect: %r" % e))


def attach(request, name, dump):
    if not hasattr(request.node, "_bg_diagnostics"):
        request.node._bg_diagnostics = []
    request.node._bg_diagnostics.append((name, dump))


@pytest.fixture
def lab(needs_netns):
    with netns.hq_device() as lab:
        yield lab


@pytest.fixture
def lan_lab(needs_netns):
    with netns.lan_device_hq() as lab:
        yield lab


@pytest.fixture
def charon_lab(needs_strongswan):
    with netns.hq_device(branch_addr=True) as lab:
        yield lab


@pytest.fixture
def psk():
    return "psk-" + secrets.token_urlsafe(24)  # a text PSK never starting with "0x" (read as hex)


def _start_charon(request, ns, workdir, settings=None):
    c = charon_mod.Charon(ns, workdir, settings=settings)
    attach(request, "charon %s" % ns.role, c.diagnostics)
    c.start()
    return c


@pytest.fixture
def hq_charon(request, tmp_path, needs_strongswan):
    """A charon in the hq namespace of whichever lab fixture the test uses; an indirect parameter
    gives it charon settings (strongswan.conf's charon section)."""
    lab = _lab_of(request)
    c = _start_charon(request, lab.hq, tmp_path / "hq", getattr(request, "param", None))
    yield c
    c.stop()


@pytest.fixture
def branch_charon(request, charon_lab, tmp_path):
    c = _start_charon(request, charon_lab.device, tmp_path / "branch")
    yield c
    c.stop()


def _lab_of(request):
    for name in ("charon_lab", "lab", "lan_lab"):
        if name in request.fixturenames:
            return request.getfixturevalue(name)
    raise pytest.UsageError("hq_charon needs one of the lab fixtures (lab, lan_lab, charon_lab)")


@pytest.fixture(scope="session")
def sim_build():
    """Compile the firmware to .mpy once, before the first board boots (`sim run` reuses the build
    of an unchanged tree), so a compile error is reported once and no test's timing includes it."""
    missing = simboard.missing_prerequisites()
    if missing:
        pytest.fail("no sim board yet: " + "; ".join(missing), pytrace=False)
    from branchgate import cli, sim
    try:
        return sim.build_firmware()
    except cli.CliError as e:
        pytest.fail("firmware does not compile: %s" % e, pytrace=False)


@pytest.fixture
def sim_board(request, tmp_path, sim_build):
    """Factory: sim_board(lab, psk=..., timers=None, **options) provisions a board root with
    `branchgate provision` (options are its flags: ike_proposals="...", dpd_delay="2s", ...), applies
    `timers` through the config store, and starts `branchgate sim run` in lab.device. Stopped
    (SIGTERM) at teardown."""
    boards = []

    def start(lab, timers=None, **options):
        board = simboard.SimBoard(lab, tmp_path / ("board%d" % len(boards)))
        attach(request, "sim board", board.diagnostics)
        boards.append(board)
        board.provision(**options)
        if timers:
            board.configure("timers", **timers)
        board.start()
        return board

    yield start
    for board in boards:
        board.stop()
