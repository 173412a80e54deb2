// Prints engine events: JSON lines for programs (--events json), short text lines for people.
import type { EngineEvent } from '../events.js';

const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);

function fmtEta(sec: number): string {
  if (!Number.isFinite(sec)) return '?';
  const s = Math.round(sec);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export function createPrinter(mode: 'text' | 'json', write: (line: string) => void = (l) => process.stdout.write(l + '\n')): (e: EngineEvent) => void {
  if (mode === 'json') return (e) => write(JSON.stringify(e));
  let lastStepPrint = 0;
  return (e) => {
    switch (e.type) {
      case 'start':
        write(`backend: ${e.backend.name} (${e.backend.detail})`);
        write(`text embeddings: ${e.textSource}${e.textKind === 'standin' ? '  [STAND-IN, not CLIP]' : ''}`);
        write(`data: ${e.dataset}${e.synthetic ? '  [SYNTHETIC faces]' : ''}  train ${e.nTrain}, val ${e.nVal}; ${e.backbone}, ${e.epochs} epochs x ${e.stepsPerEpoch} steps`);
        break;
      case 'step': {
        const now = Date.now();
        if (now - lastStepPrint < 2000 && e.step !== e.totalSteps) return;
        lastStepPrint = now;
        write(`step ${e.step}/${e.totalSteps} epoch ${e.epoch}  loss ${e.loss.toFixed(4)} (Ls ${e.ls.toFixed(4)} Lt ${e.lt.toFixed(4)} Lc ${e.lc.toFixed(4)})  lr ${e.lr.toExponential(2)}  ${e.imgPerSec.toFixed(1)} img/s  ETA ${fmtEta(e.etaSec)}`);
        break;
      }
      case 'epoch':
        write(`epoch ${e.epoch}: train loss ${e.trainLoss.toFixed(4)}, val WAR ${pct(e.valAccuracy)} UAR ${pct(e.valMeanClassAccuracy)}${e.best ? '  (best so far)' : ''}`);
        break;
      case 'log':
        write(`${e.level === 'warn' ? 'warning: ' : ''}${e.message}`);
        break;
      case 'done':
        write(`${e.cancelled ? 'cancelled' : 'done'}: best epoch ${e.bestEpoch} selected on ${e.selectedOn} (val WAR ${pct(e.valAccuracy)}); checkpoint ${e.checkpoint}`);
        break;
      case 'error':
        write(`error: ${e.message}`);
        break;
    }
  };
}
