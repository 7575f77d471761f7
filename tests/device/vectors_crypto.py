# Published known-answer vectors for the crypto layer, shared by tests/device/test_crypto_*.py (run under
# MicroPython) and tests/unit/test_crypto_props.py. Values are hex strings; sources are named per block.
# Transcriptions were checked against CPython's hmac/hashlib and `cryptography` where those implement
# the same function.

# RFC 4868 section 2.7.1 (PRF-HMAC-SHA-256 = the RFC 4231 cases): (key, data, prf_output)
PRF_HMAC_SHA256 = (
    (
        "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        "4869205468657265",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        "4a656665",
        "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        (
            "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
            "dddddddddddddddddddddddddddddddddddd"
        ),
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    (
        "0102030405060708090a0b0c0d0e0f10111213141516171819",
        (
            "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
            "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
        ),
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ),
    (
        (
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaaa"
        ),
        (
            "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a"
            "65204b6579202d2048617368204b6579204669727374"
        ),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        (
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaaa"
        ),
        (
            "5468697320697320612074657374207573696e672061206c6172676572207468"
            "616e20626c6f636b2d73697a65206b657920616e642061206c61726765722074"
            "68616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565"
            "647320746f20626520686173686564206265666f7265206265696e6720757365"
            "642062792074686520484d414320616c676f726974686d2e"
        ),
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
)

# RFC 4868 section 2.7.2.1 (AUTH256-1..4, 32-byte keys): (key, data, prf_output, hmac_sha256_128)
AUTH_HMAC_SHA256_128 = (
    (
        "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        "4869205468657265",
        "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7",
        "198a607eb44bfbc69903a0f1cf2bbdc5",
    ),
    (
        "4a6566654a6566654a6566654a6566654a6566654a6566654a6566654a656665",
        "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
        "167f928588c5cc2eef8e3093caa0e87c9ff566a14794aa61648d81621a2a40c6",
        "167f928588c5cc2eef8e3093caa0e87c",
    ),
    (
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        (
            "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
            "dddddddddddddddddddddddddddddddddddd"
        ),
        "cdcb1220d1ecccea91e53aba3092f962e549fe6ce9ed7fdc43191fbde45c30b0",
        "cdcb1220d1ecccea91e53aba3092f962",
    ),
    (
        "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
        (
            "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
            "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
        ),
        "372efcf9b40b35c2115b1346903d2ef42fced46f0846e7257bb156d3d7b30d3f",
        "372efcf9b40b35c2115b1346903d2ef4",
    ),
)

# NIST SP 800-38A appendix F.2.1-F.2.6 (CBC-AES128/192/256): one IV and plaintext, (key, ciphertext)
AES_CBC_IV = "000102030405060708090a0b0c0d0e0f"
AES_CBC_PLAIN = (
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
)
AES_CBC = (
    (
        "2b7e151628aed2a6abf7158809cf4f3c",
        (
            "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
            "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"
        ),
    ),
    (
        "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
        (
            "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a"
            "571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd"
        ),
    ),
    (
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        (
            "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
            "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"
        ),
    ),
)

# FIPS-197 appendix C.1-C.3 (one block; CBC with a zero IV is the bare cipher): (key, ciphertext)
FIPS197_PLAIN = "00112233445566778899aabbccddeeff"
FIPS197 = (
    (
        "000102030405060708090a0b0c0d0e0f",
        "69c4e0d86a7b0430d8cdb78070b4c55a",
    ),
    (
        "000102030405060708090a0b0c0d0e0f1011121314151617",
        "dda97ca4864cdfe06eaf70a0ec0d7191",
    ),
    (
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "8ea2b7ca516745bfeafc49904b496089",
    ),
)

# NIST SP 800-67 (TDEA) example, three-key, ECB over three blocks ("The qufck brown fox jump")
TDEA_800_67_KEY = "0123456789abcdef23456789abcdef01456789abcdef0123"
TDEA_800_67_PLAIN = "54686520717566636b2062726f776e20666f78206a756d70"
TDEA_800_67_CIPHER = "a826fd8ce53b855fcce21c8112256fe668d5c05dd9b6b900"

# NIST SP 800-20 known-answer tests (K1 = K2 = K3, ECB): tables A.1 variable plaintext, A.2 variable key,
# A.3 permutation operation, A.4 substitution table (first entries): (key, plaintext, ciphertext)
TDEA_800_20 = (
    ("0101010101010101", "8000000000000000", "95f8a5e5dd31d900"),
    ("0101010101010101", "4000000000000000", "dd7f121ca5015619"),
    ("0101010101010101", "2000000000000000", "2e8653104f3834ea"),
    ("0101010101010101", "1000000000000000", "4bd388ff6cd81d4f"),
    ("0101010101010101", "0800000000000000", "20b9e767b2fb1456"),
    ("0101010101010101", "0400000000000000", "55579380d77138ef"),
    ("0101010101010101", "0200000000000000", "6cc5defaaf04512f"),
    ("0101010101010101", "0100000000000000", "0d9f279ba5d87260"),
    ("8001010101010101", "0000000000000000", "95a8d72813daa94d"),
    ("4001010101010101", "0000000000000000", "0eec1487dd8c26d5"),
    ("2001010101010101", "0000000000000000", "7ad16ffb79c45926"),
    ("1001010101010101", "0000000000000000", "d3746294ca6a6cf3"),
    ("1046913489980131", "0000000000000000", "88d55e54f54c97b4"),
    ("7ca110454a1a6e57", "01a1d6d039776742", "690f5b0d9a26939b"),
)

# NIST 3DES MMT, CBC (carried by strongSwan src/libstrongswan/plugins/test_vectors/test_vectors/3des_cbc.c):
# (key, iv, plaintext, ciphertext)
TDEA_CBC_MMT = (
    (
        "627f460e08104a1043cd265d5840eaf1313edf97df2a8a8c",
        "8e29f75ea77e5475",
        "326a494cd33fe756",
        "b22b8d66de970692",
    ),
    (
        "37ae5ebf46dff2dc0754b94f31cbb3855e7fd36dc870bfae",
        "3d1de3cc132e3b65",
        "84401f78fe6c10876d8ea23094ea5309",
        "7b1f7c7e3b1c948ebd04a75ffba7d2f5",
    ),
)

# RFC 7748 section 5.2: X25519(scalar, u) = output
X25519_52 = (
    (
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    ),
    (
        "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    ),
)
# RFC 7748 section 5.2, iterated: k = u = 9; each round k, u = X25519(k, u), k. (iterations, k)
X25519_ITER = ((1, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"),
               (1000, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"))
# RFC 7748 section 6.1: Alice's and Bob's private keys, public keys, shared secret K
X25519_61_A = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
X25519_61_A_PUB = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
X25519_61_B = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
X25519_61_B_PUB = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
X25519_61_K = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
# RFC 8031 appendix A (Curve25519 in IKEv2): random_i, random_r, public_i, public_r, and the shared value.
# The shared value here was computed with `cryptography` from the RFC's inputs (it agrees with the first
# octets of the RFC's printed value, c7 49 50 60 7a 12 32 7f); every other value is the RFC's.
X25519_8031_RANDOM_I = "751fb4308655b476b6789b7325f9ea8cddd16a58533ff6d9e60009464a5f9d54"
X25519_8031_RANDOM_R = "0a54645253290d60ddadd0e030bacd9e5501efdc220755a1e978f1b839a05688"
X25519_8031_PUBLIC_I = "48d5ddd4061257ba166fa3f9bbdb74f1a4e81c089384fa77f790709f0dfbc766"
X25519_8031_PUBLIC_R = "0be7c1f5aad87d7e448662673298a443478b859745179eaf564c79c0ef6eee25"
X25519_8031_SHARED = "c74950607a12327f3204d94b6825bfb068b7f8319a9e3708ed3d43ce8130c950"
# u-coordinates whose X25519 result is all-zero for every scalar (0, 1, the two points of order 8,
# and p-1, p, p+1 as non-canonical encodings); `cryptography` rejects all of them too.
X25519_LOW_ORDER = (
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
)

# RFC 5903 section 8.1 (256-bit random ECP group): i, g^i = (x, y), r, g^r, x of g^ir
ECP256_I = "c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433"
ECP256_GI = (
    "dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180"
    "5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3"
)
ECP256_R = "c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53"
ECP256_GR = (
    "d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63"
    "56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab"
)
ECP256_GIR = "d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de"
# P-256 coefficient b (FIPS 186-4 D.1.2.3), for building test points
ECP256_B = "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b"

# MODP-2048 exchange from strongSwan src/libstrongswan/plugins/test_vectors/test_vectors/modp.c
# (private exponents as big-endian bytes)
MODP2048_XI = (
    "af3bfd3862caa11774ce2b74840807c1de5cd6a7619bb3a0c7af39eedaa6eb89"
    "e2e9c144b3625b2731879cb58fa3766d"
)
MODP2048_XR = (
    "77a48e4772e23e284ce4af81399dcd589beb7cefbcc9d196f06dcfdfc3a88e3b"
    "4c1c82befec0e64ba495ccde329936ce"
)
MODP2048_PUB_I = (
    "1a27c5a7237ae8fe0a71c0af6494faeccdd4a5031d47a1a6b7162dfcdf03bb17"
    "b7bb089bd652a5f31b3661bb114d7c48d83d244f46db64870c9c8327f1a830ab"
    "f531e518dd521a2e94e7061e944209ba5331012b3dff00849eaab58c7c7af152"
    "65210fbcf0f87b9dd932f8ba4e9a9f91b63294530a1200b88b3a03e1a0c7fd34"
    "deec6fad501ede06ce7ec9e291d47b69b3a4b61bb08763b6d46bfbdab97bdece"
    "a0ff09a872221fb4b6ccca6b5c6faad8eb873b9a2f39b63e62cfadd47607e68e"
    "2c290583f7268fb43fc00a7dc8810ecdac1a59bd1b477aaf41cb4b24ada3e5f7"
    "b8cb986f1ae476afc7677aa62570a1b1838dda26be7863ee2f40b5e538a4e181"
)
MODP2048_PUB_R = (
    "667282318d65cb05cd323c25091e664cc75a3a20c014b2f6389d3b27f5c1e908"
    "e0d40ff8552bd587752550302285b49f75f8ffaec937fb2e69c8150f88d6508b"
    "f0fb1f16e9676f5ecf718f874f3d8de3c8688749dbcf1affd4d62ff9ea5d9e30"
    "35b2ce4a6eae281c408fc8084ae235d998a037610a8cb48c878cd0635fa1369f"
    "c90b864c532367384597fdeefdb6742b006adedae2015bc4ce2f9c5451c9636a"
    "16ed7d10b4e40d825b50aa7633a0e8fb813bebc049f7ff6a71ecfb14e880f509"
    "d38b571a809808a496b451b5b5567a3608b01a22e4998355f181b879de262304"
    "f29de142ff5e52cc564f3a2d1e84a0c33d8f3da7bf6412b3f018e00d90fa5b94"
)
MODP2048_SHARED = (
    "26f9e8457cf2d7d56dd819c2a867d7c3a90aa2b944e20b8bded3a5bf91aa1ff8"
    "1a7ea89d524c365f3823510835cd8644c4d5dacf893e610d2c1a140616d1c8c1"
    "d35f46de2c5faad9aecec6b677acd984098142a8aa0c8542e9ac98b3bc7b577c"
    "59b8ec53346e1567a90039ac92b224635ab216731b06353925642c330a201ba4"
    "b31284a9515860f35e9308f5515a779984fbd9f5ce4177db78d1cb0384b63c73"
    "9c6d744ad7a700b95a531b29f3b744ed38e69aee67072c45a91cee6b14215e04"
    "f27c31358c86dce448d60a223bdc554edaa3e4072ef603a0f4619f8db39cec29"
    "1c860174155d8abf9e1082931df58ed9ee9c1215dd2393de02f5c1767f070e28"
)

# IKEv2 KDF (NIST CAVP SP 800-135, PRF-HMAC-SHA-256) as carried by strongSwan test_vectors/kdf_prf.c:
# SKEYSEED = prf(Ni | Nr, g^ir): (g^ir, Ni | Nr, SKEYSEED)
KDF_SKEYSEED = (
    (
        (
            "42968e5d0ccc3cfc5a3e4bc1bba370cea1fae0d54c49ccba34b2bee804beeb2e"
            "9e8c57a4e01bd45102cf2433aacc6cfec06792f363e5170e6aa6650274e90664"
            "8e449d27a8f00b5b44261982c9835c748a751ec5138eaacc5e025661339538a6"
            "1bf418e454699e19c32db8d9ce5dd86b220f1e89afc5872e68be36cb1a0c8866"
        ),
        "ed80dc79912c32a935fb6d1a3feac078",
        "37fde90b81d63692620f67367b62092e3efdc6a03509137d731004767ff35010",
    ),
    (
        (
            "b070208f8947df4f7d1276161f407f7b7f5c4a49ac79f0cc0c7d4e28484c6f85"
            "84f0007b9bf0e05fdb5961a17d3aa85c6e3f5571296a43ba896cdc88c1a4457f"
            "b12cbe56ca4a20c9a7e19adc67453c4ade539e259f825ff94c9a83f839602f86"
            "51c9276d8e444ecb95a0540ee7ea3220a922345ed99ef7e7ad32b19d4610e9ef"
        ),
        (
            "efa72913182278ffbd14e78920c062519abab8c16e5ed70c0841a48cdb98237e"
            "e93f735fb2df184358aadc13d83f43fe8d8705176c8ca313825a1bcdf77911c5"
            "98001671ffbf014e37a8c04d49a7839dfea6cdc587688d4588fe43235b71693f"
            "fd07293386b6bf4c199e336165b260787736f54be95db69116388bc2eca2b3b2"
            "9484717417bb3c71814ce13b84446dc3964c302984f97781f63166240890107c"
            "2e751a00436f7c3c9ff12760e49d91563be603fd9641a0a64918a93291ed113d"
            "b12f9707609d172096eb58f9154474da40c1f5c0903e9ca2f91ba6600775df71"
            "66caf8e327859e676232d34046044cee43f9019f04685612635b99cbebcb363d"
            "565eaf0e547eecb941c994dfd471ed5643c087744f7709cc3e2510f27426c62c"
            "0ff3acb3c27661d26a6d83c2a25e13a6d465bd047f905500e5ebbe4266430d56"
            "67140f77e797712a8c8f63c583f4b4649b72899ea34abfdb17617c460c35f250"
            "6494494f223e251ac71a5b9b7eea87f4f5e333a3c1bbb4bb09258b6a4b5f8c9f"
            "b82bf42da9d4a46543c6a9eb9aa30ea9da801915abcc1712d082f292a63fd9af"
            "7154a97cc73859a4be3cba359d3218004e14df02d09edf0ad5796bb010995293"
            "ab5d042c31055380cc9cb2e3617982c45f6bce1fb8a40ef9eac48ae17720dfec"
            "c71ec857ea33f32eb346ba6036e8f9ccd7bcadc6c1ab92a80c57e78959d8b828"
        ),
        "29bd115568ae0988270fc386d395fe3707a4d06289f352bba4c00a9ad855a08d",
    ),
)
# ... and kdf_prf_plus.c: prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) (nonces of 8 and 256 bytes), plus the
# RFC 4868-derived prf+ vector: (key, seed, output)
KDF_PRF_PLUS = (
    (
        "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        "4869205468657265",
        (
            "b9bdc08988b4c2b75aa93e596ac84205fa2ddde1bf7a2572067b00e14b237732"
            "830509981ad2f94a8c32a47daa2255b660c436347ae756a6edc023477d809590"
            "e682f61d9c04b06b4ad971a34c8147fa66792ff1434b93c722b32e12f48832eb"
            "c15ce2369ce71fe9b7b81e5704c14d0f5280a6ec626e992d7a9f"
        ),
    ),
    (
        "37fde90b81d63692620f67367b62092e3efdc6a03509137d731004767ff35010",
        "ed80dc79912c32a935fb6d1a3feac07847c1858efc932ea4606fd05609624002",
        (
            "63d018a08f7a29daa7d1f92cb63f45fa39bbaf5e5f1a78139613bb891e3e6bf9"
            "d0448f7c74e05b4c1a25c0b61e62c875e852f287e192d4ae536112db51972164"
            "00bd5e123470efc15f53161865fe8b19a1416518a157d651ecd2caddab6a9eae"
            "6a27a55af088218d5156edaa9789f934d9836ed43edffda553822202ff9f7d48"
            "60ca72e0"
        ),
    ),
    (
        "29bd115568ae0988270fc386d395fe3707a4d06289f352bba4c00a9ad855a08d",
        (
            "efa72913182278ffbd14e78920c062519abab8c16e5ed70c0841a48cdb98237e"
            "e93f735fb2df184358aadc13d83f43fe8d8705176c8ca313825a1bcdf77911c5"
            "98001671ffbf014e37a8c04d49a7839dfea6cdc587688d4588fe43235b71693f"
            "fd07293386b6bf4c199e336165b260787736f54be95db69116388bc2eca2b3b2"
            "9484717417bb3c71814ce13b84446dc3964c302984f97781f63166240890107c"
            "2e751a00436f7c3c9ff12760e49d91563be603fd9641a0a64918a93291ed113d"
            "b12f9707609d172096eb58f9154474da40c1f5c0903e9ca2f91ba6600775df71"
            "66caf8e327859e676232d34046044cee43f9019f04685612635b99cbebcb363d"
            "565eaf0e547eecb941c994dfd471ed5643c087744f7709cc3e2510f27426c62c"
            "0ff3acb3c27661d26a6d83c2a25e13a6d465bd047f905500e5ebbe4266430d56"
            "67140f77e797712a8c8f63c583f4b4649b72899ea34abfdb17617c460c35f250"
            "6494494f223e251ac71a5b9b7eea87f4f5e333a3c1bbb4bb09258b6a4b5f8c9f"
            "b82bf42da9d4a46543c6a9eb9aa30ea9da801915abcc1712d082f292a63fd9af"
            "7154a97cc73859a4be3cba359d3218004e14df02d09edf0ad5796bb010995293"
            "ab5d042c31055380cc9cb2e3617982c45f6bce1fb8a40ef9eac48ae17720dfec"
            "c71ec857ea33f32eb346ba6036e8f9ccd7bcadc6c1ab92a80c57e78959d8b828"
            "57e91df9c5ffb8424d5eadac0e570f7c"
        ),
        (
            "d5033d087934c61538b23dff875b3ba920e05c1b42ac7f9793995e76ba3e461d"
            "6e83b2fbe0fa681ba285696d53b175e070c4c1cbc74043f7cac558c494acd23a"
            "abfc7a685b6274134408cafc1692852aca663cefd7dd0c8a872a36a1414db4b7"
            "f314ad0e49f2c187162e2876c6053dbef5a2ea8c33dcd3dd91687644377c45f4"
            "b5c418e1e10bec22baac313b902bdffcfb69c68ef4e71c5acc39a9f07acb1fc3"
            "ba8e92c6dca861a64163b0689da4a97f124026360990c9f1ae4e8d0298f077fc"
            "bb0c203fd2ca821deab0591a221d9d0a798d02f078d8fb6e931ca446a13f1163"
            "8c6b6afb8225a008f938a6878c5b577e03aecfa7314101edd0fda3bdbea4985c"
        ),
    ),
)

# NIST CAVP SP 800-135 IKEv2 sample (SHA-256), as carried by NSS gtests ike_sha256_vectors.h (cases 6-8):
# SKEYSEED, DKM = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) (132 bytes), SKEYSEED(Rekey) from SK_d = DKM[:32]
CAVP_NI = "3f302be1abcb28e1"
CAVP_NR = "8c332ee006064c9b"
CAVP_SPII = "40dac39e1e1a8640"
CAVP_SPIR = "8619a1cf9a6e4c07"
CAVP_GIR = "0f4d257d7a58fc4545c7d7a88119eee5d5c9690c5b4c989171d3abbfd99d1d29"
CAVP_GIR_NEW = "25f3b12d6f282739256e39bf54eda53b60ffcf379bb7bcc90c27b4c4c578616c"
CAVP_SKEYSEED = "5f00d1bd2c58ec224b1e6b71fa0f19a1faa7a193952c444411b47c1a9d8ba6fe"
CAVP_DKM = (
    "0b137d669b0947d7d026d593f0305ad401ff0c471357d695778a9c7f4b4869ec"
    "e98aca531188d16041b3bb936d2dbb3b4993a6e768a809160de45d0283f273a6"
    "cdf6854379e31be72b8d3d1fa990cf9c5b015ca9f918a7df6253c958114a09d4"
    "e1c19bdcd4db14b29d98db1a74ad405c588662c14a04d0d36aa4ab55e90f8986"
    "d12d4aad"
)
CAVP_SKEYSEED_REKEY = "2d63f6debc92048b4fef3889c4c99ca67d6496e0fac14a2bca9a2d6566ff2398"
