"""Traffic-selector narrowing (firmware/ike/ts.py, under CPython) against a brute-force model over
small address and port spaces: what it keeps is exactly the intersections of the peer's selectors
with ours, minus those another kept one covers, and together they cover every intersection."""
from hypothesis import given, settings, strategies as st

from ike import const
from ike import message
from ike import ts


def sel(proto, ports, addrs):
    lo, hi = sorted(addrs)
    plo, phi = sorted(ports)
    return message.Selector(const.TS_IPV4_ADDR_RANGE, proto, plo, phi, bytes((10, 0, 0, lo)), bytes((10, 0, 0, hi)))


selectors = st.builds(sel, st.sampled_from((0, 6, 17)), st.tuples(st.integers(0, 6), st.integers(0, 6)),
                      st.tuples(st.integers(0, 12), st.integers(0, 12)))


def points(s):
    """The (protocol, port, address) points a selector takes; protocol 0 is any of 6, 17, 1."""
    protos = (1, 6, 17) if s.ip_proto == 0 else (s.ip_proto,)
    return {(p, port, a) for p in protos for port in range(s.start_port, s.end_port + 1)
            for a in range(s.start_addr[3], s.end_addr[3] + 1)}


@settings(max_examples=300, deadline=None)
@given(st.lists(selectors, min_size=1, max_size=6), st.lists(selectors, min_size=1, max_size=3))
def test_narrowing_keeps_the_covering_intersections(offered, allowed):
    kept = ts.narrow(offered, allowed)
    inter = [points(o) & points(a) for o in offered for a in allowed]
    want = set().union(*inter)
    got = [points(k) for k in kept]
    assert set().union(*got) == want if got else not want      # nothing lost, nothing added
    for i, g in enumerate(got):
        assert g and g in inter                                 # each is one of the intersections
        assert not any(j != i and g <= h for j, h in enumerate(got))   # none inside another
