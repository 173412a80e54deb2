// CLIP's byte-level BPE tokenizer (openai/CLIP clip/simple_tokenizer.py), run by the maintained
// @huggingface/tokenizers package (pure JS, no network). That package needs a HF `tokenizer.json`;
// a hub download ships one, and for the bare `bpe_simple_vocab_16e6.txt.gz` we build the same
// structure in memory (vocab order exactly as simple_tokenizer builds it).
//
// Known difference from simple_tokenizer: ftfy.fix_text and html.unescape are not applied (NFC,
// whitespace collapse and lowercasing are). The project's prompts are plain ASCII, where both agree.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Tokenizer } from '@huggingface/tokenizers';

export const CLIP_SOT = 49406;
export const CLIP_EOT = 49407;
export const CLIP_CONTEXT_LENGTH = 77;
export const CLIP_BPE_FILE = 'bpe_simple_vocab_16e6.txt.gz';
/** simple_tokenizer uses merges[1 : 49152-256-2+1] of the vocab file, i.e. lines 1..48894 after the header. */
export const CLIP_NUM_MERGES = 49152 - 256 - 2;

// Same pattern as simple_tokenizer (compiled there with re.IGNORECASE; the text is lowercased first).
const CLIP_SPLIT_REGEX =
  "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/** GPT-2/CLIP bytes_to_unicode: printable bytes map to themselves, the rest to 256+n; order matters (it is the vocab order). */
export function bytesToUnicode(): Map<number, string> {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const m = new Map<number, string>();
  bs.forEach((b, i) => m.set(b, String.fromCodePoint(cs[i])));
  return m;
}

/** Reads the merges (lines 1..48894) from openai's gzipped vocab file. */
export function readClipBpeMerges(gzPath: string): string[] {
  const text = zlib.gunzipSync(fs.readFileSync(gzPath)).toString('utf8');
  const lines = text.split('\n');
  const merges = lines.slice(1, CLIP_NUM_MERGES + 1);
  if (merges.length !== CLIP_NUM_MERGES || merges.some((l) => l.split(' ').length !== 2)) {
    throw new Error(`${gzPath}: not a CLIP BPE vocabulary (expected ${CLIP_NUM_MERGES} merge lines)`);
  }
  return merges;
}

/** Builds a HF tokenizer.json equivalent to simple_tokenizer from the merge list. */
export function clipTokenizerJson(merges: string[]): Record<string, unknown> {
  const byteChars = [...bytesToUnicode().values()];
  const tokens = [...byteChars, ...byteChars.map((c) => c + '</w>'), ...merges.map((m) => m.replace(' ', ''))];
  tokens.push('<|startoftext|>', '<|endoftext|>');
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => (vocab[t] = i));
  const special = (id: number, content: string) => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true,
  });
  return {
    version: '1.0',
    added_tokens: [special(CLIP_SOT, '<|startoftext|>'), special(CLIP_EOT, '<|endoftext|>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT_REGEX }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'RobertaProcessing', sep: ['<|endoftext|>', CLIP_EOT], cls: ['<|startoftext|>', CLIP_SOT],
      trim_offsets: false, add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: '<|endoftext|>', continuing_subword_prefix: '',
      end_of_word_suffix: '</w>', fuse_unk: false, vocab, merges,
    },
  };
}

export interface ClipTokenizer {
  /** Token ids with SOT/EOT, unpadded. */
  encode(text: string): number[];
  /** [B, contextLength] int64, zero-padded like clip.tokenize; throws if a text is too long. */
  encodeBatch(texts: string[], contextLength?: number): BigInt64Array;
  /** Where the vocabulary came from (for logs). */
  origin: string;
}

function wrap(json: Record<string, unknown>, config: Record<string, unknown>, origin: string): ClipTokenizer {
  const tok = new Tokenizer(json, config);
  const encode = (text: string): number[] => tok.encode(text, { add_special_tokens: true }).ids;
  return {
    origin,
    encode,
    encodeBatch(texts, contextLength = CLIP_CONTEXT_LENGTH) {
      const out = new BigInt64Array(texts.length * contextLength);
      texts.forEach((t, i) => {
        const ids = encode(t);
        if (ids.length > contextLength) {
          throw new Error(`Text is ${ids.length} tokens, longer than CLIP's context of ${contextLength}: "${t}"`);
        }
        ids.forEach((id, j) => (out[i * contextLength + j] = BigInt(id)));
      });
      return out;
    },
  };
}

/** Tokenizer from openai's `bpe_simple_vocab_16e6.txt.gz`. */
export function clipTokenizerFromBpeGz(gzPath: string): ClipTokenizer {
  return wrap(clipTokenizerJson(readClipBpeMerges(gzPath)), {}, gzPath);
}

/**
 * Tokenizer from a model directory: its `tokenizer.json` (hub layout), else a
 * `bpe_simple_vocab_16e6.txt.gz` beside the model, else `fallbackGz` if given.
 */
export function loadClipTokenizer(dir: string, fallbackGz?: string): ClipTokenizer {
  const tj = path.join(dir, 'tokenizer.json');
  if (fs.existsSync(tj)) {
    const cfgPath = path.join(dir, 'tokenizer_config.json');
    const cfg = fs.existsSync(cfgPath) ? (JSON.parse(fs.readFileSync(cfgPath, 'utf8')) as Record<string, unknown>) : {};
    return wrap(JSON.parse(fs.readFileSync(tj, 'utf8')) as Record<string, unknown>, cfg, tj);
  }
  for (const gz of [path.join(dir, CLIP_BPE_FILE), fallbackGz]) {
    if (gz && fs.existsSync(gz)) return clipTokenizerFromBpeGz(gz);
  }
  throw new Error(`No CLIP tokenizer in ${dir}: expected tokenizer.json or ${CLIP_BPE_FILE}`);
}

/** The shared-data copy of the vocab ($KEFER_SHARED_DATA or /work/shared/data), if present. */
export function sharedClipBpePath(): string | undefined {
  const root = process.env.KEFER_SHARED_DATA ?? '/work/shared/data';
  const p = path.join(root, 'clip', CLIP_BPE_FILE);
  return fs.existsSync(p) ? p : undefined;
}
