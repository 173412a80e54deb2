// The inspector pane: the selected sample's image, labels, the annotators' votes (FER+), the model's
// probabilities, the KE-FER signals against their class (robust z, percentile, a histogram of the class
// with the sample marked, each defined on hover), why it sits where it does in the current order, and
// its label history and other runs' predictions.
import { LitElement, css, html, nothing, svg } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { CalibrationState, LabelChange, SampleDetail, SignalReference, SortKey } from '../protocol.js';
import { SORT_LABELS } from '../protocol.js';
import { cssProps } from '../shared/cssProps.js';
import { percentileText, signed, SIGNAL_DEFINITIONS } from './signals.js';
import { voteSummary } from './votes.js';
import { issueReasons, sortReasons } from './why.js';

const HIST_W = 180;
const HIST_H = 34;

/** The class's histogram with the median (dashed) and the sample (a bar in the accent colour) marked. */
export function histogram(r: SignalReference, label: string): unknown {
  const { lo, hi, counts } = r.hist;
  const max = Math.max(1, ...counts);
  const bw = HIST_W / counts.length;
  const xOf = (v: number): number => (hi > lo ? Math.min(HIST_W, Math.max(0, ((v - lo) / (hi - lo)) * HIST_W)) : HIST_W / 2);
  return svg`<svg class="hist" width=${HIST_W} height=${HIST_H + 10} viewBox="0 0 ${HIST_W} ${HIST_H + 10}" role="img" aria-label=${label}>
    ${counts.map((c, i) => svg`<rect class="bar" x=${i * bw + 0.5} y=${HIST_H - (c / max) * HIST_H} width=${Math.max(1, bw - 1)} height=${(c / max) * HIST_H}></rect>`)}
    <line class="median" x1=${xOf(r.median)} x2=${xOf(r.median)} y1="0" y2=${HIST_H}></line>
    <line class="mark" x1=${xOf(r.value)} x2=${xOf(r.value)} y1="0" y2=${HIST_H + 4}></line>
    <text class="tick" x="0" y=${HIST_H + 10}>${lo.toFixed(2)}</text>
    <text class="tick" x=${HIST_W} y=${HIST_H + 10} text-anchor="end">${hi.toFixed(2)}</text>
  </svg>`;
}

@customElement('kefer-inspector')
export class InspectorPane extends LitElement {
  static override styles = css`
    :host { display: block; }
    h3 { font-size: 0.95em; margin: 10px 0 4px; }
    .muted { opacity: 0.75; font-size: 0.9em; }
    img.face { width: 144px; height: 144px; image-rendering: pixelated; border-radius: 3px; }
    .bars div { display: flex; align-items: center; gap: 4px; font-size: 11px; height: 15px; }
    .bars span.n { width: 92px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    .bars span.b { height: 10px; background: var(--vscode-progressBar-background, #0e70c0); }
    .bars span.b.pred { background: var(--vscode-charts-orange, orange); }
    .bars .cur span.n { font-weight: bold; }
    .vote-note { font-size: 11px; }
    .vote-note.disagree, .unusual { color: var(--vscode-editorWarning-foreground, var(--vscode-errorForeground)); }
    .sig { margin: 6px 0; font-size: 12px; }
    .sig .def { border-bottom: 1px dotted currentColor; cursor: help; }
    svg.hist { display: block; margin-top: 2px; }
    svg.hist .bar { fill: var(--vscode-charts-blue, #3794ff); opacity: 0.55; }
    svg.hist .median { stroke: var(--vscode-foreground); stroke-dasharray: 2 2; opacity: 0.7; }
    svg.hist .mark { stroke: var(--vscode-charts-orange, orange); stroke-width: 2.5; }
    svg.hist .tick { fill: var(--vscode-foreground); font-size: 8px; opacity: 0.7; }
    ol, ul { margin: 0; padding-left: 18px; font-size: 11px; }
    ol.hist li.undone, ol.hist li.dropped { opacity: 0.6; text-decoration: line-through; }
    .small { color: var(--vscode-editorWarning-foreground, orange); }
  `;

  @property({ attribute: false }) detail: SampleDetail | undefined;
  @property({ attribute: false }) classes: string[] = [];
  @property() sort: SortKey = 'issue';
  @property({ attribute: false }) calibration: CalibrationState | undefined;

  private cls(i: number): string {
    return this.classes[i] ?? String(i);
  }

  private describeChange(h: LabelChange): string {
    const what = h.kind === 'label' ? `label ${this.cls(h.from)} → ${this.cls(h.to)}` : h.kind === 'confirm' && h.to ? 'confirmed the label' : `${h.to ? '' : 'un'}marked ${h.kind}`;
    return `${new Date(h.at).toLocaleTimeString()} ${what} · ${h.author}${h.spotCheck ? ' · spot-check' : ''}${h.state === 'applied' ? '' : ` (${h.state})`}`;
  }

  /** One KE-FER signal: its value, its place in the class, the class's histogram. */
  private signal(id: string, name: string, def: string, r: SignalReference | null, value: number | null, neutralNote: string): unknown {
    const d = this.detail!;
    const ref = d.reference;
    if (value === null) return html`<div class="sig" id=${id}><span class="def" title=${def}>${name}</span> n/a <span class="muted">(${neutralNote})</span></div>`;
    if (!r || !ref) return html`<div class="sig" id=${id}><span class="def" title=${def}>${name}</span> <b>${value.toFixed(3)}</b></div>`;
    const cls = this.cls(ref.cls);
    return html`<div class="sig" id=${id}>
      <span class="def" title=${def}>${name}</span> <b>${value.toFixed(3)}</b>
      · <span class="def" title=${SIGNAL_DEFINITIONS.reference} id="${id}-pct">${percentileText(r.percentile)} of ${cls}</span>
      · z ${signed(r.z, 1)}${r.unusual ? html` · <b class="unusual">unusually low</b>` : nothing}
      ${ref.neutral && id === 'sig-gap' ? html`<span class="muted"> (${neutralNote})</span>` : nothing}
      <div class="muted">${cls}, ${ref.split}: ${r.n} samples, median ${r.median.toFixed(3)}${r.small ? html` · <span class="small" id="${id}-small" title="fewer than 30 samples: the median and MAD of so few say little, nothing is called unusual">small class</span>` : nothing}</div>
      ${histogram(r, `${name} of ${cls} (${ref.split}): ${r.n} samples; this one at ${percentileText(r.percentile)}`)}
    </div>`;
  }

  override render(): unknown {
    const d = this.detail;
    if (!d) return html`<p class="muted">Select a sample.</p>`;
    // the votes back the given (current, possibly relabeled) label or not: what a reviewer checks first
    const votes = d.votes ? voteSummary(d.votes, d.currentLabel, this.classes) : undefined;
    const c = this.calibration;
    const rates = c?.calibrated ? c.classes.map((k) => k.rate) : undefined;
    const primary = sortReasons(this.sort, d, this.classes, this.sort === 'calibrated' ? rates : undefined);
    const others = this.sort === 'issue' || this.sort === 'spotcheck' ? issueReasons(d, this.classes) : issueReasons(d, this.classes).filter((w) => !primary.includes(w));
    const ref = d.reference;
    return html`<div class="inspector" id="inspector">
      <h3>Sample <span id="inspector-id">${d.id}</span></h3>
      <img class="face" src=${d.src} alt=${d.id}>
      <div>split ${d.split} · label <b id="inspector-label">${this.cls(d.currentLabel)}</b>${votes ? html` <span class="muted" id="inspector-label-votes">(${votes.labelVotes} of ${votes.total} votes)</span>` : nothing}${d.currentLabel !== d.origLabel ? html` (dataset: ${this.cls(d.origLabel)})` : nothing}${d.label !== d.currentLabel ? html` · run scored ${this.cls(d.label)}` : nothing} · predicted <b>${this.cls(d.pred)}</b>${votes && d.votes ? html` <span class="muted" id="inspector-pred-votes">(${d.votes[d.pred] ?? 0} of ${votes.total} votes)</span>` : nothing}
        ${d.excluded ? html` · <b>excluded</b>` : nothing}${d.unsure ? html` · <b>unsure</b>` : nothing}${d.confirmed ? html` · <b id="inspector-confirmed">confirmed</b>` : nothing}</div>
      ${votes ? html`<h3>Annotator votes <span class="muted" id="votes-text">${votes.text}</span></h3>
        <div class="bars" id="votes" aria-label="annotator votes">
          ${votes.counts.map((v) => html`<div class=${v.column === d.currentLabel ? 'cur' : ''} data-column=${v.column}><span class="n">${v.name}</span><span class=${v.column === d.pred && d.pred !== d.currentLabel ? 'b pred' : 'b'} ${cssProps({ width: `${Math.round((v.count / votes.total) * 180)}px` })}></span><span>${v.count}</span></div>`)}
        </div>
        ${votes.note ? html`<div class=${votes.disagrees ? 'vote-note disagree' : 'vote-note muted'} id="votes-note">${votes.disagrees ? '⚠ ' : ''}${votes.note}</div>` : nothing}` : nothing}
      <h3>Model probabilities</h3>
      <div class="bars" aria-label="class probabilities">
        ${d.probs.map((p, k) => html`<div class=${k === d.currentLabel ? 'cur' : ''}><span class="n">${k + 1} ${this.cls(k)}</span><span class=${k === d.pred ? 'b pred' : 'b'} ${cssProps({ width: `${Math.round(p * 180)}px` })}></span><span>${(p * 100).toFixed(1)}%</span></div>`)}
      </div>
      <h3>Emotional-to-neutral signals <span class="muted">(hover a name for its definition)</span></h3>
      <div class="muted" id="sims"><span class="def" title=${SIGNAL_DEFINITIONS.simText}>simText</span> ${d.simText.toFixed(3)} · <span class="def" title=${SIGNAL_DEFINITIONS.simNeutral}>simNeutral</span> ${d.simNeutral.toFixed(3)}</div>
      ${this.signal('sig-gap', 'gap', SIGNAL_DEFINITIONS.gap, ref?.gap ?? null, d.gap, 'a neutral label: no gap is trained (t_y = t_N), so the gap orders rank it last')}
      ${this.signal('sig-align', 'alignment', SIGNAL_DEFINITIONS.alignment, ref?.align ?? null, d.align, 'not defined for a neutral label')}
      <h3>Why it ranks here <span class="muted">(sort: ${SORT_LABELS[this.sort]})</span></h3>
      <ul id="why-sort">${primary.map((w) => html`<li>${w}</li>`)}</ul>
      ${others.length ? html`<h3>Evidence of a wrong label</h3><ul id="why">${others.map((w) => html`<li>${w}</li>`)}</ul>${d.pred !== d.currentLabel ? html`<div class="muted">A: accept the suggestion → ${this.cls(d.pred)}</div>` : nothing}` : nothing}
      <h3>Label history</h3>
      ${d.history.length ? html`<ol class="hist" id="history">${d.history.map((h) => html`<li class=${h.state}>${this.describeChange(h)}</li>`)}</ol>` : html`<div class="muted">original label, never changed</div>`}
      ${d.predictions.length > 1 ? html`<h3>Across runs</h3><ol class="hist" id="across-runs">${d.predictions.map((p) => html`<li>${p.run}: predicted ${this.cls(p.pred)} (label ${this.cls(p.label)}, p ${(p.confidence * 100).toFixed(0)}%)</li>`)}</ol>` : nothing}
    </div>`;
  }
}
