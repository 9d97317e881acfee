#!/usr/bin/env bash
# One prepared GPU check (issue 22): make a venv with the GPU extras and a CUDA build of torch,
# then run bench/gpu_check.py, which writes bench/results/gpu.md and gpu.json.
#
#   bash bench/gpu_check.sh                 # on a fresh NVIDIA machine (8-minute budget)
#   bash bench/gpu_check.sh --budget 600    # more time; other options go to gpu_check.py
#   bash bench/gpu_check.sh --dry-run       # CPU only, installs nothing: checks the script
#
# Environment: PYTHON (base interpreter, default python3), GPU_VENV (default .gpu-check/venv),
# TORCH_SPEC (default torch: PyPI's Linux wheel is a CUDA build; constraints.txt is NOT used,
# it pins the CPU wheel). Where no package index answers (an offline GPU box whose python3
# already holds CUDA torch), the venv inherits the base interpreter's packages, installs the
# project without dependencies and wheels from .whl/ if present, and says so.
# Exit code: gpu_check.py's (0 pass, 1 mismatch/failure, 3 skipped stages), 2 on usage.
set -uo pipefail
START=$(date +%s)
cd "$(dirname "$0")/.."

DRY=0
for arg in "$@"; do
    case "$arg" in
        --dry-run | --list) DRY=1 ;;
        -h | --help)
            sed -n '2,14p' "$0"
            exit 0
            ;;
    esac
done

say() { printf '[gpu-check] %s\n' "$*"; }
stamp() { say "stage $1: $2 in $(($(date +%s) - $3))s ($(($(date +%s) - START))s since start)"; }

if [ "$DRY" = 1 ]; then
    # No venv, no installs: the project's dev venv when there is one, else the base python.
    PY=${PYTHON:-}
    if [ -z "$PY" ]; then
        if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
    fi
    exec "$PY" bench/gpu_check.py --started-at "$START" "$@"
fi

BASE=${PYTHON:-python3}
mkdir -p .gpu-check
VENV=${GPU_VENV:-.gpu-check/venv}
PY=$VENV/bin/python
PIP=("$PY" -m pip --disable-pip-version-check --timeout 20 --retries 1)
T=$(date +%s)
NOTE=""
STATUS=ok

if ! "$BASE" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    say "error: $BASE is not Python 3.10+"
    exit 2
fi
"$BASE" bench/gpu_check.py --validate "$@" || exit 2 # bad options: before minutes of installs
if [ ! -x "$PY" ]; then
    # --system-site-packages: reuse a CUDA torch the machine already has (minutes of download)
    "$BASE" -m venv --system-site-packages "$VENV" || {
        say "error: could not create $VENV"
        exit 2
    }
fi
say "venv $VENV ($("$PY" -V 2>&1))"

HAS_CUDA_TORCH='import sys, torch; sys.exit(0 if torch.version.cuda else 1)'
if "$PY" -c "$HAS_CUDA_TORCH" 2>/dev/null; then
    NOTE="torch $("$PY" -c 'import torch; print(torch.__version__)') reused"
else
    # A plain `torch` from PyPI is a CUDA build on Linux x86_64; where pip is capped
    # (/etc/xdg/pip), the cap's torch, which is a CUDA build too.
    if "${PIP[@]}" install -q "${TORCH_SPEC:-torch}"; then
        NOTE="${TORCH_SPEC:-torch} installed"
    else
        NOTE="torch install failed"
        STATUS=offline
    fi
fi
if [ "$STATUS" = ok ] && "${PIP[@]}" install -q -e ".[cuda]" pytest hypothesis; then
    NOTE="$NOTE; .[cuda] installed"
else
    STATUS=offline
    say "no package index (or the install failed): installing the project offline"
    "${PIP[@]}" install -q --no-index --no-deps --no-build-isolation -e . ||
        { NOTE="$NOTE; offline install of the project failed"; STATUS=failed; }
    if compgen -G ".whl/*.whl" >/dev/null; then
        "${PIP[@]}" install -q --no-index --no-deps .whl/*.whl && NOTE="$NOTE; .whl/ wheels"
    fi
    NOTE="$NOTE; offline: dependencies are the base interpreter's"
fi
# TensorRT on its own: optional (the engines stage falls back to torch on CUDA and says so).
# PyPI's tensorrt-cu12/cu13-libs are placeholders that fetch the real wheels from NVIDIA's own
# index: set PIP_EXTRA_INDEX_URL to it where it is reachable. TensorRT 11 removed
# BuilderFlag.FP16, which engines/tensorrt_engine.py sets: gpu-constraints.txt keeps 10.x.
if "$PY" -c 'import tensorrt' 2>/dev/null; then
    NOTE="$NOTE; tensorrt $("$PY" -c 'import tensorrt; print(tensorrt.__version__)') reused"
elif [ "$STATUS" = ok ] && "${PIP[@]}" install -q -c bench/gpu-constraints.txt tensorrt \
    >.gpu-check/tensorrt-install.log 2>&1; then
    NOTE="$NOTE; tensorrt installed"
else
    NOTE="$NOTE; TensorRT not installed (.gpu-check/tensorrt-install.log)"
fi
if ! "$PY" -c "$HAS_CUDA_TORCH" 2>/dev/null; then
    NOTE="$NOTE; torch is not a CUDA build"
    STATUS=failed
fi
INSTALL_S=$(($(date +%s) - T))
stamp install "$STATUS ($NOTE)" "$T"

export PIP_DISABLE_PIP_VERSION_CHECK=1
"$PY" bench/gpu_check.py --started-at "$START" --install-status "$STATUS" \
    --install-seconds "$INSTALL_S" --install-note "$NOTE" "$@"
CODE=$?
say "done in $(($(date +%s) - START))s, exit $CODE"
exit $CODE
