# Sample IKEv2 messages for the codec tests (MicroPython and CPython): every payload type and every
# exchange the responder handles, with fixed contents so tests/corpus/ike is reproducible.
from ike import const as c
from ike import message as m

SPI_I = b"\x8a\x13\x5c\x02\xe1\x44\x9f\x70"
SPI_R = b"\x26\xd0\x0b\x7e\x39\xa5\x51\xc8"
ESP_SPI_I = b"\xc1\x00\x2f\x9a"
ESP_SPI_R = b"\x0e\x77\x31\x05"


def filler(seed, n):
    return bytes([(seed + 37 * i) & 255 for i in range(n)])


def ike_proposals():
    return [
        m.Proposal(1, c.PROTO_IKE, b"", [
            m.Transform(c.TRANS_ENCR, c.ENCR_AES_CBC, 256),
            m.Transform(c.TRANS_ENCR, c.ENCR_AES_CBC, 128),
            m.Transform(c.TRANS_PRF, c.PRF_HMAC_SHA2_256),
            m.Transform(c.TRANS_INTEG, c.AUTH_HMAC_SHA2_256_128),
            m.Transform(c.TRANS_DH, c.MODP_2048),
            m.Transform(c.TRANS_DH, c.ECP_256),
            m.Transform(c.TRANS_DH, c.CURVE25519),
        ]),
        m.Proposal(2, c.PROTO_IKE, b"", [
            m.Transform(c.TRANS_ENCR, c.ENCR_AES_GCM_16, 256),
            m.Transform(c.TRANS_PRF, c.PRF_HMAC_SHA2_384),
            m.Transform(c.TRANS_DH, c.ECP_384),
        ]),
    ]


def esp_proposal(spi, num=1):
    return m.Proposal(num, c.PROTO_ESP, spi, [
        m.Transform(c.TRANS_ENCR, c.ENCR_AES_CBC, 256),
        m.Transform(c.TRANS_INTEG, c.AUTH_HMAC_SHA2_256_128),
        m.Transform(c.TRANS_ESN, c.NO_ESN),
    ])


def v4(a, b_, c_, d):
    return bytes([a, b_, c_, d])


def ts_any4():
    return m.Selector(c.TS_IPV4_ADDR_RANGE, 0, 0, 65535, v4(0, 0, 0, 0), v4(255, 255, 255, 255))


def ts_net(third):
    return m.Selector(c.TS_IPV4_ADDR_RANGE, 0, 0, 65535, v4(10, 20, third, 0), v4(10, 20, third, 255))


def ts_v6():
    return m.Selector(c.TS_IPV6_ADDR_RANGE, 6, 443, 443, b"\x20\x01\x0d\xb8" + bytes(12),
                      b"\x20\x01\x0d\xb8" + b"\xff" * 12)


def payloads():
    """One or more instances of every payload class the codec knows (SK/SKF aside)."""
    return [
        m.Sa(ike_proposals()),
        m.Sa([esp_proposal(ESP_SPI_I), m.Proposal(2, c.PROTO_AH, b"\x00\x00\x10\x01", [])]),
        m.Sa([m.Proposal(1, c.PROTO_IKE, SPI_I, [m.Transform(c.TRANS_ENCR, c.ENCR_3DES)])]),
        m.Ke(c.MODP_2048, filler(1, 256)),
        m.Ke(c.CURVE25519, filler(2, 32)),
        m.IdI(c.ID_FQDN, b"branch1.example.net"),
        m.IdR(c.ID_IPV4_ADDR, v4(192, 0, 2, 1)),
        m.IdI(c.ID_NULL, b""),
        m.Cert(c.X509_CERTIFICATE_SIGNATURE, filler(3, 90)),
        m.CertReq(c.X509_CERTIFICATE_SIGNATURE, filler(4, 40)),
        m.CertReq(c.X509_CERTIFICATE_SIGNATURE, b""),
        m.Auth(c.SHARED_KEY_MESSAGE_INTEGRITY_CODE, filler(5, 32)),
        m.Nonce(filler(6, 32)),
        m.Nonce(filler(7, 16)),
        m.Notify(0, b"", c.NAT_DETECTION_SOURCE_IP, filler(8, 20)),
        m.Notify(c.PROTO_ESP, ESP_SPI_R, c.REKEY_SA),
        m.Notify(0, b"", c.INVALID_KE_PAYLOAD, b"\x00\x0e"),
        m.Delete(c.PROTO_ESP, [ESP_SPI_I, ESP_SPI_R]),
        m.Delete(c.PROTO_IKE, []),
        m.Vendor(filler(9, 16)),
        m.TsI([ts_net(1), ts_v6()]),
        m.TsR([ts_any4()]),
        m.TsR([]),
        m.Cp(c.CFG_REQUEST, [(c.INTERNAL_IP4_ADDRESS, b""), (c.INTERNAL_IP4_DNS, b"")]),
        m.Cp(c.CFG_REPLY, [(c.INTERNAL_IP4_ADDRESS, v4(10, 20, 9, 2)), (c.INTERNAL_IP4_DNS, v4(10, 20, 9, 1))]),
        m.Eap(b"\x01\x02\x00\x05\x01"),
    ]


def _msg(exchange, flags, msg_id, payloads, spi_r=SPI_R):
    return m.Message(SPI_I, spi_r, exchange, flags, msg_id, payloads)


def _natd():
    return [m.Notify(0, b"", c.NAT_DETECTION_SOURCE_IP, filler(10, 20)),
            m.Notify(0, b"", c.NAT_DETECTION_DESTINATION_IP, filler(11, 20))]


I, R = c.FLAG_INITIATOR, c.FLAG_RESPONSE


def messages():
    """(name, Message) for every exchange; SK-protected exchanges carry their inner payloads here."""
    return [
        ("sa_init_req", _msg(c.IKE_SA_INIT, I, 0, [
            m.Sa(ike_proposals()), m.Ke(c.MODP_2048, filler(12, 256)), m.Nonce(filler(13, 32))] + _natd() + [
            m.Notify(0, b"", c.IKEV2_FRAGMENTATION_SUPPORTED),
            m.Notify(0, b"", c.SIGNATURE_HASH_ALGORITHMS, b"\x00\x02\x00\x03\x00\x04"),
            m.Vendor(filler(14, 16))], spi_r=bytes(8))),
        ("sa_init_resp", _msg(c.IKE_SA_INIT, R, 0, [
            m.Sa([m.Proposal(1, c.PROTO_IKE, b"", [
                m.Transform(c.TRANS_ENCR, c.ENCR_AES_CBC, 256), m.Transform(c.TRANS_PRF, c.PRF_HMAC_SHA2_256),
                m.Transform(c.TRANS_INTEG, c.AUTH_HMAC_SHA2_256_128), m.Transform(c.TRANS_DH, c.MODP_2048)])]),
            m.Ke(c.MODP_2048, filler(15, 256)), m.Nonce(filler(16, 32))] + _natd() + [
            m.CertReq(c.X509_CERTIFICATE_SIGNATURE, b"")])),
        ("sa_init_cookie", _msg(c.IKE_SA_INIT, R, 0, [m.Notify(0, b"", c.COOKIE, filler(17, 32))],
                                spi_r=bytes(8))),
        ("sa_init_invalid_ke", _msg(c.IKE_SA_INIT, R, 0, [m.Notify(0, b"", c.INVALID_KE_PAYLOAD, b"\x00\x13")],
                                    spi_r=bytes(8))),
        ("auth_req", _msg(c.IKE_AUTH, I, 1, [
            m.IdI(c.ID_FQDN, b"hq.example.net"), m.Notify(0, b"", c.INITIAL_CONTACT),
            m.IdR(c.ID_FQDN, b"branch1.example.net"), m.Auth(c.SHARED_KEY_MESSAGE_INTEGRITY_CODE, filler(18, 32)),
            m.Cp(c.CFG_REQUEST, [(c.INTERNAL_IP4_ADDRESS, b"")]),
            m.Notify(0, b"", c.USE_TRANSPORT_MODE), m.Notify(0, b"", c.ESP_TFC_PADDING_NOT_SUPPORTED),
            m.Sa([esp_proposal(ESP_SPI_I)]), m.TsI([ts_net(1)]), m.TsR([ts_net(2), ts_v6()]),
            m.Notify(0, b"", c.MOBIKE_SUPPORTED)])),
        ("auth_resp", _msg(c.IKE_AUTH, R, 1, [
            m.IdR(c.ID_FQDN, b"branch1.example.net"), m.Auth(c.SHARED_KEY_MESSAGE_INTEGRITY_CODE, filler(19, 32)),
            m.Sa([esp_proposal(ESP_SPI_R)]), m.TsI([ts_net(1)]), m.TsR([ts_net(2)])])),
        ("auth_resp_fail", _msg(c.IKE_AUTH, R, 1, [m.Notify(0, b"", c.AUTHENTICATION_FAILED)])),
        ("auth_cert_eap", _msg(c.IKE_AUTH, I, 1, [
            m.IdI(c.ID_RFC822_ADDR, b"user@example.net"), m.Cert(c.X509_CERTIFICATE_SIGNATURE, filler(20, 120)),
            m.CertReq(c.X509_CERTIFICATE_SIGNATURE, filler(21, 20)), m.Eap(b"\x02\x07\x00\x05\x01")])),
        ("child_req", _msg(c.CREATE_CHILD_SA, I, 2, [
            m.Notify(c.PROTO_ESP, ESP_SPI_I, c.REKEY_SA), m.Sa([esp_proposal(b"\xc1\x00\x2f\x9b")]),
            m.Nonce(filler(22, 32)), m.Ke(c.ECP_256, filler(23, 64)), m.TsI([ts_net(1)]), m.TsR([ts_net(2)])])),
        ("child_resp", _msg(c.CREATE_CHILD_SA, R, 2, [
            m.Sa([esp_proposal(b"\x0e\x77\x31\x06")]), m.Nonce(filler(24, 32)), m.Ke(c.ECP_256, filler(25, 64)),
            m.TsI([ts_net(1)]), m.TsR([ts_net(2)])])),
        ("ike_rekey_req", _msg(c.CREATE_CHILD_SA, I, 3, [
            m.Sa([m.Proposal(1, c.PROTO_IKE, b"\x01\x02\x03\x04\x05\x06\x07\x08", ike_proposals()[0].transforms)]),
            m.Nonce(filler(26, 32)), m.Ke(c.CURVE25519, filler(27, 32))])),
        ("child_no_add", _msg(c.CREATE_CHILD_SA, R, 4, [m.Notify(0, b"", c.NO_ADDITIONAL_SAS)])),
        ("info_delete_child", _msg(c.INFORMATIONAL, I, 5, [m.Delete(c.PROTO_ESP, [ESP_SPI_I])])),
        ("info_delete_ike", _msg(c.INFORMATIONAL, R, 6, [m.Delete(c.PROTO_IKE, [])])),
        ("info_liveness", _msg(c.INFORMATIONAL, I | R, 7, [])),
        ("info_ts_unacceptable", _msg(c.INFORMATIONAL, R, 8, [m.Notify(c.PROTO_ESP, b"", c.TS_UNACCEPTABLE),
                                                               m.Notify(0, b"", c.CHILD_SA_NOT_FOUND)])),
    ]


def fields(x):
    """A comparable structure for payload objects (class name + attributes, memoryview as bytes)."""
    if isinstance(x, (list, tuple)):
        return [fields(v) for v in x]
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x)
    if isinstance(x, (int, str)) or x is None:
        return x
    d = x.__dict__
    return [type(x).__name__] + [(k, fields(d[k])) for k in sorted(d)]
