"""What the PyKMIP step scripts beside this file share: the KMIP versions Debian's client speaks and
the one-JSON-line-per-step report the jest tests read (test/helpers/pykmip.ts)."""
import json

from kmip import enums

KMIP_VERSIONS = {
    "1.0": enums.KMIPVersion.KMIP_1_0, "1.1": enums.KMIPVersion.KMIP_1_1, "1.2": enums.KMIPVersion.KMIP_1_2,
    "1.3": enums.KMIPVersion.KMIP_1_3, "1.4": enums.KMIPVersion.KMIP_1_4, "2.0": enums.KMIPVersion.KMIP_2_0,
}


def report(step, **fields):
    print(json.dumps(dict(step=step, **fields)), flush=True)


def attempt(step, fn):
    """Runs one step and reports its value, or the client's error and Result Reason."""
    try:
        value = fn()
        report(step, ok=True, value=value)
        return value
    except Exception as e:  # the test asserts on the reported failure
        reason = getattr(e, "reason", None)
        report(step, ok=False, error="%s: %s" % (type(e).__name__, e), reason=getattr(reason, "name", None))
        return None
