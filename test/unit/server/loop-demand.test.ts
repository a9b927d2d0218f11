/**
 * When the audit trail may sync on the event loop: only with no request in hand and no connection
 * free to send one.
 */
import { connectionDemand, handlingRequest, loopWaitsOnlyForAudit } from '../../../src/server/loop-demand';

test('a connection free to send keeps the sync off the loop until it waits for an answer or closes; repeats count once', () => {
  expect(loopWaitsOnlyForAudit()).toBe(true);
  const a = connectionDemand();
  const b = connectionDemand();
  a.mayRequest(true);
  a.mayRequest(true);
  b.mayRequest(true);
  expect(loopWaitsOnlyForAudit()).toBe(false);
  a.mayRequest(false);
  expect(loopWaitsOnlyForAudit()).toBe(false);
  b.mayRequest(false);
  b.mayRequest(false);
  expect(loopWaitsOnlyForAudit()).toBe(true);
  a.mayRequest(false);
  expect(loopWaitsOnlyForAudit()).toBe(true);
});

test('a request in hand keeps the sync off the loop until it is answered, or fails', async () => {
  let release!: () => void;
  const work = handlingRequest(() => new Promise<void>((r) => (release = r)));
  const failing = handlingRequest(() => Promise.reject(new Error('refused')));
  expect(loopWaitsOnlyForAudit()).toBe(false);
  await expect(failing).rejects.toThrow('refused');
  expect(loopWaitsOnlyForAudit()).toBe(false);
  release();
  await work;
  expect(loopWaitsOnlyForAudit()).toBe(true);
});
