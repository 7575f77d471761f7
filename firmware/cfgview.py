# The configuration as plain attribute records. config.py (validation, storage, PSK rules) is a third
# of the heap budget as bytecode and is only needed at boot: main loads the config, copies what the
# running device reads into these records (config.view) and unloads the module, so its code can be
# collected.
import sys

from ike import const as ike_const


class Record:
    """Plain attributes (e.g. peer.name, peer.id.type, limits.max_ike_sas); no methods."""

    def __repr__(self):  # never the attributes: a peer record holds its PSK
        return "<Record>"


def load(root):
    """Load and validate the committed config -> Record; raises config.ConfigError. The config
    module (and ike.proposal, ike.names, ike.words) is unloaded afterwards (the caller should gc.collect())."""
    import config
    try:
        return config.view(config.load(root), Record)
    finally:
        # The proposal parser and its keyword tables go with it (loaded again to negotiate, or to
        # name algorithms in a log line).
        for name in ("config", "ike.proposal", "ike.names", "ike.words"):
            if sys.modules.pop(name, None) is not None and "." in name:
                pkg, leaf = name.split(".")
                if hasattr(sys.modules[pkg], leaf):
                    delattr(sys.modules[pkg], leaf)


def id_matches(ident, id_type, data):
    """Does an ID payload (type, data) name `ident` (anything with .type and .data: a Record here,
    a config.Identity)? FQDN and email compare without case, as strongSwan does."""
    data = bytes(data)
    if id_type != ident.type:
        return False
    if id_type == ike_const.ID_FQDN or id_type == ike_const.ID_RFC822_ADDR:
        return data.lower() == ident.data.lower()
    return data == ident.data


def peer_for(cfg, id_type, data):
    """The peer an IDi payload (type, data) names."""
    for p in cfg.peers:
        if id_matches(p.id, id_type, data):
            return p
    return None
