/**
 * Certify: an X.509 certificate for a public key, issued here and stored as a new Certificate.
 *
 * The subject key is the managed Public Key the request names (Unique Identifier, else the ID
 * Placeholder), or the key in a PKCS#10 Certificate Request (sent, or a stored Certificate Request
 * object named by Certificate Request Unique Identifier or by that identifier); given both, they
 * must be the same key.
 * The subject name is the request's (which "takes precedence"), else a CN from the request's Name
 * attribute, the public key's Name, or its Unique Identifier. The issuer is a CA certificate the
 * request links to, or the subject's own private key (self-signed): see certificate-issuer.ts.
 * Validity: from the Activation Date given (else now) to the Deactivation Date given (else a year),
 * never past the issuer's own end. Key Usage follows the Cryptographic Usage Mask the request
 * gives, else the public key's.
 *
 * Links (spec): Public Key Link from the certificate to the public key and Certificate Link back,
 * Certificate Link from the certificate to its issuer's certificate. Stored in one batch; the ID
 * Placeholder names the certificate.
 */
import { ItemType, ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CertificateType, LinkType, ObjectType, Operation } from '../spec/generated/enums';
import type { KmipAttribute } from '../kmip/attributes';
import { asText, child, opt } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';
import type { ManagedObjectRecord } from '../store/object-store';
import { commonNameDer } from '../crypto/x509-issue';
import { addAttributeInstance, getAttribute, nowSeconds, touchLastChange } from '../objects/managed-object';
import { checkClientAttributes, chooseProtectionStorage, prepareNewObject } from '../objects/new-object';
import { derivedFromBody } from '../objects/registered-object';
import { inspectRegistered } from '../objects/register-inspect';
import {
  DEFAULT_VALIDITY_SECONDS,
  certificateAttributesOf,
  checkCertificateType,
  linkTarget,
  loadSubjectPublicKey,
  readCertificationRequest,
  resolveIssuer,
  sameKey,
  usageMaskOf,
  issueUnder,
} from '../objects/certificate-issuer';
import { resolveRequestAttributes } from '../objects/templates';
import { storedCertificationRequest } from '../objects/certificate-request';

import { dateAttribute, linkAttribute } from '../kmip/attributes';
function nameText(v: TtlvItem | undefined): string | undefined {
  return v?.type === ItemType.Structure ? opt.text(v, Tag.NameValue) : undefined;
}

/** The CN of a certificate whose request gave no subject. */
function subjectName(attrs: readonly KmipAttribute[], pub: ManagedObjectRecord | undefined): string {
  return nameText(attrs.find((a) => a.name === 'Name')?.value) ?? (pub ? (nameText(getAttribute(pub.attributes, 'Name')) ?? pub.uid) : 'KMIP certificate');
}

export const certifyHandler: OperationHandler = {
  operation: Operation.Certify,
  async handle(payload, ctx) {
    const attrs = await resolveRequestAttributes(payload, ctx);
    checkClientAttributes(attrs, ObjectType.Certificate);
    checkCertificateType(attrs);
    const protectionStorage = chooseProtectionStorage(payload);
    let csr = await readCertificationRequest(payload, ctx);
    // The ID Placeholder stands in where the request names it (1.x does whenever it omits the
    // identifier: kmip/request-adapter.ts), or gives neither a key nor a Certificate Request.
    const given = child(payload, Tag.UniqueIdentifier);
    let uid = given === undefined ? (csr === undefined ? ctx.idPlaceholder : undefined) : given.type === ItemType.Enumeration ? ctx.idPlaceholder : asText(given);
    // It may name a stored Certificate Request instead of the public key (say, one the same batch registered).
    const storedRequest = uid !== undefined && csr === undefined ? await storedCertificationRequest(ctx, uid) : undefined;
    if (storedRequest !== undefined) {
      csr = storedRequest;
      uid = undefined;
    }
    if (uid === undefined && csr === undefined) {
      throw new KmipError(Reason.MissingData, 'Certify needs the public key (Unique Identifier or ID Placeholder) or a Certificate Request');
    }
    const pub = uid === undefined ? undefined : await loadSubjectPublicKey(ctx, uid);
    if (pub && csr && !sameKey(pub.spki, csr.publicSpki)) {
      throw new KmipError(Reason.InvalidField, 'the Certificate Request is for another key than the public key named');
    }
    const subjectSpki = pub?.spki ?? (csr as NonNullable<typeof csr>).publicSpki;
    const subjectDer = csr?.subjectDer ?? commonNameDer(subjectName(attrs, pub?.rec));

    const issuer = await resolveIssuer(
      ctx,
      linkTarget(attrs, LinkType.CertificateLink),
      { der: subjectDer, spki: subjectSpki, ...(pub ? { privateUid: linkTarget(pub.rec.attributes, LinkType.PrivateKeyLink) } : {}) },
      linkTarget(attrs, LinkType.PrivateKeyLink),
    );
    const now = nowSeconds(ctx);
    const notBefore = dateAttribute(attrs, 'Activation Date') ?? now;
    const notAfter = dateAttribute(attrs, 'Deactivation Date') ?? notBefore + DEFAULT_VALIDITY_SECONDS;
    const usageMask = usageMaskOf(attrs) ?? (pub ? (usageMaskOf(pub.rec.attributes) ?? 0) : 0);
    const der = await issueUnder(issuer, { subjectDer, subjectSpki, usageMask }, notBefore, notAfter);

    const body = ttlv.structure(Tag.Certificate, [ttlv.enumeration(Tag.CertificateType, CertificateType.X_509), ttlv.byteString(Tag.CertificateValue, der)]);
    const own = derivedFromBody(body);
    own.push(...inspectRegistered(ObjectType.Certificate, body, own));
    const links: KmipAttribute[] = [];
    if (pub) links.push(linkAttribute(LinkType.PublicKeyLink, pub.rec.uid));
    const clientAttributes = [...certificateAttributesOf(attrs), ...links];
    const record = await prepareNewObject(ctx, {
      objectType: ObjectType.Certificate,
      body,
      clientAttributes,
      derived: own.filter((d) => !clientAttributes.some((a) => a.name === d.name)),
      originalCreation: true,
      protectionStorage,
    });
    const writes: Parameters<typeof ctx.store.writeBatch>[0][number][] = [{ insert: record }];
    if (pub) {
      const current = (await ctx.store.get(pub.rec.uid)) ?? pub.rec;
      writes.push({
        uid: pub.rec.uid,
        update: {
          attributes: touchLastChange(ctx, addAttributeInstance(current.attributes, 'Link', linkAttribute(LinkType.CertificateLink, record.uid).value)),
          expectedRevision: current.revision,
        },
      });
    }
    await ctx.store.writeBatch(writes);
    ctx.idPlaceholder = record.uid;
    ctx.touched.push(record.uid);
    return [ttlv.textString(Tag.UniqueIdentifier, record.uid)];
  },
};
