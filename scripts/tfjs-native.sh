#!/usr/bin/env bash
# Native TensorFlow backend without Google's download hosts: builds @tensorflow/tfjs-node's addon against the
# TensorFlow C API of the PyPI wheel `tensorflow-cpu` (or, with --gpu, `tensorflow` + the nvidia-*-cu12 wheels
# and @tensorflow/tfjs-node-gpu), caches the result under .cache/tfjs-native/, places the package into
# node_modules and checks that it loads (`tf.getBackend() === 'tensorflow'`).
#
#   scripts/tfjs-native.sh            # CPU: tensorflow-cpu==2.21.0 + @tensorflow/tfjs-node@4.22.0
#   scripts/tfjs-native.sh --gpu      # GPU: tensorflow==2.21.0 + nvidia-*-cu12 + @tensorflow/tfjs-node-gpu@4.22.0
#
# The first run downloads the wheel with pip (~270 MB; PyPI only) and the npm package (npm registry only),
# unpacks the C API library, the framework library and the headers, and compiles the addon with the node-gyp
# that ships inside npm (about 1 min in total). Later runs, and runs after `npm ci` wiped node_modules, only
# re-place the cached package (seconds). The cache is keyed by tfjs-node version, TensorFlow version, CPU/GPU
# and the Node ABI. Safe when several processes call it at once (flock). Progress goes to stderr; the last
# stdout line is the placed package's directory.
#
# Environment: NIWT_TFJS_NATIVE_CACHE (cache dir, default .cache/tfjs-native), NIWT_PYTHON (python3),
# NIWT_TF_VERSION (2.21.0: the version this project's parity suite was run against; change it knowingly).
set -euo pipefail

TFJS_NODE_VERSION=4.22.0
TF_VERSION="${NIWT_TF_VERSION:-2.21.0}"
# tfjs-node's package.json `binary.napi_versions` stops at 8: node-pre-gyp looks for lib/napi-v8 on Node >= 15.
NAPI_VERSION=8

gpu=0
for a in "$@"; do
  case "$a" in
    --gpu) gpu=1 ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "tfjs-native: unknown argument '$a' (expected --gpu or nothing)" >&2; exit 2 ;;
  esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${NIWT_TFJS_NATIVE_CACHE:-$repo/.cache/tfjs-native}"
python_bin="${NIWT_PYTHON:-python3}"
say() { echo "tfjs-native: $*" >&2; }
die() { echo "tfjs-native: $*" >&2; exit 1; }

if [[ $gpu -eq 1 ]]; then
  npm_pkg=tfjs-node-gpu
  wheel_pkg=tensorflow
  # TensorFlow's GPU build needs an NVIDIA driver; without one it would silently run on the CPU.
  if ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; }; then
    die "--gpu: no NVIDIA GPU found (nvidia-smi is missing or lists no GPU). The GPU backend needs an NVIDIA GPU \
with a CUDA 12 capable driver; on this machine run scripts/tfjs-native.sh without --gpu for the CPU backend"
  fi
else
  npm_pkg=tfjs-node
  wheel_pkg=tensorflow-cpu
fi

# --- prerequisites, each with the fix ---
command -v node >/dev/null 2>&1 || die "node not found on PATH"
command -v npm >/dev/null 2>&1 || die "npm not found on PATH"
node_version="$(node -p process.versions.node)"
node_abi="$(node -p process.versions.modules)"

# Build tools are checked only when something must be built (a cached build needs none of them).
need_build_tools() {
  command -v "$python_bin" >/dev/null 2>&1 || die "'$python_bin' not found: install Python 3.9-3.13 with pip, or set NIWT_PYTHON"
  "$python_bin" -m pip --version >/dev/null 2>&1 || die "pip is missing for '$python_bin' (Debian: apt-get install python3-pip)"
  command -v unzip >/dev/null 2>&1 || "$python_bin" -c 'import zipfile' 2>/dev/null || die "no unzip"
  for tool in g++ make; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found: the addon is compiled locally (Debian: apt-get install g++ make)"
  done
  node_gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
  [[ -f "$node_gyp" ]] || node_gyp="$(command -v node-gyp || true)"
  [[ -n "$node_gyp" ]] || die "node-gyp not found (it ships inside npm; or npm install -g node-gyp)"
  nodedir=""
  for d in "${NIWT_NODEDIR:-}" /usr /usr/local "$(dirname "$(dirname "$(command -v node)")")" "$HOME/.cache/node-gyp/$node_version"; do
    if [[ -n "$d" && -f "$d/include/node/node_api.h" && -f "$d/include/node/common.gypi" ]]; then nodedir="$d"; break; fi
  done
  [[ -n "$nodedir" ]] || die "the Node $node_version headers are missing (looked for include/node/node_api.h under /usr, \
/usr/local, node's prefix and ~/.cache/node-gyp/$node_version). Debian: apt-get install libnode-dev; or set NIWT_NODEDIR"
}

key="$npm_pkg-$TFJS_NODE_VERSION.tf-$TF_VERSION.abi-$node_abi.napi-$NAPI_VERSION"
build="$cache/$key"
target="$repo/node_modules/@tensorflow/$npm_pkg"

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

# --- 1. the TensorFlow C API from the PyPI wheel ---
build_tf() {
  local tfdir="$cache/tf-$wheel_pkg-$TF_VERSION"
  if [[ ! -f "$tfdir/.done" ]]; then
    local wheels="$cache/wheels"
    mkdir -p "$wheels"
    say "downloading $wheel_pkg==$TF_VERSION with pip (PyPI)"
    "$python_bin" -m pip download --disable-pip-version-check --quiet --no-deps --only-binary=:all: \
      -d "$wheels" "$wheel_pkg==$TF_VERSION" >&2 || die "pip could not download $wheel_pkg==$TF_VERSION (is PyPI reachable?)"
    local whl
    whl="$(ls "$wheels"/"${wheel_pkg//-/_}"-"$TF_VERSION"-*.whl | head -1)"
    say "unpacking the C API library, the framework library and the headers from $(basename "$whl")"
    rm -rf "$tfdir.tmp" && mkdir -p "$tfdir.tmp"
    "$python_bin" - "$whl" "$tfdir.tmp" <<'PY'
import sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if n in ('tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2')
             or n.startswith('tensorflow/include/') or '.dist-info/METADATA' in n]
    z.extractall(out, names)
PY
    [[ -f "$tfdir.tmp/tensorflow/libtensorflow_cc.so.2" && -f "$tfdir.tmp/tensorflow/include/tensorflow/c/c_api.h" ]] \
      || die "$(basename "$whl") does not hold libtensorflow_cc.so.2 and the C API headers"
    rm -rf "$tfdir" && mv "$tfdir.tmp" "$tfdir" && touch "$tfdir/.done"
  fi
  echo "$tfdir"
}

# --- 2. GPU only: the CUDA 12 libraries TensorFlow names under its `and-cuda` extra ---
build_cuda() {
  local tfdir="$1" cudadir="$cache/cuda-$TF_VERSION"
  if [[ ! -f "$cudadir/.done" ]]; then
    local reqs
    reqs="$(sed -n 's/^Requires-Dist: \(nvidia-[^;]*\); *extra == "and-cuda".*/\1/p' "$tfdir"/tensorflow-*.dist-info/METADATA | tr -d ' ')"
    [[ -n "$reqs" ]] || die "the $wheel_pkg $TF_VERSION wheel names no nvidia-* requirements under its and-cuda extra"
    say "installing the CUDA libraries: $(echo $reqs)"
    # shellcheck disable=SC2086
    "$python_bin" -m pip install --disable-pip-version-check --quiet --no-deps --target "$cudadir.tmp" $reqs >&2
    rm -rf "$cudadir" && mv "$cudadir.tmp" "$cudadir" && touch "$cudadir/.done"
  fi
  echo "$cudadir"
}

# --- 3. the npm package (scripts not run: they would download from Google) and its addon ---
build_addon() {
  local tfdir="$1" stage="$build/stage"
  local pkg="$stage/node_modules/@tensorflow/$npm_pkg"
  say "fetching @tensorflow/$npm_pkg@$TFJS_NODE_VERSION from the npm registry (install scripts off)"
  rm -rf "$stage" && mkdir -p "$stage"
  echo '{"name":"tfjs-native-stage","private":true}' >"$stage/package.json"
  (cd "$stage" && npm install --ignore-scripts --no-audit --no-fund --no-package-lock --loglevel=error \
    "@tensorflow/$npm_pkg@$TFJS_NODE_VERSION" >&2) || die "npm could not install @tensorflow/$npm_pkg@$TFJS_NODE_VERSION"
  # The layout binding.gyp expects: headers in deps/include, -ltensorflow -ltensorflow_framework from deps/lib,
  # and the addon's rpath $ORIGIN/../../deps/lib.
  mkdir -p "$pkg/deps/lib"
  ln -sfn "$tfdir/tensorflow/include" "$pkg/deps/include"
  ln -sf "$tfdir/tensorflow/libtensorflow_cc.so.2" "$pkg/deps/lib/libtensorflow_cc.so.2"
  ln -sf "$tfdir/tensorflow/libtensorflow_framework.so.2" "$pkg/deps/lib/libtensorflow_framework.so.2"
  ln -sf libtensorflow_cc.so.2 "$pkg/deps/lib/libtensorflow.so"
  ln -sf libtensorflow_framework.so.2 "$pkg/deps/lib/libtensorflow_framework.so"
  say "compiling the addon (node-gyp, Node $node_version headers from $nodedir)"
  (cd "$pkg" && node "$node_gyp" rebuild --nodedir="$nodedir" --loglevel=error -- \
    -Dnapi_build_version=$NAPI_VERSION -Dmodule_name=tfjs_binding -Dmodule_path=lib/napi-v$NAPI_VERSION >&2) \
    || die "node-gyp failed to build the addon (see the compiler output above)"
  rm -rf "$pkg/build"
  [[ -f "$pkg/lib/napi-v$NAPI_VERSION/tfjs_binding.node" ]] || die "the build wrote no lib/napi-v$NAPI_VERSION/tfjs_binding.node"
}

# The loading check: the package in $1 registers and activates the 'tensorflow' backend and computes a matmul.
check_loads() {
  (cd "$1" && TF_CPP_MIN_LOG_LEVEL=2 node -e "
    const tf = require('./');
    const v = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync()[0];
    if (tf.getBackend() !== 'tensorflow' || v !== 11) { console.error('backend', tf.getBackend(), 'matmul', v); process.exit(1); }
    console.error('tfjs-native: loads: backend tensorflow, tfjs-node ' + tf.version['tfjs-node'] +
      ', TensorFlow C API ' + tf.backend().binding.TF_Version);
  " >&2)
}

if [[ ! -f "$build/.done" ]]; then
  need_build_tools
  t0=$SECONDS
  tfdir="$(build_tf)"
  [[ $gpu -eq 1 ]] && build_cuda "$tfdir" >/dev/null
  build_addon "$tfdir"
  check_loads "$build/stage/node_modules/@tensorflow/$npm_pkg" || die "the built addon does not load (see above)"
  touch "$build/.done"
  say "built $key in $((SECONDS - t0)) s (cached in $build)"
fi

# --- 4. place the cached package into node_modules (npm ci removes it) ---
# Only the package itself is copied (a few MB; deps/ holds symlinks into the cache). Its own dependencies are
# linked in its private node_modules, except @tensorflow/*: it must share the project's @tensorflow/tfjs so
# that the 'tensorflow' backend registers in the same engine the project uses.
if [[ "$(cat "$target/.niwt-native" 2>/dev/null || true)" != "$key" || ! -e "$target/deps/lib/libtensorflow_cc.so.2" ]]; then
  [[ -d "$repo/node_modules/@tensorflow/tfjs" ]] || die "$repo/node_modules/@tensorflow/tfjs is missing: run npm ci first"
  rm -rf "$target.tmp" && mkdir -p "$target.tmp/node_modules"
  src="$build/stage/node_modules/@tensorflow/$npm_pkg"
  (cd "$src" && cp -a $(ls -A | grep -v '^node_modules$') "$target.tmp/")
  for d in "$build/stage/node_modules"/* "$build/stage/node_modules"/.bin; do
    name="$(basename "$d")"
    case "$name" in @tensorflow | @types | @webgpu | .bin) continue ;; esac
    ln -s "$d" "$target.tmp/node_modules/$name"
  done
  echo "$key" >"$target.tmp/.niwt-native"
  rm -rf "$target" && mv "$target.tmp" "$target"
  say "placed $key into $target"
fi
flock -u 9

if [[ $gpu -eq 1 ]]; then
  cudadir="$cache/cuda-$TF_VERSION"
  libpath="$(find "$cudadir/nvidia" -maxdepth 2 -type d -name lib | sort | tr '\n' ':')"
  echo "export LD_LIBRARY_PATH=\"${libpath}\${LD_LIBRARY_PATH:-}\"" >"$cache/gpu.env"
  say "GPU: the CUDA libraries live under $cudadir/nvidia; before running niwt: source $cache/gpu.env"
fi
echo "$target"
