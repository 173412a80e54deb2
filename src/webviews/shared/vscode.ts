// Typed wrapper over the webview's acquireVsCodeApi(): the only way webview code talks to the host.
import type { HostMessage, WebviewMessage } from '../protocol.js';

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
