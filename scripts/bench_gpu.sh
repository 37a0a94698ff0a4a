#!/usr/bin/env bash
# The GPU measurements of issue 16 (render: hvgen vs the naive loop vs raw diffusers bf16 + SDPA
# + torch.compile, SDXL's architecture at 1024²; adversarial: questions/s with CLIP ViT-L/14's
# architecture), as one command for a machine with one CUDA GPU and no network.
#
#   bash scripts/bench_gpu.sh wheels     # here, with network: the packages such a machine lacks → .whl/
#   bash scripts/bench_gpu.sh run        # there, from the repository root (carry .whl): ~8-9 min on an H100
#
# `run` installs .whl/*.whl and hvgen itself into /tmp/site (no network, no build isolation),
# then runs both benchmarks and tees their output to ${OUT:-.}/bench-*-gpu.txt. The budget:
# sdxl-random is built on the GPU in seconds; 6 render configurations × (1 warm-up batch of 4 +
# 3 rounds of 4 images) ≈ 96 SDXL images at 50 steps (≈ 3-4 s each in bf16 on an H100) plus two
# torch.compile warm-ups; the adversarial part ≈ 1-2 min.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-run}" in
wheels)
    # Versions as tested on the CPU machine; the GPU image has torch, transformers, pillow,
    # numpy, scipy, pyarrow, jinja2, typer, rich, pyyaml, attrs, safetensors, httpx already.
    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl \
        diffusers==0.42.1 duckdb==2.0.1 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 \
        referencing==0.37.0 rpds-py==2026.9.1 torchattacks==3.3.0 importlib-metadata==10.2.0
    du -sh .whl
    ;;
run)
    out=${OUT:-.}
    export PYTHONUNBUFFERED=1 HVGEN_NO_PROGRESS=1 HF_HUB_OFFLINE=1 HVGEN_CACHE=/tmp/hvgen-cache
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target /tmp/site .
    export PYTHONPATH=/tmp/site
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/bench-gpu-device.txt"
    python3 scripts/bench_render.py --model sdxl-random --device cuda --dtype bf16 --steps 50 --num 4 \
        --batch-sizes 1,4 --compile 2>&1 | tee "$out/bench-render-gpu.txt"
    python3 scripts/bench_adversarial.py --device cuda --surrogate clip-l-random --size 1024 --num 64 \
        --batch-sizes 1,8,16 2>&1 | tee "$out/bench-adversarial-gpu.txt"
    ;;
*)
    echo "usage: $0 wheels|run" >&2
    exit 2
    ;;
esac
