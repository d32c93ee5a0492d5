#!/usr/bin/env bash
# Run the sampling benchmark on CUDA and on CPU in a fresh virtual environment with
# onnxruntime-gpu, and check that both devices produce the same outputs.
#
# Usage: benches/gpu_check.sh [VENV_DIR]   (default: a new temporary folder)
# Needs: an NVIDIA GPU with a CUDA runtime that the onnxruntime-gpu wheel supports, and a
# package index that pip can reach (set PIP_INDEX_URL or PIP_FIND_LINKS for an offline one).
# Extra arguments for benches/sampling.py can be given in SAMPLING_ARGS, e.g. "--quick".
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv_dir="${1:-$(mktemp -d)/venv}"
results_dir="$(mktemp -d)"
read -r -a sampling_args <<< "${SAMPLING_ARGS:-}"

python3 -m venv "$venv_dir"
python="$venv_dir/bin/python"
"$python" -m pip install --quiet --upgrade pip
# onnxruntime and onnxruntime-gpu install the same module, so relucc goes in without its
# dependencies and the GPU wheel takes onnxruntime's place.
"$python" -m pip install --quiet onnxruntime-gpu "numpy>=1.24" "onnx>=1.15" "lark>=1.1" "scipy>=1.10" "tqdm>=4.60"
"$python" -m pip install --quiet --no-deps -e "$repo_root"

if ! "$python" -c 'import onnxruntime, sys; sys.exit("CUDAExecutionProvider" not in onnxruntime.get_available_providers())'; then
    echo "gpu_check: onnxruntime-gpu does not offer CUDAExecutionProvider here; stopping" >&2
    exit 1
fi

for device in cuda cpu; do
    echo "== sampling on $device"
    "$python" "$repo_root/benches/sampling.py" --device "$device" --repeats 3 \
        --json "$results_dir/$device.json" --outputs-dir "$results_dir/$device" "${sampling_args[@]}"
done

"$python" - "$results_dir" <<'PYTHON'
import sys
from pathlib import Path

import numpy as np

results = Path(sys.argv[1])
mismatches = 0
for cuda_file in sorted((results / "cuda").glob("*.npy")):
    cpu_file = results / "cpu" / cuda_file.name.replace("_cuda_", "_cpu_")
    equal = np.array_equal(np.load(cuda_file), np.load(cpu_file))
    mismatches += not equal
    print(f"{cuda_file.name} vs {cpu_file.name}: {'equal' if equal else 'DIFFERENT'}")
sys.exit(1 if mismatches else 0)
PYTHON
echo "gpu_check: CUDA and CPU outputs are equal; results in $results_dir"
