// Peer adapters of bench:accuracy: the class mappings (pure) and, when the peer packages are
// installed, one generated image through each adapter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CANONICAL_CLASSES } from '../../src/engine/classes.js';
import { FACEAPI_ORDER, HUMAN_ORDER, peerIndexMap, toCanonical } from '../../bench/peers/classMaps.js';
import { loadPeer, PEER_IDS, peersInstalled } from '../../bench/peers/index.js';

const SEVEN = CANONICAL_CLASSES.slice(0, 7);

test('face-api order maps onto the canonical order', () => {
  // neutral, happy, sad, angry, fearful, disgusted, surprised -> surprise 0, fear 1, disgust 2, happiness 3, sadness 4, anger 5, neutral 6
  assert.deepEqual(peerIndexMap(FACEAPI_ORDER, SEVEN), [6, 3, 4, 5, 1, 2, 0]);
});

test('human order maps onto the canonical order', () => {
  // angry, disgust, fear, happy, sad, surprise, neutral
  assert.deepEqual(peerIndexMap(HUMAN_ORDER, SEVEN), [5, 2, 1, 3, 4, 0, 6]);
});

test('toCanonical moves each probability to its class and keeps the sum', () => {
  const p = [0.01, 0.02, 0.03, 0.04, 0.1, 0.2, 0.6]; // face-api order: surprised = 0.6
  const c = toCanonical(p, FACEAPI_ORDER, SEVEN);
  assert.equal(c[0], 0.6); // surprise
  assert.equal(c[6], 0.01); // neutral
  assert.equal(c[1], 0.1); // fear <- fearful
  assert.ok(Math.abs(c.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  // 8-class target: the peers cannot predict contempt, which gets 0.
  const c8 = toCanonical(p, HUMAN_ORDER, CANONICAL_CLASSES);
  assert.equal(c8.length, 8);
  assert.equal(c8[7], 0);
  assert.throws(() => toCanonical([1, 0], HUMAN_ORDER, SEVEN), /expected 7/);
  assert.throws(() => peerIndexMap(['smiling'], SEVEN), /no canonical class/);
});

test('each installed peer returns a 7-probability vector summing to 1', { skip: peersInstalled() ? false : 'peer packages not installed (npm install -D @vladmandic/face-api @vladmandic/human @tensorflow/tfjs)' }, async () => {
  const { initBackend } = await import('../../src/engine/backend/index.js');
  await initBackend('wasm');
  // A smooth synthetic 48x48 gray "face": bright ellipse on a dark background, as RGB bytes.
  const size = 48;
  const rgb = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    const v = ((x - 24) / 16) ** 2 + ((y - 24) / 20) ** 2 < 1 ? 180 : 40;
    rgb.fill(v, (y * size + x) * 3, (y * size + x) * 3 + 3);
  }
  for (const id of PEER_IDS) {
    const peer = await loadPeer(id);
    try {
      const [p] = await peer.predict(rgb, 1, size, SEVEN);
      assert.equal(p.length, 7, id);
      assert.ok(p.every((x) => x >= 0 && Number.isFinite(x)), `${id}: ${p.join(', ')}`);
      assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-4, `${id} sums to ${p.reduce((a, b) => a + b, 0)}`);
    } finally {
      peer.dispose();
    }
  }
});
