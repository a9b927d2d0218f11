/**
 * Operations this server runs in one part only refuse the multi-part fields plainly. Init and
 * Final together (or Final alone) describe one whole message, which is fine.
 */
import type { TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { child, opt } from '../kmip/tree';
import { KmipError, Reason } from '../server/errors';

export function rejectParts(payload: TtlvStructure, operation: string): void {
  const started = opt.boolean(payload, Tag.InitIndicator) === true && opt.boolean(payload, Tag.FinalIndicator) !== true;
  if (child(payload, Tag.CorrelationValue) || started) {
    throw new KmipError(Reason.FeatureNotSupported, `${operation} is not offered in parts (Init Indicator, Correlation Value)`);
  }
}
