"""Drives Debian's PyKMIP client (python3-pykmip) against our server; prints one JSON line per step.

Usage: pykmip_client.py HOST PORT CERT KEY CA KMIP_VERSION SCENARIO
The jest test (pykmip.test.ts) reads the lines and asserts on them; this script only reports.
"""
import sys

from kmip import enums
from kmip.core.factories.attributes import AttributeFactory
from kmip.pie import client as pie_client
from kmip.pie import objects
from pykmip_steps import KMIP_VERSIONS, attempt, report

host, port, cert, key, ca, version, scenario = sys.argv[1:8]


c = pie_client.ProxyKmipClient(
    hostname=host, port=int(port), cert=cert, key=key, ca=ca,
    config_file="/dev/null", kmip_version=KMIP_VERSIONS[version],
)
with c:
    if scenario == "lifecycle":
        uid = attempt("create", lambda: c.create(
            enums.CryptographicAlgorithm.AES, 256, name="pykmip-key",
            cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT]))
        attempt("get", lambda: c.get(uid).value.hex())
        attempt("get_attributes", lambda: sorted(
            [a.attribute_name.value for a in c.get_attributes(uid, ["State", "Cryptographic Algorithm", "Cryptographic Length"])[1]]))
        attempt("get_attribute_list", lambda: sorted(c.get_attribute_list(uid)))
        attempt("locate", lambda: c.locate(attributes=[
            AttributeFactory().create_attribute(enums.AttributeType.NAME, "pykmip-key")]))
        attempt("activate", lambda: c.activate(uid))
        attempt("state_after_activate", lambda: c.get_attributes(uid, ["State"])[1][0].attribute_value.value.name)
        attempt("revoke", lambda: c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid))
        attempt("destroy", lambda: c.destroy(uid))
        attempt("get_destroyed", lambda: c.get(uid).value.hex())
    elif scenario == "register":
        secret = objects.SecretData(b"correct horse battery staple", enums.SecretDataType.PASSWORD)
        sid = attempt("register_secret", lambda: c.register(secret))
        attempt("get_secret", lambda: c.get(sid).value.decode())
        key_bytes = bytes(range(32))
        sym = objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 256, key_bytes)
        kid = attempt("register_key", lambda: c.register(sym))
        attempt("get_key", lambda: c.get(kid).value.hex())
        opaque = objects.OpaqueObject(b"opaque blob", enums.OpaqueDataType.NONE)
        oid = attempt("register_opaque", lambda: c.register(opaque))
        attempt("get_opaque", lambda: c.get(oid).value.decode())
    elif scenario == "attributes":
        uid = attempt("create", lambda: c.create(enums.CryptographicAlgorithm.AES, 128, name="before"))
        attempt("modify_attribute", lambda: c.modify_attribute(
            uid, attribute=AttributeFactory().create_attribute(enums.AttributeType.NAME, "after", index=0))[0])
        attempt("names_after_modify", lambda: [
            a.attribute_value.name_value.value for a in c.get_attributes(uid, ["Name"])[1]])
        attempt("delete_attribute", lambda: c.delete_attribute(uid, attribute_name="Name", attribute_index=0)[0])
        attempt("names_after_delete", lambda: [
            a.attribute_value.name_value.value for a in c.get_attributes(uid, ["Name"])[1]])
    else:
        report("scenario", ok=False, error="unknown scenario " + scenario)
