// Typed wrapper over the webview's acquireVsCodeApi(): the only way webview code talks to the host.
import type { HostMessage, ViewKind, WebviewMessage } from '../protocol.js';

interface VsCodeApi {
  postMessage(m: unknown): void;
  getState(): unknown;
  setState(s: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const api: VsCodeApi = typeof acquireVsCodeApi === 'function' ? acquireVsCodeApi() : { postMessage: () => undefined, getState: () => undefined, setState: () => undefined };

export function send(m: WebviewMessage): void {
  api.postMessage(m);
}

// The webviews run under a CSP without 'unsafe-inline': anything it blocks is a bug, so every
// violation goes to the host (KE-FER output channel, and the record the e2e test checks). Installed
// when this module loads, before any app renders (not in Node, where unit tests import grid.ts).
if (typeof window !== 'undefined') {
  window.addEventListener('securitypolicyviolation', (e: SecurityPolicyViolationEvent) => {
    const view = (document.body?.dataset.view ?? 'dashboard') as ViewKind;
    send({ type: 'cspViolation', violation: { view, directive: e.effectiveDirective || e.violatedDirective, blocked: e.blockedURI, sample: e.sample, source: e.sourceFile, line: e.lineNumber } });
  });
}

export function onMessage(handler: (m: HostMessage) => void): void {
  window.addEventListener('message', (ev: MessageEvent) => handler(ev.data as HostMessage));
}

export const state = { get: <T>() => api.getState() as T | undefined, set: (s: unknown) => api.setState(s) };

/** A VS Code theme color as a concrete string (Chart.js draws on canvas and cannot use var()). */
export function themeColor(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

/** One distinct color per class, readable on dark and light themes. */
export const CLASS_COLORS = ['#e5c07b', '#c678dd', '#98c379', '#f0a30a', '#61afef', '#e06c75', '#9da5b4', '#56b6c2'];
