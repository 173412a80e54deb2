// The host's side of the grid's thumbnails, without vscode (DiagnosticsSession and the bench's host
// double both use it): page rows get the webview URI of thumbnails already cached; a requestThumbs
// is passed to the curation worker in chunks, each answered with a `thumbs` message as soon as it is
// made, so the first cells fill without waiting for the whole request.
import type { RawRow, RawThumb } from '../curation/service.js';
import type { GridRow, GridThumb, HostMessage } from '../../webviews/protocol.js';

/** Thumbnails per worker call and per `thumbs` message (about two grid rows). */
export const THUMB_CHUNK = 16;

/**
 * Page rows as the webview gets them: cached thumbnails as webview URIs, dataset paths dropped.
 * toUri returns null for a file it refuses to serve (the row then has no thumbnail).
 */
export function gridRows(rows: RawRow[], toUri: (file: string) => string | null): GridRow[] {
  return rows.map(({ path: _p, root: _r, thumb, ...rest }) => ({ ...rest, thumb: thumb === null ? null : toUri(thumb) }));
}

export class ThumbRequests {
  private seq = 0;

  constructor(
    /** The worker's `thumbnails` call. */
    private readonly make: (runDir: string, ids: string[], priority: number) => Promise<RawThumb[]>,
    /** null: refused (a file outside the thumbnail cache is never served). */
    private readonly toUri: (file: string) => string | null,
    private readonly post: (m: HostMessage) => void | Promise<void>,
    /** Unreadable images (each message names the file). */
    private readonly onError: (message: string) => void = () => undefined,
    /** The message a chunk goes out in: the grid's `thumbs` (key = run folder), or the duplicates view's. */
    private readonly message: (key: string, thumbs: GridThumb[]) => HostMessage = (runDir, thumbs) => ({ type: 'thumbs', runDir, thumbs }),
  ) {}

  /**
   * Asks the worker for these thumbnails: the first `urgent` (on screen) ahead of the rest, the
   * newest request first, its chunks in order.
   */
  async request(runDir: string, ids: string[], urgent = ids.length): Promise<void> {
    const seq = ++this.seq;
    const chunks: string[][] = [];
    for (let i = 0; i < ids.length; i += THUMB_CHUNK) chunks.push(ids.slice(i, i + THUMB_CHUNK));
    await Promise.all(chunks.map(async (chunk, k) => {
      // priority: on screen, then newer request, then earlier chunk (at most 63 chunks a request)
      const onScreen = k * THUMB_CHUNK < urgent ? 2 ** 40 : 0;
      const made = await this.make(runDir, chunk, onScreen + seq * 64 - k);
      const thumbs: GridThumb[] = made.map((t) => {
        if (!('file' in t)) return t;
        const src = this.toUri(t.file);
        return src === null ? { id: t.id, error: `refused: ${t.file} is not a served file` } : { id: t.id, src };
      });
      for (const t of thumbs) if ('error' in t) this.onError(t.error);
      await this.post(this.message(runDir, thumbs));
    }));
  }
}
