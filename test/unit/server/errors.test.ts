import { ENUM_INFO, ResultReason } from '../../../src/spec/generated/enums';
import { SUPPORTED_VERSIONS } from '../../../src/kmip/message';
import { KmipError, reasonForVersion } from '../../../src/kmip/errors';
import { mapError } from '../../../src/server/errors';
import { TtlvError, TtlvErrorCode } from '../../../ttlv/errors';
import { KeyProtectorError } from '../../../src/keys/key-protector';
import { isInVersion } from '../../../src/spec/versions';
import { enumValueInfo } from '../../../src/spec/registry';

const reasons = ENUM_INFO.ResultReason.values.map((v) => v.value as (typeof ResultReason)[keyof typeof ResultReason]);

describe.each(SUPPORTED_VERSIONS.map((v) => [`${v.major}.${v.minor}`, v] as const))('KMIP %s', (_l, v) => {
  test('every result reason maps to one the version has', () => {
    for (const r of reasons) {
      const mapped = reasonForVersion(r, v);
      const info = enumValueInfo('ResultReason', mapped)!;
      expect(isInVersion(info.firstVersion, info.lastVersion, v)).toBe(true);
      // A reason the version has is never changed.
      const own = enumValueInfo('ResultReason', r)!;
      // (One documented exception: 2.0's test cases report lifecycle refusals as Permission Denied.)
      const v20Exception = v.major === 2 && v.minor === 0 && r === ResultReason.WrongKeyLifecycleState;
      if (isInVersion(own.firstVersion, own.lastVersion, v) && !v20Exception) expect(mapped).toBe(r);
    }
  });
});

test('1.x gets Permission Denied for a wrong lifecycle state, 2.x the precise reason', () => {
  expect(reasonForVersion(ResultReason.WrongKeyLifecycleState, { major: 1, minor: 4 })).toBe(ResultReason.PermissionDenied);
  expect(reasonForVersion(ResultReason.WrongKeyLifecycleState, { major: 2, minor: 1 })).toBe(ResultReason.WrongKeyLifecycleState);
});

test('codec, HSM and unexpected errors: right reason, no internal text to the client', () => {
  const v = { major: 2, minor: 1 };
  expect(mapError(new TtlvError(TtlvErrorCode.Truncated, 12, 'x'), v).reason).toBe(ResultReason.InvalidMessage);
  const hsm = mapError(new KeyProtectorError('HSM_UNAVAILABLE', 'slot 7 said CKR_DEVICE_REMOVED'), v);
  expect(hsm.reason).toBe(ResultReason.CryptographicFailure);
  expect(hsm.message).not.toMatch(/slot 7/);
  const boom = mapError(new Error('secret internal detail'), v);
  expect(boom.reason).toBe(ResultReason.GeneralFailure);
  expect(boom.message).not.toMatch(/secret/);
  expect(boom.correlationId).toBeDefined();
  expect(mapError(new KmipError(ResultReason.ItemNotFound, 'object x not found'), v)).toEqual({ reason: ResultReason.ItemNotFound, message: 'object x not found' });
});
