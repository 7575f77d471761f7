"""ike/proposal.py and ike/words.py against strongSwan itself: libstrongswan's own proposal parser (called through ctypes)
is the truth for what every keyword and proposal string means, and for reading our describe() output
back. Skips when libstrongswan (Debian's strongswan-charon) is not installed."""
import ctypes
import itertools
import os

import pytest

from ike import const, message, proposal, selection
from ike import words as keywords

LIBSTRONGSWAN = "/usr/lib/ipsec/libstrongswan.so.0"
IKE, ESP = const.PROTO_IKE, const.PROTO_ESP
TYPES = (const.TRANS_ENCR, const.TRANS_PRF, const.TRANS_INTEG, const.TRANS_DH, const.TRANS_ESN)


class StrongSwan:
    """proposal_create_from_string() and the proposal's algorithm enumerators (proposal_t's second
    method, create_enumerator; an enumerator_t's first method is enumerate, its third destroy)."""

    _create = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
    _enum = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint16),
                             ctypes.POINTER(ctypes.c_uint16))
    _destroy = ctypes.CFUNCTYPE(None, ctypes.c_void_p)

    def __init__(self):
        self.lib = ctypes.CDLL(LIBSTRONGSWAN)
        self.lib.library_init.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        self.lib.library_init.restype = ctypes.c_bool
        assert self.lib.library_init(None, b"branchgate-test")
        self.lib.proposal_create_from_string.argtypes = [ctypes.c_int, ctypes.c_char_p]
        self.lib.proposal_create_from_string.restype = ctypes.c_void_p

    def _algs(self, p, ttype):
        vt = ctypes.cast(p, ctypes.POINTER(ctypes.c_void_p))
        e = self._create(vt[1])(p, ttype)
        ev = ctypes.cast(e, ctypes.POINTER(ctypes.c_void_p))
        alg, ks = ctypes.c_uint16(), ctypes.c_uint16()
        out = []
        while self._enum(ev[0])(e, ctypes.byref(alg), ctypes.byref(ks)):
            out.append((alg.value, ks.value or None))
        self._destroy(ev[2])(e)
        return out

    def parse(self, protocol, text):
        """{transform type: [(id, keylen or None)]} as strongSwan reads `text`, or None if it refuses."""
        p = self.lib.proposal_create_from_string(protocol, text.encode())
        if not p:
            return None
        # not destroyed: a few hundred bytes per call, and proposal_t's layout beyond
        # create_enumerator differs between strongSwan versions
        return {t: self._algs(p, t) for t in TYPES}


@pytest.fixture(scope="module")
def ss():
    if not os.path.exists(LIBSTRONGSWAN):
        pytest.skip("libstrongswan not installed (apt-get install strongswan-charon)")
    return StrongSwan()


def spec_map(spec):
    """Our Spec in the same shape as StrongSwan.parse."""
    return {
        const.TRANS_ENCR: list(spec.encr),
        const.TRANS_PRF: [(i, None) for i in spec.prf],
        const.TRANS_INTEG: [(i, None) for i in spec.integ],
        const.TRANS_DH: [(i, None) for i in spec.dh],
        const.TRANS_ESN: [(i, None) for i in spec.esn],
    }


def proposal_from(parsed, protocol):
    """A message.Proposal as a peer would send strongSwan's reading of a string."""
    ts = [message.Transform(t, i, kl) for t in TYPES for i, kl in parsed[t]]
    return message.Proposal(1, protocol, b"", ts)


def all_keywords():
    """Every keyword our table knows (canonical names and aliases), with its transform type."""
    words = []
    table = keywords._WORDS  # flat rows: type, id, keylen, keywords
    for k in range(0, len(table), 4):
        words.extend((table[k], w) for w in table[k + 3].split(" "))
    families = keywords._ENCR_FAMILIES  # flat rows: id, family, suffix
    for family, suffix in zip(families[1::3], families[2::3]):
        for size in keywords._KEY_SIZES:
            words.append((const.TRANS_ENCR, "%s%d%s" % (family, size, suffix)))
    for alias in keywords._SUFFIX_ALIASES:
        words.append((const.TRANS_ENCR, "aes256" + alias))
    words.extend((const.TRANS_ENCR, w) for w in ("aes", "camellia", "blowfish"))
    return words


# A keyword is tried inside a proposal strongSwan accepts, so only its own transform type varies.
CONTEXT = {
    const.TRANS_ENCR: (IKE, "%s-sha256-prfsha256-modp2048"),
    const.TRANS_INTEG: (IKE, "aes128-%s-prfsha256-modp2048"),
    const.TRANS_PRF: (IKE, "aes128-sha256-%s-modp2048"),
    const.TRANS_DH: (ESP, "aes128-sha256-%s"),
    const.TRANS_ESN: (ESP, "aes128-sha256-%s"),
}


@pytest.mark.parametrize("ttype,word", all_keywords())
def test_keyword_means_what_strongswan_says(ss, ttype, word):
    protocol, fmt = CONTEXT[ttype]
    theirs = ss.parse(protocol, fmt % word)
    assert theirs is not None, "strongSwan does not know %r" % word
    t, i, kl = proposal.lookup(word)
    assert t == ttype
    assert theirs[t] == [(i, kl)]


def test_keyword_table_is_not_empty_of_the_basics():
    # guard against a table that silently lost entries (then the test above would pass vacuously)
    words = {w for _, w in all_keywords()}
    assert {"aes256", "3des", "sha256", "prfsha256", "modp2048", "ecp256", "x25519", "curve25519",
            "esn", "noesn", "aes128gcm16", "chacha20poly1305", "sha384", "ecp384"} <= words


def test_unknown_keywords_are_unknown_to_both(ss):
    for word in ("aes257", "aes128gcm", "sha3", "modp2047", "aesgcm16", "ecp257", "prfsha255"):
        ours = proposal.lookup(word)
        theirs = ss.parse(IKE, "aes128-sha256-modp2048-" + word)
        if word == "aes128gcm":  # a real strongSwan alias of aes128gcm16
            assert ours == (const.TRANS_ENCR, const.ENCR_AES_GCM_16, 128)
            continue
        assert ours is None and theirs is None, word


IKE_EXAMPLES = proposal.DEFAULT_IKE + [
    "aes256-sha256-modp2048",
    "aes128-sha256-x25519",
    "aes128-sha256-curve25519",
    "aes128-sha256-ecp256",
    "aes256-sha256-x25519",
    "aes192-sha256-modp2048",
    "3des-sha256-modp2048",
    "aes256-aes192-aes128-3des-sha256-prfsha256-x25519-ecp256-modp2048",
    "aes256-sha256-prfsha256-modp2048",
    "aes256-sha256-modp2048-none",
    "AES256-SHA256-MODP2048",
]
ESP_EXAMPLES = proposal.DEFAULT_ESP + [
    "aes256-sha256",
    "aes128-sha256",
    "aes256-sha256-modp2048",
    "aes128-sha256-x25519-ecp256",
    "aes256-sha256-noesn",
    "aes256-sha256-modp2048-none",
    "aes256-sha256-prfsha256",
]


EXAMPLES = [(IKE, t) for t in IKE_EXAMPLES] + [(ESP, t) for t in ESP_EXAMPLES]


@pytest.mark.parametrize("protocol,text", EXAMPLES)
def test_proposal_parses_like_strongswan(ss, protocol, text):
    theirs = ss.parse(protocol, text.lower())
    assert theirs is not None
    assert spec_map(proposal.parse(text, protocol)) == theirs


def test_known_transform_ids():
    """The brief's examples, in IANA numbers (independent of strongSwan)."""
    s = proposal.parse("aes256-sha256-modp2048", IKE)
    assert (s.encr, s.integ, s.prf, s.dh) == ([(12, 256)], [12], [5], [14])
    assert proposal.parse("aes128-sha256-x25519", IKE).dh == [31]
    assert proposal.parse("aes128-sha256-ecp256", IKE).dh == [19]
    e = proposal.parse("aes256-sha256", ESP)
    assert (e.encr, e.integ, e.prf, e.dh, e.esn) == ([(12, 256)], [12], [], [], [0])
    assert proposal.parse("3des-sha256-modp2048", IKE).encr == [(3, None)]


UNSUPPORTED = [
    (IKE, "aes128gcm16-prfsha256-ecp384"),
    (IKE, "aes256gcm16-prfsha384-x448"),
    (IKE, "chacha20poly1305-prfsha512-curve448"),
    (IKE, "aes256-sha1-modp1024"),
    (IKE, "aes256ctr-sha384-modp3072-modp4096"),
    (IKE, "camellia256-aesxcbc-prfaesxcbc-ecp521"),
    (IKE, "3des-md5-modp1536"),
    (IKE, "aes192gcm12-aes128ccm8-prfsha1-ecp224bp-ecp512bp"),
    (IKE, "aes128-sha512-sha384-ecp384"),
    (IKE, "aes128-sha256-prfsha384-modp2048s256"),
    (ESP, "aes128gcm16"),
    (ESP, "aes256gcm16-ecp384-esn"),
    (ESP, "aes256-sha1"),
    (ESP, "3des-md5"),
    (ESP, "aes128ctr-aescmac-sha512-noesn-esn"),
    (ESP, "aes256-sha256-esn"),
    (ESP, "aes256-sha256-noesn-esn"),
    (ESP, "chacha20poly1305-x25519"),
]


@pytest.mark.parametrize("protocol,text", UNSUPPORTED + EXAMPLES)
def test_describe_reads_back_in_strongswan(ss, protocol, text):
    """What a peer offers, described by us, means the same transforms to strongSwan."""
    theirs = ss.parse(protocol, text.lower())
    described = proposal.describe(proposal_from(theirs, protocol))
    assert ss.parse(protocol, described) == theirs, described


@pytest.mark.parametrize("protocol,text", EXAMPLES)
def test_describe_of_parsed_specs_round_trips(protocol, text):
    spec = proposal.parse(text, protocol)
    again = proposal.parse(str(spec), protocol)
    assert spec_map(again) == spec_map(spec)
    assert proposal.describe_specs([spec, again]) == "%s, %s" % (spec, spec)


@pytest.mark.parametrize("protocol,text", UNSUPPORTED)
def test_unsupported_algorithms_are_refused_by_name(protocol, text):
    with pytest.raises(proposal.ProposalError) as e:
        proposal.parse(text, protocol)
    field = "ike_proposals" if protocol == IKE else "esp_proposals"
    msg = str(e.value)
    assert msg.startswith("unsupported algorithm '") and msg.endswith("' in " + field), msg
    assert msg.split("'")[1] in text.split("-")


def test_describe_names_the_brief_example(ss):
    offered = proposal_from(ss.parse(IKE, "aes128gcm16-prfsha256-ecp384"), IKE)
    assert proposal.describe(offered) == "aes128gcm16-prfsha256-ecp384"
    offered = proposal_from(ss.parse(IKE, "aes256-sha384-ecp384"), IKE)
    assert proposal.describe(offered) == "aes256-sha384-ecp384"  # PRF implied, as strongSwan writes it


def test_selection_of_strongswan_default_offer(ss):
    """strongSwan's `default` IKE and ESP proposals (what an unconfigured head office sends) are
    accepted by our defaults, with our preferences."""
    ike_offer = [proposal_from(ss.parse(IKE, t), IKE) for t in (
        "aes128-aes192-aes256-sha256-sha384-sha512-prfsha256-prfsha384-prfsha512"
        "-ecp256-ecp384-ecp521-curve25519-curve448-modp3072-modp4096-modp2048",
        "aes128gcm16-aes192gcm16-aes256gcm16-chacha20poly1305-prfsha256-prfsha384-ecp256-curve25519-modp2048")]
    c = selection.select(proposal.parse_list("default", IKE), ike_offer, IKE, ke_group=const.ECP_256)
    assert (c.proposal_num, c.encr, c.keylen, c.integ, c.prf, c.dh) == (1, 12, 256, 12, 5, const.ECP_256)
    c = selection.select(proposal.parse_list("default", IKE), ike_offer, IKE)
    assert c.dh == const.CURVE25519
    esp_offer = [proposal_from(ss.parse(ESP, "aes128-aes192-aes256-sha256-sha384-sha512-sha1-noesn"), ESP)]
    c = selection.select(proposal.parse_list("default", ESP), esp_offer, ESP)
    assert (c.encr, c.keylen, c.integ, c.prf, c.dh, c.esn) == (12, 256, 12, None, None, False)


def test_every_supported_combination_is_strongswan_valid(ss):
    for encr, dh in itertools.product(("aes128", "aes192", "aes256", "3des"), ("modp2048", "ecp256", "x25519")):
        text = "%s-sha256-%s" % (encr, dh)
        assert spec_map(proposal.parse(text, IKE)) == ss.parse(IKE, text)
