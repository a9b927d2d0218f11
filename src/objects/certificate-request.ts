/**
 * The Certificate Request managed object (KMIP 2.0 on): a Certificate Request Type and the
 * request's bytes (Certificate Request Value). Register keeps one; Get, Get Attributes, Locate and
 * Destroy treat it as any object; Certify and Re-certify take one by its identifier
 * (Certificate Request Unique Identifier) instead of the request's bytes.
 *
 * A PKCS#10 request (DER or PEM) must parse and carry a valid self-signature to be registered, so
 * a stored request never fails later for being malformed; CRMF and PGP requests are kept as given
 * (the server cannot read them, and only refuses them when asked to certify one).
 */
import { ItemType, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CertificateRequestType, ObjectType } from '../spec/generated/enums';
import { child } from '../kmip/tree';
import { KmipError, Reason, type ReasonValue } from '../kmip/errors';
import { isAllowed, stateName, type StateValue } from '../lifecycle/state-machine';
import { parseCertificationRequest, requestDer, type CertificationRequest } from '../crypto/x509-issue';
import type { OpContext } from './context';
import { isDestroyed, loadObject, readBody, requireOnline } from './managed-object';

export interface CertificateRequestFields {
  readonly type: number;
  readonly value: Uint8Array;
}

/** The two required fields of a Certificate Request object's body. */
export function certificateRequestFields(body: TtlvStructure): CertificateRequestFields {
  const type = child(body, Tag.CertificateRequestType);
  const value = child(body, Tag.CertificateRequestValue);
  if (type === undefined || value === undefined) {
    throw new KmipError(Reason.MissingData, 'a Certificate Request object needs its Certificate Request Type and Certificate Request Value');
  }
  if (type.type !== ItemType.Enumeration || value.type !== ItemType.ByteString) {
    throw new KmipError(Reason.InvalidField, 'Certificate Request Type must be an Enumeration and Certificate Request Value a Byte String');
  }
  return { type: type.value, value: value.value };
}

/**
 * A PKCS#10 request (DER, or PEM per the type) read and its signature checked; CRMF and PGP are
 * not offered. `reason` is the Result Reason for a malformed request.
 */
export function parseRequestOfType(fields: CertificateRequestFields, reason: ReasonValue): CertificationRequest {
  if (fields.type !== CertificateRequestType.PKCS_10 && fields.type !== CertificateRequestType.PEM) {
    throw new KmipError(Reason.FeatureNotSupported, 'only PKCS#10 certificate requests (DER or PEM) are accepted');
  }
  return parseCertificationRequest(requestDer(fields.value, fields.type === CertificateRequestType.PEM, reason), reason);
}

/** Register's check of a Certificate Request body: readable when it is PKCS#10. */
export function checkCertificateRequestObject(body: TtlvStructure): void {
  const fields = certificateRequestFields(body);
  if (fields.type === CertificateRequestType.PKCS_10 || fields.type === CertificateRequestType.PEM) parseRequestOfType(fields, Reason.InvalidField);
}

/**
 * The stored Certificate Request `uid` names, read for Certify or Re-certify; undefined when the
 * object is of another type (the caller decides what that means).
 */
export async function storedCertificationRequest(ctx: OpContext, uid: string): Promise<CertificationRequest | undefined> {
  const rec = await loadObject(ctx, uid);
  if (rec.objectType !== ObjectType.CertificateRequest) return undefined;
  if (isDestroyed(rec.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${uid} is destroyed`);
  requireOnline(rec);
  if (!isAllowed(rec.state as StateValue, 'get')) {
    throw new KmipError(Reason.WrongKeyLifecycleState, `certificate request ${uid} cannot be used in state ${stateName(rec.state)}`);
  }
  return parseRequestOfType(certificateRequestFields(await readBody(ctx, rec)), Reason.InvalidCSR);
}
