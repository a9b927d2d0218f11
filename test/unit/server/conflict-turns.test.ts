/** Turns per object for items run again after a conflict: one at a time per object, in order. */
import { ConflictTurns } from '../../../src/server/conflict-turns';

const tick = () => new Promise((r) => setImmediate(r));

test('turns on one object run one at a time, in the order asked; other objects are not held up', async () => {
  const turns = new ConflictTurns();
  const log: string[] = [];
  const job = (name: string, steps: number) => async () => {
    log.push(`${name} start`);
    for (let i = 0; i < steps; i++) await tick();
    log.push(`${name} end`);
    return name;
  };
  const results = await Promise.all([turns.run('a', job('a1', 3)), turns.run('a', job('a2', 1)), turns.run('b', job('b1', 1)), turns.run('a', job('a3', 1))]);
  expect(results).toEqual(['a1', 'a2', 'b1', 'a3']);
  const onA = log.filter((l) => l.startsWith('a'));
  expect(onA).toEqual(['a1 start', 'a1 end', 'a2 start', 'a2 end', 'a3 start', 'a3 end']);
  // b1 ran while a1 held object a.
  expect(log.indexOf('b1 end')).toBeLessThan(log.indexOf('a1 end'));
});

test('a turn that throws still hands over to the next', async () => {
  const turns = new ConflictTurns();
  const first = turns.run('x', async () => {
    await tick();
    throw new Error('refused');
  });
  const second = turns.run('x', async () => 'ran');
  await expect(first).rejects.toThrow('refused');
  await expect(second).resolves.toBe('ran');
});
