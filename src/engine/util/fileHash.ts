// A file's sha256, streamed (checkpoints are tens of MB): what exports and caches beside a checkpoint
// record, so a stale one is noticed when the checkpoint's bytes change.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export async function fileSha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}
