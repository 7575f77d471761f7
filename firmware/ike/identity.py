# How IKE identities and SAs are named in log lines and status.
from ike import const
from net import addr


def describe(id_type, data):
    if id_type == const.ID_IPV4_ADDR and len(data) == 4:
        return addr.ip_str(data)
    if id_type in (const.ID_FQDN, const.ID_RFC822_ADDR):
        try:
            return bytes(data).decode()
        except UnicodeError:
            pass
    if id_type == const.ID_KEY_ID:
        return "keyid:" + hexs(data)
    return "ID type %d (%s)" % (id_type, hexs(data))


def hexs(b):
    return "".join(["%02x" % x for x in b])


def where(s):
    return addr.describe(s.remote)


def spis(s):
    return hexs(s.spi_i) + "_i " + hexs(s.spi_r) + "_r"
