/**
 * The post-quantum values are vendor values offered to every protocol version (spec-extensions/):
 * a KMIP 1.4 client that names one gets the key, and sees the value back in Get and Get Attributes,
 * as a 2.1 client does.
 */
import fs from 'node:fs';
import { KmipClient } from '../../../src/client';
import { CryptographicAlgorithm, CryptographicUsageMask, Operation, ResultStatus } from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import { ItemType, ttlv, type TtlvItem } from '../../../ttlv/types';
import { useTestListener, type TestListener } from '../../helpers/test-listener';

const t: TestListener = useTestListener();

const attr = (name: string, value: TtlvItem): TtlvItem => ttlv.structure(Tag.Attribute, [ttlv.textString(Tag.AttributeName, name), value]);

function find(items: readonly TtlvItem[] | undefined, tag: number): TtlvItem | undefined {
  for (const i of items ?? []) {
    if (i.tag === tag) return i;
    if (i.type === ItemType.Structure) {
      const inner = find(i.value, tag);
      if (inner) return inner;
    }
  }
  return undefined;
}

it('a 1.4 client creates an ML-DSA-44 pair and sees its algorithm in Get and Get Attributes', async () => {
  const c14 = new KmipClient({
    servers: [`127.0.0.1:${t.listener.address.port}`],
    servername: 'localhost',
    ca: fs.readFileSync(t.pki.caPath),
    cert: fs.readFileSync(t.pki.clientCertPath),
    key: fs.readFileSync(t.pki.clientKeyPath),
    version: { major: 1, minor: 4 },
  });
  try {
    const [ck] = await c14.send([
      {
        operation: Operation.CreateKeyPair,
        payload: [
          ttlv.structure(Tag.CommonTemplateAttribute, [attr('Cryptographic Algorithm', ttlv.enumeration(Tag.AttributeValue, CryptographicAlgorithm.ML_DSA_44))]),
          ttlv.structure(Tag.PrivateKeyTemplateAttribute, [attr('Cryptographic Usage Mask', ttlv.integer(Tag.AttributeValue, CryptographicUsageMask.Sign))]),
        ],
      },
    ]);
    expect(ck?.status).toBe(ResultStatus.Success);
    const priv = find(ck?.payload, Tag.PrivateKeyUniqueIdentifier)?.value as string;
    const [g] = await c14.send([{ operation: Operation.Get, payload: [ttlv.textString(Tag.UniqueIdentifier, priv)] }]);
    expect(g?.status).toBe(ResultStatus.Success);
    expect(find(g?.payload, Tag.CryptographicAlgorithm)?.value).toBe(CryptographicAlgorithm.ML_DSA_44);
    const [ga] = await c14.send([{ operation: Operation.GetAttributes, payload: [ttlv.textString(Tag.UniqueIdentifier, priv), ttlv.textString(Tag.AttributeName, 'Cryptographic Algorithm')] }]);
    expect(ga?.status).toBe(ResultStatus.Success);
    expect(find(ga?.payload, Tag.AttributeValue)?.value).toBe(CryptographicAlgorithm.ML_DSA_44);
  } finally {
    c14.close();
  }
});
