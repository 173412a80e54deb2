import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matrixCellLabel, matrixKeyAction, rowShareText } from '../../src/webviews/diagnostics/matrixKeys.js';

const at = (row: number, col: number) => ({ row, col });
const move = (row: number, col: number) => ({ kind: 'move', cell: at(row, col) });

test('arrow keys move one cell and stop at the edges', () => {
  assert.deepEqual(matrixKeyAction('ArrowRight', at(2, 3), 7, 7), move(2, 4));
  assert.deepEqual(matrixKeyAction('ArrowLeft', at(2, 3), 7, 7), move(2, 2));
  assert.deepEqual(matrixKeyAction('ArrowDown', at(2, 3), 7, 7), move(3, 3));
  assert.deepEqual(matrixKeyAction('ArrowUp', at(2, 3), 7, 7), move(1, 3));
  assert.deepEqual(matrixKeyAction('ArrowRight', at(2, 6), 7, 7), move(2, 6));
  assert.deepEqual(matrixKeyAction('ArrowLeft', at(2, 0), 7, 7), move(2, 0));
  assert.deepEqual(matrixKeyAction('ArrowDown', at(6, 1), 7, 7), move(6, 1));
  assert.deepEqual(matrixKeyAction('ArrowUp', at(0, 1), 7, 7), move(0, 1));
});

test('Home/End go to the row ends, with Ctrl to the matrix corners; PageUp/PageDown to the column ends', () => {
  assert.deepEqual(matrixKeyAction('Home', at(4, 5), 8, 8), move(4, 0));
  assert.deepEqual(matrixKeyAction('End', at(4, 1), 8, 8), move(4, 7));
  assert.deepEqual(matrixKeyAction('Home', at(4, 5), 8, 8, { ctrlKey: true }), move(0, 0));
  assert.deepEqual(matrixKeyAction('End', at(4, 1), 8, 8, { metaKey: true }), move(7, 7));
  assert.deepEqual(matrixKeyAction('PageUp', at(4, 5), 8, 8), move(0, 5));
  assert.deepEqual(matrixKeyAction('PageDown', at(4, 5), 8, 8), move(7, 5));
});

test('Enter and Space activate the focused cell; Escape clears', () => {
  assert.deepEqual(matrixKeyAction('Enter', at(5, 2), 7, 7), { kind: 'activate', cell: at(5, 2) });
  assert.deepEqual(matrixKeyAction(' ', at(0, 6), 7, 7), { kind: 'activate', cell: at(0, 6) });
  assert.deepEqual(matrixKeyAction('Escape', at(0, 6), 7, 7), { kind: 'clear' });
});

test('a position outside a shrunken matrix is clamped before acting', () => {
  // 8 classes -> 7: the remembered cell (7, 7) no longer exists
  assert.deepEqual(matrixKeyAction('Enter', at(7, 7), 7, 7), { kind: 'activate', cell: at(6, 6) });
  assert.deepEqual(matrixKeyAction('ArrowLeft', at(7, 7), 7, 7), move(6, 5));
});

test('keys the matrix does not own pass through (relabel digits, modified arrows, Alt chords, empty matrix)', () => {
  for (const k of ['1', '7', 'u', 'x', '?', 'Tab', 'a']) assert.equal(matrixKeyAction(k, at(1, 1), 7, 7), undefined, k);
  assert.equal(matrixKeyAction('ArrowRight', at(1, 1), 7, 7, { ctrlKey: true }), undefined);
  assert.equal(matrixKeyAction('Enter', at(1, 1), 7, 7, { ctrlKey: true }), undefined);
  assert.equal(matrixKeyAction('ArrowDown', at(1, 1), 7, 7, { altKey: true }), undefined);
  assert.equal(matrixKeyAction('ArrowDown', at(0, 0), 0, 0), undefined);
});

test('cell labels name the true and predicted class and the count', () => {
  assert.equal(matrixCellLabel('anger', 'fear', 12), 'true anger, predicted fear: 12 samples');
  assert.equal(matrixCellLabel('happiness', 'happiness', 1), 'true happiness, predicted happiness: 1 sample');
  assert.equal(matrixCellLabel('neutral', 'sadness', 0), 'true neutral, predicted sadness: 0 samples');
  // with the row total: the row-normalised share the heat map shows
  assert.equal(matrixCellLabel('anger', 'fear', 12, 48), 'true anger, predicted fear: 12 samples (25% of anger)');
  assert.equal(rowShareText(1, 300), '0.3%');
  assert.equal(rowShareText(0, 300), '0%');
  assert.equal(rowShareText(2, 3), '67%');
  assert.equal(rowShareText(0, 0), '–');
});
