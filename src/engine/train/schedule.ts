// Learning-rate schedule of the released code: warm-up epochs at a constant small lr, then cosine
// decay from the base lr, stepped once per epoch.
export interface ScheduleOptions {
  lr: number;
  warmupLr: number;
  warmupEpochs: number;
  epochs: number;
}

export function lrForEpoch(epoch: number, o: ScheduleOptions): number {
  if (epoch < o.warmupEpochs) return o.warmupLr;
  const span = Math.max(o.epochs - o.warmupEpochs, 1);
  const t = (epoch - o.warmupEpochs) / span;
  return 0.5 * o.lr * (1 + Math.cos(Math.PI * t));
}
