#!/usr/bin/env bash
# Download into .whl/ the wheels the GPU machine (Python 3.12, x86-64, torch 2.11, no package registry)
# lacks for archgan and the peers of the throughput benchmark; git ignores .whl/ (.git/info/exclude), and
# the device tool carries it (`carry: [".whl"]`). Run here, where pip reaches the package index.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" \
  -d .whl jsonschema jsonschema-specifications referencing rpds-py pypng
# the peers are pure Python published as source only: built into wheels here, they install anywhere
python3 -m pip wheel -q --no-deps -w .whl pro-gan-pth==3.4 attn-gan-pytorch easydict
ls .whl
