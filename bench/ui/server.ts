// A local HTTP server standing in for the webview's resource loading: it serves the webview shell,
// the real bundle from media/dist, and files under its resource roots (the dataset folder and the
// thumbnail cache: what localResourceRoots allows). 300,000 distinct image files would be tens of
// GB, so the dataset's images are symlinks to a pool of generated SYNTHETIC faces (the project's
// generator; 640 px JPEGs like AffectNet's in bench:ui, 48 px PNGs in the grid test): every sample
// still has its own file, so the thumbnail cache makes, and the browser fetches, one per sample.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import sharp from 'sharp';
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
  /** Webview URI of a file by absolute path. */
  file(file: string): string;
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

const TYPES: Record<string, string> = { '.jpg': 'image/jpeg', '.png': 'image/png', '.webp': 'image/webp' };

/**
 * Writes `count` SYNTHETIC faces into dir (kept: a pool already there is reused) and returns their
 * paths. size 48: grey PNGs like the demo's; larger: colour JPEGs (q90) with photo-like noise, about
 * the size of an AffectNet image file.
 */
export async function imagePool(dir: string, count: number, size = 48): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `face-${size}-${i}.${size > 48 ? 'jpg' : 'png'}`);
    if (!fs.existsSync(file)) {
      const png = await renderSyntheticFace(CANONICAL_CLASSES[i % 7], 1000 + i, { size, channels: size > 48 ? 3 : 1 });
      fs.writeFileSync(`${file}.tmp`, size > 48 ? await sharp(png).jpeg({ quality: 90 }).toBuffer() : png);
      fs.renameSync(`${file}.tmp`, file);
    }
    out.push(file);
  }
  return out;
}

/** Makes every sample's image file under root: a hard link to pool image (sample number % pool size). */
export function linkImages(root: string, rels: string[], pool: string[]): void {
  const marker = path.join(root, `.hardlinked-${rels.length}-${path.basename(pool[0])}-${pool.length}`);
  if (fs.existsSync(marker)) return;
  const dirs = new Set<string>();
  for (const rel of rels) {
    const file = path.join(root, rel);
    const d = path.dirname(file);
    if (!dirs.has(d)) {
      fs.mkdirSync(d, { recursive: true });
      dirs.add(d);
    }
    const n = Number(/(\d+)\.\w+$/.exec(rel)?.[1] ?? 0);
    fs.rmSync(file, { force: true });
    // Hard links (a copy across file systems), not symlinks: the curation service refuses symlinks that
    // lead out of the dataset root, as it would for a user's dataset.
    try {
      fs.linkSync(pool[n % pool.length], file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      fs.copyFileSync(pool[n % pool.length], file);
    }
  }
  fs.writeFileSync(marker, '');
}

export async function startUiServer(roots: string[], view = 'diagnostics', bundleDir = BUNDLE_DIR): Promise<UiServer> {
  const allowed = roots.map((r) => path.resolve(r) + path.sep);
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
      // like localResourceRoots: only files under the roots
      const file = path.resolve(decodeURI(u.pathname.slice('/res'.length)));
      if (!allowed.some((r) => file.startsWith(r))) return void res.writeHead(403).end();
      served++;
      // read synchronously: small files in the page cache, and async reads (four thread-pool hops
      // each) waited behind the host double's messages under load, slowing every image alike
      let data: Buffer;
      try {
        data = fs.readFileSync(file);
      } catch {
        return void res.writeHead(404).end();
      }
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'content-length': data.length }).end(data);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    src: (root, rel) => `${url}/res${encodeURI(path.join(root, rel))}`,
    file: (file) => `${url}/res${encodeURI(path.resolve(file))}`,
    served: () => served,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
