/**
 * Adam (Kingma & Ba) over tf.Variables with memory the caller owns. tfjs's own `tf.train.adam` leaks one
 * tensor per optimizer instance, which shows up as growth when a stage is run many times (sweeps).
 */
import * as tf from '@tensorflow/tfjs';

export interface AdamOptions {
  readonly lr: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
}

/**
 * Everything an Adam optimizer carries from one step to the next (a checkpoint): the step count and both
 * moments, one array per variable in the optimizer's order. Restoring it continues the same float32 run.
 */
export interface AdamState {
  readonly step: number;
  readonly m: readonly Float32Array[];
  readonly v: readonly Float32Array[];
}

/** Checks that a saved state fits variables of these sizes; returns the reason when it does not. */
export function adamStateMismatch(state: AdamState, sizes: readonly number[]): string | undefined {
  if (state.m.length !== sizes.length || state.v.length !== sizes.length) {
    return `${state.m.length} moments for ${sizes.length} variables`;
  }
  const bad = sizes.findIndex((n, i) => state.m[i].length !== n || state.v[i].length !== n);
  return bad < 0 ? undefined : `variable ${bad} has ${sizes[bad]} values, its saved moments ${state.m[bad].length}`;
}

export class Adam {
  private readonly m: tf.Tensor[];
  private readonly v: tf.Tensor[];
  private t = 0;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;

  constructor(
    private readonly vars: readonly tf.Variable[],
    private readonly opts: AdamOptions,
  ) {
    this.b1 = opts.beta1 ?? 0.9;
    this.b2 = opts.beta2 ?? 0.999;
    this.eps = opts.epsilon ?? 1e-7;
    this.m = vars.map((x) => tf.zerosLike(x));
    this.v = vars.map((x) => tf.zerosLike(x));
  }

  /** One step on `loss`; returns the loss value (as a number: no tensor escapes). */
  step(loss: () => tf.Scalar): number {
    this.t++;
    const c1 = 1 - this.b1 ** this.t;
    const c2 = 1 - this.b2 ** this.t;
    let value = NaN;
    tf.tidy(() => {
      const { value: l, grads } = tf.variableGrads(loss, this.vars as tf.Variable[]);
      value = l.dataSync()[0];
      this.vars.forEach((x, i) => this.update(x, i, grads[x.name], c1, c2));
    });
    return value;
  }

  /**
   * One step with gradients computed elsewhere (same order as the variables); the caller keeps ownership of `grads`.
   */
  applyGradients(grads: readonly tf.Tensor[]): void {
    this.t++;
    const c1 = 1 - this.b1 ** this.t;
    const c2 = 1 - this.b2 ** this.t;
    tf.tidy(() => {
      this.vars.forEach((x, i) => this.update(x, i, grads[i], c1, c2));
    });
  }

  private update(x: tf.Variable, i: number, g: tf.Tensor, c1: number, c2: number): void {
    const m = tf.add(tf.mul(this.b1, this.m[i]), tf.mul(1 - this.b1, g));
    const v = tf.add(tf.mul(this.b2, this.v[i]), tf.mul(1 - this.b2, tf.square(g)));
    x.assign(tf.sub(x, tf.div(tf.mul(this.opts.lr / c1, m), tf.add(tf.sqrt(tf.div(v, c2)), this.eps))));
    this.m[i].dispose();
    this.v[i].dispose();
    this.m[i] = tf.keep(m);
    this.v[i] = tf.keep(v);
  }

  /** A copy of the step count and moments (for a checkpoint). */
  getState(): AdamState {
    const copy = (x: tf.Tensor): Float32Array => x.dataSync().slice() as Float32Array;
    return { step: this.t, m: this.m.map(copy), v: this.v.map(copy) };
  }

  /** Continues from a saved state (same variables, same order): the next step is the one after the saved one. */
  setState(state: AdamState): void {
    const why = adamStateMismatch(
      state,
      this.vars.map((x) => x.size),
    );
    if (why) throw new RangeError(`Adam.setState: ${why}`);
    this.vars.forEach((x, i) => {
      this.m[i].dispose();
      this.v[i].dispose();
      this.m[i] = tf.tensor(state.m[i], x.shape, 'float32');
      this.v[i] = tf.tensor(state.v[i], x.shape, 'float32');
    });
    this.t = state.step;
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}
