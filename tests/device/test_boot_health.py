# The status the provisioning console reports (firmware/health.py): uptime, heap, reset cause, crash
# count, safe mode, board, SAs and counters of the running tunnel, and never the PSK or key material.
import json

import health
import ike_peer as P


class Running:
    """What health reads of main.Board."""

    def __init__(self, r, wan):
        self.responder = r
        self.wan = wan


def test_status_while_booting_and_in_safe_mode():
    health.booted("watchdog", 1)
    health.board("sim")
    s = health.status()
    assert s["reset_cause"] == "watchdog" and s["crashes"] == 1 and s["board"] == "sim"
    assert s["safe_mode"] is None and s["ike"] == [] and s["counters"] == {}
    assert 0 < s["heap_free"] and 0 < s["heap_used"] and s["uptime_s"] == 0
    health.safe_mode("button held at boot")
    assert health.status()["safe_mode"] == "button held at boot"


def test_status_of_the_running_tunnel_names_sas_and_counters_but_no_secret():
    r, wan, sad = P.rig()
    wan.counters = {"ike_rx": 2}
    i, p = P.establish(r, wan)
    health.booted("power-on", 0)
    health.running(Running(r, wan))
    s = health.status()
    import sys
    from ike import responder
    assert [m for m in responder._TRANSIENT if m in sys.modules] == []  # the status code went again
    assert [x["spi_r"] for x in s["ike"]] == ["".join(["%02x" % b for b in i.spi_r])]
    assert len(s["child"]) == 1 and s["child"][0]["state"] == "established"
    assert s["counters"]["ike"]["established"] == 1 and s["counters"]["wan"] == {"ike_rx": 2}
    text = json.dumps(s)
    k = i.keys  # the initiator's copy of the SA's keys (the responder keeps only SK_d once up)
    for secret in [P.PSK, k.sk_d, k.sk_ei, k.sk_ai, k.sk_er, k.sk_ar]:
        assert secret not in text.encode()
        assert "".join(["%02x" % b for b in secret]) not in text
