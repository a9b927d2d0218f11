"""Drives Debian's PyKMIP client (python3-pykmip) through the cryptographic services of our server;
prints one JSON line per step (pykmip-crypto.test.ts asserts on them).

Usage: pykmip_crypto.py HOST PORT CERT KEY CA KMIP_VERSION CERT_DER_HEX
"""
import sys

from kmip import enums
from kmip.pie import client as pie_client
from kmip.pie import objects
from pykmip_steps import KMIP_VERSIONS, attempt, report

host, port, cert, key, ca, version, cert_hex = sys.argv[1:8]
U = enums.CryptographicUsageMask


c = pie_client.ProxyKmipClient(
    hostname=host, port=int(port), cert=cert, key=key, ca=ca,
    config_file="/dev/null", kmip_version=KMIP_VERSIONS[version],
)
message = b"interoperability"
with c:
    # Key pair, its halves' formats, sign and verify.
    pair = attempt("create_key_pair", lambda: list(c.create_key_pair(
        enums.CryptographicAlgorithm.RSA, 2048,
        public_name="pykmip-pub", public_usage_mask=[U.VERIFY],
        private_name="pykmip-priv", private_usage_mask=[U.SIGN])))
    pub, priv = pair if pair else (None, None)
    attempt("get_public", lambda: c.get(pub).key_format_type.name)
    attempt("get_private", lambda: c.get(priv).key_format_type.name)
    attempt("activate", lambda: [c.activate(pub), c.activate(priv)] and True)
    sign_params = {
        "padding_method": enums.PaddingMethod.PSS,
        "hashing_algorithm": enums.HashingAlgorithm.SHA_256,
        "cryptographic_algorithm": enums.CryptographicAlgorithm.RSA,
    }
    sig = attempt("sign", lambda: c.sign(message, uid=priv, cryptographic_parameters=sign_params).hex())
    attempt("signature_verify", lambda: c.signature_verify(
        message, bytes.fromhex(sig), uid=pub, cryptographic_parameters=sign_params).name)
    attempt("signature_verify_tampered", lambda: c.signature_verify(
        b"tampered", bytes.fromhex(sig), uid=pub, cryptographic_parameters=sign_params).name)

    # Symmetric encryption with a server-chosen IV, and a MAC.
    kid = attempt("create_aes", lambda: c.create(
        enums.CryptographicAlgorithm.AES, 256, name="pykmip-aes",
        cryptographic_usage_mask=[U.ENCRYPT, U.DECRYPT]))
    attempt("activate_aes", lambda: c.activate(kid) or True)
    cbc = {
        "block_cipher_mode": enums.BlockCipherMode.CBC,
        "padding_method": enums.PaddingMethod.PKCS5,
        "random_iv": True,
    }
    enc = attempt("encrypt", lambda: [x.hex() if x else None for x in c.encrypt(message, uid=kid, cryptographic_parameters=cbc)])
    cbc_no_random = {"block_cipher_mode": enums.BlockCipherMode.CBC, "padding_method": enums.PaddingMethod.PKCS5}
    attempt("decrypt", lambda: c.decrypt(
        bytes.fromhex(enc[0]), uid=kid, cryptographic_parameters=cbc_no_random,
        iv_counter_nonce=bytes.fromhex(enc[1])).decode())
    mid = attempt("create_hmac", lambda: c.create(
        enums.CryptographicAlgorithm.HMAC_SHA256, 256, name="pykmip-hmac",
        cryptographic_usage_mask=[U.MAC_GENERATE, U.MAC_VERIFY]))
    attempt("activate_hmac", lambda: c.activate(mid) or True)
    attempt("mac", lambda: c.mac(message, uid=mid, algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)[1].hex())
    attempt("get_hmac_key", lambda: c.get(mid).value.hex())

    # A certificate.
    cid = attempt("register_certificate", lambda: c.register(objects.X509Certificate(bytes.fromhex(cert_hex))))
    attempt("get_certificate", lambda: c.get(cid).value.hex())
