/**
 * Exact fast stage D. For a frozen network the map w ↦ α(x; w) = Σ_ij ∂(wᵀh)/∂A_ij is linear, and so is its
 * adjoint g ↦ Σ_j G(x)ᵀ g. Both are evaluated here as linear passes through the head with the non-linear
 * layers frozen at the image's forward state (ReLU and max-pool routing masks), packed as bits once per
 * pool image — no forward recomputation, no double backprop, and G(x) is never materialised:
 *
 *   α  = Σ_space VJP_x(w)           (one backward pass of the linearised head)
 *   ∂L/∂w = JVP_x(broadcast_space g) (one forward pass of the linearised head)
 *
 * When the head starts with poolings and a dense layer (VGG: pool5 → fc6), the spatial sum commutes with
 * them: Σ_space of the VJP through pool + flatten + W is S·u with S = Σ_space W (K × D1), and the JVP of a
 * spatially constant direction is gᵀS — the largest matrix of the head (25088 × 4096 for VGG16) is
 * replaced by a K × D1 one (512 × 4096), 49× fewer FLOPs.
 */
import * as tf from '@tensorflow/tfjs';
import type { HeadLayer } from '@niwt/core';

type Shape = readonly number[]; // without the batch dimension

/** One compiled layer of a linearised head; shapes are per image, NHWC (exported for `linear-head-ort.ts`). */
export interface LinearNode {
  readonly layer: HeadLayer;
  readonly inShape: Shape;
  readonly outShape: Shape;
  /** Index of this layer's mask in the per-image state, for relu and maxpool. */
  readonly mask?: number;
  readonly branch?: readonly Node[];
  readonly shortcut?: readonly Node[];
}
type Node = LinearNode;

/** Why a head cannot take the fast path (the caller falls back to double backprop). */
export class UnsupportedHead extends Error {}

const prod = (s: Shape): number => s.reduce((a, b) => a * b, 1);

function poolOut(n: number, size: number, stride: number, padding: 'valid' | 'same'): number {
  return padding === 'same' ? Math.ceil(n / stride) : Math.floor((n - size) / stride) + 1;
}

/** Compiles a layer list: shapes and mask slots. */
function compile(layers: readonly HeadLayer[], inShape: Shape, maskSizes: number[]): Node[] {
  const nodes: Node[] = [];
  let shape = inShape;
  for (const layer of layers) {
    let out: Shape;
    let mask: number | undefined;
    let branch: Node[] | undefined;
    let shortcut: Node[] | undefined;
    switch (layer.kind) {
      case 'relu':
        out = shape;
        mask = maskSizes.push(prod(shape)) - 1;
        break;
      case 'maxpool': {
        const [h, w, c] = shape;
        if (layer.stride !== layer.size || h % layer.size !== 0 || w % layer.size !== 0) {
          throw new UnsupportedHead(
            `maxpool ${layer.size}/${layer.stride} on ${h}×${w} is not a tiling (the fast path needs ` +
              `non-overlapping windows)`,
          );
        }
        out = [h / layer.size, w / layer.size, c];
        mask = maskSizes.push(prod(shape)) - 1;
        break;
      }
      case 'avgpool':
        out = [
          poolOut(shape[0], layer.size, layer.stride, layer.padding),
          poolOut(shape[1], layer.size, layer.stride, layer.padding),
          shape[2],
        ];
        break;
      case 'flatten':
        out = [prod(shape)];
        break;
      case 'dense':
        if (layer.weights.shape[0] !== prod(shape))
          throw new UnsupportedHead(`dense expects ${layer.weights.shape[0]} inputs, gets ${prod(shape)}`);
        out = [layer.weights.shape[1]];
        break;
      case 'conv': {
        const [kh, kw, , co] = layer.filter.shape;
        out = [
          poolOut(shape[0], kh, layer.stride, layer.padding),
          poolOut(shape[1], kw, layer.stride, layer.padding),
          co,
        ];
        break;
      }
      case 'affine':
        out = shape;
        break;
      case 'gap':
        out = [shape[2]];
        break;
      case 'residual': {
        branch = compile(layer.branch, shape, maskSizes);
        shortcut = layer.shortcut ? compile(layer.shortcut, shape, maskSizes) : undefined;
        out = branch.length ? branch[branch.length - 1].outShape : shape;
        break;
      }
    }
    nodes.push({ layer, inShape: shape, outShape: out, mask, branch, shortcut });
    shape = out;
  }
  return nodes;
}

const batched = (b: number, s: Shape): number[] => [b, ...s];

function forward(nodes: readonly Node[], x: tf.Tensor, masks: tf.Tensor[]): tf.Tensor {
  let h = x;
  for (const n of nodes) {
    const l = n.layer;
    switch (l.kind) {
      case 'relu': {
        const m = tf.cast(tf.greater(h, 0), 'float32');
        masks[n.mask!] = m;
        h = tf.mul(h, m);
        break;
      }
      case 'maxpool': {
        // the routing mask is the gradient of Σ maxpool: 1 at each window's (first) maximum
        if (n.mask !== undefined)
          masks[n.mask] = tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, l.size, l.stride, l.padding)))(
            h,
          );
        h = tf.maxPool(h as tf.Tensor4D, l.size, l.stride, l.padding);
        break;
      }
      case 'avgpool':
        h = tf.avgPool(h as tf.Tensor4D, l.size, l.stride, l.padding);
        break;
      case 'flatten':
        h = tf.reshape(h, [h.shape[0], -1]);
        break;
      case 'dense':
        h = tf.matMul(tf.reshape(h, [h.shape[0], -1]), l.weights);
        if (l.bias) h = tf.add(h, l.bias);
        break;
      case 'conv':
        h = tf.conv2d(h as tf.Tensor4D, l.filter, l.stride, l.padding);
        if (l.bias) h = tf.add(h, l.bias);
        break;
      case 'affine':
        h = tf.add(tf.mul(h, l.scale), l.offset);
        break;
      case 'gap':
        h = tf.mean(h, [1, 2]);
        break;
      case 'residual': {
        const b = forward(n.branch!, h, masks);
        const s = n.shortcut ? forward(n.shortcut, h, masks) : h;
        h = tf.add(b, s);
        break;
      }
    }
  }
  return h;
}

/** Forward-mode pass of the linearised head (biases and offsets drop out). */
function jvp(nodes: readonly Node[], d: tf.Tensor, masks: readonly tf.Tensor[]): tf.Tensor {
  let h = d;
  for (const n of nodes) {
    const l = n.layer;
    switch (l.kind) {
      case 'relu':
        h = tf.mul(h, masks[n.mask!]);
        break;
      case 'maxpool':
        h = tf.mul(tf.avgPool(tf.mul(h, masks[n.mask!]) as tf.Tensor4D, l.size, l.stride, 'valid'), l.size * l.size);
        break;
      case 'avgpool':
        h = tf.avgPool(h as tf.Tensor4D, l.size, l.stride, l.padding);
        break;
      case 'flatten':
        h = tf.reshape(h, [h.shape[0], -1]);
        break;
      case 'dense':
        h = tf.matMul(tf.reshape(h, [h.shape[0], -1]), l.weights);
        break;
      case 'conv':
        h = tf.conv2d(h as tf.Tensor4D, l.filter, l.stride, l.padding);
        break;
      case 'affine':
        h = tf.mul(h, l.scale);
        break;
      case 'gap':
        h = tf.mean(h, [1, 2]);
        break;
      case 'residual':
        h = tf.add(jvp(n.branch!, h, masks), n.shortcut ? jvp(n.shortcut, h, masks) : h);
        break;
    }
  }
  return h;
}

/**
 * Adjoint filters of stride-1 convolutions (spatially flipped, channels swapped): the VJP of such a conv is a
 * forward conv with them, which runs on XNNPACK — tfjs-wasm's own Conv2DBackpropInput is a naive loop
 * (1–2.5 GFLOP/s) and would dominate a ResNet head.
 */
type Adjoints = Map<HeadLayer, tf.Tensor4D>;

function adjointFilters(nodes: readonly Node[], out: Adjoints): Adjoints {
  for (const n of nodes) {
    const l = n.layer;
    if (
      l.kind === 'conv' &&
      l.stride === 1 &&
      (l.filter.shape[0] === 1 ||
        (l.padding === 'same' && l.filter.shape[0] % 2 === 1 && l.filter.shape[0] === l.filter.shape[1]))
    ) {
      out.set(
        l,
        tf.tidy(() => tf.transpose(tf.reverse(l.filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D),
      );
    }
    if (n.branch) adjointFilters(n.branch, out);
    if (n.shortcut) adjointFilters(n.shortcut, out);
  }
  return out;
}

/** Reverse-mode pass of the linearised head. */
function vjp(nodes: readonly Node[], d: tf.Tensor, masks: readonly tf.Tensor[], adj: Adjoints): tf.Tensor {
  let g = d;
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    const l = n.layer;
    const B = g.shape[0];
    switch (l.kind) {
      case 'relu':
        g = tf.mul(g, masks[n.mask!]);
        break;
      case 'maxpool': {
        const [h, w, c] = n.outShape;
        const up = tf.reshape(
          tf.tile(tf.reshape(g, [B, h, 1, w, 1, c]), [1, 1, l.size, 1, l.size, 1]),
          batched(B, n.inShape),
        );
        g = tf.mul(up, masks[n.mask!]);
        break;
      }
      case 'avgpool': {
        const dy = g;
        g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(a as tf.Tensor4D, l.size, l.stride, l.padding), dy)))(
          tf.zeros(batched(B, n.inShape)),
        );
        break;
      }
      case 'flatten':
        g = tf.reshape(g, batched(B, n.inShape));
        break;
      case 'dense':
        g = tf.reshape(tf.matMul(g as tf.Tensor2D, l.weights, false, true), batched(B, n.inShape));
        break;
      case 'conv': {
        const a = adj.get(l);
        g = a
          ? tf.conv2d(g as tf.Tensor4D, a, 1, l.padding)
          : tf.conv2dTranspose(
              g as tf.Tensor4D,
              l.filter,
              batched(B, n.inShape) as [number, number, number, number],
              l.stride,
              l.padding,
            );
        break;
      }
      case 'affine':
        g = tf.mul(g, l.scale);
        break;
      case 'gap': {
        const [h, w, c] = n.inShape;
        g = tf.tile(tf.reshape(tf.div(g, h * w), [B, 1, 1, c]), [1, h, w, 1]);
        break;
      }
      case 'residual':
        g = tf.add(vjp(n.branch!, g, masks, adj), n.shortcut ? vjp(n.shortcut, g, masks, adj) : g);
        break;
    }
  }
  return g;
}

/** A head linearised for stage D. Tensors it creates are its own; call `dispose`. */
export class LinearizedHead {
  /** Bits of state per image (one per ReLU output / max-pool input element). */
  readonly maskSizes: number[] = [];
  readonly bytesPerImage: number;
  private readonly prefix: readonly Node[];
  /** The linearised layers after the commuted prefix (the ONNX engine compiles these too). */
  readonly rest: readonly Node[];
  /** Σ_space of the first dense layer's weights, K × D1, when the spatial sum commutes. */
  readonly spatialSum?: tf.Tensor2D;
  readonly tapShape: Shape;
  private readonly adjoints: Adjoints = new Map();

  constructor(layers: readonly HeadLayer[], tapShape: readonly [number, number, number]) {
    this.tapShape = tapShape;
    let p = 0;
    while (p < layers.length && (layers[p].kind === 'maxpool' || layers[p].kind === 'avgpool')) p++;
    if (layers[p]?.kind === 'flatten') p++;
    const first = layers[p];
    if (first?.kind === 'dense') {
      // prefix = pools, flatten, dense: evaluated only in the forward; its spatial sum commutes
      const prefixNodes = compileStateless(layers.slice(0, p + 1), tapShape);
      const [h, w] = prefixNodes.length > 1 ? prefixNodes[prefixNodes.length - 2].outShape : tapShape;
      const K = tapShape[2];
      const P = first.weights.shape[0] / K;
      if (
        !Number.isInteger(P) ||
        (prefixNodes.length > 1 && prefixNodes[prefixNodes.length - 2].outShape.length === 3 && h * w !== P)
      ) {
        throw new UnsupportedHead('the first dense layer does not match the pooled tap');
      }
      this.prefix = prefixNodes;
      this.spatialSum = tf.tidy(
        () => tf.sum(tf.reshape(first.weights, [P, K, first.weights.shape[1]]), 0) as tf.Tensor2D,
      );
      this.rest = compile(layers.slice(p + 1), [first.weights.shape[1]], this.maskSizes);
    } else {
      this.prefix = [];
      this.rest = compile(layers, tapShape, this.maskSizes);
    }
    this.bytesPerImage = Math.ceil(this.maskSizes.reduce((a, b) => a + b, 0) / 8);
    adjointFilters(this.rest, this.adjoints);
  }

  /** The forward state of a batch of tap activations, packed as bits: `[B × bytesPerImage]`. */
  state(tap: tf.Tensor4D): Uint8Array {
    const B = tap.shape[0];
    const masks: tf.Tensor[] = [];
    tf.tidy(() => {
      forward(this.rest, forward(this.prefix, tap, []), masks);
      masks.forEach((m) => tf.keep(m));
    });
    const out = new Uint8Array(B * this.bytesPerImage);
    let bit = 0;
    for (const m of masks) {
      const v = m.dataSync();
      const per = v.length / B;
      for (let b = 0; b < B; b++) {
        const base = b * this.bytesPerImage * 8 + bit;
        for (let i = 0; i < per; i++) if (v[b * per + i] !== 0) out[(base + i) >> 3] |= 1 << ((base + i) & 7);
      }
      bit += per;
    }
    tf.dispose(masks);
    return out;
  }

  /** Unpacks the bits of B images into mask tensors (owned by the caller's tidy scope). */
  masks(bits: Uint8Array, B: number): tf.Tensor[] {
    const out: tf.Tensor[] = [];
    let bit = 0;
    for (const size of this.maskSizes) {
      const v = new Float32Array(B * size);
      for (let b = 0; b < B; b++) {
        const base = b * this.bytesPerImage * 8 + bit;
        for (let i = 0; i < size; i++) v[b * size + i] = (bits[(base + i) >> 3] >> ((base + i) & 7)) & 1;
      }
      bit += size;
      out.push(tf.tensor(v, [B, size]));
    }
    return out.map((m, i) => tf.reshape(m, batched(B, this.maskShape(i))));
  }

  /** The per-image shape of mask slot `i` (the input shape of its relu or max-pool). */
  maskShape(i: number): Shape {
    const find = (nodes: readonly Node[]): Shape | undefined => {
      for (const n of nodes) {
        if (n.mask === i) return n.inShape;
        const s = (n.branch && find(n.branch)) || (n.shortcut && find(n.shortcut));
        if (s) return s;
      }
      return undefined;
    };
    return find(this.rest)!;
  }

  /** α for each image with its own weight vector: `w` is B × D, result B × K. */
  alpha(masks: readonly tf.Tensor[], w: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const g = vjp(this.rest, w, masks, this.adjoints);
      if (this.spatialSum) return tf.matMul(g as tf.Tensor2D, this.spatialSum, false, true);
      return tf.sum(g, [1, 2]) as tf.Tensor2D;
    });
  }

  /**
   * The adjoint: for each image, Σ_j G(x)ᵀ g, i.e. the head's JVP along g broadcast over space. `g` is B × K, result B
   * × D.
   */
  adjoint(masks: readonly tf.Tensor[], g: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const B = g.shape[0];
      if (this.spatialSum) return jvp(this.rest, tf.matMul(g, this.spatialSum), masks) as tf.Tensor2D;
      const [h, w, k] = this.tapShape;
      return jvp(this.rest, tf.tile(tf.reshape(g, [B, 1, 1, k]), [1, h, w, 1]), masks) as tf.Tensor2D;
    });
  }

  dispose(): void {
    this.spatialSum?.dispose();
    tf.dispose([...this.adjoints.values()]);
    this.adjoints.clear();
  }
}

function compileStateless(layers: readonly HeadLayer[], inShape: Shape): Node[] {
  const sizes: number[] = [];
  const nodes = compile(layers, inShape, sizes);
  // masks of the commuted prefix are never needed; drop their slots
  const strip = (ns: readonly Node[]): Node[] => ns.map((n) => ({ ...n, mask: undefined }));
  return strip(nodes);
}
