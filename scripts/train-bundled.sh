#!/usr/bin/env bash
# Re-train the generators bundled in models/ with the flags they were trained with (each
# manifest's training.command records the original line — there with runs/lead/… output folders —
# the backend and the wall time). Single seed (0) each; 20–50 minutes apiece on a 2-core machine
# with the wasm backend.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build >/dev/null
wganx() { node dist/cli.js "$@"; }
mkdir -p runs/bundled
wganx train --dataset ring8 --batch 128 --layers 3 --lr 1e-3 --lr-schedule linear --sample-every 1000 --checkpoint-every 3000 --data-scale 10 --latent 2 --hidden 128 --steps 6000 --out runs/bundled/ring --models-dir models
wganx train --dataset grid25 --algo wgan-gp --arch mlp --batch 128 --layers 3 --lr 1e-3 --lr-schedule linear --data-scale 2.5 --latent 2 --hidden 128 --steps 6000 --sample-every 2000 --checkpoint-every 1000 --out runs/bundled/grid --models-dir models
# The conditional MNIST generator: 3,000 steps, then resumed to 6,000 (the linear schedule is
# recomputed for the new length on resume).
wganx train --dataset mnist --conditional --algo wgan-gp --arch mlp --steps 3000 --batch 64 --latent 64 --hidden 256 --lr 2e-4 --beta1 0.5 --lr-schedule linear --sample-every 500 --checkpoint-every 250 --out runs/bundled/mnist-cgan --models-dir models
wganx train --dataset mnist --conditional --algo wgan-gp --arch mlp --steps 6000 --batch 64 --latent 64 --hidden 256 --lr 2e-4 --beta1 0.5 --lr-schedule linear --sample-every 500 --checkpoint-every 250 --out runs/bundled/mnist-cgan --models-dir models --resume
