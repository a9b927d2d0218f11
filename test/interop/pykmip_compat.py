"""Drives Debian's PyKMIP client against our server started from a pykmip-server server.conf.

Usage: pykmip_compat.py HOST PORT CERT KEY CA KMIP_VERSION SCENARIO [ARGS...]
  profile                      create, Locate by Operation Policy Name "default", get, destroy
  as USER PASSWORD [UID...]    with a Username and Password credential: create a key, then try
                               to Get each UID given and list what Locate finds
Prints one JSON line per step; the jest test (pykmip-config.test.ts) asserts on them.
"""
import sys

from kmip import enums
from kmip.core.factories.attributes import AttributeFactory
from kmip.pie import client as pie_client
from pykmip_steps import KMIP_VERSIONS, attempt, report

host, port, cert, key, ca, version, scenario = sys.argv[1:8]
rest = sys.argv[8:]


def policy_default():
    return AttributeFactory().create_attribute(enums.AttributeType.OPERATION_POLICY_NAME, "default")


username = password = None
if scenario == "as":
    username, password = rest[0], rest[1]

c = pie_client.ProxyKmipClient(
    hostname=host, port=int(port), cert=cert, key=key, ca=ca,
    username=username, password=password,
    config_file="/dev/null", kmip_version=KMIP_VERSIONS[version],
)
with c:
    if scenario == "profile":
        uid = attempt("create", lambda: c.create(enums.CryptographicAlgorithm.AES, 256, name="drop-in"))
        attempt("policy_name", lambda: c.get_attributes(uid, ["Operation Policy Name"])[1][0].attribute_value.value)
        attempt("locate_default", lambda: c.locate(attributes=[policy_default()]))
        attempt("get", lambda: len(c.get(uid).value))
        attempt("destroy", lambda: c.destroy(uid))
        attempt("locate_after_destroy", lambda: c.locate(attributes=[policy_default()]))
    elif scenario == "as":
        attempt("create", lambda: c.create(enums.CryptographicAlgorithm.AES, 128))
        for other in rest[2:]:
            attempt("get " + other, lambda: len(c.get(other).value))
        attempt("locate", lambda: c.locate())
    else:
        report("scenario", ok=False, error="unknown scenario " + scenario)
