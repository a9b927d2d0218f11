#!/usr/bin/env bash
# Installs the Debian packages the server and its tests use, if missing:
#   softhsm2       the default PKCS#11 HSM (and the test HSM)
#   python3-pykmip a third-party KMIP client for the interop tests, and pykmip-server for benchmarks
#   openssl        used by tests to cross-check certificates
#   rsyslog, rsyslog-gnutls
#                  the SIEM collector the audit forwarding test sends to (syslog over TLS, GnuTLS driver)
#   libmongocrypt-dev, libssl-dev, pkg-config, gcc, libc6-dev
#                  the libmongocrypt interop test compiles a small C driver against kms_message
#                  and OpenSSL (test/interop/mongocrypt/kmip_driver.c)
#   prometheus     its promtool checks the server's /metrics output
#   postgresql     the PostgreSQL store engine's tests: a throwaway cluster (initdb, pg_ctl) per run
# As root it runs apt-get; otherwise it names the one command to run.
set -euo pipefail
need=()
command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)
/usr/bin/python3 -c 'import kmip' >/dev/null 2>&1 || need+=(python3-pykmip)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ -x /usr/sbin/rsyslogd ] || need+=(rsyslog)
[ -n "$(find /usr/lib -name lmnsd_gtls.so -print -quit 2>/dev/null)" ] || need+=(rsyslog-gnutls)
[ -f /usr/include/kms_message/kms_kmip_request.h ] || need+=(libmongocrypt-dev)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v cc >/dev/null 2>&1 || need+=(gcc)
# gcc only recommends the C library headers, and --no-install-recommends skips them.
[ -f /usr/include/stdio.h ] || need+=(libc6-dev)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# Debian puts initdb and pg_ctl under /usr/lib/postgresql/N/bin, not on PATH.
{ command -v initdb >/dev/null 2>&1 || [ -n "$(find /usr/lib/postgresql -path '*/bin/initdb' -print -quit 2>/dev/null)" ]; } || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${need[*]}. Run: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
