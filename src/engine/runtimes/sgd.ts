// SGD with momentum and (coupled) weight decay, as torch.optim.SGD computes it:
//   g = grad + wd * p;  buf = momentum * buf + g;  p = p - lr * buf
// tfjs's optimizers have no weight decay, and we need the momentum buffers for an exact resume.
import * as tf from '@tensorflow/tfjs-core';

export class Sgd {
  readonly buffers = new Map<string, tf.Variable>();

  constructor(
    readonly momentum: number,
    readonly weightDecay: number,
  ) {}

  step(params: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void {
    tf.tidy(() => {
      for (const [name, p] of params) {
        const g0 = grads[name];
        if (!g0) continue;
        const g = this.weightDecay ? tf.add(g0, tf.mul(p, this.weightDecay)) : g0;
        let buf = this.buffers.get(name);
        if (!buf) {
          // torch initialises the buffer with the first gradient itself.
          buf = tf.variable(g, false);
          this.buffers.set(name, buf);
        } else {
          buf.assign(tf.add(tf.mul(buf, this.momentum), g));
        }
        p.assign(tf.sub(p, tf.mul(buf, lr)));
      }
    });
  }

  /** Buffers as plain arrays (for the resume state file). */
  async export(): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, b] of this.buffers) out.set(name, { shape: b.shape, data: (await b.data()) as Float32Array });
    return out;
  }

  import(state: Map<string, { shape: number[]; data: Float32Array }>): void {
    this.dispose();
    for (const [name, s] of state) this.buffers.set(name, tf.variable(tf.tensor(s.data, s.shape), false));
  }

  dispose(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }
}
