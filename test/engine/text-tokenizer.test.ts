// CLIP BPE tokenizer against ids fixed by openai/CLIP's simple_tokenizer (reference port run once on the
// same vocab file) and against ids derived here straight from the vocab file's merge lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {
  bytesToUnicode, CLIP_CONTEXT_LENGTH, CLIP_EOT, CLIP_NUM_MERGES, CLIP_SOT, clipTokenizerFromBpeGz,
  clipTokenizerJson, loadClipTokenizer, readClipBpeMerges, sharedClipBpePath,
} from '../../src/engine/text/tokenizer.js';
import { promptFor } from '../../src/engine/text/prompts.js';

const gz = sharedClipBpePath();
const skip = gz ? false : 'CLIP vocab not found ($KEFER_SHARED_DATA/clip/bpe_simple_vocab_16e6.txt.gz)';
const tok = gz ? clipTokenizerFromBpeGz(gz) : undefined;

test('bytes_to_unicode order: printable ASCII first, so "a" is 64 and "a</w>" is 320', () => {
  const chars = [...bytesToUnicode().values()];
  assert.equal(chars.length, 256);
  assert.equal(chars[0], '!');
  assert.equal(chars.indexOf('a'), 64);
  assert.equal(new Set(chars).size, 256);
});

test('well-known ids: "a photo of a cat"', { skip }, () => {
  assert.deepEqual(tok!.encode('a photo of a cat'), [49406, 320, 1125, 539, 320, 2368, 49407]);
});

// Expected ids from a line-by-line port of simple_tokenizer.py (without ftfy) on the same vocab file.
const PROMPT_IDS: Record<string, number[]> = {
  surprise: [49406, 320, 1125, 539, 320, 2533, 1665, 320, 5099, 11909, 11357, 269, 49407],
  fear: [49406, 320, 1125, 539, 320, 2533, 1665, 320, 5402, 11909, 11357, 269, 49407],
  disgust: [49406, 320, 1125, 539, 320, 2533, 1665, 320, 9793, 545, 11909, 11357, 269, 49407],
  happiness: [49406, 320, 1125, 539, 320, 2533, 1665, 320, 5096, 11909, 11357, 269, 49407],
  sadness: [49406, 320, 1125, 539, 320, 2533, 1665, 320, 20399, 11909, 11357, 269, 49407],
  anger: [49406, 320, 1125, 539, 320, 2533, 1665, 550, 6788, 11909, 11357, 269, 49407],
  neutral: [49406, 320, 1125, 539, 320, 2533, 1665, 320, 17011, 11909, 11357, 269, 49407],
  contempt: [49406, 320, 1125, 539, 320, 2533, 1665, 320, 39293, 11909, 11357, 269, 49407],
};

test('the released prompts tokenize to the simple_tokenizer ids', { skip }, () => {
  assert.equal(promptFor('anger'), 'a photo of a person making an anger facial expression.');
  assert.equal(promptFor('happiness'), 'a photo of a person making a happiness facial expression.');
  for (const [name, ids] of Object.entries(PROMPT_IDS)) assert.deepEqual(tok!.encode(promptFor(name)), ids, name);
});

test('whole-word ids follow from the vocab file: id = 512 + merge line index', { skip }, () => {
  // vocab = 256 bytes + 256 bytes+</w> + one token per merge line, so a word that is a single merged
  // token "w</w>" has id 512 + (its merge line index, 0-based after the header).
  const lines = zlib.gunzipSync(fs.readFileSync(gz!)).toString('utf8').split('\n').slice(1, CLIP_NUM_MERGES + 1);
  const idOf = (w: string) => {
    const i = lines.findIndex((l) => l.replace(' ', '') === `${w}</w>`);
    assert.ok(i >= 0, `no merge for ${w}`);
    return 512 + i;
  };
  for (const w of ['photo', 'person', 'making', 'happiness', 'facial', 'expression', 'anger', 'neutral', 'contempt']) {
    assert.deepEqual(tok!.encode(w), [CLIP_SOT, idOf(w), CLIP_EOT], w);
  }
});

test('lowercases and collapses whitespace like simple_tokenizer', { skip }, () => {
  assert.deepEqual(tok!.encode('  A   Photo\tOF a\nCAT '), tok!.encode('a photo of a cat'));
  assert.deepEqual(tok!.encode("  Hello   World!! it's  3 o'clock "), [49406, 3306, 1002, 748, 585, 568, 274, 334, 262, 6716, 49407]);
});

test('encodeBatch: [B,77] int64, zero padded; over-long text is an error', { skip }, () => {
  const ids = tok!.encodeBatch(['a photo of a cat', promptFor('anger')]);
  assert.equal(ids.length, 2 * CLIP_CONTEXT_LENGTH);
  assert.deepEqual(Array.from(ids.subarray(0, 8), Number), [49406, 320, 1125, 539, 320, 2368, 49407, 0]);
  assert.ok(ids.subarray(7, 77).every((v) => v === 0n));
  assert.equal(ids[77 + 12], BigInt(CLIP_EOT));
  assert.throws(() => tok!.encodeBatch(['cat '.repeat(80)]), /longer than CLIP's context/);
});

test('a model dir with tokenizer.json (hub layout) tokenizes the same as the .gz vocab', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kefer-tok-'));
  try {
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(clipTokenizerJson(readClipBpeMerges(gz!))));
    const fromDir = loadClipTokenizer(dir);
    assert.match(fromDir.origin, /tokenizer\.json$/);
    for (const name of Object.keys(PROMPT_IDS)) assert.deepEqual(fromDir.encode(promptFor(name)), PROMPT_IDS[name]);
    assert.throws(() => loadClipTokenizer(fs.mkdtempSync(path.join(os.tmpdir(), 'kefer-empty-'))), /No CLIP tokenizer/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
