"""Checks that Debian's PyKMIP client (python3-pykmip) parses the shapes our server answers in.

Usage: pykmip_shapes.py HOST PORT CERT KEY CA KMIP_VERSION SCENARIO
Prints one JSON line per step; the jest test (pykmip-shapes.test.ts) asserts on them.

Scenarios:
  wrapped     Get with a Key Wrapping Specification. No Encoding through ProxyKmipClient.get (its
              parser needs the Key Value to stay a Structure); TTLV Encoding through the client's own
              message builder with the response read as bytes, since PyKMIP's Key Value parser only
              knows the Structure form: the script unwraps the Byte String and hands the inner Key
              Value to PyKMIP's KeyValue parser.
  index       Get Attributes, Add Attribute (sent with PyKMIP's primitives: the client has no Add
              Attribute call), Modify Attribute and Delete Attribute: the Attribute Index each
              response carries.
"""
import struct
import sys

from cryptography.hazmat.primitives import keywrap

from kmip import enums
from kmip.core import objects as cobjects
from kmip.core import primitives
from kmip.core.factories.attributes import AttributeFactory
from kmip.core.messages import messages, payloads
from kmip.core.utils import BytearrayStream
from kmip.pie import client as pie_client
from pykmip_steps import KMIP_VERSIONS, attempt, report

host, port, cert, key, ca, version, scenario = sys.argv[1:8]
# TTLV tags and item types the raw reads below look for (KMIP spec, Tags and Item Types tables).
TAG_KEY_VALUE = 0x420045
TAG_KEY_WRAPPING_DATA = 0x420046
TAG_ENCODING_OPTION = 0x4200A3
TAG_ATTRIBUTE = 0x420008
TAG_RESULT_STATUS = 0x42007F
TAG_RESULT_MESSAGE = 0x42007D
TYPE_STRUCTURE = 0x01
TYPE_BYTE_STRING = 0x08
TYPE_NAMES = {0x01: "Structure", 0x02: "Integer", 0x05: "Enumeration", 0x07: "TextString", 0x08: "ByteString"}


def ttlv_items(buf):
    """Every TTLV item in buf, depth first: (tag, type, value bytes, whole item bytes)."""
    out, pos = [], 0
    while pos + 8 <= len(buf):
        tag = int.from_bytes(buf[pos:pos + 3], "big")
        typ = buf[pos + 3]
        length = struct.unpack(">I", buf[pos + 4:pos + 8])[0]
        value = buf[pos + 8:pos + 8 + length]
        padded = length if typ == TYPE_STRUCTURE else (length + 7) // 8 * 8
        out.append((tag, typ, value, buf[pos:pos + 8 + padded]))
        if typ == TYPE_STRUCTURE:
            out.extend(ttlv_items(value))
        pos += 8 + padded
    return out


def first(items, tag):
    return next((i for i in items if i[0] == tag), None)


def send_raw(c, operation, payload):
    """Sends one batch item built with PyKMIP's own message classes; returns the response's bytes."""
    item = messages.RequestBatchItem(
        operation=primitives.Enumeration(enums.Operation, operation, tag=enums.Tags.OPERATION),
        request_payload=payload)
    c.proxy._send_message(c.proxy._build_request_message(None, [item]))
    return bytes(c.proxy._receive_message().buffer)


def check_success(items):
    status = first(items, TAG_RESULT_STATUS)
    if status is None or int.from_bytes(status[2][:4], "big") != enums.ResultStatus.SUCCESS.value:
        msg = first(items, TAG_RESULT_MESSAGE)
        raise RuntimeError("operation failed: " + (msg[2].decode() if msg else "no message"))


class RawPayload(primitives.Struct):
    """A request payload from already-built PyKMIP items, for operations the client has no call for."""

    def __init__(self, parts):
        super(RawPayload, self).__init__(enums.Tags.REQUEST_PAYLOAD)
        self.parts = parts

    def write(self, ostream, kmip_version=enums.KMIPVersion.KMIP_1_0):
        t = BytearrayStream()
        for p in self.parts:
            p.write(t, kmip_version=kmip_version)
        self.length = t.length()
        super(RawPayload, self).write(ostream, kmip_version=kmip_version)
        ostream.write(t.buffer)


def parse_attribute(raw, kmip_version):
    """PyKMIP's own Attribute parser over one Attribute item."""
    a = cobjects.Attribute()
    a.read(BytearrayStream(raw), kmip_version=kmip_version)
    return a


def wrapping_spec(wid, encoding):
    return {
        "wrapping_method": enums.WrappingMethod.ENCRYPT,
        "encryption_key_information": {
            "unique_identifier": wid,
            "cryptographic_parameters": {"block_cipher_mode": enums.BlockCipherMode.NIST_KEY_WRAP},
        },
        "encoding_option": encoding,
    }


kmip_version = KMIP_VERSIONS[version]
c = pie_client.ProxyKmipClient(
    hostname=host, port=int(port), cert=cert, key=key, ca=ca,
    config_file="/dev/null", kmip_version=kmip_version,
)
with c:
    if scenario == "wrapped":
        kid = attempt("create_key", lambda: c.create(enums.CryptographicAlgorithm.AES, 256))
        wid = attempt("create_wrapping_key", lambda: c.create(
            enums.CryptographicAlgorithm.AES, 256, cryptographic_usage_mask=[
                enums.CryptographicUsageMask.WRAP_KEY, enums.CryptographicUsageMask.UNWRAP_KEY]))
        attempt("activate_wrapping_key", lambda: c.activate(wid))
        plain = c.get(kid).value
        kek = c.get(wid).value

        def no_encoding():
            w = c.get(kid, key_wrapping_specification=wrapping_spec(wid, enums.EncodingOption.NO_ENCODING))
            kwd = w.key_wrapping_data
            return {
                "wrapped_length": len(w.value),
                "differs_from_key": w.value != plain,
                "unwraps_to_key": keywrap.aes_key_unwrap(kek, w.value) == plain,
                "wrapping_method": kwd["wrapping_method"].name,
                "wrapping_key": kwd["encryption_key_information"]["unique_identifier"],
                "encoding_option": kwd["encoding_option"].name,
            }
        attempt("get_no_encoding", no_encoding)

        def ttlv_encoding():
            spec = c._build_key_wrapping_specification(wrapping_spec(wid, enums.EncodingOption.TTLV_ENCODING))
            items = ttlv_items(send_raw(c, enums.Operation.GET, payloads.GetRequestPayload(
                unique_identifier=kid, key_wrapping_specification=spec)))
            check_success(items)
            kv = first(items, TAG_KEY_VALUE)
            enc = first(items, TAG_ENCODING_OPTION)
            inner = cobjects.KeyValue()
            inner.read(BytearrayStream(keywrap.aes_key_unwrap(kek, kv[2])), kmip_version=kmip_version)
            return {
                "key_value_type": TYPE_NAMES.get(kv[1], kv[1]),
                "encoding_option": enums.EncodingOption(int.from_bytes(enc[2][:4], "big")).name if enc else None,
                "inner_key_material_is_key": inner.key_material.value == plain,
            }
        attempt("get_ttlv_encoding", ttlv_encoding)
    elif scenario == "index":
        factory = AttributeFactory()
        kid = attempt("create", lambda: c.create(enums.CryptographicAlgorithm.AES, 128, name="first"))
        attempt("get_attributes_name", lambda: sorted([
            {"name": a.attribute_name.value, "index": a.attribute_index.value if a.attribute_index else None}
            for a in c.get_attributes(kid, ["Name", "Cryptographic Length"])[1]], key=lambda a: a["name"]))

        def add(attribute):
            items = ttlv_items(send_raw(c, enums.Operation.ADD_ATTRIBUTE, RawPayload([
                primitives.TextString(kid, tag=enums.Tags.UNIQUE_IDENTIFIER), attribute])))
            check_success(items)
            a = parse_attribute(first(items, TAG_ATTRIBUTE)[3], kmip_version)
            return {"name": a.attribute_name.value, "index": a.attribute_index.value}
        attempt("add_name", lambda: add(factory.create_attribute(enums.AttributeType.NAME, "second")))
        attempt("add_contact", lambda: add(factory.create_attribute(enums.AttributeType.CONTACT_INFORMATION, "ops@example.org")))

        def modify():
            uid, a = c.modify_attribute(unique_identifier=kid, attribute=factory.create_attribute(
                enums.AttributeType.NAME, "renamed", index=0))
            return {"uid": uid, "name": a.attribute_name.value, "index": a.attribute_index.value,
                    "value": a.attribute_value.name_value.value}
        attempt("modify_name", modify)

        def delete(index):
            uid, a = c.delete_attribute(unique_identifier=kid, attribute_name="Name", attribute_index=index)
            return {"uid": uid, "index": a.attribute_index.value, "value": a.attribute_value.name_value.value}
        attempt("delete_name_1", lambda: delete(1))
        attempt("delete_name_0", lambda: delete(0))
    else:
        report("scenario", ok=False, error="unknown scenario " + scenario)
