# The configuration as plain attribute records. config.py (validation, storage, PSK rules) is a third
# of the heap budget as bytecode and is only needed at boot: main loads the config, copies it into
# these records and unloads the module, so its code can be collected.
import sys

from micropython import const

from ike import const as ike_const

_MAX_DEPTH = const(4)


class Record:
    """Plain attributes (e.g. peer.name, peer.id.type, limits.max_ike_sas); no methods."""

    def __repr__(self):  # never the attributes: a peer record holds its PSK
        return "<Record>"


def _plain(v, depth):
    if isinstance(v, (list, tuple)):
        return [_plain(x, depth) for x in v]
    if depth < _MAX_DEPTH and hasattr(v, "__dict__") and type(v).__module__ == "config":
        r = Record()
        d = v.__dict__
        for k in d:
            if k != "settings":  # the raw settings dict: only the config store needs it
                setattr(r, k, _plain(d[k], depth + 1))
        return r
    return v


def load(root):
    """Load and validate the committed config -> Record; raises config.ConfigError. The config
    module (and ike.proposal, ike.words) is unloaded afterwards (the caller should gc.collect())."""
    import config
    try:
        return _plain(config.load(root), 0)
    finally:
        # The proposal parser and its keyword tables go with it (loaded again to negotiate, or to
        # name algorithms in a log line).
        for name in ("config", "ike.proposal", "ike.words"):
            if sys.modules.pop(name, None) is not None and "." in name:
                pkg, leaf = name.split(".")
                if hasattr(sys.modules[pkg], leaf):
                    delattr(sys.modules[pkg], leaf)


def peer_for(cfg, id_type, data):
    """The peer an IDi payload (type, data) names; FQDN and email without case, as strongSwan."""
    data = bytes(data)
    for p in cfg.peers:
        if p.id.type != id_type:
            continue
        if p.id.data == data or (id_type in (ike_const.ID_FQDN, ike_const.ID_RFC822_ADDR) and p.id.data.lower() == data.lower()):
            return p
    return None
