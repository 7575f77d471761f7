"""The firmware's board platforms under CPython: board_esp32 against fake `machine` / `network` modules
(what it asks of network.LAN for each hardware definition, checked against the per-board facts in
shared/ENVIRONMENT.md; static addressing; link down as a retryable OSError; LED and button polarity),
and board.open_board's choice on the sim. The chips themselves are the HIL suite's business."""
import json
import sys
import types

import pytest

from branchgate import boards

# ENVIRONMENT.md "network.LAN arguments per board" (the P4 from its definition's cited sources).
EXPECTED_LAN = {
    "wt32-eth01": {"mdc": 23, "mdio": 18, "phy_type": "PHY_LAN8720", "phy_addr": 1, "power": 16},
    "olimex-esp32-poe": {"mdc": 23, "mdio": 18, "power": 12, "phy_type": "PHY_LAN8720", "phy_addr": 0,
                         "ref_clk": 17, "ref_clk_mode": "OUT"},
    "esp32-ethernet-kit": {"phy_type": "PHY_IP101", "phy_addr": 1, "power": 5},
}


class Pin:
    IN, OUT, PULL_UP = "IN", "OUT", "PULL_UP"
    levels = {}

    def __init__(self, n, mode=None, pull=None, value=None):
        self.n, self.mode, self.pull = n, mode, pull
        if value is not None:
            Pin.levels[n] = value

    def __call__(self, v=None):
        if v is None:
            return Pin.levels.get(self.n, 1)
        Pin.levels[self.n] = v


class Lan:
    made = []
    status_now = "ETH_GOT_IP"

    def __init__(self, **kw):
        self.kw = kw
        self.calls = []
        Lan.made.append(self)

    def active(self, on):
        self.calls.append(("active", on))

    def ipconfig(self, *a, **kw):
        self.calls.append(("ipconfig", a, kw))

    def status(self):
        return Lan.status_now


@pytest.fixture
def fakes(monkeypatch):
    machine = types.ModuleType("machine")
    machine.Pin = Pin
    network = types.ModuleType("network")
    network.LAN = Lan
    for name in ("PHY_LAN8720", "PHY_IP101", "ETH_CONNECTED", "ETH_GOT_IP", "ETH_STOPPED"):
        setattr(network, name, name)
    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setitem(sys.modules, "network", network)
    Lan.made = []
    Lan.status_now = "ETH_GOT_IP"
    Pin.levels = {}
    sys.modules.pop("board_esp32", None)
    import board_esp32
    return board_esp32


def wan_cfg(cidr="192.0.2.2/24", gateway=b"\xc0\x00\x02\x01"):
    from net import addr
    return types.SimpleNamespace(addr=addr.parse_ip(cidr.split("/")[0]), cidr=cidr, gateway=gateway)


def plain(kw):
    """Pins as their numbers, network constants as their names."""
    return {k: (v.n if isinstance(v, Pin) else v) for k, v in kw.items()}


@pytest.mark.parametrize("name", sorted(EXPECTED_LAN))
def test_network_lan_gets_the_boards_documented_arguments(fakes, name):
    d = boards.load(name).data
    hw = fakes.Esp32(d)
    assert hw.wan_up(wan_cfg()) == b"\xc0\x00\x02\x02"
    kw = plain(Lan.made[0].kw)
    for k, v in EXPECTED_LAN[name].items():
        assert kw[k] == v, (k, kw)
    assert Lan.made[0].calls == [("active", True), ("ipconfig", (), {"addr4": "192.0.2.2/24", "gw4": "192.0.2.1"})]


def test_every_hardware_definition_brings_its_wan_up(fakes):
    for name in boards.names():
        b = boards.load(name)
        if b.is_sim:
            continue
        Lan.made = []
        fakes.Esp32(b.data).wan_up(wan_cfg())
        w = b.data["wan"]
        kw = plain(Lan.made[0].kw)
        assert kw["mdc"] == w["mdc"] and kw["mdio"] == w["mdio"] and kw["phy_type"] == "PHY_" + w["phy"]
        assert ("ref_clk_mode" in kw) == ("ref_clk" in w)


def test_link_down_is_a_retryable_error_and_the_nic_is_made_once(fakes):
    hw = fakes.Esp32(boards.load("wt32-eth01").data)
    Lan.status_now = "ETH_STOPPED"
    with pytest.raises(OSError, match="link down"):
        hw.wan_up(wan_cfg())
    Lan.status_now = "ETH_CONNECTED"
    assert hw.wan_up(wan_cfg()) == b"\xc0\x00\x02\x02"
    assert len(Lan.made) == 1


def test_button_and_led_polarity(fakes):
    d = boards.load("wt32-eth01").data  # button active low, LED active high
    hw = fakes.Esp32(d)
    Pin.levels[d["button"]["pin"]] = 1
    assert not hw.button_held()
    Pin.levels[d["button"]["pin"]] = 0
    assert hw.button_held()
    hw.led(True)
    assert Pin.levels[d["led"]["pin"]] == 1
    hw.led(False)
    assert Pin.levels[d["led"]["pin"]] == 0


def test_sim_board_with_and_without_a_definition(tmp_path, monkeypatch):
    import board
    monkeypatch.chdir(tmp_path)
    hw = board.open_board()
    assert hw.name == "sim" and hw.lan_ifname == "bglan0" and not hw.button_held()
    d = dict(boards.load("sim").data, name="sim-b", lan={"type": "host"})
    (tmp_path / "board.json").write_text(json.dumps(d))
    hw = board.open_board()
    assert hw.name == "sim-b" and hw.lan_port(types.SimpleNamespace(port="x")) is None
    (tmp_path / "button").write_text("")
    assert hw.button_held()
