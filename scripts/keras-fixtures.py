"""Writes Keras-made fixtures for @niwt/backbones' weight-import and parity tests.

For each architecture (Keras Applications, weights=None, include_top=True, 224x224) it randomises every
weight (BatchNorm statistics too, so parity exercises them), then writes into OUT_DIR:

  <arch>.apps.h5     the Keras Applications layout (root attr `layer_names`, `<layer>/<weight>` datasets),
                     as in ~/.keras/models/*_weights_tf_dim_ordering_tf_kernels.h5
  <arch>.weights.h5  the Keras 3 `model.save_weights` layout (`layers/<layer>/vars/<i>`)
  <arch>.input.npy   a fixed RGB input in [0, 255], NHWC float32 (N = 2)
  <arch>.<layer>.npy Keras' own outputs on that input (preprocess_input, i.e. BGR minus ImageNet means)
  <arch>.done        written last: the fixture set is complete

Usage: python keras-fixtures.py OUT_DIR [vgg16] [resnet50] [resnet101]
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

ARCHS = {
    "vgg16": (keras.applications.VGG16, keras.applications.vgg16.preprocess_input,
              ["block5_conv3", "block5_pool", "fc2", "predictions"]),
    "resnet50": (keras.applications.ResNet50, keras.applications.resnet.preprocess_input,
                 ["conv4_block6_out", "conv5_block1_out", "avg_pool", "predictions"]),
    "resnet101": (keras.applications.ResNet101, keras.applications.resnet.preprocess_input,
                  ["conv5_block1_out", "avg_pool", "predictions"]),
}


def randomise(model, rng):
    """Random weights of a sensible scale: He-normal kernels, small biases, non-trivial BN statistics."""
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = ws
            layer.set_weights([
                rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                rng.normal(0, 0.1, beta.shape).astype("float32"),
                rng.normal(0, 0.1, mean.shape).astype("float32"),
                rng.uniform(0.5, 1.5, var.shape).astype("float32"),
            ])
        else:
            kernel, bias = ws
            fan_in = int(np.prod(kernel.shape[:-1]))
            layer.set_weights([
                (rng.normal(0, 1, kernel.shape) * np.sqrt(2.0 / fan_in)).astype("float32"),
                rng.normal(0, 0.05, bias.shape).astype("float32"),
            ])


def main():
    out = sys.argv[1]
    names = sys.argv[2:] or list(ARCHS)
    os.makedirs(out, exist_ok=True)
    for name in names:
        build, preprocess, taps = ARCHS[name]
        rng = np.random.default_rng({"vgg16": 16, "resnet50": 50, "resnet101": 101}[name])
        model = build(weights=None, include_top=True, input_shape=(224, 224, 3))
        randomise(model, rng)
        with h5py.File(os.path.join(out, f"{name}.apps.h5"), "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
        model.save_weights(os.path.join(out, f"{name}.weights.h5"))
        x = rng.uniform(0, 255, (2, 224, 224, 3)).astype("float32")
        np.save(os.path.join(out, f"{name}.input.npy"), x)
        probe = keras.Model(model.input, [model.get_layer(t).output for t in taps])
        outs = probe.predict(preprocess(x.copy()), verbose=0)
        for t, y in zip(taps, outs):
            np.save(os.path.join(out, f"{name}.{t}.npy"), np.asarray(y, dtype="float32"))
        with open(os.path.join(out, f"{name}.done"), "w") as f:
            f.write(",".join(taps) + "\n")
        print(f"keras-fixtures: {name} written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
