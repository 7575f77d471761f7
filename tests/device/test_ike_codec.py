# IKEv2 codec (firmware/ike/message.py, sk.py) on the sim board's runtime: round trips, wire layout
# against hand-assembled RFC 7296 bytes, rejects, SK seal/open, and a mutation fuzz run.
import os
import random
import struct

import ike_samples as s
from crypto import cipher, hmac
from ike import const as c
from ike import message as m
from ike import sk


def header(first, length, exchange=c.IKE_SA_INIT, flags=c.FLAG_INITIATOR, msg_id=0, version=0x20):
    return struct.pack(">8s8sBBBBII", s.SPI_I, s.SPI_R, first, version, exchange, flags, msg_id, length)


def raw_msg(first, chain):
    """A datagram assembled by hand from an already-encoded payload chain."""
    return header(first, 28 + len(chain)) + chain


def gen(next_type, body, flags=0):
    return struct.pack(">BBH", next_type, flags, 4 + len(body)) + body


def rejects(buf, why=None):
    try:
        m.decode(buf)
    except m.ParseError as e:
        assert isinstance(e.reason, str) and e.reason
        if why is not None:
            assert why in e.reason, (why, e.reason)
        return
    raise AssertionError("accepted: %r" % (bytes(buf),))


def roundtrip(payloads):
    msg = m.Message(s.SPI_I, s.SPI_R, c.IKE_AUTH, c.FLAG_INITIATOR, 1, payloads)
    e = msg.encode()
    d = m.decode(e)
    assert s.fields(d.payloads) == s.fields(payloads)
    assert d.encode() == e
    return e


def test_every_payload_round_trips():
    ps = s.payloads()
    for p in ps:
        roundtrip([p])
    roundtrip(ps)
    names = set(type(p).__name__ for p in ps)
    assert names == set(("Sa", "Ke", "IdI", "IdR", "Cert", "CertReq", "Auth", "Nonce", "Notify", "Delete",
                         "Vendor", "TsI", "TsR", "Cp", "Eap")), names


def test_every_message_round_trips():
    for name, msg in s.messages():
        e = msg.encode()
        assert len(e) == struct.unpack(">I", e[24:28])[0]
        d = m.decode(e)
        assert d.exchange == msg.exchange and d.flags == msg.flags and d.msg_id == msg.msg_id, name
        assert d.spi_i == msg.spi_i and d.spi_r == msg.spi_r
        assert s.fields(d.payloads) == s.fields(msg.payloads), name
        assert d.encode() == e, name


def test_wire_layout_matches_rfc_7296():
    # SA with one proposal: AES-CBC-256 (3.3.5 Key Length attribute, TV) + PRF_HMAC_SHA2_256.
    sa = (b"\x00\x00\x00\x1c" b"\x01\x01\x00\x02"
          b"\x03\x00\x00\x0c\x01\x00\x00\x0c\x80\x0e\x01\x00"
          b"\x00\x00\x00\x08\x02\x00\x00\x05")
    ke = b"\x00\x0e\x00\x00" + b"\xab" * 8
    notify = b"\x03\x04\x40\x09" + b"\x01\x02\x03\x04"  # ESP, SPI size 4, REKEY_SA (16393)
    ts = b"\x01\x00\x00\x00" b"\x07\x11\x00\x10\x01\xf4\x01\xf4\x0a\x00\x00\x00\x0a\x00\x00\xff"
    delete = b"\x03\x04\x00\x01" b"\xca\xfe\xba\xbe"
    chain = gen(34, sa) + gen(41, ke) + gen(44, notify) + gen(42, ts) + gen(0, delete)
    wire = raw_msg(33, chain)
    built = m.Message(s.SPI_I, s.SPI_R, c.IKE_SA_INIT, c.FLAG_INITIATOR, 0, [
        m.Sa([m.Proposal(1, c.PROTO_IKE, b"", [m.Transform(c.TRANS_ENCR, c.ENCR_AES_CBC, 256),
                                                m.Transform(c.TRANS_PRF, c.PRF_HMAC_SHA2_256)])]),
        m.Ke(c.MODP_2048, b"\xab" * 8),
        m.Notify(c.PROTO_ESP, b"\x01\x02\x03\x04", c.REKEY_SA),
        m.TsI([m.Selector(c.TS_IPV4_ADDR_RANGE, 17, 500, 500, b"\x0a\0\0\0", b"\x0a\0\0\xff")]),
        m.Delete(c.PROTO_ESP, [b"\xca\xfe\xba\xbe"])])
    assert built.encode() == wire
    d = m.decode(wire)
    assert s.fields(d.payloads) == s.fields(built.payloads)
    assert d.notify(c.REKEY_SA).spi == b"\x01\x02\x03\x04"
    assert d.get(m.Ke).group == 14 and d.get(m.Auth) is None
    assert len(d.all(m.Notify)) == 1 and d.notify(c.COOKIE) is None


def test_header_fields():
    d = m.decode(header(0, 28, exchange=c.INFORMATIONAL, flags=c.FLAG_RESPONSE, msg_id=0xFFFFFFFF))
    assert d.exchange == c.INFORMATIONAL and d.msg_id == 0xFFFFFFFF and d.payloads == []
    assert d.is_response and not d.is_initiator and d.next_payload == 0 and d.unsupported_critical is None
    d = m.decode(header(0, 28, flags=c.FLAG_INITIATOR, version=0x21))  # minor version ignored
    assert d.is_initiator and not d.is_response
    msg = m.Message(s.SPI_I, s.SPI_R, c.IKE_AUTH, c.FLAG_INITIATOR | c.FLAG_RESPONSE, 0x89ABCDEF, [])
    e = msg.encode()
    assert e == header(0, 28, exchange=c.IKE_AUTH, flags=0x28, msg_id=0x89ABCDEF)


def test_header_rejects():
    rejects(b"", "shorter")
    rejects(header(0, 28)[:27], "shorter")
    rejects(header(0, 28, version=0x10), "IKEv1")
    rejects(header(0, 28, version=0x30), "major version 3")
    rejects(header(0, 29), "length field")
    rejects(header(0, 28) + b"\x00", "length field")
    rejects(header(0, 0xFFFFFFFF), "length field")
    rejects(header(0, 32) + b"\x00\x00\x00\x04", "after the last payload")


def test_truncations_rejected():
    for name, msg in s.messages():
        e = msg.encode()
        for cut in range(len(e)):
            rejects(e[:cut])
            if cut >= 28:
                rejects(e[:24] + struct.pack(">I", cut) + e[28:cut])


def test_bad_lengths_and_counts():
    nonce = b"\x55" * 16
    rejects(raw_msg(40, gen(0, nonce)[:2] + b"\x00\x03" + nonce), "length 3")
    rejects(raw_msg(40, gen(0, nonce)[:2] + b"\x00\x30" + nonce), "length 48")
    rejects(raw_msg(40, gen(0, b"\x55" * 15)), "nonce length 15")
    rejects(raw_msg(40, gen(0, b"\x55" * 257)), "nonce length 257")
    rejects(raw_msg(40, gen(41, nonce)), "payload 41 truncated")
    tr = b"\x00\x00\x00\x08\x01\x00\x00\x0c"
    rejects(raw_msg(33, gen(0, b"\x00\x00\x00\x10\x01\x01\x00\x02" + b"\x03" + tr[1:])), "holds 1 of 2 transforms")
    rejects(raw_msg(33, gen(0, b"\x00\x00\x00\x10\x01\x01\x00\x00" + tr)), "bytes after the 0 transforms")
    rejects(raw_msg(33, gen(0, b"\x00\x00\x00\x10\x01\x01\x00\x01" + b"\x03" + tr[1:])), "last-substruc 3")
    rejects(raw_msg(33, gen(0, b"\x02\x00\x00\x10\x01\x01\x00\x01" + tr)), "proposal truncated")
    rejects(raw_msg(33, gen(0, b"\x01\x00\x00\x10\x01\x01\x00\x01" + tr)), "last-substruc 1")
    rejects(raw_msg(33, gen(0, b"\x00\x00\x00\x07\x01\x01\x00\x01" + tr)), "proposal length 7")
    rejects(raw_msg(33, gen(0, b"\x00\x00\x00\x10\x01\x01\x09\x01" + tr)), "SPI size 9")
    rejects(raw_msg(33, gen(0, b"\x00\x00\x00\x10\x01\x01\x00\x01" + tr[:3] + b"\x07" + tr[4:])),
            "transform length 7")
    rejects(raw_msg(33, gen(0, b"")), "proposal truncated")
    rejects(raw_msg(33, gen(0, b"\x00\x00\x00\x12\x01\x01\x00\x01\x00\x00\x00\x0a\x01\x00\x00\x0c\x80\x0e")),
            "attribute truncated")
    rejects(raw_msg(33, gen(0, b"\x00\x00\x00\x14\x01\x01\x00\x01\x00\x00\x00\x0c\x01\x00\x00\x0c"
                               b"\x00\x01\x00\x01")), "attribute length 1")
    rejects(raw_msg(44, gen(0, b"\x02\x00\x00\x00" + b"\x07\x00\x00\x10" + bytes(12))), "holds 1 of 2")
    rejects(raw_msg(44, gen(0, b"\x01\x00\x00\x00" + b"\x07\x00\x00\x14" + bytes(16))), "selector length 20")
    rejects(raw_msg(44, gen(0, b"\x01\x00\x00\x00" + b"\x08\x00\x00\x10" + bytes(12))), "selector length 16")
    rejects(raw_msg(44, gen(0, b"\x01\x00\x00\x00" + b"\x0a\x00\x00\x10" + bytes(12))), "selector type 10")
    rejects(raw_msg(44, gen(0, b"\x00\x00\x00\x00" + b"\x07\x00\x00\x10" + bytes(12))), "after the 0 selectors")
    rejects(raw_msg(44, gen(0, b"\x01\x00\x00")), "too short")
    rejects(raw_msg(42, gen(0, b"\x03\x04\x00\x02" + bytes(4))), "2 SPIs")
    rejects(raw_msg(42, gen(0, b"\x03\x08\x00\x01" + bytes(8))), "SPI size 8")
    rejects(raw_msg(42, gen(0, b"\x01\x00\x00\x00" + bytes(4))), "IKE SA delete")
    rejects(raw_msg(42, gen(0, b"\x07\x04\x00\x00")), "unknown protocol 7")
    rejects(raw_msg(41, gen(0, b"\x03\x05\x40\x09" + bytes(4))), "too short")
    rejects(raw_msg(41, gen(0, b"\x00\x00\x40")), "too short")
    rejects(raw_msg(34, gen(0, b"\x00\x0e\x00")), "too short")
    rejects(raw_msg(35, gen(0, b"\x02\x00\x00")), "too short")
    rejects(raw_msg(39, gen(0, b"\x02")), "too short")
    rejects(raw_msg(37, gen(0, b"")), "too short")
    rejects(raw_msg(47, gen(0, b"\x01\x00\x00\x00\x00\x01\x00\x05abcd")), "attribute length 5")
    rejects(raw_msg(47, gen(0, b"\x01\x00\x00\x00\x00\x01\x00")), "attribute truncated")
    rejects(raw_msg(53, gen(0, b"\x00\x00\x00\x01" + bytes(40))), "fragment 0 of 1")
    rejects(raw_msg(53, gen(0, b"\x00\x03\x00\x02" + bytes(40))), "fragment 3 of 2")
    rejects(raw_msg(53, gen(0, b"\x00\x01")), "SKF payload too short")


def test_encrypted_must_be_last():
    body = bytes(48)
    good = raw_msg(46, gen(35, body))
    d = m.decode(good)
    enc = d.payloads[-1]
    assert isinstance(enc, m.Encrypted) and enc.inner_type == 35 and bytes(enc.body) == body
    rejects(raw_msg(46, gen(35, body) + gen(0, b"\x55" * 16)), "payload 46 not last")
    rejects(raw_msg(40, gen(46, b"\x55" * 16) + gen(35, body) + gen(0, b"\x55" * 16)), "payload 46 not last")
    rejects(raw_msg(53, gen(35, b"\x00\x01\x00\x02" + body) + gen(0, b"\x55" * 16)), "payload 53 not last")
    f = m.decode(raw_msg(40, gen(53, b"\x55" * 16) + gen(0, b"\x00\x02\x00\x03" + body))).payloads[-1]
    assert isinstance(f, m.Fragment) and (f.inner_type, f.number, f.total) == (0, 2, 3) and bytes(f.body) == body
    for t in (46, 53):
        try:
            m.decode_payloads(t, gen(0, b"\x00\x01\x00\x01" + body))
            raise AssertionError("nested encrypted payload accepted")
        except m.ParseError as e:
            assert "inside an encrypted payload" in e.reason


def test_unknown_payloads():
    nonce = gen(200, b"\x55" * 16)
    d = m.decode(raw_msg(40, nonce + gen(49, b"xyz") + gen(0, b"opaque")))
    assert [type(p) for p in d.payloads] == [m.Nonce] and d.unsupported_critical is None
    d = m.decode(raw_msg(40, nonce + gen(201, b"", flags=0x80) + gen(0, b"opaque", flags=0x80)))
    assert [type(p) for p in d.payloads] == [m.Nonce] and d.unsupported_critical == 200
    # The critical bit on a payload type we understand is ignored (RFC 7296 3.2).
    d = m.decode(raw_msg(40, gen(0, b"\x55" * 16, flags=0xFF)))
    assert d.get(m.Nonce).data == b"\x55" * 16 and d.unsupported_critical is None
    ps, uc = m.decode_payloads(52, gen(40, b"", flags=0x80) + gen(0, b"\x55" * 16))
    assert uc == 52 and [type(p) for p in ps] == [m.Nonce]
    first, chain = m.encode_payloads(ps)
    assert first == 40 and chain == gen(0, b"\x55" * 16)


def test_large_messages():
    for size in (3000, 9000, 65000):
        e = roundtrip([m.Cert(c.X509_CERTIFICATE_SIGNATURE, s.filler(1, size - 28 - 5))])
        assert len(e) == size


CODECS = ((c.ENCR_AES_CBC, 16), (c.ENCR_AES_CBC, 24), (c.ENCR_AES_CBC, 32), (c.ENCR_3DES, 24))


def test_sk_round_trip():
    for encr, klen in CODECS:
        ek = os.urandom(klen)
        ak = os.urandom(32)
        tx = sk.SkCodec(encr, ek, ak)
        rx = sk.SkCodec(encr, ek, ak)
        bs = cipher.new(encr, ek).block_size
        for name, msg in s.messages():
            wire = tx.seal(msg)
            inner = m.payloads_size(msg.payloads)
            assert len(wire) == 28 + 4 + bs + (inner // bs + 1) * bs + 16, name
            d = m.decode(wire)
            assert d.next_payload == c.PT_SK and d.exchange == msg.exchange and d.msg_id == msg.msg_id
            assert d.payloads[0].inner_type == (msg.payloads[0].type if msg.payloads else 0)
            ps, uc = rx.open(wire, d)
            assert uc is None and s.fields(ps) == s.fields(msg.payloads), name
        a = tx.seal(s.messages()[4][1])
        b = tx.seal(s.messages()[4][1])
        assert a[32:32 + bs] != b[32:32 + bs]  # a fresh IV per message


def handmade_sk(encr, ek, ak, inner_first, plain, iv):
    """An SK datagram built from the cipher and HMAC directly, so the padding can be anything."""
    ct = cipher.new(encr, ek).encrypt(iv, plain)
    total = 28 + 4 + len(iv) + len(ct) + 16
    b = header(46, total, exchange=c.IKE_AUTH) + gen(inner_first, iv + ct + bytes(16))[:4] + iv + ct
    return b + hmac.HmacSha256(ak).mac(b)[:16]


def test_sk_opens_handmade_and_rejects_bad_padding():
    ek, ak = bytes(range(32)), bytes(range(32, 64))
    codec = sk.SkCodec(c.ENCR_AES_CBC, ek, ak)
    nonce = gen(0, b"\x42" * 16)
    for padlen in range(0, 40):
        body_len = len(nonce) + padlen + 1
        pad_to = (body_len + 15) // 16 * 16
        extra = pad_to - body_len
        plain = nonce + b"\xee" * (padlen + extra) + bytes([padlen + extra])
        wire = handmade_sk(c.ENCR_AES_CBC, ek, ak, 40, plain, bytes(16))
        ps, uc = codec.open(wire, m.decode(wire))
        assert [p.data for p in ps] == [b"\x42" * 16]
    for bad in (32, 200, 255):
        plain = nonce + bytes(11) + bytes([bad])
        wire = handmade_sk(c.ENCR_AES_CBC, ek, ak, 40, plain, bytes(16))
        try:
            codec.open(wire, m.decode(wire))
            raise AssertionError("bad pad length accepted")
        except m.ParseError as e:
            assert "pad length" in e.reason
    # A pad length that eats into the inner payloads leaves a malformed chain.
    wire = handmade_sk(c.ENCR_AES_CBC, ek, ak, 40, nonce + bytes(11) + b"\x0d", bytes(16))
    try:
        codec.open(wire, m.decode(wire))
        raise AssertionError("accepted")
    except m.ParseError:
        pass


def test_sk_rejects():
    # HMAC pads a short key with zeros: ak[:31] is another key only if ak's last byte is not zero
    # (1 run in 256 failed on that before).
    ek, ak = os.urandom(32), os.urandom(31) + b"\x5a"
    tx = sk.SkCodec(c.ENCR_AES_CBC, ek, ak)
    wire = tx.seal(s.messages()[5][1])
    for pos in (0, 17, 20, 27, 28, 31, 32, 47, 48, len(wire) - 17, len(wire) - 16, len(wire) - 1):
        bad = bytearray(wire)
        bad[pos] ^= 0x01
        try:
            d = m.decode(bad)
        except m.ParseError:
            continue  # some header bytes are checked by decode already
        try:
            tx.open(bad, d)
            raise AssertionError("tampered byte %d accepted" % pos)
        except sk.IntegrityError:
            pass
    for other in (sk.SkCodec(c.ENCR_AES_CBC, ek, os.urandom(32)), sk.SkCodec(c.ENCR_AES_CBC, ek, ak[:31])):
        try:
            other.open(wire, m.decode(wire))
            raise AssertionError("wrong integrity key accepted")
        except sk.IntegrityError:
            pass
    for body in (bytes(16 + 16), bytes(16 + 15 + 16), bytes(16 + 17 + 16), b""):
        short = raw_msg(46, gen(40, body))
        try:
            tx.open(short, m.decode(short))
            raise AssertionError("short SK body accepted")
        except m.ParseError as e:
            assert "ciphertext bytes" in e.reason
    plain = m.Message(s.SPI_I, s.SPI_R, c.IKE_AUTH, 0, 1, [m.Nonce(b"\x42" * 16)]).encode()
    try:
        tx.open(plain, m.decode(plain))
        raise AssertionError("plaintext message opened")
    except m.ParseError as e:
        assert "no SK payload" in e.reason


def test_sk_fragments():
    ek, ak = os.urandom(16), os.urandom(32)
    codec = sk.SkCodec(c.ENCR_AES_CBC, ek, ak)
    first, chain = m.encode_payloads(s.messages()[4][1].payloads)
    parts = [chain[:100], chain[100:200], chain[200:]]
    got = []
    for k in range(3):
        pad = 15 - len(parts[k]) % 16
        plain = parts[k] + bytes(pad) + bytes([pad])
        iv = os.urandom(16)
        ct = cipher.new(c.ENCR_AES_CBC, ek).encrypt(iv, plain)
        body = struct.pack(">HH", k + 1, 3) + iv + ct + bytes(16)
        wire = header(53, 28 + 4 + len(body), exchange=c.IKE_AUTH) + gen(first if k == 0 else 0, body)[:4]
        wire += body[:-16]
        wire += hmac.HmacSha256(ak).mac(wire)[:16]
        d = m.decode(wire)
        f = d.payloads[0]
        assert (f.number, f.total, f.inner_type) == (k + 1, 3, first if k == 0 else 0)
        got.append(codec.open_fragment(wire, d))
        bad = bytearray(wire)
        bad[35] ^= 0x04  # the fragment count is covered by the ICV
        try:
            codec.open_fragment(bad, m.decode(bad))
            raise AssertionError("tampered fragment accepted")
        except sk.IntegrityError:
            pass
    ps, _ = m.decode_payloads(first, b"".join(got))
    assert s.fields(ps) == s.fields(s.messages()[4][1].payloads)


def mutate(rnd, seeds):
    b = bytearray(seeds[rnd.getrandbits(8) % len(seeds)])
    for _ in range(1 + rnd.getrandbits(2)):
        op = rnd.getrandbits(3)
        n = len(b)
        pos = rnd.getrandbits(16) % (n + 1)
        if op <= 1 and n:
            b[pos % n] ^= 1 << rnd.getrandbits(3)
        elif op == 2 and n:
            b[pos % n] = (0, 1, 3, 4, 7, 8, 0x7F, 0x80, 0xFF)[rnd.getrandbits(8) % 9]
        elif op == 3:
            b = b[:pos] + bytes([rnd.getrandbits(8) for _ in range(1 + rnd.getrandbits(3))]) + b[pos:]
        elif op == 4:
            b = b[:pos] + b[pos + 1 + rnd.getrandbits(4):]
        elif op == 5:
            b = b[:pos]
        elif op == 6 and n > 28:
            # A payload length field: a 16-bit value at a random even-ish spot past the header.
            p = 28 + pos % (n - 28)
            b[p:p + 2] = struct.pack(">H", rnd.getrandbits(16) % (n + 8))[:len(b[p:p + 2])]
        elif n:
            b[pos % n] = rnd.getrandbits(8)
    if len(b) >= 28 and rnd.getrandbits(3):
        b[24:28] = struct.pack(">I", len(b))
    return b


FUZZ_N = 10000


def test_fuzz_only_parse_error():
    seal = sk.SkCodec(c.ENCR_AES_CBC, bytes(16), bytes(32)).seal
    seeds = [msg.encode() for _, msg in s.messages()] + [seal(msg) for _, msg in s.messages()[4:]]
    rnd = random
    rnd.seed(20261127)
    ok = bad = 0
    for _ in range(FUZZ_N):
        b = mutate(rnd, seeds)
        try:
            m.decode(b)
            ok += 1
        except m.ParseError:
            bad += 1
        try:
            m.decode_payloads(b[16] if len(b) > 16 else 0, memoryview(b)[28:])
        except m.ParseError:
            pass
    assert ok > 200 and bad > 200, (ok, bad)
    print("fuzz: %d mutated messages, %d decoded, %d ParseError" % (FUZZ_N, ok, bad))


def corpus_dir():
    return __file__.rsplit("/", 2)[0] + "/corpus/ike/"


def test_strongswan_capture_opens():
    # IKE messages of a real strongSwan 5.9.8 charon pair and its logged SK keys (tests/corpus/ike).
    import json

    d = corpus_dir()
    with open(d + "strongswan_keys.json") as f:
        keys = json.load(f)
    opened = {}
    for name in sorted(os.listdir(d)):
        if not (name.startswith("strongswan_") and name.endswith(".bin")):
            continue
        with open(d + name, "rb") as f:
            wire = f.read()
        msg = m.decode(wire)
        assert msg.encode() == wire
        if msg.exchange == c.IKE_SA_INIT:
            assert msg.get(m.Sa) and msg.get(m.Ke) and msg.notify(c.NAT_DETECTION_SOURCE_IP)
            continue
        i = "i" if msg.is_initiator else "r"
        codec = sk.SkCodec(c.ENCR_AES_CBC, bytes.fromhex(keys["sk_e" + i]), bytes.fromhex(keys["sk_a" + i]))
        ps, uc = codec.open(wire, msg)
        assert uc is None
        opened[name[11:-4]] = ps
    assert len(opened) == 8
    req = opened["03_auth_req"]
    assert req[0].data == b"hq.example.net" and req[0].id_type == c.ID_FQDN
    assert [type(p) for p in req[:7]] == [m.IdI, m.Notify, m.IdR, m.Auth, m.Sa, m.TsI, m.TsR]
    assert opened["04_auth_resp"][0].data == b"branch.example.net"
    assert opened["05_create_child_req"][0].notify_type == c.REKEY_SA
    assert opened["09_informational_req"][0].protocol == c.PROTO_IKE
    bad = bytearray(wire)
    bad[-20] ^= 0x40
    try:
        codec.open(bad, m.decode(bad))
        raise AssertionError("tampered strongSwan message accepted")
    except sk.IntegrityError:
        pass
