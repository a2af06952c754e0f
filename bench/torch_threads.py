"""Thread counts for the PyTorch peers (bench/torch_serve_peer.py, bench/torch_wgan_gp.py).

Debian's python3-torch calls OpenBLAS (libblas.so.3 → openblas-pthread) for its matrix products,
and torch.set_num_threads sizes only torch's own OpenMP pool: OpenBLAS keeps a pool of one thread
per core. Under 2 OpenMP threads the convolutions' products then ran on 4 threads on 2 cores, and
OpenBLAS's idle threads spin after each call. Measured here (bench/RESULTS.md, 2026-12-07): a
WGAN-GP iteration of the emoji net took 690 ms at 1 torch thread and 900 ms at 2 with OpenBLAS as
it comes, 430 ms at 2 torch threads with OpenBLAS on 1; a served DCGAN's rate swung 2× between
runs. So the peers pin OpenBLAS to 1 thread under torch's parallel regions. Under a single torch
thread nothing oversubscribes, and a net whose time is in a few large products (the MLPs) runs
them faster on OpenBLAS's own threads: the training peer also tries 1 torch thread with OpenBLAS
on every core, and the serving peer gives it every core for the lone product of its peak.
"""
import ctypes
import ctypes.util

import torch


def _openblas():
    for name in ('libopenblas.so.0', ctypes.util.find_library('openblas')):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        if hasattr(lib, 'openblas_set_num_threads'):
            return lib
    return None


OPENBLAS = _openblas()


def openblas_threads():
    """OpenBLAS's thread count now, or None when torch does not use OpenBLAS here."""
    return OPENBLAS.openblas_get_num_threads() if OPENBLAS is not None else None


def set_threads(threads, blas_threads=1):
    """torch's intra-op threads, and OpenBLAS's (1 under torch's own parallel regions)."""
    torch.set_num_threads(threads)
    if OPENBLAS is not None:
        OPENBLAS.openblas_set_num_threads(blas_threads)
