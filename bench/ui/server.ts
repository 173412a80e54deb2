// A local HTTP server standing in for the webview's resource loading: it serves the webview shell,
// the real bundle from media/dist, and a thumbnail for every dataset image URL. 300,000 image files
// would be ~1 GB, so the thumbnails are a pool of generated SYNTHETIC faces (the project's generator,
// small PNGs like the grid shows) picked by the sample's number; every sample still has its own URL,
// so the browser fetches and decodes each thumbnail as it would from disk.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { CANONICAL_CLASSES } from '../../src/engine/classes.js';
import { renderSyntheticFace } from '../../src/engine/data/synthetic.js';

export const REPO = path.resolve(__dirname, '..', '..');
/** Where the webview bundle is served from; KEFER_UI_BUNDLE points elsewhere to compare a grid change. */
export const BUNDLE_DIR = process.env.KEFER_UI_BUNDLE ? path.resolve(process.env.KEFER_UI_BUNDLE) : path.join(REPO, 'media', 'dist');

export interface UiServer {
  /** Base URL, no trailing slash. */
  url: string;
  /** Webview URI of a dataset file (the host double's asWebviewUri). */
  src(root: string, rel: string): string;
  /** Thumbnail requests served so far. */
  served(): number;
  close(): Promise<void>;
}

/** The diagnostics shell: what webviewHtml writes, minus the CSP nonce (no VS Code here). */
function shell(view: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>KE-FER Diagnostics (bench)</title></head>
<body data-view="${view}" style="margin:0"><kefer-diagnostics></kefer-diagnostics>
<script type="module" src="/media/dist/diagnostics.js"></script></body></html>`;
}

export async function thumbnailPool(count: number, size = 48): Promise<Buffer[]> {
  const pool: Buffer[] = [];
  for (let i = 0; i < count; i++) pool.push(await renderSyntheticFace(CANONICAL_CLASSES[i % 7], 1000 + i, { size, channels: 1 }));
  return pool;
}

export async function startUiServer(pool: Buffer[], view = 'diagnostics', bundleDir = BUNDLE_DIR): Promise<UiServer> {
  let served = 0;
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(shell(view));
    } else if (u.pathname.startsWith('/media/dist/')) {
      const file = path.join(bundleDir, path.basename(u.pathname));
      if (!fs.existsSync(file)) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'application/json' }).end(fs.readFileSync(file));
    } else if (u.pathname.startsWith('/res/')) {
      // the sample's number (…/images/123.jpg) picks the pool image; unnumbered paths get the first
      const n = Number(/(\d+)\.\w+$/.exec(u.pathname)?.[1] ?? 0);
      const png = pool[n % pool.length];
      served++;
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length }).end(png);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    src: (root, rel) => `${url}/res${encodeURI(path.join(root, rel))}`,
    served: () => served,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
