import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNpy, npyScalarCode } from '../../src/engine/util/npy.js';
import { formatSpec, parseSpec } from '../../src/engine/data/spec.js';
import { DatasetError } from '../../src/engine/data/types.js';
import { npyScalar } from './data-fixtures.js';

test('parseSpec: format, path, split, options', () => {
  assert.deepEqual(parseSpec('ferplus:../shared/data/ferplus#train'), { format: 'ferplus', path: '../shared/data/ferplus', split: 'train', options: {} });
  assert.deepEqual(parseSpec('rafdb:/data/RAF-DB/basic#test'), { format: 'rafdb', path: '/data/RAF-DB/basic', split: 'test', options: {} });
  assert.deepEqual(parseSpec('ferplus:DIR#test?classes=7'), { format: 'ferplus', path: 'DIR', split: 'test', options: { classes: '7' } });
  assert.deepEqual(parseSpec('folder:./faces?codes=affectnet&classes=8'), { format: 'folder', path: './faces', options: { codes: 'affectnet', classes: '8' } });
  assert.deepEqual(parseSpec('FOLDER:./a#b#val'), { format: 'folder', path: './a#b', split: 'val', options: {} });
  const s = parseSpec('list:lists/train.txt#train?root=/x%20y');
  assert.equal(s.options.root, '/x y');
  assert.deepEqual(parseSpec(formatSpec(s)), s);
});

test('parseSpec: clear errors', () => {
  assert.throws(() => parseSpec('bogus:/x'), (e: unknown) => e instanceof DatasetError && /unknown data format 'bogus'.*known formats: ferplus/.test(e.message));
  assert.throws(() => parseSpec('/just/a/path'), /expected <format>:<path>/);
  assert.throws(() => parseSpec('C:\\data'), /expected <format>:<path>/);
  assert.throws(() => parseSpec('ferplus:#train'), /has no path/);
});

test('npy: dtypes, header versions, truncation', () => {
  assert.equal(npyScalarCode(parseNpy(npyScalar('<i8', 7))), '7');
  assert.equal(npyScalarCode(parseNpy(npyScalar('|u1', 3, 2))), '3');
  assert.equal(npyScalarCode(parseNpy(npyScalar('<i4', 0))), '0');
  assert.equal(npyScalarCode(parseNpy(npyScalar('|S1', '5'))), '5');
  assert.equal(npyScalarCode(parseNpy(npyScalar('<U1', '6'))), '6');
  const a = parseNpy(npyScalar('<i8', 2));
  assert.deepEqual([a.dtype, a.shape, a.fortranOrder], ['<i8', [], false]);
  const full = npyScalar('<i8', 2);
  assert.throws(() => parseNpy(full.subarray(0, full.length - 3)), /truncated/);
  assert.throws(() => parseNpy(Buffer.from('not numpy at all')), /bad magic/);
});
