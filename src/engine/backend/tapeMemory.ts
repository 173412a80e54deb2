// Backprop that frees memory as it goes. tfjs-core 4.22's engine.gradients keeps every
// intermediate gradient (the dy of every tape node) and every tensor saved for backward until the
// whole backward pass ends, so the peak is "all forward activations + all their gradients". For
// ResNet-18 at 112x112 that is ~3.9 GB at batch 64 (measured with tf.profile: the peak is reached at
// the very last kernel, the stem's filter gradient), i.e. the 4 GB wasm32 heap runs out and the
// step dies with "memory access out of bounds". Here a node's output gradients and its saved
// tensors are released right after the node has been back-propagated (nothing reads them again:
// the tape is walked in reverse, so every consumer of a tensor is processed before its producer).
// Numerically identical to tfjs's version (same kernels, same order); only lifetimes change.
import * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-core's Engine / TapeNode this needs (not exported as types). */
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
}
interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
  gradients<T extends tf.Tensor>(f: () => T, xs: tf.Tensor[], dy?: T, allowNoGradients?: boolean): { value: T; grads: tf.Tensor[] };
}

/** tfjs-core's getFilteredNodesXToY (tape.ts), unchanged: the nodes on a path x -> y, inputs pruned to those from x. */
function filterTape(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    for (const name in node.inputs) {
      if (fromX.has(node.inputs[name].id)) {
        node.outputs.forEach((o) => fromX.add(o.id));
        nodesFromX.add(node.id);
        break;
      }
    }
  }
  const toY = new Set<number>([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const name in node.inputs) toY.add(node.inputs[name].id);
      nodesToY.add(node.id);
    }
  }
  const out: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const name in node.inputs) if (fromX.has(node.inputs[name].id)) inputs[name] = node.inputs[name];
    out.push({ ...node, inputs, outputs: node.outputs });
  }
  return out;
}

/**
 * tfjs-core's backpropagateGradients with early release. A gradient tensor can sit in the map under
 * several keys (a gradient function may pass dy through unchanged), so tensors are reference-counted
 * by map entry and disposed when the last entry goes; tensors that belong to the forward pass are
 * never disposed here.
 */
function backprop(grads: Map<number, tf.Tensor>, tape: TapeNode[], tidy: (f: () => tf.Tensor) => tf.Tensor, keep: Set<tf.Tensor>, freeSaved: boolean): void {
  const holders = new Map<tf.Tensor, number>();
  const hold = (t: tf.Tensor) => holders.set(t, (holders.get(t) ?? 0) + 1);
  const release = (t: tf.Tensor) => {
    const n = (holders.get(t) ?? 0) - 1;
    if (n > 0) { holders.set(t, n); return; }
    holders.delete(t);
    if (!keep.has(t)) t.dispose();
  };
  for (const t of grads.values()) hold(t);
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    const dys = node.outputs.map((o) => grads.get(o.id) ?? null);
    if (node.gradient == null) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
    const inputGradients = node.gradient(dys);
    const produced = new Set<tf.Tensor>();
    for (const name in node.inputs) {
      if (!(name in inputGradients)) throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(inputGradients).join(',')}.`);
      const dx = tidy(() => inputGradients[name]());
      if (dx.dtype !== 'float32') throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`);
      const x = node.inputs[name];
      if (!tf.util.arraysEqual(dx.shape, x.shape)) throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape.join(',')}', which does not match the shape of the input '${x.shape.join(',')}'`);
      const cur = grads.get(x.id);
      const next = cur === undefined ? dx : tf.add(cur, dx);
      hold(next);
      grads.set(x.id, next);
      produced.add(next);
      if (cur !== undefined) release(cur);
      // An accumulated sum owns a new buffer; the addend is garbage unless it is held elsewhere.
      if (next !== dx && !holders.has(dx) && !keep.has(dx)) dx.dispose();
    }
    // This node's output gradients are complete and consumed: nothing reads them again.
    for (const o of node.outputs) {
      const dy = grads.get(o.id);
      if (dy === undefined) continue;
      grads.delete(o.id);
      release(dy);
    }
    if (freeSaved) for (const t of node.saved ?? []) if (!holders.has(t)) t.dispose();
  }
}

let original: EngineInternals['gradients'] | null = null;

/**
 * Replaces the tfjs engine's gradients() with the early-release version for first-order gradients
 * (higher-order ones keep tfjs's own code). Idempotent. KEFER_TAPE_FREE=0 leaves tfjs's version.
 */
export function installFrugalGradients(): void {
  if (process.env.KEFER_TAPE_FREE !== '0') setFrugalGradients(true);
}

/** Switches between the early-release backprop (true) and tfjs's own (false); for tests and measurements. */
export function setFrugalGradients(enabled: boolean): void {
  const engine = tf.engine() as unknown as EngineInternals;
  if (!enabled) {
    if (original) engine.gradients = original;
    original = null;
    return;
  }
  if (original) return;
  original = engine.gradients;
  const tfjsGradients = original.bind(engine);
  engine.gradients = function gradients<T extends tf.Tensor>(this: EngineInternals, f: () => T, xs: tf.Tensor[], dy?: T, allowNoGradients = false) {
    if (this.state.gradientDepth !== 0) return tfjsGradients(f, xs, dy, allowNoGradients);
    tf.util.assert(xs.length > 0, () => 'gradients() received an empty list of xs.');
    if (dy != null && dy.dtype !== 'float32') throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
    const y = this.scopedRun(() => this.startTape(), () => this.endTape(), () => this.tidy('forward', f));
    tf.util.assert(y instanceof tf.Tensor, () => 'The result y returned by f() must be a tensor.');
    const tape = this.state.activeTape ?? [];
    const filtered = filterTape(tape, xs, y);
    if (!allowNoGradients && filtered.length === 0 && xs.length > 0) {
      throw new Error('Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses all operations that lead from x to y.');
    }
    return this.tidy('backward', () => {
      const grads = new Map<number, tf.Tensor>();
      grads.set(y.id, dy ?? tf.ones(y.shape));
      // Never dispose what the caller owns or what is returned: y, a caller-supplied dy, the xs.
      const keep = new Set<tf.Tensor>([y, ...xs, ...(dy ? [dy] : [])]);
      for (const node of tape) for (const t of [...Object.values(node.inputs), ...node.outputs]) keep.add(t);
      backprop(grads, filtered, (g) => this.tidy(g), keep, true);
      const out = xs.map((x) => grads.get(x.id) as tf.Tensor);
      for (const node of tape) for (const t of node.saved ?? []) if (!out.includes(t)) t.dispose();
      this.state.activeTape = null;
      return { value: y, grads: out };
    }) as { value: T; grads: tf.Tensor[] };
  };
}
