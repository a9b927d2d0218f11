"""Post-quantum interop peer for test/interop/pqc-openssl.test.ts: pyca/cryptography on OpenSSL 3.5+
(ML-DSA, ML-KEM). Reads one JSON job on stdin, writes one JSON answer; bytes are hex."""
import json
import sys

from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem

PRIVATE = {
    "ML-DSA-44": mldsa.MLDSA44PrivateKey,
    "ML-DSA-65": mldsa.MLDSA65PrivateKey,
    "ML-DSA-87": mldsa.MLDSA87PrivateKey,
    "ML-KEM-768": mlkem.MLKEM768PrivateKey,
    "ML-KEM-1024": mlkem.MLKEM1024PrivateKey,
}


def pkcs8(k):
    return k.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption()).hex()


def spki(k):
    return k.public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo).hex()


def main():
    job = json.load(sys.stdin)
    op = job["op"]
    h = bytes.fromhex
    if op == "generate":
        k = PRIVATE[job["alg"]].generate()
        out = {"pkcs8": pkcs8(k), "spki": spki(k.public_key())}
    elif op == "sign":
        k = s.load_der_private_key(h(job["pkcs8"]), password=None)
        out = {"signature": k.sign(h(job["data"])).hex()}
    elif op == "verify":
        k = s.load_der_public_key(h(job["spki"]))
        try:
            k.verify(h(job["signature"]), h(job["data"]))
            out = {"valid": True}
        except Exception:
            out = {"valid": False}
    elif op == "encapsulate":
        k = s.load_der_public_key(h(job["spki"]))
        secret, ct = k.encapsulate()
        out = {"secret": secret.hex(), "ciphertext": ct.hex()}
    elif op == "decapsulate":
        k = s.load_der_private_key(h(job["pkcs8"]), password=None)
        out = {"secret": k.decapsulate(h(job["ciphertext"])).hex()}
    elif op == "certificate":
        # A certificate the KMIP server issued, read by pyca's X.509 parser and its signature checked
        # by OpenSSL with the issuer certificate's key (pyca's verify_directly_issued_by knows no ML-DSA).
        from cryptography import x509

        cert = x509.load_der_x509_certificate(h(job["certificate"]))
        issuer = x509.load_der_x509_certificate(h(job["issuer"]))
        try:
            issuer.public_key().verify(cert.signature, cert.tbs_certificate_bytes)
            valid = True
        except Exception:
            valid = False
        out = {
            "valid": valid,
            "issuerMatches": cert.issuer == issuer.subject,
            "signatureOid": cert.signature_algorithm_oid.dotted_string,
            "spki": spki(cert.public_key()),
        }
    elif op == "public":
        k = s.load_der_private_key(h(job["pkcs8"]), password=None)
        out = {"spki": spki(k.public_key())}
    else:
        raise SystemExit("unknown op " + op)
    json.dump(out, sys.stdout)


main()
