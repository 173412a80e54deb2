// Training dashboard: live Ls, Lt, Lc and total loss, accuracy and learning-rate curves (Chart.js),
// plus throughput, ETA, backend and text-embedding source from the engine's events.
import { LitElement, css, html } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { Chart, LineController, LineElement, PointElement, LinearScale, Legend, Tooltip, CategoryScale } from 'chart.js';
import type { EngineEvent } from '../protocol.js';
import { onMessage, send, themeColor } from '../shared/vscode.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Legend, Tooltip);

type Start = Extract<EngineEvent, { type: 'start' }>;
type Step = Extract<EngineEvent, { type: 'step' }>;

@customElement('kefer-dashboard')
export class DashboardApp extends LitElement {
  static override styles = css`
    :host { display: block; padding: 12px; font-family: var(--vscode-font-family); color: var(--vscode-foreground); }
    header { display: flex; flex-wrap: wrap; gap: 16px; align-items: baseline; margin-bottom: 12px; }
    h2 { margin: 0; font-size: 1.2em; }
    .kv { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 6px 16px; margin-bottom: 12px; }
    .kv div { background: var(--vscode-editorWidget-background); border: 1px solid var(--vscode-widget-border, transparent); padding: 6px 8px; border-radius: 4px; }
    .kv b { display: block; font-size: 0.8em; opacity: 0.75; font-weight: normal; }
    .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 12px; }
    .chart { position: relative; height: 220px; background: var(--vscode-editorWidget-background); border-radius: 4px; padding: 6px; }
    .synthetic { color: var(--vscode-editorWarning-foreground); font-weight: bold; }
    button { background: var(--vscode-button-background); color: var(--vscode-button-foreground); border: none; padding: 4px 12px; cursor: pointer; border-radius: 2px; }
    button:focus-visible { outline: 1px solid var(--vscode-focusBorder); }
    .status { font-weight: bold; }
  `;

  @state() private startEv: Start | undefined;
  @state() private last: Step | undefined;
  @state() private status = 'waiting for the engine…';
  @state() private valAcc: number | null = null;
  private charts: Chart[] = [];

  override connectedCallback(): void {
    super.connectedCallback();
    onMessage((m) => {
      if (m.type === 'engine') this.onEvent(m.event);
    });
    send({ type: 'ready', view: 'dashboard' });
  }

  override firstUpdated(): void {
    const fg = themeColor('--vscode-foreground', '#ccc');
    const grid = themeColor('--vscode-editorWidget-border', 'rgba(128,128,128,0.3)');
    const mk = (id: string, title: string, series: [string, string][], yMax?: number): Chart => {
      const canvas = this.renderRoot.querySelector<HTMLCanvasElement>(`#${id}`)!;
      return new Chart(canvas, {
        type: 'line',
        data: { datasets: series.map(([label, color]) => ({ label, data: [] as { x: number; y: number }[], borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 1.5 })) },
        options: {
          animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
          plugins: { legend: { labels: { color: fg, boxWidth: 10 } }, title: { display: false, text: title } },
          scales: {
            x: { type: 'linear', title: { display: true, text: 'step', color: fg }, ticks: { color: fg }, grid: { color: grid } },
            y: { title: { display: true, text: title, color: fg }, ticks: { color: fg }, grid: { color: grid }, ...(yMax ? { min: 0, max: yMax } : {}) },
          },
        },
      });
    };
    this.charts = [
      mk('loss', 'loss', [['total', '#e06c75'], ['Ls', '#61afef'], ['Lt', '#98c379'], ['Lc', '#e5c07b']]),
      mk('acc', 'accuracy', [['train acc', '#56b6c2'], ['val acc', '#c678dd']], 1),
      mk('lr', 'learning rate', [['lr', '#d19a66']]),
    ];
  }

  private push(chart: number, series: number, x: number, y: number | null): void {
    const c = this.charts[chart];
    if (!c || y === null) return;
    (c.data.datasets[series].data as { x: number; y: number }[]).push({ x, y });
  }

  private scheduled = false;
  private redraw(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      for (const c of this.charts) c.update('none');
    });
  }

  private onEvent(e: EngineEvent): void {
    switch (e.type) {
      case 'start':
        this.startEv = e;
        this.status = 'training';
        for (const c of this.charts) for (const d of c.data.datasets) d.data = [];
        break;
      case 'step':
        this.last = e;
        this.push(0, 0, e.step, e.loss);
        this.push(0, 1, e.step, e.ls);
        this.push(0, 2, e.step, e.lt);
        this.push(0, 3, e.step, e.lc);
        this.push(1, 0, e.step, e.trainAcc);
        this.push(2, 0, e.step, e.lr);
        break;
      case 'epoch':
        this.valAcc = e.valAccuracy;
        this.push(1, 1, e.step, e.valAccuracy);
        break;
      case 'done':
        this.status = e.cancelled ? 'cancelled' : `done — best epoch ${e.bestEpoch}`;
        break;
      case 'error':
        this.status = `error: ${e.message}`;
        break;
      case 'log':
        return;
    }
    this.redraw();
  }

  override render(): unknown {
    const s = this.startEv;
    const l = this.last;
    const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);
    return html`
      <header>
        <h2>KE-FER training</h2>
        <span class="status" id="status" role="status">${this.status}</span>
        ${this.status === 'training' ? html`<button id="cancel" @click=${() => send({ type: 'cancelTraining' })}>Cancel</button>` : ''}
      </header>
      <div class="kv">
        <div><b>dataset</b><span id="dataset">${s?.dataset ?? '–'}</span> ${s?.synthetic ? html`<span class="synthetic">SYNTHETIC</span>` : ''}</div>
        <div><b>backend</b><span id="backend">${s ? `${s.backend.name} — ${s.backend.detail}` : '–'}</span></div>
        <div><b>text embeddings</b><span id="text">${s ? `${s.textKind}: ${s.textSource}` : '–'}</span></div>
        <div><b>backbone</b>${s?.backbone ?? '–'}</div>
        <div><b>step</b><span id="step">${l ? `${l.step} / ${l.totalSteps} (epoch ${l.epoch})` : '–'}</span></div>
        <div><b>throughput</b><span id="ips">${l ? `${l.imgPerSec.toFixed(1)} img/s` : '–'}</span></div>
        <div><b>ETA</b><span id="eta">${l ? `${Math.round(l.etaSec)} s` : '–'}</span></div>
        <div><b>loss</b><span id="lossValue">${l ? l.loss.toFixed(4) : '–'}</span></div>
        <div><b>val accuracy</b><span id="valacc">${pct(this.valAcc)}</span></div>
      </div>
      <div class="charts">
        <div class="chart"><canvas id="loss" aria-label="Loss curves: total, Ls, Lt, Lc"></canvas></div>
        <div class="chart"><canvas id="acc" aria-label="Accuracy curves"></canvas></div>
        <div class="chart"><canvas id="lr" aria-label="Learning rate"></canvas></div>
      </div>
    `;
  }
}
