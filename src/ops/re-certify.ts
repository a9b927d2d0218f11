/**
 * Re-certify: a new certificate for the same key pair as an existing one, issued here.
 *
 * The existing certificate (Unique Identifier, else the ID Placeholder) must be an X.509
 * certificate the caller may see. A PKCS#10 request may come with it, for the same key; its subject
 * then replaces the old one. The issuer is the old certificate's (its Certificate Link, or a
 * Certificate Link in the request), or, for a self-signed certificate, the subject's own private
 * key; an issuer the server does not hold cannot re-sign (Permission Denied: "not able to be
 * certified"). The new certificate lasts as long as the old one did, from its Activation Date.
 *
 * Attributes and links follow the spec's Re-certify tables: attributes are copied except those
 * set anew (Initial Date, identifiers, digest, certificate fields, state, links, revocation,
 * destruction); the Names move to the new certificate; with an Offset the new Activation Date is
 * now + Offset and the Deactivation Date keeps its distance from it, otherwise both are copied; an
 * Offset with an Activation or Deactivation Date in the request is Invalid Message. Links:
 * Replacement Object Link on the old certificate, Replaced Object Link and Public Key Link on the
 * new one, and the public key's Certificate Link moves to the new certificate.
 */
import { X509Certificate } from 'node:crypto';
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CertificateType, CryptographicUsageMask, LinkType, ObjectType, Operation } from '../spec/generated/enums';
import type { KmipAttribute } from '../kmip/attributes';
import { KmipError, Reason } from '../kmip/errors';
import type { OperationHandler } from '../objects/context';
import type { StoredAttribute } from '../store/object-store';
import { subjectOfCertificate } from '../crypto/x509-issue';
import { certificateSignedBy, certificateSpki } from '../crypto/cert-keys';
import { isServerManaged } from '../objects/attribute-policy';
import { addAttributeInstance, isDestroyed, loadObject, mayReach, nowSeconds, requestedUid, requireOnline, touchLastChange } from '../objects/managed-object';
import { checkClientAttributes, chooseProtectionStorage, prepareNewObject } from '../objects/new-object';
import { optInterval } from '../objects/read';
import { derivedFromBody } from '../objects/registered-object';
import { inspectRegistered } from '../objects/register-inspect';
import { NOT_COPIED, replacementDates } from '../objects/replacement';
import {
  certificateAttributesOf,
  certificateDer,
  checkCertificateType,
  linkTarget,
  readCertificationRequest,
  resolveIssuer,
  sameKey,
  usageMaskOf,
  withoutLink,
  issueUnder,
} from '../objects/certificate-issuer';
import { resolveRequestAttributes } from '../objects/templates';

import { dateAttribute, linkAttribute } from '../kmip/attributes';
function seconds(date: string): bigint {
  return BigInt(Math.floor(Date.parse(date) / 1000));
}

export const reCertifyHandler: OperationHandler = {
  operation: Operation.ReCertify,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const old = await loadObject(ctx, uid);
    if (old.objectType !== ObjectType.Certificate) {
      throw new KmipError(Reason.InvalidObjectType, `object ${uid} is not a certificate, so it cannot be re-certified`, undefined, Reason.PermissionDenied);
    }
    if (isDestroyed(old.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${uid} is destroyed`);
    requireOnline(old);
    const attrs = await resolveRequestAttributes(payload, ctx);
    checkClientAttributes(attrs, ObjectType.Certificate);
    checkCertificateType(attrs);
    const offset = optInterval(payload, Tag.Offset);
    if (offset !== undefined && attrs.some((a) => a.name === 'Activation Date' || a.name === 'Deactivation Date')) {
      throw new KmipError(Reason.InvalidMessage, 'Offset cannot be given together with an Activation Date or Deactivation Date');
    }
    const protectionStorage = chooseProtectionStorage(payload);
    const csr = await readCertificationRequest(payload, ctx);

    const oldDer = await certificateDer(ctx, old);
    const x509 = new X509Certificate(oldDer);
    const subjectSpki = certificateSpki(oldDer);
    if (csr && !sameKey(csr.publicSpki, subjectSpki)) throw new KmipError(Reason.InvalidField, 'Re-certify renews a certificate for the same key pair; the Certificate Request is for another key');
    const subjectDer = csr?.subjectDer ?? subjectOfCertificate(oldDer);

    const pubUid = linkTarget(old.attributes, LinkType.PublicKeyLink);
    // The public key, when the caller may see it: its Private Key Link finds a self-signer, and its
    // Certificate Link moves to the new certificate.
    const linked = pubUid === undefined ? undefined : await ctx.store.get(pubUid);
    const pub = linked && !isDestroyed(linked.state) && mayReach(ctx, linked) ? linked : undefined;
    const selfSigned = x509.issuer === x509.subject && certificateSignedBy(oldDer, subjectSpki);
    const issuerCertUid = linkTarget(attrs, LinkType.CertificateLink) ?? linkTarget(old.attributes, LinkType.CertificateLink);
    if (issuerCertUid === undefined && !selfSigned) {
      throw new KmipError(Reason.PermissionDenied, `the issuer of certificate ${uid} is not held by the server (no Certificate Link), so it cannot be re-certified`);
    }
    const issuer = await resolveIssuer(
      ctx,
      issuerCertUid,
      { der: subjectDer, spki: subjectSpki, ...(pub ? { privateUid: linkTarget(pub.attributes, LinkType.PrivateKeyLink) } : {}) },
      linkTarget(attrs, LinkType.PrivateKeyLink),
    );

    const now = nowSeconds(ctx);
    const dates = replacementDates(old.attributes, offset, now);
    const start = dateAttribute(attrs, 'Activation Date') ?? dateAttribute(dates, 'Activation Date');
    const notBefore = start !== undefined && start > now ? start : now;
    const notAfter = notBefore + (seconds(x509.validTo) - seconds(x509.validFrom));
    const usage = (usageMaskOf(attrs) ?? usageMaskOf(old.attributes) ?? (pub ? usageMaskOf(pub.attributes) : undefined) ?? 0) | (x509.ca ? CryptographicUsageMask.CertificateSign : 0);
    const der = await issueUnder(issuer, { subjectDer, subjectSpki, usageMask: usage }, notBefore, notAfter);

    const body = ttlv.structure(Tag.Certificate, [ttlv.enumeration(Tag.CertificateType, CertificateType.X_509), ttlv.byteString(Tag.CertificateValue, der)]);
    const own = derivedFromBody(body);
    own.push(...inspectRegistered(ObjectType.Certificate, body, own));
    const inherited: StoredAttribute[] = [
      ...old.attributes.filter((a) => !NOT_COPIED.has(a.name) && !isServerManaged(a.name)),
      ...old.attributes.filter((a) => a.name === 'Name'),
      ...dates,
    ];
    // Links go with the request's attributes (an inherited attribute gives way to any of the same name).
    const links: KmipAttribute[] = [linkAttribute(LinkType.ReplacedObjectLink, uid)];
    if (pubUid !== undefined) links.push(linkAttribute(LinkType.PublicKeyLink, pubUid));
    if (issuer.certificateUid !== undefined && linkTarget(attrs, LinkType.CertificateLink) === undefined) {
      links.push(linkAttribute(LinkType.CertificateLink, issuer.certificateUid));
    }
    const clientAttributes = [...certificateAttributesOf(attrs), ...links];
    const record = await prepareNewObject(ctx, {
      objectType: ObjectType.Certificate,
      body,
      clientAttributes,
      derived: own.filter((d) => !clientAttributes.some((a) => a.name === d.name)),
      inherited,
      originalCreation: true,
      protectionStorage,
      owner: old.owner,
    });
    // The old certificate: its Names go to the new one, a link points to it; its state stays.
    const oldAttrs = touchLastChange(ctx, addAttributeInstance(old.attributes.filter((a) => a.name !== 'Name'), 'Link', linkAttribute(LinkType.ReplacementObjectLink, record.uid).value));
    const writes: Parameters<typeof ctx.store.writeBatch>[0][number][] = [
      { insert: record },
      { uid, update: { attributes: oldAttrs, expectedRevision: old.revision } },
    ];
    if (pub) {
      const moved = addAttributeInstance(withoutLink(pub.attributes, LinkType.CertificateLink, uid), 'Link', linkAttribute(LinkType.CertificateLink, record.uid).value);
      writes.push({ uid: pub.uid, update: { attributes: touchLastChange(ctx, moved), expectedRevision: pub.revision } });
    }
    await ctx.store.writeBatch(writes);
    ctx.idPlaceholder = record.uid;
    ctx.touched.push(record.uid);
    return [ttlv.textString(Tag.UniqueIdentifier, record.uid)];
  },
};
