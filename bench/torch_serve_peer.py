"""The PyTorch peer of `npm run bench:serve -- --peers` (bench/serve-peers.ts): a generator's ONNX
file run by PyTorch with the same weights, eager and at its best on a CPU.

The model is built from the ONNX graph itself (OnnxModule: one step per node, the initializers as
the module's buffers), so it follows whatever graph the exporter emits (Gemm, MatMul, Conv,
ConvTranspose, DepthToSpace, BatchNormalization, the activations, Reshape, Transpose, Concat,
Gather, the element-wise ops: see OPS) without per-architecture code. Each node becomes the call a
PyTorch user writes: Gemm → F.linear (the kernel transposed once, at load), Conv → F.conv2d,
ConvTranspose → F.conv_transpose2d, BatchNormalization → F.batch_norm, Gather on a weight →
F.embedding. "At its best" is that module traced for one batch size (torch.jit.trace), frozen
(torch.jit.freeze: the weights become constants) and optimized (torch.jit.optimize_for_inference:
batch norm folded, convolutions on oneDNN's blocked layout). Outputs are made contiguous, as
onnxruntime hands back a dense array.

The Node side drives it over stdin/stdout, one JSON object a line each way:

    /usr/bin/python3 bench/torch_serve_peer.py

    {"cmd": "load", "key": "mnist-dcgan", "onnx": "<file>", "inputs": {"z": "<z.npy>", "label": "<label.npy>"},
     "expected": "<onnxruntime outputs .npy>", "batches": [1, 64, 256], "tolerance": 1e-4}
      → {"flops": <per sample>, "byOp": {...}, "eagerMaxDiff": d, "frozenMaxDiff": {"1": d, ...}, "prepareS": s}
    {"cmd": "time", "key": "...", "variant": "eager" | "frozen", "batch": 64, "threads": 2, "ms": 500, "minCalls": 2}
      → {"seconds": [<each call>]}          (one untimed call first)
    {"cmd": "peak", "n": 2048, "threads": 2, "ms": 500}  → {"gflops": <torch.mm>}
    {"cmd": "http"}  → {"port": p, "server": "FastAPI … on uvicorn … (uvloop, httptools)"}
    {"cmd": "quit"}

"http" serves the loaded models' eager modules as a PyTorch user would put them behind a web
server: FastAPI on uvicorn (Debian's python3-fastapi, python3-uvicorn; uvloop and httptools when
installed), on 127.0.0.1 in a thread of this process. `POST /v1/models/<key>/samples` with
{"n": rows, "seed": s, "threads": t} draws the latents with torch.randn from a generator seeded
with s (labels 0, 1, … cycling over the classes), runs the eager module under torch.inference_mode
on t threads, and answers the output as `.npy` (numpy.save). The endpoint is `async def`: it runs on
the event loop, with no hop to a worker thread, the quickest of FastAPI's ways for one request at a
time.

A failure answers {"error": "<message>"}. "load" fails when PyTorch's outputs differ from
onnxruntime's by more than the tolerance (eager on every row, each frozen module on its batch's
first rows): a wrong interpreter must not be timed. The parity inputs' first `batch` rows are the
timing inputs.
"""
import importlib.util
import io
import json
import socket
import sys
import threading
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

from torch_threads import openblas_threads, set_threads

torch.set_num_interop_threads(1)


# ── ONNX → torch ────────────────────────────────────────────────────────────────────────────────


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _ints(v):
    return [int(x) for x in v]


def _prod(xs):
    p = 1
    for x in xs:
        p *= int(x)
    return p


class Ctx:
    """What a node's builder sees: the constants (initializers, Constant nodes) and a buffer registry."""

    def __init__(self, module):
        self.module = module
        self.consts = {}

    def const(self, name):
        return self.consts.get(name)

    def buffer(self, tensor):
        """Register `tensor` on the module and return a getter (traced as a module attribute, frozen as a constant)."""
        attr = f'w{len(self.module._buffers)}'
        self.module.register_buffer(attr, tensor.contiguous())
        return lambda: getattr(self.module, attr)


def _arg(ctx, name):
    """A node input: a getter of a constant (as a module buffer) or the name of a value computed at run time."""
    c = ctx.const(name)
    return ('const', ctx.buffer(c)) if c is not None else ('value', name)


def _get(arg, values):
    kind, x = arg
    return x() if kind == 'const' else values[x]


def _elementwise(fn):
    def build(node, ctx, a):
        args = [_arg(ctx, n) for n in node.input]
        return lambda v: fn(*[_get(x, v) for x in args])
    return build


def _unary(fn):
    def build(node, ctx, a):
        x = _arg(ctx, node.input[0])
        return lambda v: fn(_get(x, v))
    return build


def _gemm(node, ctx, a):
    alpha, beta = a.get('alpha', 1.0), a.get('beta', 1.0)
    trans_a, trans_b = a.get('transA', 0), a.get('transB', 0)
    A = _arg(ctx, node.input[0])
    B = ctx.const(node.input[1])
    C = ctx.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if B is not None and not trans_a and alpha == 1.0 and (C is None or (beta == 1.0 and C.dim() == 1)):
        # nn.Linear: weight [out, in].
        w = ctx.buffer(B if trans_b else B.t())
        b = ctx.buffer(C) if C is not None else (lambda: None)
        return lambda v: F.linear(_get(A, v), w(), b())
    Bv = _arg(ctx, node.input[1])
    Cv = _arg(ctx, node.input[2]) if len(node.input) > 2 and node.input[2] else None

    def run(v):
        x, y = _get(A, v), _get(Bv, v)
        out = torch.matmul(x.t() if trans_a else x, y.t() if trans_b else y)
        if alpha != 1.0:
            out = out * alpha
        if Cv is not None:
            c = _get(Cv, v)
            out = out + (c * beta if beta != 1.0 else c)
        return out
    return run


def _matmul(node, ctx, a):
    A = _arg(ctx, node.input[0])
    B = ctx.const(node.input[1])
    if B is not None and B.dim() == 2:
        w = ctx.buffer(B.t())
        return lambda v: F.linear(_get(A, v), w())
    Bv = _arg(ctx, node.input[1])
    return lambda v: torch.matmul(_get(A, v), _get(Bv, v))


def _conv_pads(a, spatial):
    if a.get('auto_pad', b'NOTSET') not in (b'NOTSET', 'NOTSET'):
        raise ValueError(f"auto_pad {a['auto_pad']!r} is not supported (the exporter writes explicit pads)")
    pads = _ints(a.get('pads', [0] * (2 * spatial)))
    return pads[:spatial], pads[spatial:]


def _conv(node, ctx, a):
    W = ctx.const(node.input[1])
    if W is None or W.dim() != 4:
        raise ValueError('Conv: only 2-D convolutions with a constant kernel are supported')
    begin, end = _conv_pads(a, 2)
    x = _arg(ctx, node.input[0])
    w = ctx.buffer(W)
    b = ctx.buffer(ctx.const(node.input[2])) if len(node.input) > 2 and node.input[2] else (lambda: None)
    stride, dil, groups = _ints(a.get('strides', [1, 1])), _ints(a.get('dilations', [1, 1])), int(a.get('group', 1))
    if begin == end:
        return lambda v: F.conv2d(_get(x, v), w(), b(), stride, begin, dil, groups)
    pad = [begin[1], end[1], begin[0], end[0]]  # F.pad: last dim first
    return lambda v: F.conv2d(F.pad(_get(x, v), pad), w(), b(), stride, 0, dil, groups)


def _conv_transpose(node, ctx, a):
    W = ctx.const(node.input[1])
    if W is None or W.dim() != 4:
        raise ValueError('ConvTranspose: only 2-D transposed convolutions with a constant kernel are supported')
    if 'output_shape' in a:
        raise ValueError('ConvTranspose: output_shape is not supported (the exporter writes pads)')
    begin, end = _conv_pads(a, 2)
    x = _arg(ctx, node.input[0])
    w = ctx.buffer(W)
    b = ctx.buffer(ctx.const(node.input[2])) if len(node.input) > 2 and node.input[2] else (lambda: None)
    stride, dil, groups = _ints(a.get('strides', [1, 1])), _ints(a.get('dilations', [1, 1])), int(a.get('group', 1))
    out_pad = _ints(a.get('output_padding', [0, 0]))
    if begin == end:
        return lambda v: F.conv_transpose2d(_get(x, v), w(), b(), stride, begin, out_pad, groups, dil)

    def run(v):  # asymmetric pads: no padding, then crop
        y = F.conv_transpose2d(_get(x, v), w(), b(), stride, 0, out_pad, groups, dil)
        return y[:, :, begin[0]:y.shape[2] - end[0], begin[1]:y.shape[3] - end[1]]
    return run


def _depth_to_space(node, ctx, a):
    x = _arg(ctx, node.input[0])
    r = int(a['blocksize'])
    mode = a.get('mode', b'DCR')
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode == 'CRD':
        return lambda v: F.pixel_shuffle(_get(x, v), r)

    def dcr(v):
        t = _get(x, v)
        n, c, h, w = t.shape
        return t.reshape(n, r, r, c // (r * r), h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c // (r * r), h * r, w * r)
    return dcr


def _batch_norm(node, ctx, a):
    x = _arg(ctx, node.input[0])
    scale, bias, mean, var = (ctx.buffer(ctx.const(n)) for n in node.input[1:5])
    eps = float(a.get('epsilon', 1e-5))
    return lambda v: F.batch_norm(_get(x, v), mean(), var(), scale(), bias(), False, 0.0, eps)


def _reshape(node, ctx, a):
    x = _arg(ctx, node.input[0])
    shape = ctx.const(node.input[1])
    if shape is None:
        raise ValueError('Reshape: the target shape must be a constant')
    shape = _ints(shape.tolist())
    if a.get('allowzero', 0):
        return lambda v: _get(x, v).reshape(shape)

    def run(v):
        t = _get(x, v)
        return t.reshape([t.shape[i] if s == 0 else s for i, s in enumerate(shape)])
    return run


def _flatten(node, ctx, a):
    x = _arg(ctx, node.input[0])
    axis = int(a.get('axis', 1))

    def run(v):
        t = _get(x, v)
        k = axis if axis >= 0 else t.dim() + axis
        return t.reshape(_prod(t.shape[:k]), -1)
    return run


def _transpose(node, ctx, a):
    x = _arg(ctx, node.input[0])
    perm = _ints(a['perm']) if 'perm' in a else None

    def run(v):
        t = _get(x, v)
        return t.permute(perm if perm is not None else list(range(t.dim()))[::-1])
    return run


def _concat(node, ctx, a):
    args = [_arg(ctx, n) for n in node.input]
    axis = int(a['axis'])
    return lambda v: torch.cat([_get(x, v) for x in args], axis)


def _gather(node, ctx, a):
    axis = int(a.get('axis', 0))
    data = ctx.const(node.input[0])
    idx = _arg(ctx, node.input[1])
    if data is not None and data.dim() == 2 and axis == 0:
        w = ctx.buffer(data)  # an embedding table: [..., dim]
        return lambda v: F.embedding(_get(idx, v), w())
    d = _arg(ctx, node.input[0])

    def run(v):
        t, i = _get(d, v), _get(idx, v)
        k = axis if axis >= 0 else t.dim() + axis
        out = torch.index_select(t, k, i.reshape(-1))
        return out.reshape(list(t.shape[:k]) + list(i.shape) + list(t.shape[k + 1:]))
    return run


def _unsqueeze(node, ctx, a):
    x = _arg(ctx, node.input[0])
    axes = _ints(ctx.const(node.input[1]).tolist() if len(node.input) > 1 else a['axes'])

    def run(v):
        t = _get(x, v)
        for ax in sorted(ax if ax >= 0 else ax + t.dim() + len(axes) for ax in axes):
            t = t.unsqueeze(ax)
        return t
    return run


def _squeeze(node, ctx, a):
    x = _arg(ctx, node.input[0])
    axes = _ints(ctx.const(node.input[1]).tolist() if len(node.input) > 1 else a.get('axes', []))

    def run(v):
        t = _get(x, v)
        for ax in sorted((ax if ax >= 0 else ax + t.dim() for ax in axes), reverse=True):
            t = t.squeeze(ax)
        return t if axes else t.squeeze()
    return run


def _leaky_relu(node, ctx, a):
    x = _arg(ctx, node.input[0])
    alpha = float(a.get('alpha', 0.01))
    return lambda v: F.leaky_relu(_get(x, v), alpha)


def _clip(node, ctx, a):
    x = _arg(ctx, node.input[0])
    lo = ctx.const(node.input[1]) if len(node.input) > 1 and node.input[1] else None
    hi = ctx.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    lo = float(lo) if lo is not None else None
    hi = float(hi) if hi is not None else None
    return lambda v: torch.clamp(_get(x, v), lo, hi)


_CAST = {onnx.TensorProto.FLOAT: torch.float32, onnx.TensorProto.INT64: torch.int64, onnx.TensorProto.INT32: torch.int32}


def _cast(node, ctx, a):
    x = _arg(ctx, node.input[0])
    to = int(a['to'])
    if to not in _CAST:
        raise ValueError(f'Cast to ONNX type {to} is not supported (float, int64, int32)')
    return lambda v: _get(x, v).to(_CAST[to])


OPS = {
    'Gemm': _gemm, 'MatMul': _matmul, 'Conv': _conv, 'ConvTranspose': _conv_transpose,
    'DepthToSpace': _depth_to_space, 'BatchNormalization': _batch_norm,
    'Relu': _unary(F.relu), 'LeakyRelu': _leaky_relu, 'Tanh': _unary(torch.tanh), 'Sigmoid': _unary(torch.sigmoid),
    'Identity': _unary(lambda t: t), 'Clip': _clip, 'Cast': _cast,
    'Reshape': _reshape, 'Flatten': _flatten, 'Transpose': _transpose, 'Concat': _concat, 'Gather': _gather,
    'Unsqueeze': _unsqueeze, 'Squeeze': _squeeze,
    'Add': _elementwise(torch.add), 'Sub': _elementwise(torch.sub), 'Mul': _elementwise(torch.mul), 'Div': _elementwise(torch.div),
}


def node_flops(op, ins, out):
    """Multiply-adds × 2 of one node from its input and output shapes (only products count)."""
    if op == 'Conv':  # W [Co, Ci/g, kh, kw]: each output element is Ci/g·kh·kw products
        return 2 * _prod(out) * _prod(ins[1][1:])
    if op == 'ConvTranspose':  # W [Ci, Co/g, kh, kw]: each input element feeds Co/g·kh·kw products
        return 2 * _prod(ins[0]) * _prod(ins[1][1:])
    if op in ('Gemm', 'MatMul'):  # each output element is a dot product of length K (A's last dim)
        return 2 * _prod(out) * int(ins[0][-1])
    return 0


class OnnxModule(torch.nn.Module):
    """An ONNX graph as a torch module: forward(*graph inputs) → the first graph output (contiguous)."""

    def __init__(self, model):
        super().__init__()
        graph = model.graph
        ctx = Ctx(self)
        for init in graph.initializer:
            ctx.consts[init.name] = torch.from_numpy(numpy_helper.to_array(init).copy())
        self.input_names = [i.name for i in graph.input if i.name not in ctx.consts]
        self.output_name = graph.output[0].name
        self.steps = []
        for node in graph.node:
            a = _attrs(node)
            if node.op_type == 'Constant':
                ctx.consts[node.output[0]] = torch.from_numpy(numpy_helper.to_array(a['value']).copy())
                continue
            build = OPS.get(node.op_type)
            if build is None:
                raise ValueError(f'node {node.name or node.output[0]!r}: op {node.op_type} is not supported; supported: {", ".join(sorted(OPS))}, Constant')
            if len(node.output) != 1:
                raise ValueError(f'node {node.name or node.output[0]!r}: {node.op_type} with {len(node.output)} outputs is not supported')
            sizes = [(n, ctx.const(n)) for n in node.input]
            self.steps.append((node.op_type, build(node, ctx, a), list(node.input), node.output[0], sizes))
        self.consts = ctx.consts
        self.counting = None

    def forward(self, *inputs):
        values = dict(zip(self.input_names, inputs))
        for op, run, ins, out, _ in self.steps:
            values[out] = run(values)
            if self.counting is not None:
                shapes = [tuple(values[n].shape) if n in values else tuple(self.consts[n].shape) for n in ins if n]
                self.counting.append((op, node_flops(op, shapes, tuple(values[out].shape))))
        return values[self.output_name].contiguous()

    def flops(self, inputs):
        """Per-sample FLOPs by op: a run at 2 rows minus a run at 1 row (work that does not grow with the batch drops out)."""
        totals = []
        for rows in (1, 2):
            self.counting = []
            with torch.inference_mode():
                self(*[t[:rows] for t in inputs])
            by_op = {}
            for op, f in self.counting:
                if f:
                    n, s = by_op.get(op, (0, 0))
                    by_op[op] = (n + 1, s + f)
            totals.append(by_op)
            self.counting = None
        return {op: {'nodes': totals[0][op][0], 'flops': totals[1][op][1] - totals[0][op][1]} for op in totals[0]}


# ── the peer ────────────────────────────────────────────────────────────────────────────────────


def frozen_module(module, example):
    with torch.no_grad():
        traced = torch.jit.trace(module.eval(), example, check_trace=False)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced))


class Peer:
    def __init__(self):
        self.models = {}

    def load(self, req):
        t0 = time.perf_counter()
        module = OnnxModule(onnx.load(req['onnx'])).eval()
        files = req['inputs']
        missing = [n for n in module.input_names if n not in files]
        if missing:
            raise ValueError(f'inputs: the graph needs {module.input_names}, no file for {missing}')
        inputs = [torch.from_numpy(np.load(files[n])) for n in module.input_names]
        expected = torch.from_numpy(np.load(req['expected']))
        tol = float(req['tolerance'])
        by_op = module.flops(inputs)
        with torch.inference_mode():
            eager_diff = float((module(*inputs) - expected).abs().max())
        if not eager_diff <= tol:
            raise ValueError(f'{req["key"]}: PyTorch eager differs from onnxruntime by {eager_diff:.3g} > {tol:g}')
        frozen, frozen_diff = {}, {}
        for b in req['batches']:
            ex = tuple(t[:b] for t in inputs)
            frozen[b] = frozen_module(module, ex)
            with torch.no_grad():
                d = float((frozen[b](*ex) - expected[:b]).abs().max())
            if not d <= tol:
                raise ValueError(f'{req["key"]}: frozen TorchScript at batch {b} differs from onnxruntime by {d:.3g} > {tol:g}')
            frozen_diff[str(b)] = d
        self.models[req['key']] = {'eager': module, 'frozen': frozen, 'inputs': inputs}
        return {
            'flops': sum(x['flops'] for x in by_op.values()), 'byOp': by_op, 'inputNames': module.input_names,
            'eagerMaxDiff': eager_diff, 'frozenMaxDiff': frozen_diff, 'prepareS': time.perf_counter() - t0,
        }

    def time(self, req):
        m = self.models[req['key']]
        b = int(req['batch'])
        fn = m['eager'] if req['variant'] == 'eager' else m['frozen'][b]
        ex = tuple(t[:b] for t in m['inputs'])
        set_threads(int(req['threads']), 1)
        limit, min_calls = float(req['ms']) / 1000, int(req.get('minCalls', 2))
        seconds = []
        with torch.inference_mode() if req['variant'] == 'eager' else torch.no_grad():
            fn(*ex)  # untimed: the thread pool resized, caches warm
            start = time.perf_counter()
            while len(seconds) < min_calls or time.perf_counter() - start < limit:
                t = time.perf_counter()
                fn(*ex)
                seconds.append(time.perf_counter() - t)
        return {'seconds': seconds}

    def peak(self, req):
        n = int(req['n'])
        set_threads(int(req['threads']), int(req['threads']))
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)
        calls, start = 0, time.perf_counter()
        while calls < 2 or time.perf_counter() - start < float(req['ms']) / 1000:
            torch.mm(a, b)
            calls += 1
        return {'gflops': 2 * n ** 3 * calls / (time.perf_counter() - start) / 1e9}


def start_http(peer):
    """PyTorch eager behind FastAPI on uvicorn, in a thread of this process (see the module's docstring)."""
    try:
        import fastapi
        import uvicorn
    except ImportError as e:
        raise ValueError(f'{e}; apt-get install python3-fastapi python3-uvicorn (and python3-uvloop python3-httptools)') from e
    app = fastapi.FastAPI()

    @app.post('/v1/models/{key}/samples')
    async def samples(key: str, request: fastapi.Request):
        m = peer.models.get(key)
        if m is None:
            return fastapi.responses.JSONResponse({'error': f'no model {key}'}, status_code=404)
        body = await request.json()
        n, threads = int(body['n']), int(body['threads'])
        if torch.get_num_threads() != threads or openblas_threads() not in (None, 1):  # "time" and "peak" set them too
            set_threads(threads, 1)
        g = torch.Generator().manual_seed(int(body['seed']))
        feeds = [torch.randn((n, *t.shape[1:]), generator=g) if t.is_floating_point() else (torch.arange(n) % (int(t.max()) + 1)).to(t.dtype)
                 for t in m['inputs']]
        with torch.inference_mode():
            out = m['eager'](*feeds)
        buf = io.BytesIO()
        np.save(buf, out.numpy())
        return fastapi.Response(buf.getvalue(), media_type='application/octet-stream')

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level='warning', access_log=False, lifespan='off'))
    threading.Thread(target=server.run, kwargs={'sockets': [sock]}, daemon=True).start()
    deadline = time.perf_counter() + 20
    while not server.started:
        if time.perf_counter() > deadline:
            raise ValueError('uvicorn did not start within 20 s')
        time.sleep(0.01)
    # What uvicorn's 'auto' loop and protocol picked: uvloop and httptools when installed.
    loop = 'uvloop' if importlib.util.find_spec('uvloop') else 'asyncio'
    http = 'httptools' if importlib.util.find_spec('httptools') else 'h11'
    return {'port': sock.getsockname()[1], 'server': f'FastAPI {fastapi.__version__} on uvicorn {uvicorn.__version__} ({loop}, {http})'}


def main():
    peer = Peer()
    print(json.dumps({'ready': True, 'torch': torch.__version__, 'onnx': onnx.__version__, 'defaultThreads': torch.get_num_threads(),
                      'openblasThreads': openblas_threads()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req['cmd'] == 'quit':
            break
        try:
            handler = {'load': peer.load, 'time': peer.time, 'peak': peer.peak, 'http': lambda _: start_http(peer)}.get(req['cmd'])
            if handler is None:
                raise ValueError(f'cmd {req["cmd"]!r}: one of load, time, peak, http, quit')
            out = handler(req)
        except Exception as e:  # the Node side reports it with the request
            out = {'error': f'{type(e).__name__}: {e}'}
        print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
