// HTML shell for every KE-FER webview: strict CSP with a per-load nonce, one bundled script, and
// the view kind on <body> so one host helper serves all views. Styles: lit's static styles
// (adopted stylesheets) and CSSOM writes (webviews/shared/cssProps.ts, Chart.js) are not inline
// styles, so style-src needs no 'unsafe-inline'; a style="..." attribute would be blocked, and
// reported (`cspViolation`). A stylesheet file would come from media/ (webview.cspSource).
import * as crypto from 'node:crypto';
import * as vscode from 'vscode';
import type { ViewKind } from '../../webviews/protocol.js';

export function nonce(): string {
  return crypto.randomBytes(16).toString('base64');
}

export function webviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, app: 'dashboard' | 'diagnostics', view: ViewKind, title: string): string {
  const n = nonce();
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'dist', `${app}.js`));
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    `style-src ${webview.cspSource}`,
    `script-src 'nonce-${n}'`,
    `font-src ${webview.cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${title}</title></head>
<body data-view="${view}"><kefer-${app}></kefer-${app}>
<script type="module" nonce="${n}" src="${script}"></script></body></html>`;
}

/**
 * Resource roots: the extension's media folder plus the dataset folders whose images are shown (the
 * inspector and the comparison show originals) and the grid thumbnail cache (pass it in `dirs`).
 */
export function resourceRoots(extensionUri: vscode.Uri, dirs: string[]): vscode.Uri[] {
  return [vscode.Uri.joinPath(extensionUri, 'media'), ...dirs.map((r) => vscode.Uri.file(r))];
}
