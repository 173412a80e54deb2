// Grid thumbnails: each dataset image downsized once (sharp) to a small WebP in a cache folder, so
// the diagnostics grid loads a few KB per cell instead of the original (AffectNet images are
// hundreds of KB, up to 1000+ px, shown at ~94 px). Runs in the curation worker, never in the
// extension host: decoding is CPU work. A cache file is named by a hash of the image's absolute
// path, mtime and size (and the thumbnail settings), so an edited image gets a new thumbnail; files
// are written to a temp name and renamed, so a reader never sees half a file.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { MAX_IMAGE_PIXELS } from '../../engine/data/imageCheck.js';

/** Longest side of a grid thumbnail, px (a grid cell shows ~94 px). */
export const THUMB_SIZE = 96;
/** Bumped when the thumbnail recipe changes, so old cache files are not served for the new one. */
const RECIPE = 'v1-webp75-cover';

/** A queued thumbnail dropped for newer requests (the queue is bounded); ask again if still wanted. */
export class ThumbnailDropped extends Error {}

export interface ThumbnailCacheOptions {
  size?: number;
  /**
   * Most thumbnails waiting to be made; past it the lowest-priority (then oldest) is dropped. A fast
   * scroll asks for more than can be made, and what it passed is no longer wanted. Default 600: above
   * what a grid at rest asks for (a screen plus three pages), or the grid and the queue would keep
   * dropping and re-asking each other's thumbnails.
   */
  maxQueued?: number;
  /** Thumbnails made at once; default: the cores less one (the webview needs a core), 1 to 4. */
  concurrency?: number;
}

interface Job {
  source: string;
  priority: number;
  order: number;
  promise: Promise<string>;
  resolve: (file: string) => void;
  reject: (err: Error) => void;
}

export class ThumbnailCache {
  readonly size: number;
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private readonly queued = new Map<string, Job>();
  private readonly running = new Map<string, Promise<string>>();
  private order = 0;
  /** Thumbnails made (not found in the cache) since this object was created. */
  made = 0;

  constructor(readonly dir: string, opts: ThumbnailCacheOptions = {}) {
    this.size = opts.size ?? THUMB_SIZE;
    this.concurrency = opts.concurrency ?? Math.max(1, Math.min(4, os.availableParallelism() - 1));
    this.maxQueued = opts.maxQueued ?? 600;
  }

  /** The cache file for a source with this stat (whether or not it exists yet). */
  private fileFor(source: string, st: fs.Stats): string {
    const h = crypto.createHash('sha1').update(`${path.resolve(source)}\0${st.mtimeMs}\0${st.size}\0${this.size}\0${RECIPE}`).digest('hex');
    return path.join(this.dir, h.slice(0, 2), `${h}.webp`);
  }

  /**
   * The current thumbnail of `source` if it is already in the cache, else null. Synchronous (two
   * stats): the worker answers a grid page with the thumbnails it already has.
   */
  cached(source: string): string | null {
    try {
      const file = this.fileFor(source, fs.statSync(source));
      return fs.existsSync(file) ? file : null;
    } catch {
      return null;
    }
  }

  /**
   * The thumbnail file of `source`, made on first request. Higher priority goes first (the newest
   * request is what the user is looking at); equal priorities in request order. Rejects with an
   * error naming the file when the image cannot be read.
   */
  get(source: string, priority = 0): Promise<string> {
    const busy = this.running.get(source);
    if (busy) return busy;
    const q = this.queued.get(source);
    if (q) {
      q.priority = Math.max(q.priority, priority);
      return q.promise;
    }
    let resolve!: (f: string) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<string>((res, rej) => ((resolve = res), (reject = rej)));
    this.queued.set(source, { source, priority, order: this.order++, promise, resolve, reject });
    if (this.queued.size > this.maxQueued) {
      let worst: Job | undefined;
      for (const j of this.queued.values()) if (!worst || j.priority < worst.priority || (j.priority === worst.priority && j.order < worst.order)) worst = j;
      this.queued.delete(worst!.source);
      worst!.reject(new ThumbnailDropped(`dropped from the queue: ${worst!.source}`));
    }
    this.pump();
    return promise;
  }

  private pump(): void {
    while (this.running.size < this.concurrency && this.queued.size > 0) {
      let best: Job | undefined;
      for (const j of this.queued.values()) if (!best || j.priority > best.priority || (j.priority === best.priority && j.order < best.order)) best = j;
      const job = best!;
      this.queued.delete(job.source);
      this.running.set(job.source, job.promise);
      this.make(job.source).then(job.resolve, job.reject).finally(() => {
        this.running.delete(job.source);
        this.pump();
      });
    }
  }

  private async make(source: string): Promise<string> {
    try {
      const file = this.fileFor(source, await fs.promises.stat(source));
      if (fs.existsSync(file)) return file;
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
      try {
        // rotate(): EXIF orientation, as the browser shows the original; cover: what the cell's
        // object-fit shows; small images are not enlarged (a 48 px FER face stays 48 px)
        // the engine's decode budget: a 256-megapixel image would take 150 MB+ to shrink (refused, named)
        await sharp(source, { limitInputPixels: MAX_IMAGE_PIXELS }).rotate().resize(this.size, this.size, { fit: 'cover', withoutEnlargement: true }).webp({ quality: 75 }).toFile(tmp);
        await fs.promises.rename(tmp, file);
      } finally {
        await fs.promises.rm(tmp, { force: true });
      }
      this.made++;
      return file;
    } catch (err) {
      throw new Error(`cannot make a thumbnail of ${source}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
