// Host side of the curation worker: spawns it with system Node and turns calls into promises.
// Typed against CurationService so a renamed method is a compile error here.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as readline from 'node:readline';
import type { CurationService } from './service.js';

type Api = { [K in keyof CurationService as CurationService[K] extends (...a: never[]) => unknown ? K : never]: CurationService[K] };

export class CurationClient {
  private proc: ChildProcessWithoutNullStreams | undefined;
  private next = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly nodePath: string,
    private readonly workerScript: string,
    private readonly storePath: string,
    private readonly log: (line: string) => void,
    /** Grid thumbnail cache folder (ThumbnailCache); without it the grid shows no thumbnails. */
    private readonly thumbDir?: string,
  ) {}

  private start(): ChildProcessWithoutNullStreams {
    if (this.proc) return this.proc;
    const p = spawn(this.nodePath, [this.workerScript, this.storePath, ...(this.thumbDir ? [this.thumbDir] : [])], { stdio: 'pipe', env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
    readline.createInterface({ input: p.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as { id: number; result?: unknown; error?: string };
      const h = this.pending.get(msg.id);
      if (!h) return;
      this.pending.delete(msg.id);
      if (msg.error !== undefined) h.reject(new Error(msg.error));
      else h.resolve(msg.result);
    });
    p.stderr.on('data', (d: Buffer) => this.log(`[curation] ${d.toString().trimEnd()}`));
    p.on('exit', (code) => {
      this.proc = undefined;
      for (const h of this.pending.values()) h.reject(new Error(`curation worker exited (${code})`));
      this.pending.clear();
    });
    this.proc = p;
    return p;
  }

  call<K extends keyof Api>(method: K, ...params: Parameters<Api[K]>): Promise<Awaited<ReturnType<Api[K]>>> {
    const p = this.start();
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      p.stdin.write(JSON.stringify({ id, method, params }) + '\n');
    });
  }

  dispose(): void {
    this.proc?.kill();
    this.proc = undefined;
  }
}
