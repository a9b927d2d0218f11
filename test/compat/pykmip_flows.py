"""Client-compatibility flows for Debian's PyKMIP client (python3-pykmip 0.10).

Every public method of kmip.pie.client.ProxyKmipClient, and the KMIPProxy calls it does not cover
(Query, Discover Versions, Re-key Key Pair, Get in a chosen Key Format Type, batches), exercised
with every object type and the options the client's documentation lists, the way applications
written against it call them.

Usage: pykmip_flows.py HOST PORT CERT KEY CA KMIP_VERSION MODE [FLOW ...]
       pykmip_flows.py --list
  MODE session:  every flow on one connection, in order; what a flow leaves behind stays, as in a
                 long-lived application, and the last flow cleans up the way PyKMIP's own tests do
                 (Revoke and Destroy whatever Locate returns).
  MODE isolated: each flow on a new connection, destroying what it made afterwards.
Prints one JSON line per flow: {"flow", "version", "mode", "ok", "error"}; flows whose operations
the version does not have are not run (reported with "applies": false).
The server is expected to run under the "pykmip" compatibility profile (HMAC derivation is HKDF there).
The jest test (test/compat/pykmip.test.ts) asserts on the lines; this script only reports.
"""
import base64
import datetime
import json
import sys
import time
import traceback
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.x509.oid import NameOID

from kmip import enums
from kmip.core import misc
from kmip.core import objects as cobjects
from kmip.core.factories.attributes import AttributeFactory
from kmip.pie import client as pie_client
from kmip.pie import exceptions
from kmip.pie import objects

if sys.argv[1:2] == ["--list"]:
    host = port = cert = key = ca = mode = None
    version = "2.0"
else:
    host, port, cert, key, ca, version, mode = sys.argv[1:8]
only = set(sys.argv[8:])
VERSIONS = {
    "1.0": enums.KMIPVersion.KMIP_1_0, "1.1": enums.KMIPVersion.KMIP_1_1, "1.2": enums.KMIPVersion.KMIP_1_2,
    "1.3": enums.KMIPVersion.KMIP_1_3, "1.4": enums.KMIPVersion.KMIP_1_4, "2.0": enums.KMIPVersion.KMIP_2_0,
}
V = tuple(int(p) for p in version.split("."))
RUN = uuid.uuid4().hex[:8]  # names unique to this run: a session keeps what earlier runs left
F = AttributeFactory()
M = enums.CryptographicUsageMask


class FlowFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise FlowFailed(what)


def expect_failure(fn, reason, what):
    """The call must fail with this Result Reason, or one of several (a KMIP answer, not a dropped connection)."""
    reasons = reason if isinstance(reason, tuple) else (reason,)
    try:
        fn()
    except exceptions.KmipOperationFailure as e:
        check(e.reason in reasons, "%s: expected %s, got %s (%s)" % (what, "/".join(r.name for r in reasons), e.reason, e.message))
        return
    raise FlowFailed("%s: the server accepted it" % what)


def name(tag):
    return "pykmip-%s-%s" % (tag, RUN)


def rsa_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def self_signed(cn):
    k = rsa_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OASIS")])
    now = datetime.datetime.utcnow()
    c = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(k.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
         .not_valid_after(now + datetime.timedelta(days=1)).sign(k, hashes.SHA256()))
    return c.public_bytes(serialization.Encoding.DER)


class Ctx:
    """The client, and the objects a flow made (so an isolated run can destroy them)."""

    def __init__(self, c):
        self.c = c
        self.made = []

    def keep(self, uid):
        self.made.append(uid)
        return uid


def attr_value(ctx, uid, attribute_name):
    _, attrs = ctx.c.get_attributes(uid, [attribute_name])
    values = [a.attribute_value for a in attrs if a.attribute_name.value == attribute_name]
    return values


def state_of(ctx, uid):
    values = attr_value(ctx, uid, "State")
    check(len(values) == 1, "State: one value expected, got %d" % len(values))
    return values[0].value


def names_of(ctx, uid):
    return sorted(v.name_value.value for v in attr_value(ctx, uid, "Name"))


# ---- flows ---------------------------------------------------------------------------------------------------

def create_symmetric(ctx):
    c = ctx.c
    for alg, bits in [(enums.CryptographicAlgorithm.AES, 128), (enums.CryptographicAlgorithm.AES, 256),
                      (enums.CryptographicAlgorithm.TRIPLE_DES, 192), (enums.CryptographicAlgorithm.HMAC_SHA256, 256)]:
        uid = ctx.keep(c.create(alg, bits, name=name("create-%s-%d" % (alg.name, bits)),
                                cryptographic_usage_mask=[M.ENCRYPT, M.DECRYPT] if alg != enums.CryptographicAlgorithm.HMAC_SHA256 else [M.MAC_GENERATE, M.MAC_VERIFY]))
        k = c.get(uid)
        check(isinstance(k, objects.SymmetricKey), "Get returns a symmetric key")
        check(k.cryptographic_algorithm == alg, "algorithm %s kept" % alg.name)
        check(len(k.value) * 8 == bits, "%s key of %d bits, got %d" % (alg.name, bits, len(k.value) * 8))
        check(state_of(ctx, uid) == enums.State.PRE_ACTIVE, "a new key is Pre-Active")
        c.destroy(uid)
        expect_failure(lambda: c.get(uid), enums.ResultReason.ITEM_NOT_FOUND if V < (2, 0) else (enums.ResultReason.OBJECT_NOT_FOUND, enums.ResultReason.OBJECT_DESTROYED),
                       "Get after Destroy")


def create_with_policy_name(ctx):
    c = ctx.c
    uid = ctx.keep(c.create(enums.CryptographicAlgorithm.AES, 256, operation_policy_name="default", name=name("policy")))
    if V < (2, 0):
        values = attr_value(ctx, uid, "Operation Policy Name")
        check([v.value for v in values] == ["default"], "Operation Policy Name kept: %r" % [v.value for v in values])
    check(len(c.get(uid).value) == 32, "key bytes")


def create_key_pair_rsa(ctx):
    c = ctx.c
    pub, priv = c.create_key_pair(enums.CryptographicAlgorithm.RSA, 2048, public_name=name("pub"), private_name=name("priv"),
                                  public_usage_mask=[M.VERIFY], private_usage_mask=[M.SIGN])
    ctx.keep(pub)
    ctx.keep(priv)
    pk = c.get(pub)
    sk = c.get(priv)
    check(isinstance(pk, objects.PublicKey) and isinstance(sk, objects.PrivateKey), "both halves returned")
    check(pk.cryptographic_length == 2048 and sk.cryptographic_length == 2048, "2048-bit halves")
    loaded = load_private(sk)
    check(loaded.public_key().public_numbers() == load_public(pk).public_numbers(), "the halves belong together")
    check(names_of(ctx, pub) == [name("pub")] and names_of(ctx, priv) == [name("priv")], "names on each half")


def load_private(k):
    """PKCS#8 and PKCS#1 (TraditionalOpenSSL) private keys both load from DER."""
    return serialization.load_der_private_key(k.value, None)


def load_public(k):
    """SubjectPublicKeyInfo loads from DER; a PKCS#1 RSAPublicKey from PEM under its own label."""
    if k.key_format_type == enums.KeyFormatType.PKCS_1:
        pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(k.value) + b"-----END RSA PUBLIC KEY-----\n"
        return serialization.load_pem_public_key(pem)
    return serialization.load_der_public_key(k.value)


def register_symmetric(ctx):
    c = ctx.c
    material = bytes(range(32))
    uid = ctx.keep(c.register(objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 256, material, masks=[M.ENCRYPT, M.DECRYPT], name=name("reg-sym"))))
    k = c.get(uid)
    check(k.value == material, "the registered bytes come back")
    check(names_of(ctx, uid) == [name("reg-sym")], "the name is kept")
    hmac_key = bytes(range(20))  # HMAC keys may have any whole-byte length (RFC 2104)
    huid = ctx.keep(c.register(objects.SymmetricKey(enums.CryptographicAlgorithm.HMAC_SHA1, 160, hmac_key, masks=[M.MAC_GENERATE])))
    check(c.get(huid).value == hmac_key, "a 160-bit HMAC-SHA1 key round-trips")


def register_public_key(ctx):
    c = ctx.c
    k = rsa_key().public_key()
    spki = k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs1 = k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    for label, data, fmt in [("x509", spki, enums.KeyFormatType.X_509), ("pkcs1", pkcs1, enums.KeyFormatType.PKCS_1),
                             ("raw-pkcs1", pkcs1, enums.KeyFormatType.RAW)]:
        uid = ctx.keep(c.register(objects.PublicKey(enums.CryptographicAlgorithm.RSA, 2048, data, fmt, masks=[M.VERIFY], name=name("pub-" + label))))
        got = c.get(uid)
        check(got.value == data and got.key_format_type == fmt, "%s public key kept as sent" % label)


def register_private_key(ctx):
    c = ctx.c
    k = rsa_key()
    pkcs8 = k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pkcs1 = k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    # PyKMIP's own tests label PKCS#1 bytes PKCS#8: the server detects what the bytes are.
    for label, data, fmt in [("pkcs8", pkcs8, enums.KeyFormatType.PKCS_8), ("pkcs1", pkcs1, enums.KeyFormatType.PKCS_1),
                             ("pkcs1-labelled-pkcs8", pkcs1, enums.KeyFormatType.PKCS_8)]:
        uid = ctx.keep(c.register(objects.PrivateKey(enums.CryptographicAlgorithm.RSA, 2048, data, fmt, masks=[M.SIGN], name=name("priv-" + label))))
        got = c.get(uid)
        check(got.value == data, "%s private key: the bytes sent come back" % label)


def register_certificate(ctx):
    c = ctx.c
    der = self_signed("pykmip-cert-" + RUN)
    uid = ctx.keep(c.register(objects.X509Certificate(der, masks=[M.VERIFY], name=name("cert"))))
    got = c.get(uid)
    check(isinstance(got, objects.X509Certificate) and got.value == der, "the certificate comes back")
    located = c.locate(attributes=[F.create_attribute(enums.AttributeType.NAME, name("cert"))])
    check(located == [uid], "Locate by Name finds the certificate: %r" % located)
    located = c.locate(attributes=[F.create_attribute(enums.AttributeType.OBJECT_TYPE, enums.ObjectType.CERTIFICATE)])
    check(uid in located, "Locate by Object Type finds the certificate")


def register_secret_data(ctx):
    c = ctx.c
    for data_type, value in [(enums.SecretDataType.PASSWORD, b"correct horse battery staple"), (enums.SecretDataType.SEED, bytes(96))]:
        uid = ctx.keep(c.register(objects.SecretData(value, data_type, masks=[M.DERIVE_KEY], name=name("secret-" + data_type.name))))
        got = c.get(uid)
        check(isinstance(got, objects.SecretData) and got.value == value and got.data_type == data_type, "%s secret data round-trips" % data_type.name)


def register_opaque(ctx):
    c = ctx.c
    uid = ctx.keep(c.register(objects.OpaqueObject(b"an opaque blob", enums.OpaqueDataType.NONE, name=name("opaque"))))
    got = c.get(uid)
    check(isinstance(got, objects.OpaqueObject) and got.value == b"an opaque blob", "the opaque object round-trips")


def register_split_key(ctx):
    c = ctx.c
    part = bytes(range(16))
    key_obj = objects.SplitKey(cryptographic_algorithm=enums.CryptographicAlgorithm.AES, cryptographic_length=128, key_value=part,
                               name=name("split"), key_format_type=enums.KeyFormatType.RAW, split_key_parts=4, key_part_identifier=1,
                               split_key_threshold=2, split_key_method=enums.SplitKeyMethod.XOR)
    uid = ctx.keep(c.register(key_obj))
    got = c.get(uid)
    check(isinstance(got, objects.SplitKey), "a split key comes back")
    check(got.value == part and got.split_key_parts == 4 and got.split_key_threshold == 2 and got.key_part_identifier == 1,
          "split key fields kept")


def derive(ctx, base_objs, method, params, **attrs):
    return ctx.keep(ctx.c.derive_key(attrs.pop("object_type", enums.ObjectType.SYMMETRIC_KEY), base_objs, method, params, **attrs))


def derive_pbkdf2(ctx):
    c = ctx.c
    password = b"open sesame"
    pid = ctx.keep(c.register(objects.SecretData(password, enums.SecretDataType.PASSWORD, masks=[M.DERIVE_KEY], name=name("password"))))
    salt = b"\x01" * 16
    kid = derive(ctx, [pid], enums.DerivationMethod.PBKDF2,
                 {"cryptographic_parameters": {"hashing_algorithm": enums.HashingAlgorithm.SHA_1}, "salt": salt, "iteration_count": 4096},
                 cryptographic_length=160, cryptographic_algorithm=enums.CryptographicAlgorithm.HMAC_SHA1)
    want = PBKDF2HMAC(algorithm=hashes.SHA1(), length=20, salt=salt, iterations=4096).derive(password)
    check(c.get(kid).value == want, "PBKDF2-HMAC-SHA1 from a Pre-Active password matches RFC 8018")


def derive_hash_hmac_encrypt(ctx):
    c = ctx.c
    base = bytes(range(32))
    kid = ctx.keep(c.register(objects.SymmetricKey(enums.CryptographicAlgorithm.HMAC_SHA256, 256, base, masks=[M.DERIVE_KEY])))
    hm = derive(ctx, [kid], enums.DerivationMethod.HMAC,
                {"cryptographic_parameters": {"hashing_algorithm": enums.HashingAlgorithm.SHA_256}, "derivation_data": b"info"},
                cryptographic_length=128, cryptographic_algorithm=enums.CryptographicAlgorithm.AES)
    # Under the pykmip profile, HMAC derivation is HKDF (RFC 5869), what PyKMIP's reference server computes.
    want = HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=b"info").derive(base)
    check(c.get(hm).value == want, "HMAC (HKDF) derivation")
    sid = ctx.keep(c.register(objects.SecretData(b"seed material", enums.SecretDataType.SEED, masks=[M.DERIVE_KEY])))
    hs = derive(ctx, [sid], enums.DerivationMethod.HASH, {"cryptographic_parameters": {"hashing_algorithm": enums.HashingAlgorithm.SHA_256}},
                object_type=enums.ObjectType.SECRET_DATA, cryptographic_length=256)
    d = hashes.Hash(hashes.SHA256())
    d.update(b"seed material")
    check(c.get(hs).value == d.finalize(), "HASH derivation")
    aes = bytes(range(16))
    aid = ctx.keep(c.register(objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 128, aes, masks=[M.DERIVE_KEY])))
    data = bytes(range(16, 32))
    en = derive(ctx, [aid], enums.DerivationMethod.ENCRYPT,
                {"cryptographic_parameters": {"block_cipher_mode": enums.BlockCipherMode.ECB, "padding_method": enums.PaddingMethod.NONE,
                                              "cryptographic_algorithm": enums.CryptographicAlgorithm.AES}, "derivation_data": data},
                object_type=enums.ObjectType.SECRET_DATA, cryptographic_length=128)
    e = Cipher(algorithms.AES(aes), modes.ECB()).encryptor()
    check(c.get(en).value == e.update(data) + e.finalize(), "ENCRYPT derivation")


def derive_nist_800_108c(ctx):
    c = ctx.c
    base = bytes(range(32))
    kid = ctx.keep(c.register(objects.SymmetricKey(enums.CryptographicAlgorithm.HMAC_SHA512, 256, base, masks=[M.DERIVE_KEY])))
    out = derive(ctx, [kid], enums.DerivationMethod.NIST800_108_C,
                 {"cryptographic_parameters": {"hashing_algorithm": enums.HashingAlgorithm.SHA_512}, "derivation_data": b"label"},
                 cryptographic_length=128, cryptographic_algorithm=enums.CryptographicAlgorithm.AES)
    check(len(c.get(out).value) == 16, "SP 800-108 counter mode gives 128 bits")


def activate_revoke_destroy(ctx):
    c = ctx.c
    uid = ctx.keep(c.create(enums.CryptographicAlgorithm.AES, 256, name=name("lifecycle")))
    c.activate(uid)
    check(state_of(ctx, uid) == enums.State.ACTIVE, "Active after Activate")
    wrong_state = (enums.ResultReason.PERMISSION_DENIED, enums.ResultReason.WRONG_KEY_LIFECYCLE_STATE) if V >= (2, 0) else enums.ResultReason.PERMISSION_DENIED
    expect_failure(lambda: c.activate(uid), wrong_state, "Activate twice")
    expect_failure(lambda: c.destroy(uid), wrong_state, "Destroy of an Active key")
    c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid, revocation_message="retired")
    check(state_of(ctx, uid) == enums.State.DEACTIVATED, "Deactivated after Revoke")
    c.destroy(uid)
    # A compromised key: Pre-Active -> Compromised -> Destroyed Compromised.
    k2 = ctx.keep(c.create(enums.CryptographicAlgorithm.AES, 128))
    c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, k2, compromise_occurrence_date=int(time.time()) - 10)
    check(state_of(ctx, k2) == enums.State.COMPROMISED, "Compromised after Revoke with Key Compromise")
    c.destroy(k2)
    # A Pre-Active key can be destroyed without Revoke (pg_tde does this).
    k3 = ctx.keep(c.create(enums.CryptographicAlgorithm.AES, 128))
    c.destroy(k3)


def get_attributes_and_list(ctx):
    c = ctx.c
    uid = ctx.keep(c.create(enums.CryptographicAlgorithm.AES, 256, name=name("attrs"), cryptographic_usage_mask=[M.ENCRYPT, M.DECRYPT]))
    got_uid, attrs = c.get_attributes(uid)
    check(got_uid == uid, "Get Attributes names the object")
    names = {a.attribute_name.value for a in attrs}
    for n in ["Unique Identifier", "Object Type", "Cryptographic Algorithm", "Cryptographic Length", "Cryptographic Usage Mask",
              "State", "Initial Date", "Last Change Date", "Name"]:
        check(n in names, "Get Attributes with no names returns %s" % n)
    _, some = c.get_attributes(uid, ["Cryptographic Algorithm", "Cryptographic Length"])
    check(sorted(a.attribute_name.value for a in some) == ["Cryptographic Algorithm", "Cryptographic Length"], "named attributes only")
    listed = c.get_attribute_list(uid)
    check("State" in listed and "Cryptographic Algorithm" in listed, "Get Attribute List names the attributes")
    if V < (1, 1):
        check("Fresh" not in names, "no Fresh for a 1.0 client")


def locate_variants(ctx):
    c = ctx.c
    group = "group-" + RUN
    a = ctx.keep(c.create(enums.CryptographicAlgorithm.AES, 128, name=name("loc-a")))
    b = ctx.keep(c.create(enums.CryptographicAlgorithm.AES, 256, name=name("loc-b")))
    c.activate(b)
    by_name = c.locate(attributes=[F.create_attribute(enums.AttributeType.NAME, name("loc-a"))])
    check(by_name == [a], "Locate by Name: exactly the one object (FortiGate relies on it): %r" % by_name)
    by_len = c.locate(attributes=[F.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 128),
                                  F.create_attribute(enums.AttributeType.NAME, name("loc-a"))])
    check(by_len == [a], "Locate by Name and length")
    by_state = c.locate(attributes=[F.create_attribute(enums.AttributeType.STATE, enums.State.ACTIVE),
                                    F.create_attribute(enums.AttributeType.NAME, name("loc-b"))])
    check(by_state == [b], "Locate by State and Name")
    by_alg = c.locate(attributes=[F.create_attribute(enums.AttributeType.OBJECT_TYPE, enums.ObjectType.SYMMETRIC_KEY),
                                  F.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, enums.CryptographicAlgorithm.AES)])
    check(a in by_alg and b in by_alg, "Locate by type and algorithm")
    one = c.locate(maximum_items=1, attributes=[F.create_attribute(enums.AttributeType.OBJECT_TYPE, enums.ObjectType.SYMMETRIC_KEY)])
    check(len(one) == 1, "Maximum Items 1 gives one identifier")
    online = c.locate(storage_status_mask=1, attributes=[F.create_attribute(enums.AttributeType.NAME, name("loc-b"))])
    check(online == [b], "Storage Status Mask on-line")
    after = int(time.time()) - 3600
    dated = c.locate(attributes=[F.create_attribute(enums.AttributeType.INITIAL_DATE, after),
                                 F.create_attribute(enums.AttributeType.INITIAL_DATE, int(time.time()) + 3600),
                                 F.create_attribute(enums.AttributeType.NAME, name("loc-a"))])
    check(dated == [a], "Locate by an Initial Date range")
    if V >= (1, 1):
        g = register_in_group(ctx, group)
        grouped = c.locate(attributes=[F.create_attribute(enums.AttributeType.OBJECT_GROUP, group)])
        check(grouped == [g], "Locate by Object Group")
        fresh = c.locate(object_group_member=enums.ObjectGroupMember.GROUP_MEMBER_FRESH,
                         attributes=[F.create_attribute(enums.AttributeType.OBJECT_GROUP, group)])
        check(fresh in ([g], []), "Object Group Member Fresh is understood")
    if V >= (1, 3):
        page1 = c.locate(maximum_items=1, offset_items=0, attributes=[F.create_attribute(enums.AttributeType.OBJECT_TYPE, enums.ObjectType.SYMMETRIC_KEY)])
        page2 = c.locate(maximum_items=1, offset_items=1, attributes=[F.create_attribute(enums.AttributeType.OBJECT_TYPE, enums.ObjectType.SYMMETRIC_KEY)])
        check(len(page1) == 1 and len(page2) == 1 and page1 != page2, "Offset Items pages through the results")


def register_in_group(ctx, group):
    """Register Secret Data with an Object Group: the pie client has no group option, so through the proxy."""
    from kmip.pie import factory
    template = cobjects.TemplateAttribute(attributes=[F.create_attribute(enums.AttributeType.OBJECT_GROUP, group)])
    secret = factory.ObjectFactory().convert(objects.SecretData(b"grouped", enums.SecretDataType.PASSWORD))
    r = ctx.c.proxy.register(enums.ObjectType.SECRET_DATA, template, secret)
    check(r.result_status.value == enums.ResultStatus.SUCCESS, "Register with an Object Group: %s" % (r.result_message.value if r.result_message else ""))
    return ctx.keep(r.uuid)


def name_value_v2(text):
    """A Name under its own tag, as KMIP 2.0 Current/New Attribute carry it."""
    value = F.create_attribute(enums.AttributeType.NAME, text).attribute_value
    value.tag = enums.Tags.NAME
    return value


def modify_delete_attribute(ctx):
    c = ctx.c
    uid = ctx.keep(c.create(enums.CryptographicAlgorithm.AES, 256, name=name("before")))
    if V < (2, 0):
        got_uid, attr = c.modify_attribute(uid, attribute=F.create_attribute(enums.AttributeType.NAME, name("after"), index=0))
        check(got_uid == uid, "Modify Attribute names the object")
        check(attr is not None and attr.attribute_index is not None and attr.attribute_index.value == 0,
              "Modify Attribute answers the Attribute Index, 0 included (PyKMIP reads it)")
        check(names_of(ctx, uid) == [name("after")], "the Name was modified")
        got_uid, deleted = c.delete_attribute(uid, attribute_name="Name", attribute_index=0)
        check(got_uid == uid and deleted is not None, "Delete Attribute answers the deleted attribute")
        check(names_of(ctx, uid) == [], "the Name was deleted")
    else:
        cur = cobjects.CurrentAttribute(attribute=name_value_v2(name("before")))
        new = cobjects.NewAttribute(attribute=name_value_v2(name("after")))
        got_uid, _ = c.modify_attribute(uid, current_attribute=cur, new_attribute=new)
        check(got_uid == uid, "Modify Attribute names the object")
        check(names_of(ctx, uid) == [name("after")], "the Name was modified")
        ref = cobjects.AttributeReference(vendor_identification="", attribute_name="Name")
        c.delete_attribute(uid, attribute_reference=ref)
        check(names_of(ctx, uid) == [], "the Name was deleted")


def set_attribute_v2(ctx):
    c = ctx.c
    uid = ctx.keep(c.create(enums.CryptographicAlgorithm.AES, 128))
    got = c.set_attribute(uid, attribute_name="Sensitive", attribute_value=True)
    check(got == uid, "Set Attribute names the object")
    values = attr_value(ctx, uid, "Sensitive")
    check([v.value for v in values] == [True], "Sensitive set")


def rekey_symmetric(ctx):
    c = ctx.c
    uid = ctx.keep(c.create(enums.CryptographicAlgorithm.AES, 256, name=name("rekey")))
    c.activate(uid)
    new = ctx.keep(c.rekey(uid=uid, offset=0))
    check(new != uid, "Re-key makes a new object (VAST relies on it)")
    check(c.get(new).value != c.get(uid).value, "new key material")
    check(names_of(ctx, new) == [name("rekey")], "the replacement keeps the Name")


def check_operation(ctx):
    c = ctx.c
    uid = ctx.keep(c.create(enums.CryptographicAlgorithm.AES, 128, cryptographic_usage_mask=[M.ENCRYPT]))
    got = c.check(uid, cryptographic_usage_mask=[M.ENCRYPT])
    check(got == uid, "Check with a usage the key allows answers its identifier")
    expect_failure(lambda: c.check(uid, cryptographic_usage_mask=[M.SIGN]),
                   enums.ResultReason.INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK if V >= (2, 0) else enums.ResultReason.PERMISSION_DENIED,
                   "Check with a usage the key does not allow")


def encrypt_decrypt(ctx):
    c = ctx.c
    uid = ctx.keep(c.create(enums.CryptographicAlgorithm.AES, 256, cryptographic_usage_mask=[M.ENCRYPT, M.DECRYPT]))
    c.activate(uid)
    params = {"block_cipher_mode": enums.BlockCipherMode.CBC, "padding_method": enums.PaddingMethod.PKCS5,
              "cryptographic_algorithm": enums.CryptographicAlgorithm.AES}
    plain = b"the quick brown fox jumps over the lazy dog"
    ct, iv = c.encrypt(plain, uid=uid, cryptographic_parameters=dict(params, random_iv=True))
    check(iv is not None and len(iv) == 16, "the server generates the IV when asked")
    check(c.decrypt(ct, uid=uid, cryptographic_parameters=params, iv_counter_nonce=iv) == plain, "CBC round trip")
    key = c.get(uid).value
    d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = d.update(ct) + d.finalize()
    check(padded[:len(plain)] == plain, "the ciphertext is standard AES-CBC")
    ct2, none = c.encrypt(plain, uid=uid, cryptographic_parameters=params, iv_counter_nonce=b"\x00" * 16)
    check(none is None, "no IV returned when the client gave one")
    check(c.decrypt(ct2, uid=uid, cryptographic_parameters=params, iv_counter_nonce=b"\x00" * 16) == plain, "client IV round trip")
    pub, priv = c.create_key_pair(enums.CryptographicAlgorithm.RSA, 2048, public_usage_mask=[M.ENCRYPT], private_usage_mask=[M.DECRYPT])
    ctx.keep(pub)
    ctx.keep(priv)
    c.activate(pub)
    c.activate(priv)
    oaep = {"padding_method": enums.PaddingMethod.OAEP, "hashing_algorithm": enums.HashingAlgorithm.SHA_1,
            "cryptographic_algorithm": enums.CryptographicAlgorithm.RSA}
    rct, _ = c.encrypt(b"secret", uid=pub, cryptographic_parameters=oaep)
    check(c.decrypt(rct, uid=priv, cryptographic_parameters=oaep) == b"secret", "RSA OAEP round trip")


def sign_verify(ctx):
    c = ctx.c
    pub, priv = c.create_key_pair(enums.CryptographicAlgorithm.RSA, 2048, public_usage_mask=[M.VERIFY], private_usage_mask=[M.SIGN])
    ctx.keep(pub)
    ctx.keep(priv)
    c.activate(pub)
    c.activate(priv)
    for pad in [enums.PaddingMethod.PSS, enums.PaddingMethod.PKCS1v15]:
        params = {"padding_method": pad, "cryptographic_algorithm": enums.CryptographicAlgorithm.RSA,
                  "hashing_algorithm": enums.HashingAlgorithm.SHA_256}
        sig = c.sign(b"message to sign", uid=priv, cryptographic_parameters=params)
        check(c.signature_verify(b"message to sign", sig, uid=pub, cryptographic_parameters=params) == enums.ValidityIndicator.VALID,
              "%s signature verifies" % pad.name)
        check(c.signature_verify(b"another message", sig, uid=pub, cryptographic_parameters=params) == enums.ValidityIndicator.INVALID,
              "%s signature over other data is invalid" % pad.name)
        pk = serialization.load_der_public_key(c.get(pub).value) if c.get(pub).key_format_type == enums.KeyFormatType.X_509 else None
        if pk is not None:
            scheme = asym_padding.PKCS1v15() if pad == enums.PaddingMethod.PKCS1v15 else asym_padding.PSS(asym_padding.MGF1(hashes.SHA256()), asym_padding.PSS.MAX_LENGTH)
            pk.verify(sig, b"message to sign", scheme, hashes.SHA256())


def mac(ctx):
    c = ctx.c
    material = bytes(range(32))
    uid = ctx.keep(c.register(objects.SymmetricKey(enums.CryptographicAlgorithm.HMAC_SHA256, 256, material, masks=[M.MAC_GENERATE])))
    c.activate(uid)
    got_uid, tag = c.mac(b"data to authenticate", uid=uid, algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)
    h = hmac.HMAC(material, hashes.SHA256())
    h.update(b"data to authenticate")
    check(got_uid == uid and tag == h.finalize(), "HMAC-SHA256 matches")


def get_wrapped(ctx):
    c = ctx.c
    kek = ctx.keep(c.create(enums.CryptographicAlgorithm.AES, 256, cryptographic_usage_mask=[M.WRAP_KEY, M.UNWRAP_KEY]))
    c.activate(kek)
    target_bytes = bytes(range(32))
    target = ctx.keep(c.register(objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 256, target_bytes, masks=[M.ENCRYPT])))
    wrapped = c.get(target, key_wrapping_specification={
        "wrapping_method": enums.WrappingMethod.ENCRYPT,
        "encryption_key_information": {"unique_identifier": kek, "cryptographic_parameters": {"block_cipher_mode": enums.BlockCipherMode.NIST_KEY_WRAP}},
        "encoding_option": enums.EncodingOption.NO_ENCODING,
    })
    check(wrapped.key_wrapping_data is not None, "the key comes back wrapped")
    check(wrapped.key_wrapping_data.get("wrapping_method") == enums.WrappingMethod.ENCRYPT, "Key Wrapping Data says how")
    from cryptography.hazmat.primitives import keywrap
    check(keywrap.aes_key_unwrap(c.get(kek).value, wrapped.value) == target_bytes, "RFC 3394 unwrap gives the key")
    # Register a key that is wrapped, as a client stores one it received: it is kept as given.
    rewrapped = objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 256, wrapped.value,
                                     key_wrapping_data={"wrapping_method": enums.WrappingMethod.ENCRYPT,
                                                        "encryption_key_information": {"unique_identifier": kek, "cryptographic_parameters": {"block_cipher_mode": enums.BlockCipherMode.NIST_KEY_WRAP}},
                                                        "encoding_option": enums.EncodingOption.NO_ENCODING})
    rid = ctx.keep(c.register(rewrapped))
    back = c.get(rid)
    check(back.value == wrapped.value and back.key_wrapping_data is not None, "a registered wrapped key is kept wrapped")


def proxy_query_discover(ctx):
    p = ctx.c.proxy
    q = p.query(query_functions=[enums.QueryFunction.QUERY_OPERATIONS, enums.QueryFunction.QUERY_OBJECTS])
    check(q.result_status.value == enums.ResultStatus.SUCCESS, "Query succeeds")
    ops = list(q.operations)
    for op in [enums.Operation.CREATE, enums.Operation.GET, enums.Operation.LOCATE, enums.Operation.DESTROY]:
        check(op in ops, "Query lists %s" % op.name)
    if V >= (1, 1):
        d = p.discover_versions()
        check(d.result_status.value == enums.ResultStatus.SUCCESS, "Discover Versions succeeds")
        listed = [(v.major, v.minor) for v in d.protocol_versions]
        check((1, 0) in listed and (V[0], V[1]) in listed, "Discover Versions lists 1.0 and the client's version: %r" % listed)


def proxy_get_formats(ctx):
    c = ctx.c
    p = c.proxy
    material = bytes(range(16))
    uid = ctx.keep(c.register(objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 128, material)))
    raw = p.get(uid, key_format_type=misc.KeyFormatType(enums.KeyFormatType.RAW))
    check(raw.result_status.value == enums.ResultStatus.SUCCESS, "Get in Raw")
    check(raw.secret.key_block.key_value.key_material.value == material, "the Raw bytes")
    # (PyKMIP 0.10 cannot read Transparent key material, whatever the server: that format is not asked here.)
    pub, priv = c.create_key_pair(enums.CryptographicAlgorithm.RSA, 2048)
    ctx.keep(pub)
    ctx.keep(priv)
    for fmt in [enums.KeyFormatType.PKCS_1, enums.KeyFormatType.PKCS_8]:
        r = p.get(priv, key_format_type=misc.KeyFormatType(fmt))
        check(r.result_status.value == enums.ResultStatus.SUCCESS, "private key as %s" % fmt.name)
        check(r.secret.key_block.key_format_type.value == fmt, "the answer says %s" % fmt.name)
    for fmt in [enums.KeyFormatType.PKCS_1, enums.KeyFormatType.X_509]:
        r = p.get(pub, key_format_type=misc.KeyFormatType(fmt))
        check(r.result_status.value == enums.ResultStatus.SUCCESS, "public key as %s" % fmt.name)


def proxy_rekey_key_pair(ctx):
    from kmip.core import attributes as cattributes
    c = ctx.c
    pub, priv = c.create_key_pair(enums.CryptographicAlgorithm.RSA, 2048, private_name=name("rkp"))
    ctx.keep(pub)
    ctx.keep(priv)
    r = c.proxy.rekey_key_pair(private_key_uuid=cattributes.PrivateKeyUniqueIdentifier(priv), offset=misc.Offset(0))
    check(r.result_status.value == enums.ResultStatus.SUCCESS, "Re-key Key Pair succeeds: %s" % (r.result_message.value if r.result_message else ""))
    ctx.keep(r.private_key_uuid)
    ctx.keep(r.public_key_uuid)
    check(r.private_key_uuid not in (priv, pub) and r.public_key_uuid not in (priv, pub), "a new pair")


def proxy_batch(ctx):
    """Several operations in one request message, as storage arrays send them."""
    from kmip.core import attributes as cattributes
    p = ctx.c.proxy
    p.batch_items = []
    p.query(batch=True, query_functions=[enums.QueryFunction.QUERY_OPERATIONS])
    if V >= (1, 1):
        p.discover_versions(batch=True)
    common = cobjects.TemplateAttribute(attributes=[
        F.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, enums.CryptographicAlgorithm.RSA),
        F.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, 2048)], tag=enums.Tags.COMMON_TEMPLATE_ATTRIBUTE)
    p.create_key_pair(batch=True, common_template_attribute=common)
    request = p._build_request_message(None, p.batch_items)
    response = p._send_and_receive_message(request)
    results = p._process_batch_items(response)
    p.batch_items = []
    check(len(results) == (3 if V >= (1, 1) else 2), "one result per batch item")
    for r in results:
        check(r.result_status.value == enums.ResultStatus.SUCCESS, "batch item succeeds: %s" % (r.result_message.value if r.result_message else ""))
    ctx.keep(results[-1].private_key_uuid)
    ctx.keep(results[-1].public_key_uuid)
    del cattributes


def teardown_everything(ctx):
    """PyKMIP's own tests end each case so: Revoke (Key Compromise) and Destroy whatever Locate returns."""
    c = ctx.c
    for uid in c.locate():
        try:
            c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, uid)
        except exceptions.KmipOperationFailure:
            pass  # objects that cannot be revoked (already destroyed, or a type without a state change) go on to Destroy
        c.destroy(uid)
    left = c.locate()
    check(left == [], "nothing left after the teardown: %r" % left)


# (name, first version, function[, last version]): a flow runs for the versions whose operations it uses.
FLOWS = [
    ("create_symmetric", (1, 0), create_symmetric),
    ("create_with_policy_name", (1, 0), create_with_policy_name, (1, 4)),  # PyKMIP sends no Operation Policy Name in 2.0
    ("create_key_pair_rsa", (1, 0), create_key_pair_rsa),
    ("register_symmetric", (1, 0), register_symmetric),
    ("register_public_key", (1, 0), register_public_key),
    ("register_private_key", (1, 0), register_private_key),
    ("register_certificate", (1, 0), register_certificate),
    ("register_secret_data", (1, 0), register_secret_data),
    ("register_opaque", (1, 0), register_opaque),
    ("register_split_key", (1, 2), register_split_key),
    ("derive_pbkdf2", (1, 0), derive_pbkdf2),
    ("derive_hash_hmac_encrypt", (1, 0), derive_hash_hmac_encrypt),
    ("derive_nist_800_108c", (1, 0), derive_nist_800_108c),
    ("activate_revoke_destroy", (1, 0), activate_revoke_destroy),
    ("get_attributes_and_list", (1, 0), get_attributes_and_list),
    ("locate_variants", (1, 0), locate_variants),
    ("modify_delete_attribute", (1, 0), modify_delete_attribute),
    ("set_attribute", (2, 0), set_attribute_v2),
    ("rekey_symmetric", (1, 0), rekey_symmetric),
    ("check", (1, 0), check_operation),
    ("encrypt_decrypt", (1, 2), encrypt_decrypt),
    ("sign_verify", (1, 2), sign_verify),
    ("mac", (1, 2), mac),
    ("get_wrapped", (1, 1), get_wrapped),
    ("query_discover_versions", (1, 0), proxy_query_discover),
    ("get_formats", (1, 0), proxy_get_formats),
    ("rekey_key_pair", (1, 1), proxy_rekey_key_pair),
    ("batch", (1, 0), proxy_batch),
    ("teardown_everything", (1, 0), teardown_everything),
]


def client():
    return pie_client.ProxyKmipClient(hostname=host, port=int(port), cert=cert, key=key, ca=ca, config_file="/dev/null",
                                      kmip_version=VERSIONS[version])


def report(flow, ok, error=None, applies=True):
    line = dict(flow=flow, version=version, mode=mode, ok=ok, applies=applies)
    if error:
        line["error"] = error
    print(json.dumps(line), flush=True)


def run(flow, fn, ctx):
    try:
        fn(ctx)
        report(flow, True)
    except FlowFailed as e:
        report(flow, False, str(e))
    except Exception as e:  # the test shows the client's own error
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{f.name}:{f.lineno}" for f in reversed(tb) if f.filename == __file__), "")
        report(flow, False, "%s: %s (%s)" % (type(e).__name__, e, where))


def cleanup(ctx):
    for uid in reversed(ctx.made):
        try:
            ctx.c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, uid)
        except Exception:
            pass
        try:
            ctx.c.destroy(uid)
        except Exception:
            pass


selected = [(f[0], f[1], f[2], f[3] if len(f) > 3 else (9, 9)) for f in FLOWS if not only or f[0] in only]
if mode is None:
    # --list: the flows and the versions each applies to, for the jest test to declare its cases.
    print(json.dumps([dict(flow=n, since="%d.%d" % since, until="%d.%d" % until) for n, since, fn, until in selected]))
elif mode == "session":
    with client() as c:
        ctx = Ctx(c)
        for n, since, fn, until in selected:
            if not since <= V <= until:
                report(n, True, applies=False)
                continue
            run(n, fn, ctx)
else:
    for n, since, fn, until in selected:
        if not since <= V <= until:
            report(n, True, applies=False)
            continue
        if n == "teardown_everything":
            continue  # a session's closing step
        with client() as c:
            ctx = Ctx(c)
            run(n, fn, ctx)
            cleanup(ctx)
