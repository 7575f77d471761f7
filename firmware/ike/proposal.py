# IKE and ESP proposals written in strongSwan's syntax, so a user can copy them to or from a
# swanctl.conf: 'aes256-sha256-modp2048' (IKE), 'aes256-sha256' (ESP), 'aes256-sha256-modp2048' (ESP
# with PFS). The semantics are strongSwan's (libstrongswan/crypto/proposal/proposal.c):
# - keywords are separated by '-'; several keywords of one transform type form a list in preference
#   order ('aes256-aes128-sha256-x25519-modp2048');
# - IKE: without an explicit PRF, each integrity algorithm brings its HMAC PRF (sha256 -> prfsha256);
#   a DH group is mandatory; 'none' is dropped;
# - ESP: DH groups are optional and mean PFS in CREATE_CHILD_SA; 'none' among them makes PFS optional;
#   no 'esn'/'noesn' means noesn; PRF keywords are ignored;
# - selection (strongSwan's default prefer_configured_proposals = yes): the first of OUR proposals, in
#   configured order, that matches any proposal the peer offers (peer order); within a transform type
#   our algorithm order wins. A proposal with a transform type the other side lacks does not match,
#   except that DH is optional for ESP (a NONE group accepts no-PFS) and additional key exchanges
#   (RFC 9370, types 6+) are accepted only when the peer lists NONE for them.
# We support IKE: aes128/aes192/aes256/3des, sha256, prfsha256, modp2048/ecp256/curve25519(x25519);
# ESP: aes128/aes256, sha256, the same DH groups for PFS, esn/noesn. describe() also names what we do
# not support, so a mismatch log line tells the user what the peer wanted.
from ike import const, message

_E = const.TRANS_ENCR
_P = const.TRANS_PRF
_I = const.TRANS_INTEG
_D = const.TRANS_DH
_S = const.TRANS_ESN

# RFC 8247 (IKE) / RFC 8221 (ESP): AES-CBC with HMAC-SHA2-256-128; DH 31, 19, 14 (fastest first on
# the ESP32: X25519, then P-256, then MODP-2048).
DEFAULT_IKE = ["aes256-aes128-sha256-curve25519-ecp256-modp2048"]
DEFAULT_ESP = ["aes256-aes128-sha256"]

# Rows of type, id, keylen or None, keywords: the first keyword is the one describe() prints, the
# others are strongSwan aliases. Key-length families of block ciphers are in _ENCR_FAMILIES below.
# (Flat tuples: a tuple per row would cost the board's heap twice as much.)
_WORDS = (
    _E, const.ENCR_3DES, None, "3des",
    _E, const.ENCR_DES, None, "des",
    _E, const.ENCR_NULL, None, "null",
    _E, const.ENCR_CHACHA20_POLY1305, None, "chacha20poly1305",
    _E, const.ENCR_CAST, 128, "cast128",
    _I, const.AUTH_HMAC_SHA2_256_128, None, "sha256 sha2_256",
    _I, const.AUTH_HMAC_SHA2_384_192, None, "sha384 sha2_384",
    _I, const.AUTH_HMAC_SHA2_512_256, None, "sha512 sha2_512",
    _I, const.AUTH_HMAC_SHA1_96, None, "sha1 sha",
    _I, const.AUTH_HMAC_SHA1_160, None, "sha1_160",
    _I, const.AUTH_HMAC_MD5_96, None, "md5",
    _I, const.AUTH_HMAC_MD5_128, None, "md5_128",
    _I, const.AUTH_AES_XCBC_96, None, "aesxcbc",
    _I, const.AUTH_AES_CMAC_96, None, "aescmac",
    _P, const.PRF_HMAC_SHA2_256, None, "prfsha256",
    _P, const.PRF_HMAC_SHA2_384, None, "prfsha384",
    _P, const.PRF_HMAC_SHA2_512, None, "prfsha512",
    _P, const.PRF_HMAC_SHA1, None, "prfsha1",
    _P, const.PRF_HMAC_MD5, None, "prfmd5",
    _P, const.PRF_AES128_XCBC, None, "prfaesxcbc",
    _P, const.PRF_AES128_CMAC, None, "prfaescmac",
    _D, const.MODP_2048, None, "modp2048",
    _D, const.ECP_256, None, "ecp256",
    _D, const.CURVE25519, None, "curve25519 x25519",
    _D, const.CURVE448, None, "curve448 x448",
    _D, const.MODP_768, None, "modp768",
    _D, const.MODP_1024, None, "modp1024",
    _D, const.MODP_1536, None, "modp1536",
    _D, const.MODP_3072, None, "modp3072",
    _D, const.MODP_4096, None, "modp4096",
    _D, const.MODP_6144, None, "modp6144",
    _D, const.MODP_8192, None, "modp8192",
    _D, const.ECP_384, None, "ecp384",
    _D, const.ECP_521, None, "ecp521",
    _D, const.ECP_192, None, "ecp192",
    _D, const.ECP_224, None, "ecp224",
    _D, const.MODP_1024_160, None, "modp1024s160",
    _D, const.MODP_2048_224, None, "modp2048s224",
    _D, const.MODP_2048_256, None, "modp2048s256",
    _D, const.BRAINPOOL_P224R1, None, "ecp224bp",
    _D, const.BRAINPOOL_P256R1, None, "ecp256bp",
    _D, const.BRAINPOOL_P384R1, None, "ecp384bp",
    _D, const.BRAINPOOL_P512R1, None, "ecp512bp",
    _D, const.DH_NONE, None, "none modpnone",
    _S, const.NO_ESN, None, "noesn",
    _S, const.ESN, None, "esn",
)

# Block ciphers named family + key length + mode suffix ('aes256', 'aes128gcm16', 'camellia192ctr').
_ENCR_FAMILIES = (
    const.ENCR_AES_CBC, "aes", "",
    const.ENCR_AES_CTR, "aes", "ctr",
    const.ENCR_AES_GCM_16, "aes", "gcm16",
    const.ENCR_AES_GCM_12, "aes", "gcm12",
    const.ENCR_AES_GCM_8, "aes", "gcm8",
    const.ENCR_AES_CCM_16, "aes", "ccm16",
    const.ENCR_AES_CCM_12, "aes", "ccm12",
    const.ENCR_AES_CCM_8, "aes", "ccm8",
    const.ENCR_NULL_AUTH_AES_GMAC, "aes", "gmac",
    const.ENCR_CAMELLIA_CBC, "camellia", "",
    const.ENCR_CAMELLIA_CTR, "camellia", "ctr",
    const.ENCR_CAMELLIA_CCM_16, "camellia", "ccm16",
    const.ENCR_CAMELLIA_CCM_12, "camellia", "ccm12",
    const.ENCR_CAMELLIA_CCM_8, "camellia", "ccm8",
    const.ENCR_BLOWFISH, "blowfish", "",
)
_KEY_SIZES = (128, 192, 256)
# strongSwan's alternative spellings of the ICV length (bits instead of bytes; bare = 16 bytes)
_SUFFIX_ALIASES = {"gcm": "gcm16", "gcm128": "gcm16", "gcm96": "gcm12", "gcm64": "gcm8",
                   "ccm": "ccm16", "ccm128": "ccm16", "ccm96": "ccm12", "ccm64": "ccm8"}

# strongSwan's integ_prf_map: the PRF an IKE proposal gets when it names none
_INTEG_PRF = (
    const.AUTH_HMAC_SHA2_256_128, const.PRF_HMAC_SHA2_256,
    const.AUTH_HMAC_SHA2_384_192, const.PRF_HMAC_SHA2_384,
    const.AUTH_HMAC_SHA2_512_256, const.PRF_HMAC_SHA2_512,
    const.AUTH_HMAC_SHA1_96, const.PRF_HMAC_SHA1,
    const.AUTH_HMAC_SHA1_160, const.PRF_HMAC_SHA1,
    const.AUTH_HMAC_MD5_96, const.PRF_HMAC_MD5,
    const.AUTH_HMAC_MD5_128, const.PRF_HMAC_MD5,
    const.AUTH_AES_XCBC_96, const.PRF_AES128_XCBC,
    const.AUTH_AES_CMAC_96, const.PRF_AES128_CMAC,
)

_TYPE_NAMES = {_E: "ENCR", _P: "PRF", _I: "INTEG", _D: "DH", _S: "ESN"}
_DH_OK = (const.MODP_2048, const.ECP_256, const.CURVE25519)
# RFC 9370 additional key exchanges: transform types 6..12, ids from the DH registry
_ADDKE_FIRST = const.TRANS_ESN + 1
_ADDKE_LAST = const.TRANS_ESN + 7


class ProposalError(ValueError):
    """A proposal string we cannot use; the message names the keyword and the field."""


class Spec:
    """One configured proposal: per transform type, algorithms in preference order."""

    def __init__(self, protocol, encr, integ, prf, dh, esn):
        self.protocol = protocol
        self.encr = encr  # [(id, keylen or None)]
        self.integ = integ  # [id]
        self.prf = prf  # [id]; IKE only
        self.dh = dh  # [group]; DH_NONE (0) in an ESP list = PFS optional
        self.esn = esn  # [NO_ESN/ESN]; ESP only

    def __str__(self):
        return _describe(self.protocol, self.encr, self.integ, self.prf, self.dh, self.esn, ())

    def __repr__(self):
        return "Spec(%s)" % self


class Chosen:
    """The algorithms selected from one peer proposal. `spi` is the peer's SPI from that proposal
    (for ESP: our outbound SPI). `dh` is None without a key exchange (ESP without PFS, or skip_dh)."""

    def __init__(self, proposal_num, protocol, spi, encr, keylen, integ, prf, dh, esn):
        self.proposal_num = proposal_num
        self.protocol = protocol
        self.spi = spi
        self.encr = encr
        self.keylen = keylen
        self.integ = integ
        self.prf = prf
        self.dh = dh
        self.esn = esn

    def to_payload_proposal(self, spi=b""):
        """The Proposal for our reply's SA payload, carrying OUR spi: empty in IKE_SA_INIT, our new
        IKE SPI (8 bytes) in an IKE rekey, our inbound SPI (4 bytes) for ESP."""
        t = [message.Transform(_E, self.encr, self.keylen)]
        if self.prf is not None:
            t.append(message.Transform(_P, self.prf))
        t.append(message.Transform(_I, self.integ))
        if self.dh is not None:
            t.append(message.Transform(_D, self.dh))
        if self.protocol == const.PROTO_ESP:
            t.append(message.Transform(_S, const.ESN if self.esn else const.NO_ESN))
        return message.Proposal(self.proposal_num, self.protocol, spi, t)

    def __str__(self):
        prf = [] if self.prf is None else [self.prf]
        dh = [] if self.dh is None else [self.dh]
        esn = []
        if self.protocol == const.PROTO_ESP:
            esn = [const.ESN if self.esn else const.NO_ESN]
        return _describe(self.protocol, [(self.encr, self.keylen)], [self.integ], prf, dh, esn, ())


def _field(protocol):
    return "ike_proposals" if protocol == const.PROTO_IKE else "esp_proposals"


def lookup(word):
    """strongSwan keyword -> (transform type, id, keylen or None), or None if strongSwan has no such
    keyword (as far as this table knows)."""
    for k in range(0, len(_WORDS), 4):
        if word in _WORDS[k + 3].split(" "):
            return _WORDS[k], _WORDS[k + 1], _WORDS[k + 2]
    for k in range(0, len(_ENCR_FAMILIES), 3):
        i, family, suffix = _ENCR_FAMILIES[k], _ENCR_FAMILIES[k + 1], _ENCR_FAMILIES[k + 2]
        if not word.startswith(family):
            continue
        rest = word[len(family):]
        n = 0
        while n < len(rest) and "0" <= rest[n] <= "9":
            n += 1
        tail = _SUFFIX_ALIASES.get(rest[n:], rest[n:])
        if tail != suffix:
            continue
        if n == 0:  # 'aes', 'camellia', 'blowfish' alone mean 128-bit CBC
            return (_E, i, 128) if suffix == "" else None
        size = int(rest[:n])
        return (_E, i, size) if size in _KEY_SIZES else None
    return None


def _supported(protocol, t, i, kl):
    if t == _E:
        if i == const.ENCR_AES_CBC:
            return kl in ((128, 192, 256) if protocol == const.PROTO_IKE else (128, 256))
        return i == const.ENCR_3DES and protocol == const.PROTO_IKE
    if t == _I:
        return i == const.AUTH_HMAC_SHA2_256_128
    if t == _P:
        return i == const.PRF_HMAC_SHA2_256
    if t == _D:
        return i in _DH_OK or i == const.DH_NONE
    return t == _S and protocol == const.PROTO_ESP


def _add(lst, item):
    if item not in lst:
        lst.append(item)


def parse(text, protocol):
    """Parse one proposal ('aes256-sha256-modp2048') for const.PROTO_IKE or PROTO_ESP -> Spec.
    Raises ProposalError naming the offending keyword."""
    field = _field(protocol)
    encr, integ, prf, dh, esn = [], [], [], [], []
    lists = {_E: encr, _I: integ, _P: prf, _D: dh, _S: esn}
    for word in text.strip().lower().split("-"):
        word = word.strip()
        if not word:
            raise ProposalError("empty algorithm in %s '%s'" % (field, text))
        tok = lookup(word)
        if tok is None:
            raise ProposalError("unknown algorithm '%s' in %s" % (word, field))
        t, i, kl = tok
        if not _supported(protocol, t, i, kl):
            raise ProposalError("unsupported algorithm '%s' in %s" % (word, field))
        if t == _P and protocol != const.PROTO_IKE:
            continue  # strongSwan drops PRFs from ESP proposals
        if t == _D and i == const.DH_NONE and protocol == const.PROTO_IKE:
            continue  # and KE_NONE from IKE ones
        _add(lists[t], (i, kl) if t == _E else i)
    if not encr:
        raise ProposalError("no encryption algorithm in %s '%s'" % (field, text))
    if not integ:
        raise ProposalError("no integrity algorithm in %s '%s'" % (field, text))
    if protocol == const.PROTO_IKE:
        if not prf:
            prf = _derived_prf(integ)
        if not dh:
            raise ProposalError("no DH group in %s '%s' (IKE needs one)" % (field, text))
    elif not esn:
        esn = [const.NO_ESN]
    return Spec(protocol, encr, integ, prf, dh, esn)


def parse_list(value, protocol):
    """A proposal list as in swanctl.conf: a list of strings or one comma-separated string; the
    keyword 'default' stands for DEFAULT_IKE / DEFAULT_ESP. -> [Spec]"""
    if isinstance(value, str):
        value = value.split(",")
    specs = []
    for text in value:
        if not isinstance(text, str):
            raise ProposalError("%s entries must be strings" % _field(protocol))
        text = text.strip()
        if text == "default":
            specs.extend(parse_list(DEFAULT_IKE if protocol == const.PROTO_IKE else DEFAULT_ESP, protocol))
        else:
            specs.append(parse(text, protocol))
    if not specs:
        raise ProposalError("%s is empty" % _field(protocol))
    return specs


def _derived_prf(integ):
    prf = []
    for a in integ:
        for k in range(0, len(_INTEG_PRF), 2):
            if _INTEG_PRF[k] == a:
                _add(prf, _INTEG_PRF[k + 1])
    return prf


def _pick(ours, theirs, optional, none):
    """strongSwan's select_algo for one transform type. Returns (found, alg); alg is None when the
    type is absent on both sides or optional and declined. `none` is the NONE id of optional types."""
    if not ours:
        if not theirs:
            return True, None
        return (optional and none in theirs), None
    if not theirs:
        return (optional and none in ours), None
    for a in ours:
        if a in theirs:
            return True, (None if optional and a == none else a)
    return False, None


def _match(spec, p, ke_group, skip_dh):
    encr, integ, prf, dh, esn = [], [], [], [], []
    lists = {_E: encr, _I: integ, _P: prf, _D: dh, _S: esn}
    other = {}
    for t in p.transforms:
        if t.type == _E:
            encr.append((t.id, t.keylen))
        elif t.type in lists:
            lists[t.type].append(t.id)
        else:
            other.setdefault(t.type, []).append(t.id)
    for t in other:
        if not (_ADDKE_FIRST <= t <= _ADDKE_LAST and const.DH_NONE in other[t]):
            return None
    ok, e = _pick(spec.encr, encr, False, None)
    if not ok or e is None:
        return None
    ok, i = _pick(spec.integ, integ, False, None)
    if not ok or i is None:
        return None
    ok, f = _pick(spec.prf, prf, False, None)
    if not ok:
        return None
    g = None
    if not skip_dh:
        ok, g = _pick(spec.dh, dh, spec.protocol != const.PROTO_IKE, const.DH_NONE)
        if not ok:
            return None
        # Prefer the group the peer already sent a KE for, if both sides accept it: saves an
        # INVALID_KE_PAYLOAD round trip.
        if g is not None and ke_group is not None and ke_group in spec.dh and ke_group in dh:
            g = ke_group
    ok, s = _pick(spec.esn, esn, False, None)
    if not ok:
        return None
    return Chosen(p.num, p.protocol, p.spi, e[0], e[1], i, f, g, s == const.ESN)


def select(specs, offered, protocol, ke_group=None, skip_dh=False):
    """First of our `specs` (configured order) matching one of the peer's `offered` message.Proposal
    objects (peer order) -> Chosen, or None (answer NO_PROPOSAL_CHOSEN).
    ke_group: the group of the peer's KE payload, preferred among the acceptable groups.
    skip_dh: ignore DH transforms, as for the CHILD SA of IKE_AUTH, which never has a KE exchange
    (RFC 7296 1.2; strongSwan's PROPOSAL_SKIP_KE)."""
    for spec in specs:
        if spec.protocol != protocol:
            continue
        for p in offered:
            if p.protocol != protocol:
                continue
            c = _match(spec, p, ke_group, skip_dh)
            if c is not None:
                return c
    return None


def _word(t, i, kl):
    for k in range(0, len(_WORDS), 4):
        if _WORDS[k] == t and _WORDS[k + 1] == i and _WORDS[k + 2] == kl:
            return _WORDS[k + 3].split(" ")[0]
    if t == _E and kl in _KEY_SIZES:
        for k in range(0, len(_ENCR_FAMILIES), 3):
            if _ENCR_FAMILIES[k] == i:
                return _ENCR_FAMILIES[k + 1] + str(kl) + _ENCR_FAMILIES[k + 2]
    name = _TYPE_NAMES.get(t)
    if name is None:
        if _ADDKE_FIRST <= t <= _ADDKE_LAST:
            return "ke%d_%s" % (t - const.TRANS_ESN, _word(_D, i, None))
        name = "TRANS%d" % t
    name = "%s_%d" % (name, i)
    if kl == -1:
        return name + "_BADATTR"
    return name if kl is None else "%s_%d" % (name, kl)


def _describe(protocol, encr, integ, prf, dh, esn, other):
    words = [_word(_E, i, kl) for i, kl in encr]
    words.extend(_word(_I, i, None) for i in integ)
    # The PRF is implied by the integrity algorithm unless it differs (strongSwan reads it back so).
    if not (protocol == const.PROTO_IKE and integ and prf == _derived_prf(integ)):
        words.extend(_word(_P, i, None) for i in prf)
    words.extend(_word(_D, i, None) for i in dh)
    if esn != [const.NO_ESN]:  # noesn is the default
        words.extend(_word(_S, i, None) for i in esn)
    words.extend(_word(t, i, None) for t, i in other)
    return "-".join(words)


def describe(p):
    """A received message.Proposal in strongSwan syntax, including algorithms we do not support
    ('aes128gcm16-prfsha256-ecp384'); unknown ones as 'ENCR_1234'."""
    encr, integ, prf, dh, esn, other = [], [], [], [], [], []
    lists = {_I: integ, _P: prf, _D: dh, _S: esn}
    for t in p.transforms:
        if t.type == _E:
            encr.append((t.id, t.keylen))
        elif t.type in lists:
            lists[t.type].append(t.id)
        else:
            other.append((t.type, t.id))
    return _describe(p.protocol, encr, integ, prf, dh, esn, other)


def describe_proposals(proposals):
    """All proposals of an SA payload, comma-separated as in swanctl.conf."""
    return ", ".join(describe(p) for p in proposals)


def describe_specs(specs):
    return ", ".join(str(s) for s in specs)
