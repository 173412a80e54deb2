// The webview ready watchdog: a webview that never says `ready` is reloaded with doubling waits, then
// reported; one that answers is left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readyWatchdog } from '../../src/extension/panels/readyWatchdog.js';

/** A hand-driven clock: timers fire only when advance() passes their time. */
function fakeClock() {
  let now = 0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let next = 1;
  return {
    setTimer: (fn: () => void, ms: number) => {
      const id = next++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimer: (h: unknown) => {
      timers = timers.filter((t) => t.id !== h);
    },
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.fn();
      }
      now = end;
    },
    pending: () => timers.length,
  };
}

test('a webview that never says ready is reloaded after 10, 20 and 40 s, then reported once', () => {
  const clock = fakeClock();
  const reloads: [number, number][] = [];
  const gaveUp: number[] = [];
  let loads = 0;
  const w = readyWatchdog(() => loads++, { ...clock, onReload: (a, ms) => reloads.push([a, ms]), onGiveUp: (ms) => gaveUp.push(ms) });
  w.arm();
  clock.advance(9_999);
  assert.equal(loads, 0);
  clock.advance(1);
  assert.deepEqual(reloads, [[1, 10_000]]);
  clock.advance(20_000);
  clock.advance(40_000);
  assert.deepEqual(reloads, [[1, 10_000], [2, 30_000], [3, 70_000]]);
  assert.equal(loads, 3);
  clock.advance(79_999);
  assert.deepEqual(gaveUp, []);
  clock.advance(1);
  assert.deepEqual(gaveUp, [150_000]);
  clock.advance(1_000_000);
  assert.equal(loads, 3, 'no reload after giving up');
  assert.equal(gaveUp.length, 1);
});

test('ready stops the watch; a reloaded webview that then answers is not reloaded again', () => {
  const clock = fakeClock();
  let loads = 0;
  const w = readyWatchdog(() => loads++, { ...clock, onGiveUp: () => assert.fail('must not give up') });
  w.arm();
  clock.advance(3_000);
  w.ready();
  clock.advance(1_000_000);
  assert.equal(loads, 0);
  w.arm();
  clock.advance(10_000);
  assert.equal(loads, 1);
  w.ready();
  assert.equal(clock.pending(), 0);
  clock.advance(1_000_000);
  assert.equal(loads, 1);
});

test('dispose clears the timer', () => {
  const clock = fakeClock();
  let loads = 0;
  const w = readyWatchdog(() => loads++, clock);
  w.arm();
  w.dispose();
  assert.equal(clock.pending(), 0);
  clock.advance(1_000_000);
  assert.equal(loads, 0);
});
