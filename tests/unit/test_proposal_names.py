"""ike/algos.py names what we support with a few keywords of its own (so naming an SA in a log line
does not load ike/words.py's full tables): its names must be exactly the full tables' names."""
import itertools

from ike import algos, const, words

IKE, ESP = const.PROTO_IKE, const.PROTO_ESP
ENCR = [(const.ENCR_AES_CBC, 128), (const.ENCR_AES_CBC, 192), (const.ENCR_AES_CBC, 256), (const.ENCR_3DES, None),
        (const.ENCR_AES_GCM_16, 128), (const.ENCR_AES_CBC, None)]
INTEG = [const.AUTH_HMAC_SHA2_256_128, const.AUTH_HMAC_SHA1_96]
PRF = [const.PRF_HMAC_SHA2_256, const.PRF_HMAC_SHA2_512]
DH = [const.MODP_2048, const.ECP_256, const.CURVE25519, const.DH_NONE, const.ECP_384]
ESN = [const.NO_ESN, const.ESN]


def subsets(items, most=2):
    for n in range(most + 1):
        yield from (list(c) for c in itertools.permutations(items, n))


def test_the_short_names_are_the_full_tables_names():
    n = 0
    for protocol in (IKE, ESP):
        for encr in subsets(ENCR, 1):
            for integ in subsets(INTEG):
                for prf in subsets(PRF):
                    for dh in subsets(DH, 1):
                        for esn in subsets(ESN):
                            want = words.describe_lists(protocol, encr, integ, prf, dh, esn, ())
                            assert algos.describe(protocol, encr, integ, prf, dh, esn) == want
                            n += 1
    assert n > 1000


def test_chosen_and_spec_print_in_strongswan_syntax():
    c = algos.Chosen(1, IKE, b"", const.ENCR_AES_CBC, 256, const.AUTH_HMAC_SHA2_256_128, const.PRF_HMAC_SHA2_256,
                     const.MODP_2048, False)
    assert str(c) == "aes256-sha256-modp2048"
    c = algos.Chosen(1, ESP, b"abcd", const.ENCR_AES_CBC, 128, const.AUTH_HMAC_SHA2_256_128, None, None, True)
    assert str(c) == "aes128-sha256-esn"
    s = algos.Spec(ESP, [(const.ENCR_AES_CBC, 256)], [const.AUTH_HMAC_SHA2_256_128], [], [const.DH_NONE],
                   [const.NO_ESN])
    assert str(s) == "aes256-sha256-none"


def test_keywords_of_supported_algorithms_parse_as_the_full_tables_say():
    from ike import proposal
    known = ["aes128", "aes192", "aes256"] + list(algos.KEYWORDS.values())
    for word in known:
        assert proposal.lookup(word) == words.lookup(word) is not None, word
    for word in ("aes", "aes128gcm16", "x25519", "sha2_256", "modpnone", "aes257", "bogus"):
        assert proposal.lookup(word) == words.lookup(word), word
