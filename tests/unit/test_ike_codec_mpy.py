"""The IKE codec as the chip loads it: compiled to .mpy and run at the ESP32's 112 KB heap, where it must
import, seal/open and decode a 3000-octet message; prints the heap it takes and allocates."""
import subprocess

from mp import DEVICE_TESTS, FIRMWARE, MPY_CROSS, run_mp_code

MODULES = ["ike/__init__.py", "ike/const.py", "ike/message.py", "ike/structs.py", "ike/sk.py", "crypto/__init__.py",
           "crypto/cipher.py", "crypto/ct.py", "crypto/hmac.py"]

CODE = """
import gc
gc.collect()
base = gc.mem_alloc()
from ike import const, message, sk
gc.collect()
loaded = gc.mem_alloc() - base
import ike_samples as s

init = dict(s.messages())["sa_init_req"].encode()
gc.collect()
gc.disable()
a = gc.mem_alloc()
d = message.decode(init)
decode_bytes = gc.mem_alloc() - a
gc.enable()
assert len(d.get(message.Sa).proposals) == 2

tx = sk.SkCodec(const.ENCR_AES_CBC, bytes(32), bytes(range(32)))
resp = dict(s.messages())["auth_resp"]
gc.collect()
gc.disable()
a = gc.mem_alloc()
wire = tx.seal(resp)
seal_bytes = gc.mem_alloc() - a
gc.enable()
ps, _ = tx.open(wire, message.decode(wire))
assert s.fields(ps) == s.fields(resp.payloads)

big = message.Message(s.SPI_I, s.SPI_R, const.IKE_AUTH, const.FLAG_INITIATOR, 1, [
    message.IdI(const.ID_FQDN, b"hq.example.net"),
    message.Cert(const.X509_CERTIFICATE_SIGNATURE, bytes(3000))])
wire = tx.seal(big)
assert len(wire) >= 3000
ps, _ = tx.open(wire, message.decode(wire))
assert len(ps[1].data) == 3000
gc.collect()
print("ike codec .mpy at 112k: import %d B, IKE_SA_INIT request decode allocates %d B, "
      "IKE_AUTH response seal allocates %d B, %d B free after a %d-octet seal/open"
      % (loaded, decode_bytes, seal_bytes, gc.mem_free(), len(wire)))
"""


def test_codec_runs_as_mpy_in_112k_heap(tmp_path):
    for rel in MODULES + ["ike_samples.py"]:
        src = (DEVICE_TESTS if rel == "ike_samples.py" else FIRMWARE) / rel
        dst = tmp_path / rel.replace(".py", ".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([MPY_CROSS, "-o", str(dst), str(src)], check=True)
    out = run_mp_code(CODE, heap="112k", extra_path=[tmp_path])
    assert "ike codec .mpy at 112k" in out
    print(out)
