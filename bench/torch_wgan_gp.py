"""The PyTorch peer of `wganx train`: the nets src/train/models builds, layer for layer, in two modes.

Timing (bench/train.bench.ts): one WGAN-GP iteration (5 critic updates with the gradient penalty +
1 generator update, Adam), timed on the CPU (or on CUDA with "device": "cuda" in the spec):

    python3 bench/torch_wgan_gp.py '{"arch": "dcgan", "hidden": 32, "batch": 64, ...}'

prints one JSON line: {"ms": <median ms per iteration>, "threads": <n>, "torch": <version>}. The
data are random tensors of the data set's shape, which cost the same as real images.

Training (bench/peer-train.ts, `npm run bench:peer`): the same recipe as `wganx train` on the
pixels and labels that the project's loader decoded (.npy files), seeded, printing progress lines,
with a checkpoint to resume from; at the end the generator goes to ONNX (opset 17, inputs `z`
float32 [batch, latent] and `label` int64 [batch, 1], output `samples` float32 NHWC in [-1, 1]) and
its PyTorch outputs on the parity inputs are saved for the Node side to compare with onnxruntime:

    python3 bench/torch_wgan_gp.py train <spec.json>

The spec's keys (both modes; defaults are `wganx train`'s): arch (dcgan | resnet | mlp), hidden,
latent, batch, classes (0: unconditional), n_critic, lambda; dcgan, resnet: size, channels; mlp:
layers, shape; g_cond (multiply | concat), d_cond (projection | concat), ac_weight, ac_weight_g (default:
ac_weight), critic_norm (none | layer), critic_activation (leaky_relu | relu | tanh), g_norm (mlp:
none | batch), diffaugment (a list of color, translation, cutout). Timing only: iters, warmup,
threads (a list, the best is reported; OpenBLAS on 1 thread under them, and on the most under a
single torch thread: bench/torch_threads.py), device.
Training only: see `train()`.

What mirrors what (src/train):
- models/dcgan.ts + ladder.ts: the DCGAN grows with the image side S = s0·2^u (s0 in 4..7).
  G: z (⊙ or ‖ a 16-d label embedding) → Dense s0²·c·2^(u−1) without bias → BatchNorm → ReLU →
  [c·2^(u−1), s0, s0] → (u − 1) × (ConvTranspose 4×4/2 halving the channels, no bias → BatchNorm →
  ReLU) → ConvTranspose C 4×4/2 with bias → tanh. Critic: (conditional `concat`: ‖ a learned S×S
  label plane) → u × (Conv 4×4/2, channels c, 2c, 4c, … → LayerNorm over the channels from the
  second on, when asked → LeakyReLU 0.2) → flatten → Dense 1 (+ ⟨embed(y), φ⟩ for `projection`),
  and a Dense K class head on φ with an AC weight > 0. 'same' padding with a 4×4 kernel of stride 2
  is PyTorch's padding 1. The dense start map is reshaped channels-first here, NHWC in tfjs: a
  permutation of the Dense layer's units, the same function class.
- models/resnet.ts: the WGAN-GP paper's ResNet on the same ladder, c channels throughout (nearest
  up-sampling, mean-pool down-sampling, 3×3 'same' convolutions, 1×1 shortcuts; conditional batch
  norm in G: shared BatchNorm, then a per-class scale from 1 and shift from 0; no `g_cond`; no
  normalisation in the critic, whose head reads the mean over the last map).
- models/init.ts: Glorot-uniform kernels, zero biases, unit-variance (±√3) label embeddings, a
  Glorot-uniform projection embedding. BatchNorm and LayerNorm use Keras's epsilon 1e-3, and
  BatchNorm's moving averages Keras's momentum 0.99 (PyTorch's momentum 0.01): the exported
  generator uses them, as wganx's export does, its variances turned into Keras's averages of
  biased batch variances (an exact correction, keras_moving_variance).
- steps.ts / losses.ts: critic loss E[D(G(z, y))] − E[D(x)] + λ·E[(‖∇D(x̂)‖ − 1)²] (norm with
  1e-12 under the root) + ac_weight·CE(real logits, y), one critic pass over [real; fake] with the
  real labels; generator loss −E[D(G(z, y))] + ac_weight_g·CE(fake logits, y) with y drawn like
  the data's labels; G runs in training mode (batch statistics) in both steps.
- diffaugment.ts: colour, translation (zero fill) and cutout, fresh parameters per call and per
  example, applied to real, fake and the penalty's interpolates (the penalty's gradient is taken
  at the augmented interpolates).
- schedule.ts / optimizers.ts: Adam (PyTorch's rule, eps 1e-8), the learning rate of generator
  step t is lr·max(0, 1 − t/steps) with `linear`, for that step's critic and generator updates.
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from torch_threads import OPENBLAS, set_threads

LEAKY_ALPHA = 0.2
LABEL_EMBEDDING_DIM = 16
MIN_START_SIDE = 4
# Keras / tfjs BatchNormalization and LayerNormalization defaults.
NORM_EPS = 1e-3
BN_MOMENTUM = 0.01  # tfjs momentum 0.99: moving = 0.99·moving + 0.01·batch
PENALTY_NORM_EPS = 1e-12
ADAM_EPS = 1e-8
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5
UNIT_VARIANCE_LIMIT = math.sqrt(3)
DIFFAUGMENT_POLICIES = ('color', 'translation', 'cutout')


# ---------------------------------------------------------------------------------------------
# Layers, initialised as src/train/models/init.ts does.

def dense(n_in, n_out, bias=True):
    m = nn.Linear(n_in, n_out, bias=bias)
    nn.init.xavier_uniform_(m.weight)
    if bias:
        nn.init.zeros_(m.bias)
    return m


def conv(n_in, n_out):
    m = nn.Conv2d(n_in, n_out, 4, 2, 1)
    nn.init.xavier_uniform_(m.weight)
    nn.init.zeros_(m.bias)
    return m


def deconv(n_in, n_out, bias):
    m = nn.ConvTranspose2d(n_in, n_out, 4, 2, 1, bias=bias)
    nn.init.xavier_uniform_(m.weight)
    if bias:
        nn.init.zeros_(m.bias)
    return m


def unit_embedding(classes, dim):
    m = nn.Embedding(classes, dim)
    nn.init.uniform_(m.weight, -UNIT_VARIANCE_LIMIT, UNIT_VARIANCE_LIMIT)
    return m


def glorot_embedding(classes, dim):
    m = nn.Embedding(classes, dim)
    nn.init.xavier_uniform_(m.weight)
    return m


def batch_norm(kind, features, side):
    """Keras's BatchNormalization; `side`: the side of the maps it normalises (1 after a Dense layer)."""
    m = kind(features, eps=NORM_EPS, momentum=BN_MOMENTUM)
    m.wganx_side = side
    return m


def keras_moving_variance(g, batch):
    """Turn PyTorch's running variances (of unbiased batch variances) into Keras's (of biased ones).

    Both start at 1 and average with weight 0.01, so after k updates over n values per channel
    Keras's is PyTorch's·(n − 1)/n + 0.99^k/n, exactly; n = batch·side²."""
    for m in g.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_var is not None:
            n = batch * m.wganx_side ** 2
            k = int(m.num_batches_tracked)
            m.running_var.mul_((n - 1) / n).add_((1 - BN_MOMENTUM) ** k / n)


def activation(kind):
    if kind == 'leaky_relu':
        return lambda h: F.leaky_relu(h, LEAKY_ALPHA)
    if kind == 'relu':
        return torch.relu
    if kind == 'tanh':
        return torch.tanh
    raise ValueError(f'critic_activation: {kind!r}; allowed: leaky_relu, relu, tanh')


class ChannelLayerNorm(nn.Module):
    """tfjs's layerNormalization() on NHWC maps: per pixel, over the channels (its default axis −1)."""

    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, h):
        return F.layer_norm(h.permute(0, 2, 3, 1), h.shape[1:2], self.weight, self.bias, NORM_EPS).permute(0, 3, 1, 2)


def ladder(size):
    """(start side, ×2 steps) of src/train/models/ladder.ts, or ValueError."""
    start, ups = size, 0
    while start % 2 == 0 and start // 2 >= MIN_START_SIDE:
        start //= 2
        ups += 1
    if size < 2 * MIN_START_SIDE or start >= 2 * MIN_START_SIDE:
        raise ValueError(f'size {size}: the dcgan nets need a side that halves exactly down to 4–7 px')
    return start, ups


def ladder_channels(base, ups, level):
    return base * 2 ** (ups - 1 - level)


class GeneratorInput(nn.Module):
    """z, or z ⊙ embed(y) (`multiply`, latent-wide), or z ‖ embed(y) (`concat`, 16 wide)."""

    def __init__(self, latent, classes, g_cond):
        super().__init__()
        if g_cond not in ('multiply', 'concat'):
            raise ValueError(f'g_cond: {g_cond!r}; allowed: multiply, concat')
        self.g_cond = g_cond
        self.embed = None
        self.out_dim = latent
        if classes:
            self.embed = unit_embedding(classes, latent if g_cond == 'multiply' else LABEL_EMBEDDING_DIM)
            if g_cond == 'concat':
                self.out_dim = latent + LABEL_EMBEDDING_DIM

    def forward(self, z, y):
        if self.embed is None:
            return z
        e = self.embed(y)
        return z * e if self.g_cond == 'multiply' else torch.cat([z, e], 1)


class CriticHead(nn.Module):
    """Dense 1 on φ (+ ⟨embed(y), φ⟩ for `projection`), and class logits with an AC head."""

    def __init__(self, feature, classes, d_cond, aux):
        super().__init__()
        self.out = dense(feature, 1)
        self.project = glorot_embedding(classes, feature) if classes and d_cond == 'projection' else None
        self.classify = dense(feature, classes) if classes and aux else None

    def forward(self, phi, y):
        out = self.out(phi)
        if self.project is not None:
            out = out + (self.project(y) * phi).sum(1, keepdim=True)
        return out, (self.classify(phi) if self.classify is not None else None)


class MlpGenerator(nn.Module):
    def __init__(self, latent, hidden, layers, out_dim, image, classes, g_cond='multiply', g_norm='none'):
        super().__init__()
        self.input = GeneratorInput(latent, classes, g_cond)
        dims = [self.input.out_dim] + [hidden] * layers
        body = []
        for i in range(layers):
            if g_norm == 'batch':
                body += [dense(dims[i], dims[i + 1], bias=False), batch_norm(nn.BatchNorm1d, dims[i + 1], 1), nn.ReLU()]
            else:
                body += [dense(dims[i], dims[i + 1]), nn.ReLU()]
        self.body = nn.Sequential(*body)
        self.out = dense(hidden, out_dim)
        self.image = image

    def forward(self, z, y=None):
        h = self.out(self.body(self.input(z, y)))
        return torch.tanh(h) if self.image else h


class MlpCritic(nn.Module):
    def __init__(self, in_dim, hidden, layers, classes, d_cond='projection', aux=False, norm='none', act='leaky_relu'):
        super().__init__()
        self.label = unit_embedding(classes, LABEL_EMBEDDING_DIM) if classes and d_cond == 'concat' else None
        dims = [in_dim + (LABEL_EMBEDDING_DIM if self.label is not None else 0)] + [hidden] * layers
        self.layers = nn.ModuleList([dense(dims[i], dims[i + 1]) for i in range(layers)])
        self.norms = nn.ModuleList([nn.LayerNorm(hidden, eps=NORM_EPS) if norm == 'layer' else nn.Identity() for _ in range(layers)])
        self.act = activation(act)
        self.head = CriticHead(hidden, classes, d_cond, aux)

    def forward(self, x, y=None):
        h = x.flatten(1)
        if self.label is not None:
            h = torch.cat([h, self.label(y)], 1)
        for layer, norm in zip(self.layers, self.norms):
            h = self.act(norm(layer(h)))
        return self.head(h, y)


class DcganGenerator(nn.Module):
    """z → Dense s0²·c0 → BN → ReLU → [c0, s0, s0] → (u−1) × (deconv 4×4/2 to half → BN → ReLU) → deconv C 4×4/2 → tanh."""

    def __init__(self, latent, c, size, channels, classes, g_cond='multiply'):
        super().__init__()
        self.start, ups = ladder(size)
        self.c0 = ladder_channels(c, ups, 0)
        self.input = GeneratorInput(latent, classes, g_cond)
        units = self.start * self.start * self.c0
        self.project = dense(self.input.out_dim, units, bias=False)
        self.bn0 = batch_norm(nn.BatchNorm1d, units, 1)
        blocks = []
        for level in range(1, ups):
            n_in, n_out = ladder_channels(c, ups, level - 1), ladder_channels(c, ups, level)
            blocks += [deconv(n_in, n_out, bias=False), batch_norm(nn.BatchNorm2d, n_out, self.start * 2 ** level), nn.ReLU()]
        self.blocks = nn.Sequential(*blocks)
        self.image = deconv(ladder_channels(c, ups, ups - 1), channels, bias=True)

    def forward(self, z, y=None):
        h = torch.relu(self.bn0(self.project(self.input(z, y)))).view(-1, self.c0, self.start, self.start)
        return torch.tanh(self.image(self.blocks(h)))


class DcganCritic(nn.Module):
    """x (‖ label plane) → u × (conv 4×4/2, channels c, 2c, … → [LayerNorm from the 2nd] → act) → flatten → head."""

    def __init__(self, c, size, channels, classes, d_cond='projection', aux=False, norm='none', act='leaky_relu'):
        super().__init__()
        start, ups = ladder(size)
        self.size = size
        self.plane = unit_embedding(classes, size * size) if classes and d_cond == 'concat' else None
        n_in = channels + (1 if self.plane is not None else 0)
        convs, norms = [], []
        for i in range(ups):
            n_out = ladder_channels(c, ups, ups - 1 - i)
            convs.append(conv(n_in, n_out))
            norms.append(ChannelLayerNorm(n_out) if i > 0 and norm == 'layer' else nn.Identity())
            n_in = n_out
        self.convs, self.norms = nn.ModuleList(convs), nn.ModuleList(norms)
        self.act = activation(act)
        self.head = CriticHead(start * start * ladder_channels(c, ups, 0), classes, d_cond, aux)

    def forward(self, x, y=None):
        h = x
        if self.plane is not None:
            h = torch.cat([h, self.plane(y).view(-1, 1, self.size, self.size)], 1)
        for cv, norm in zip(self.convs, self.norms):
            h = self.act(norm(cv(h)))
        return self.head(h.flatten(1), y)


def conv_same(n_in, n_out, k):
    """tfjs's conv2d with padding 'same' and stride 1 (odd k)."""
    m = nn.Conv2d(n_in, n_out, k, 1, k // 2)
    nn.init.xavier_uniform_(m.weight)
    nn.init.zeros_(m.bias)
    return m


class CondBatchNorm(nn.Module):
    """src/train/models/resnet.ts `norm`: batch norm (with its own scale and shift, shared by the
    classes), then for a conditional net a per-class scale (from 1) and shift (from 0)."""

    def __init__(self, c, side, classes):
        super().__init__()
        self.bn = batch_norm(nn.BatchNorm2d, c, side)
        self.gamma = self.beta = None
        if classes:
            self.gamma, self.beta = nn.Embedding(classes, c), nn.Embedding(classes, c)
            nn.init.ones_(self.gamma.weight)
            nn.init.zeros_(self.beta.weight)

    def forward(self, h, y):
        h = self.bn(h)
        if self.gamma is None:
            return h
        return h * self.gamma(y)[:, :, None, None] + self.beta(y)[:, :, None, None]


def _up(h):
    return F.interpolate(h, scale_factor=2, mode='nearest')


def _pool(h):
    return F.avg_pool2d(h, 2)


class ResnetGenerator(nn.Module):
    """z → Dense s0²·c → [c, s0, s0] → u × up-block → BN → ReLU → conv 3×3 to C → tanh, with
    up-block(x) = conv1×1(up(x)) + conv3×3(ReLU(BN(conv3×3(up(ReLU(BN(x))))))) (BN conditional)."""

    def __init__(self, latent, c, size, channels, classes):
        super().__init__()
        self.start, ups = ladder(size)
        self.c = c
        self.project = dense(latent, self.start * self.start * c)
        self.blocks = nn.ModuleList()
        for b in range(ups):
            side = self.start * 2 ** b
            self.blocks.append(nn.ModuleDict({
                'shortcut': conv_same(c, c, 1), 'n1': CondBatchNorm(c, side, classes), 'conv1': conv_same(c, c, 3),
                'n2': CondBatchNorm(c, 2 * side, classes), 'conv2': conv_same(c, c, 3),
            }))
        self.n_out = CondBatchNorm(c, size, classes)
        self.image = conv_same(c, channels, 3)

    def forward(self, z, y=None):
        h = self.project(z).view(-1, self.c, self.start, self.start)
        for blk in self.blocks:
            m = blk['conv1'](_up(torch.relu(blk['n1'](h, y))))
            m = blk['conv2'](torch.relu(blk['n2'](m, y)))
            h = blk['shortcut'](_up(h)) + m
        return torch.tanh(self.image(torch.relu(self.n_out(h, y))))


class ResnetCritic(nn.Module):
    """x (‖ label plane) → first block → (u − 2) down-blocks → 2 plain blocks → act → mean → head;
    no normalisation (the penalty is per example)."""

    def __init__(self, c, size, channels, classes, d_cond='projection', aux=False, act='relu'):
        super().__init__()
        _, ups = ladder(size)
        self.size = size
        self.plane = unit_embedding(classes, size * size) if classes and d_cond == 'concat' else None
        n_in = channels + (1 if self.plane is not None else 0)
        self.first = nn.ModuleDict({'conv1': conv_same(n_in, c, 3), 'conv2': conv_same(c, c, 3), 'shortcut': conv_same(n_in, c, 1)})
        self.downs = max(0, ups - 2)
        self.blocks = nn.ModuleList()
        for b in range(self.downs + 2):
            blk = {'conv1': conv_same(c, c, 3), 'conv2': conv_same(c, c, 3)}
            if b < self.downs:
                blk['shortcut'] = conv_same(c, c, 1)
            self.blocks.append(nn.ModuleDict(blk))
        self.act = activation(act)
        self.head = CriticHead(c, classes, d_cond, aux)

    def forward(self, x, y=None):
        h = x
        if self.plane is not None:
            h = torch.cat([h, self.plane(y).view(-1, 1, self.size, self.size)], 1)
        m = self.first['conv2'](self.act(self.first['conv1'](h)))
        h = self.first['shortcut'](_pool(h)) + _pool(m)
        for i, blk in enumerate(self.blocks):
            m = blk['conv2'](self.act(blk['conv1'](self.act(h))))
            h = _pool(blk['shortcut'](h)) + _pool(m) if i < self.downs else h + m
        return self.head(self.act(h).mean((2, 3)), y)


def build(spec):
    """(generator, critic, shape of a batch as the critic reads it)."""
    classes = spec.get('classes', 0)
    latent, hidden, batch = spec['latent'], spec['hidden'], spec['batch']
    g_cond, d_cond = spec.get('g_cond', 'multiply'), spec.get('d_cond', 'projection')
    if d_cond not in ('projection', 'concat'):
        raise ValueError(f'd_cond: {d_cond!r}; allowed: projection, concat')
    aux = classes > 0 and spec.get('ac_weight', 0) > 0
    norm, act = spec.get('critic_norm', 'none'), spec.get('critic_activation', 'leaky_relu')
    if spec['arch'] == 'dcgan':
        size, channels = spec['size'], spec['channels']
        g = DcganGenerator(latent, hidden, size, channels, classes, g_cond)
        d = DcganCritic(hidden, size, channels, classes, d_cond, aux, norm, act)
        shape = (batch, channels, size, size)
    elif spec['arch'] == 'resnet':
        size, channels = spec['size'], spec['channels']
        g = ResnetGenerator(latent, hidden, size, channels, classes)
        d = ResnetCritic(hidden, size, channels, classes, d_cond, aux, act)
        shape = (batch, channels, size, size)
    else:
        shape = (batch, *spec['shape'])
        out_dim = 1
        for s in spec['shape']:
            out_dim *= s
        image = len(spec['shape']) > 1
        g = MlpGenerator(latent, hidden, spec['layers'], out_dim, image, classes, g_cond, spec.get('g_norm', 'none'))
        d = MlpCritic(out_dim, hidden, spec['layers'], classes, d_cond, aux, norm, act)
    return g, d, shape


# ---------------------------------------------------------------------------------------------
# DiffAugment (src/train/diffaugment.ts), on NCHW images in [-1, 1].

def _uniform(b, lo, hi, like):
    return torch.rand(b, 1, 1, 1, device=like.device, dtype=like.dtype) * (hi - lo) + lo


def _color(x):
    b = x.shape[0]
    x = x + _uniform(b, -0.5, 0.5, x)
    mean = x.mean(1, keepdim=True)
    x = (x - mean) * _uniform(b, 0, 2, x) + mean
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(b, 0.5, 1.5, x) + mean


def _translation(x):
    b, _, h, w = x.shape
    sh, sw = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
    ty = torch.randint(-sh, sh + 1, (b,), device=x.device)
    tx = torch.randint(-sw, sw + 1, (b,), device=x.device)
    # out[i, j] = x[i − ty, j − tx], zeros where that falls outside.
    padded = F.pad(x, (sw, sw, sh, sh))
    rows = (torch.arange(h, device=x.device)[None, :] - ty[:, None] + sh)  # [B, H]
    cols = (torch.arange(w, device=x.device)[None, :] - tx[:, None] + sw)  # [B, W]
    bi = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _cutout(x):
    b, _, h, w = x.shape
    ch, cw = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    oy = torch.randint(0, h - ch % 2 + 1, (b, 1, 1), device=x.device)
    ox = torch.randint(0, w - cw % 2 + 1, (b, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    y0, x0 = oy - ch // 2, ox - cw // 2
    inside = (ys >= y0) & (ys < y0 + ch) & (xs >= x0) & (xs < x0 + cw)
    return x * (~inside).to(x.dtype)[:, None]


_AUGMENTS = {'color': _color, 'translation': _translation, 'cutout': _cutout}


def diff_augment(x, policies):
    for p in policies:
        x = _AUGMENTS[p](x)
    return x


def check_policies(policies):
    for p in policies:
        if p not in DIFFAUGMENT_POLICIES:
            raise ValueError(f'diffaugment: {p!r}; allowed: {", ".join(DIFFAUGMENT_POLICIES)}')
    return [p for p in DIFFAUGMENT_POLICIES if p in policies]


# ---------------------------------------------------------------------------------------------
# One WGAN-GP iteration, shared by both modes.

def class_ce(logits, y):
    return F.cross_entropy(logits, y)


class Trainer:
    """The critic and generator updates of src/train/steps.ts (algorithm wgan-gp)."""

    def __init__(self, spec, g, d, real_batch, gen_labels, dev, lr, betas):
        self.g, self.d = g, d
        self.real_batch, self.gen_labels = real_batch, gen_labels
        self.dev = dev
        self.batch, self.latent = spec['batch'], spec['latent']
        self.lam = spec['lambda']
        self.ac_weight = spec.get('ac_weight', 0) if spec.get('classes', 0) else 0
        self.ac_weight_g = spec.get('ac_weight_g', self.ac_weight) if self.ac_weight else 0
        self.policies = check_policies(spec.get('diffaugment', []))
        self.opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=betas, eps=ADAM_EPS)
        self.opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=betas, eps=ADAM_EPS)

    def set_lr(self, lr):
        for opt in (self.opt_d, self.opt_g):
            for group in opt.param_groups:
                group['lr'] = lr

    def augment(self, x):
        return diff_augment(x, self.policies) if self.policies else x

    def critic_step(self):
        real, y = self.real_batch()
        with torch.no_grad():
            fake = self.g(torch.randn(self.batch, self.latent, device=self.dev), y).view(real.shape)
        score, logits = self.d(torch.cat([self.augment(real), self.augment(fake)]), torch.cat([y, y]) if y is not None else None)
        d_real, d_fake = score[:self.batch], score[self.batch:]
        w = d_real.mean() - d_fake.mean()
        loss = -w
        class_loss = None
        if logits is not None and self.ac_weight > 0:
            class_loss = class_ce(logits[:self.batch], y)
            loss = loss + self.ac_weight * class_loss
        eps = torch.rand(self.batch, *([1] * (real.dim() - 1)), device=self.dev)
        # The penalty is taken at the augmented interpolates (no critic weight lies before them).
        x_hat = self.augment(eps * real + (1 - eps) * fake).detach().requires_grad_(True)
        grad = torch.autograd.grad(self.d(x_hat, y)[0].sum(), x_hat, create_graph=True)[0]
        norm = torch.sqrt(grad.flatten(1).pow(2).sum(1) + PENALTY_NORM_EPS)
        penalty = ((norm - 1) ** 2).mean()
        loss = loss + self.lam * penalty
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return loss, w, penalty, class_loss

    def generator_step(self, shape):
        y = self.gen_labels()
        score, logits = self.d(self.augment(self.g(torch.randn(self.batch, self.latent, device=self.dev), y).view(shape)), y)
        loss = -score.mean()
        if logits is not None and self.ac_weight_g > 0:
            loss = loss + self.ac_weight_g * class_ce(logits, y)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        return loss


# ---------------------------------------------------------------------------------------------
# Timing mode.

def iteration_ms(spec, threads, iters, warmup, blas_threads=1):
    set_threads(threads, blas_threads)
    torch.manual_seed(0)
    dev = torch.device(spec.get('device', 'cpu'))
    g, d, shape = build(spec)
    g, d = g.to(dev), d.to(dev)
    classes = spec.get('classes', 0)
    batch, n_critic = spec['batch'], spec['n_critic']

    def labels():
        return torch.randint(0, classes, (batch,), device=dev) if classes else None

    def real_batch():
        return torch.randn(shape, device=dev), labels()

    trainer = Trainer(spec, g, d, real_batch, labels, dev, 1e-4, (0.0, 0.9))

    def iteration():
        for _ in range(n_critic):
            trainer.critic_step()
        trainer.generator_step(shape)
        if dev.type == 'cuda':
            torch.cuda.synchronize()

    for _ in range(warmup):
        iteration()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        iteration()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2]


def timing(spec):
    iters = spec.get('iters', 3)
    warmup = spec.get('warmup', 1)
    best = None
    # Thread counts matter on the CPU only; on CUDA one run.
    thread_counts = spec.get('threads', [1, 2]) if spec.get('device', 'cpu') == 'cpu' else [1]
    # OpenBLAS on 1 thread under several torch threads (more oversubscribes the cores); under one
    # torch thread, also on as many as the most asked for: the MLPs' products are single calls
    # that OpenBLAS splits itself (bench/torch_threads.py).
    configs = [(t, 1) for t in thread_counts]
    wide = max(thread_counts)
    if 1 in thread_counts and wide > 1 and OPENBLAS is not None:
        configs.append((1, wide))
    for threads, blas in configs:
        ms = iteration_ms(spec, threads, iters, warmup, blas)
        if best is None or ms < best[0]:
            best = (ms, threads, blas)
    print(json.dumps({'ms': best[0], 'threads': best[1], 'blasThreads': best[2], 'torch': torch.__version__}))


# ---------------------------------------------------------------------------------------------
# Training mode.

# Spec fields a resumed run must share with its checkpoint (`steps` may grow, as in wganx).
LOCKED = ('arch', 'size', 'channels', 'classes', 'hidden', 'latent', 'batch', 'n_critic', 'lambda', 'lr', 'beta1', 'beta2',
          'lr_schedule', 'seed', 'g_cond', 'd_cond', 'ac_weight', 'ac_weight_g', 'critic_norm', 'critic_activation', 'diffaugment')


def save_atomic(obj, path):
    tmp = f'{path}.tmp-{os.getpid()}'
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_json_atomic(obj, path):
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


class Exported(nn.Module):
    """The generator as served: labels int64 [batch, 1], samples NHWC."""

    def __init__(self, g, conditional):
        super().__init__()
        self.g = g
        self.conditional = conditional

    def forward(self, z, label=None):
        return self.g(z, label.view(-1) if self.conditional else None).permute(0, 2, 3, 1)


def export_generator(g, spec, out):
    """generator.onnx (opset 17, batch dimension named "batch") and the PyTorch outputs on the parity inputs."""
    import numpy as np
    import copy
    conditional = spec['classes'] > 0
    g = copy.deepcopy(g)
    with torch.no_grad():
        keras_moving_variance(g, spec['batch'])
    wrapper = Exported(g, conditional).eval()
    parity = spec['parity']
    z = torch.from_numpy(np.load(parity['z']))
    labels = torch.from_numpy(np.load(parity['labels']).astype(np.int64)) if conditional else None
    args = (z[:1], labels[:1]) if conditional else (z[:1],)
    names = ['z', 'label'] if conditional else ['z']
    path = os.path.join(out, 'generator.peer.onnx')
    torch.onnx.export(wrapper, args, path, opset_version=17, input_names=names, output_names=['samples'],
                      dynamic_axes={**{n: {0: 'batch'} for n in names}, 'samples': {0: 'batch'}})
    try:
        import onnx
        onnx.checker.check_model(onnx.load(path))
    except ImportError:
        pass
    outputs = {}
    with torch.no_grad():
        for b in parity['batches']:
            y = wrapper(z[:b], labels[:b]) if conditional else wrapper(z[:b])
            file = os.path.join(parity['dir'], f'torch-{b}.npy')
            np.save(file, y.numpy().astype(np.float32))
            outputs[str(b)] = file
    return path, outputs


def train(spec):
    """Keys: images (.npy uint8 [N, S, S, C]), labels (.npy int32 [N], conditional), out, steps, seed, lr,
    beta1, beta2, lr_schedule (constant | linear), log_every, checkpoint_every (0: only at the end),
    resume, threads (0: PyTorch's default), parity {z, labels, batches, dir}, and the net keys above."""
    import numpy as np
    set_threads(spec['threads'] if spec.get('threads', 0) > 0 else torch.get_num_threads())
    out, steps = spec['out'], spec['steps']
    os.makedirs(out, exist_ok=True)
    ckpt_path = os.path.join(out, 'checkpoint.pt')
    metrics_path = os.path.join(out, 'metrics.jsonl')
    dev = torch.device('cpu')
    torch.manual_seed(spec['seed'])

    images = np.load(spec['images'])
    x_all = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255).mul(2).sub(1).contiguous()
    n = x_all.shape[0]
    y_all = torch.from_numpy(np.load(spec['labels']).astype(np.int64)) if spec['classes'] else None
    shape = (spec['batch'], *x_all.shape[1:])

    def real_batch():
        idx = torch.randint(0, n, (spec['batch'],))
        return x_all[idx], (y_all[idx] if y_all is not None else None)

    def gen_labels():
        # Drawn like the data's labels (class frequencies), as Dataset.sampleLabels does.
        return y_all[torch.randint(0, n, (spec['batch'],))] if y_all is not None else None

    g, d, _ = build(spec)
    trainer = Trainer(spec, g, d, real_batch, gen_labels, dev, spec['lr'], (spec['beta1'], spec['beta2']))
    step, seconds = 0, 0.0
    if spec.get('resume') and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        for k in LOCKED:
            if ck['spec'].get(k) != spec.get(k):
                raise SystemExit(f'--resume: {k} is {spec.get(k)!r} here but {ck["spec"].get(k)!r} in {ckpt_path}')
        g.load_state_dict(ck['g'])
        d.load_state_dict(ck['d'])
        trainer.opt_g.load_state_dict(ck['opt_g'])
        trainer.opt_d.load_state_dict(ck['opt_d'])
        torch.set_rng_state(ck['rng'])
        step, seconds = ck['step'], ck['seconds']
        if os.path.exists(metrics_path):
            # Lines logged after the checkpoint by an interrupted run are logged again.
            with open(metrics_path) as f:
                kept = [line for line in f if line.strip() and json.loads(line)['step'] <= step]
            with open(metrics_path, 'w') as f:
                f.writelines(kept)
        print(f'resumed from {ckpt_path} at step {step}', flush=True)
    elif os.path.exists(metrics_path):
        os.remove(metrics_path)

    def checkpoint():
        save_atomic({'step': step, 'seconds': seconds, 'spec': {k: spec.get(k) for k in LOCKED}, 'g': g.state_dict(), 'd': d.state_dict(),
                     'opt_g': trainer.opt_g.state_dict(), 'opt_d': trainer.opt_d.state_dict(), 'rng': torch.get_rng_state()}, ckpt_path)

    print(f'pytorch {torch.__version__}, {torch.get_num_threads()} threads: {n} training images {tuple(x_all.shape[1:])}, '
          f'{spec["classes"]} classes, {steps} steps from step {step}', flush=True)
    log_every = max(1, spec.get('log_every', 50))
    ckpt_every = spec.get('checkpoint_every', 500)
    g.train()
    d.train()
    with open(metrics_path, 'a') as metrics:
        t_run = time.perf_counter() - seconds
        t_log, s_log = time.perf_counter(), step
        while step < steps:
            lr = spec['lr'] * max(0.0, 1 - step / steps) if spec.get('lr_schedule', 'constant') == 'linear' else spec['lr']
            trainer.set_lr(lr)
            for _ in range(spec['n_critic']):
                c_loss, w, penalty, class_loss = trainer.critic_step()
            g_loss = trainer.generator_step(shape)
            step += 1
            seconds = time.perf_counter() - t_run
            if step % log_every == 0 or step == steps:
                rec = {'step': step, 'w': w.item(), 'criticLoss': c_loss.item(), 'generatorLoss': g_loss.item(), 'penalty': penalty.item(),
                       **({'classLoss': class_loss.item()} if class_loss is not None else {}), 'lr': lr, 'seconds': round(seconds, 2)}
                metrics.write(json.dumps(rec) + '\n')
                metrics.flush()
                per = (time.perf_counter() - t_log) / max(1, step - s_log)
                t_log, s_log = time.perf_counter(), step
                ce = f'  CE {rec["classLoss"]:.3f}' if class_loss is not None else ''
                print(f'step {step}/{steps}  W {rec["w"]:.4f}  L_D {rec["criticLoss"]:.4f}  GP {rec["penalty"]:.4f}{ce}  L_G {rec["generatorLoss"]:.4f}'
                      f'  lr {lr:.2e}  {per:.2f} s/it', flush=True)
            if ckpt_every > 0 and step % ckpt_every == 0 and step < steps:
                checkpoint()
    checkpoint()
    onnx_path, outputs = export_generator(g, spec, out)
    result = {'onnx': onnx_path, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'steps': step, 'seconds': round(seconds, 1), 'parity': outputs}
    write_json_atomic(result, os.path.join(out, 'peer-result.json'))
    print(f'exported {onnx_path} after {step} steps ({seconds:.0f} s of training)', flush=True)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == 'train':
        with open(sys.argv[2]) as f:
            train(json.load(f))
    else:
        timing(json.loads(sys.argv[1]))


if __name__ == '__main__':
    main()
