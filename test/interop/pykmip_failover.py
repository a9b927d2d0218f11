"""Drives Debian's PyKMIP client holding a server list through a Create + Get loop; prints one JSON line.

Usage: pykmip_failover.py HOSTS PORT CERT KEY CA KMIP_VERSION ACK_FILE KILL_FILE AFTER_KILL_MS MAX_SECONDS

HOSTS is PyKMIP's own list (comma-separated, one PORT for all): its open() tries them in turn and
keeps the first that accepts. After a failed request the loop reconnects (close, then open), so a
dead node is passed over. A Create is acknowledged only when its answer arrived: its uid is written
to ACK_FILE (one a line, flushed) before the next request. The test writes KILL_FILE (the kill's
moment, ms since the epoch) when it has killed a node; the loop then runs AFTER_KILL_MS more, or
stops at MAX_SECONDS in all. The recovery time is from the kill to the first Create + Get answered by another host.
The jest test (test/slow/pg-nodes-pykmip.test.ts) asserts on the figures; this script only reports.
"""
import os
import sys
import time

from kmip import enums
from kmip.pie import client as pie_client
from pykmip_steps import KMIP_VERSIONS, report

hosts, port, cert, key, ca, version, ack_file, kill_file, after_kill_ms, max_seconds = sys.argv[1:11]


def now_ms():
    return int(time.time() * 1000)


def killed_at():
    """The kill's moment once the test has written it (it renames the file into place whole)."""
    if not os.path.exists(kill_file):
        return None
    with open(kill_file) as f:
        return int(f.read())


c = pie_client.ProxyKmipClient(
    hostname=hosts, port=int(port), cert=cert, key=key, ca=ca,
    config_file="/dev/null", kmip_version=KMIP_VERSIONS[version],
)
usage = [enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT]
acknowledged = 0
failures = 0
errors = {}
answered = []  # (ms, host) of each Create + Get answered
deadline = time.monotonic() + float(max_seconds)
c.open()
with open(ack_file, "w") as acks:
    i = 0
    while time.monotonic() < deadline:
        kill = killed_at()
        if kill is not None and now_ms() > kill + int(after_kill_ms):
            break
        i += 1
        try:
            uid = c.create(enums.CryptographicAlgorithm.AES, 256, name="pykmip-failover-%d" % i,
                           cryptographic_usage_mask=usage)
            acks.write(uid + "\n")
            acks.flush()
            acknowledged += 1
            c.get(uid)
            answered.append((now_ms(), c.proxy.host))
        except Exception as e:  # a request cut by the kill: never acknowledged, reconnect
            failures += 1
            name = type(e).__name__
            errors[name] = errors.get(name, 0) + 1
            c.close()
            try:
                c.open()  # the hosts in turn: the dead node refuses, the next one answers
            except Exception as e2:
                name = "open: " + type(e2).__name__
                errors[name] = errors.get(name, 0) + 1
                time.sleep(0.05)
c.close()

kill = killed_at()


def hosts_of(rows):
    counts = {}
    for _, host in rows:
        counts[host] = counts.get(host, 0) + 1
    return counts


# The first answer from another host than the list's first: the client has moved on. An answer
# the killed node sent just before it died may still arrive after the kill's moment.
first_host = hosts.split(",")[0]
moved = next((a for a in answered if a[1] != first_host), None)
before = [a for a in answered if kill is None or a[0] <= kill]
after = [a for a in answered if kill is not None and a[0] > kill]
report("failover", ok=True, value=dict(
    acknowledged=acknowledged, answered=len(answered), failures=failures, errors=errors,
    recoveryMs=(moved[0] - kill) if moved and kill is not None else None,
    hostsBeforeKill=hosts_of(before), hostsAfterKill=hosts_of(after),
    backOnFirstHost=len([a for a in answered if moved and a[0] >= moved[0] and a[1] == first_host]),
))
