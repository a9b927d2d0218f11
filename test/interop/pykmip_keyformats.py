"""Drives Debian's PyKMIP client (python3-pykmip) through the key material clients register:
private keys whose bytes are not what their Key Format Type says, public keys labelled Raw, an
HMAC-SHA1 key of 160 bits, a PBKDF2 derivation to a 160-bit key, and XOR split key parts with a
threshold below the part count (registered and read back). Prints one JSON line per step (pykmip-keyformats.test.ts asserts
on them). The keys come from the test, generated for the run.

Usage: pykmip_keyformats.py HOST PORT CERT KEY CA KMIP_VERSION KEYS_JSON
KEYS_JSON: {"rsa_pkcs1": hex, "rsa_pkcs8": hex, "ec_sec1": hex, "rsa_spki": hex, "rsa_public_pkcs1": hex,
            "hmac": hex, "shares": [hex, hex, hex]}
"""
import json
import sys

from kmip import enums
from kmip.core.attributes import KeyFormatType
from kmip.pie import client as pie_client
from kmip.pie import objects
from pykmip_steps import KMIP_VERSIONS, attempt, report

host, port, cert, key, ca, version, keys_json = sys.argv[1:8]
U = enums.CryptographicUsageMask
F = enums.KeyFormatType
keys = {k: (bytes.fromhex(v) if isinstance(v, str) else [bytes.fromhex(x) for x in v]) for k, v in json.loads(keys_json).items()}


def get_as(c, uid, fmt):
    """Get with a Key Format Type (the low-level client: ProxyKmipClient.get has no format)."""
    result = c.proxy.get(uuid=uid, key_format_type=KeyFormatType(fmt))
    if result.result_status.value != enums.ResultStatus.SUCCESS:
        raise RuntimeError("%s: %s" % (result.result_reason.value.name, result.result_message.value))
    block = result.secret.key_block
    return {"format": block.key_format_type.value.name, "value": block.key_value.key_material.value.hex()}


def round_trip(c, step, managed):
    """Register, then Get as registered (a client's key lifecycle; done() revokes and destroys)."""
    uid = attempt("register_" + step, lambda: c.register(managed))
    if uid is not None:
        def read():
            got = c.get(uid)
            return {"format": got.key_format_type.name, "value": got.value.hex(),
                    "algorithm": got.cryptographic_algorithm.name, "length": got.cryptographic_length}
        attempt("get_" + step, read)
    return uid


def done(c, step, uid):
    attempt("destroy_" + step, lambda: (c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, uid), c.destroy(uid)) and True)


c = pie_client.ProxyKmipClient(
    hostname=host, port=int(port), cert=cert, key=key, ca=ca,
    config_file="/dev/null", kmip_version=KMIP_VERSIONS[version],
)
with c:
    # PKCS#1 bytes labelled PKCS#8 (as PyKMIP's own demo keys are), converted when asked.
    uid = round_trip(c, "pkcs1_as_pkcs8", objects.PrivateKey(
        enums.CryptographicAlgorithm.RSA, 2048, keys["rsa_pkcs1"], F.PKCS_8, masks=[U.SIGN]))
    if uid:
        attempt("get_pkcs1_as_pkcs8_in_pkcs8", lambda: get_as(c, uid, F.PKCS_8))
        attempt("get_pkcs1_as_pkcs8_in_pkcs1", lambda: get_as(c, uid, F.PKCS_1))
        done(c, "pkcs1_as_pkcs8", uid)

    # PKCS#8 bytes labelled Raw.
    uid = round_trip(c, "pkcs8_as_raw", objects.PrivateKey(
        enums.CryptographicAlgorithm.RSA, 2048, keys["rsa_pkcs8"], F.RAW, masks=[U.SIGN]))
    if uid:
        attempt("get_pkcs8_as_raw_in_pkcs1", lambda: get_as(c, uid, F.PKCS_1))
        done(c, "pkcs8_as_raw", uid)

    # SEC1 bytes labelled PKCS#8.
    uid = round_trip(c, "sec1_as_pkcs8", objects.PrivateKey(
        enums.CryptographicAlgorithm.EC, 256, keys["ec_sec1"], F.PKCS_8, masks=[U.SIGN]))
    if uid:
        attempt("get_sec1_as_pkcs8_in_pkcs8", lambda: get_as(c, uid, F.PKCS_8))
        done(c, "sec1_as_pkcs8", uid)

    # Public keys: SubjectPublicKeyInfo and PKCS#1 labelled Raw.
    for step, material in (("spki_as_raw", keys["rsa_spki"]), ("public_pkcs1_as_raw", keys["rsa_public_pkcs1"])):
        uid = round_trip(c, step, objects.PublicKey(enums.CryptographicAlgorithm.RSA, 2048, material, F.RAW, masks=[U.VERIFY]))
        if uid:
            attempt("get_%s_in_x509" % step, lambda: get_as(c, uid, F.X_509))
            done(c, step, uid)

    # Garbage stays garbage.
    attempt("register_garbage_private", lambda: c.register(objects.PrivateKey(
        enums.CryptographicAlgorithm.RSA, 2048, b"\x30\x03\x02\x01\x00junk", F.PKCS_8)))

    # An HMAC-SHA1 key of 160 bits, registered and used.
    uid = round_trip(c, "hmac_sha1_160", objects.SymmetricKey(
        enums.CryptographicAlgorithm.HMAC_SHA1, 160, keys["hmac"], masks=[U.MAC_GENERATE]))
    if uid:
        attempt("activate_hmac_sha1_160", lambda: c.activate(uid) or True)
        attempt("mac_hmac_sha1_160", lambda: c.mac(b"interoperability", uid=uid, algorithm=enums.CryptographicAlgorithm.HMAC_SHA1)[1].hex())
        done(c, "hmac_sha1_160", uid)

    # A password registered and derived from at once: PBKDF2-HMAC-SHA1 to a 160-bit key.
    password = attempt("register_password", lambda: c.register(objects.SecretData(
        b"password", enums.SecretDataType.PASSWORD, masks=[U.DERIVE_KEY])))
    derived = attempt("derive_pbkdf2", lambda: c.derive_key(
        enums.ObjectType.SYMMETRIC_KEY, [password], enums.DerivationMethod.PBKDF2,
        {"cryptographic_parameters": {"hashing_algorithm": enums.HashingAlgorithm.SHA_1},
         "salt": b"salt", "iteration_count": 4096},
        cryptographic_length=160, cryptographic_algorithm=enums.CryptographicAlgorithm.AES))
    if derived:
        attempt("get_derived", lambda: c.get(derived).value.hex())
        attempt("derived_length", lambda: c.get_attributes(derived, ["Cryptographic Length"])[1][0].attribute_value.value)

    # XOR split key parts with Split Key Threshold 2 of 3, registered and read back (PyKMIP 0.10
    # has no Join Split Key; the in-process tests join them).
    parts = []
    for i, share in enumerate(keys["shares"]):
        part = objects.SplitKey(
            cryptographic_algorithm=enums.CryptographicAlgorithm.AES, cryptographic_length=128,
            key_value=share, name="pykmip-split-%d" % (i + 1), cryptographic_usage_masks=[U.EXPORT],
            key_format_type=F.RAW, split_key_parts=3, key_part_identifier=i + 1,
            split_key_threshold=2, split_key_method=enums.SplitKeyMethod.XOR)
        parts.append(attempt("register_split_%d" % (i + 1), lambda: c.register(part)))

    def read_part():
        got = c.get(parts[0])
        return {"threshold": got.split_key_threshold, "parts": got.split_key_parts,
                "method": got.split_key_method.name, "value": got.value.hex()}
    attempt("get_split_1", read_part)
    attempt("destroy_split", lambda: [c.destroy(p) for p in parts] and True)
