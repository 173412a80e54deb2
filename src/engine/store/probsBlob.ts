// The records' probs column: float32 little-endian, one value per class.

export function encodeProbs(probs: ArrayLike<number>): Buffer {
  const f = Float32Array.from(probs);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
}

/** The stored float32 values, without a conversion to number[] (confident learning reads whole runs). */
export function decodeProbsF32(blob: Buffer | Uint8Array): Float32Array {
  // Copy: SQLite blobs are not 4-byte aligned in general.
  const copy = new Uint8Array(blob.byteLength);
  copy.set(blob);
  return new Float32Array(copy.buffer);
}

export function decodeProbs(blob: Buffer | Uint8Array): number[] {
  return Array.from(decodeProbsF32(blob));
}
