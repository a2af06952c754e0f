"""The PyTorch peer of bench/train.bench.ts: one WGAN-GP iteration (5 critic updates with the
gradient penalty + 1 generator update, Adam) of the nets `wganx train` builds, timed on the CPU
(or on CUDA with "device": "cuda" in the spec, for GPU machines).

    python3 bench/torch_wgan_gp.py '{"arch": "dcgan", "hidden": 32, "batch": 64, ...}'

Prints one JSON line: {"ms": <median ms per iteration>, "threads": <n>, "torch": <version>}.
The nets mirror src/train/models (layer for layer, the same shapes); the data are random tensors
of the data set's shape, which costs the same as real digits.
"""
import json
import sys
import time

import torch
from torch import nn

LEAKY_ALPHA = 0.2


class MlpGenerator(nn.Module):
    def __init__(self, latent, hidden, layers, out_dim, image, classes):
        super().__init__()
        self.embed = nn.Embedding(classes, latent) if classes else None
        dims = [latent] + [hidden] * layers
        self.body = nn.Sequential(*[m for i in range(layers) for m in (nn.Linear(dims[i], dims[i + 1]), nn.ReLU())])
        self.out = nn.Linear(hidden, out_dim)
        self.image = image

    def forward(self, z, y=None):
        h = z * self.embed(y) if self.embed is not None else z
        h = self.out(self.body(h))
        return torch.tanh(h) if self.image else h


class MlpCritic(nn.Module):
    def __init__(self, in_dim, hidden, layers, classes):
        super().__init__()
        dims = [in_dim] + [hidden] * layers
        self.body = nn.Sequential(*[m for i in range(layers) for m in (nn.Linear(dims[i], dims[i + 1]), nn.LeakyReLU(LEAKY_ALPHA))])
        self.head = nn.Linear(hidden, 1)
        self.project = nn.Embedding(classes, hidden) if classes else None

    def forward(self, x, y=None):
        phi = self.body(x.flatten(1))
        out = self.head(phi)
        if self.project is not None:
            out = out + (self.project(y) * phi).sum(1, keepdim=True)
        return out


class DcganGenerator(nn.Module):
    """z → Dense (S/4)²·2c → BN → ReLU → [2c, S/4, S/4] → deconv c 4×4/2 → BN → ReLU → deconv C 4×4/2 → tanh."""

    def __init__(self, latent, c, size, channels, classes):
        super().__init__()
        self.embed = nn.Embedding(classes, latent) if classes else None
        self.s4 = size // 4
        self.c = c
        self.project = nn.Linear(latent, self.s4 * self.s4 * 2 * c, bias=False)
        self.bn0 = nn.BatchNorm1d(self.s4 * self.s4 * 2 * c)
        self.deconv1 = nn.ConvTranspose2d(2 * c, c, 4, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.deconv2 = nn.ConvTranspose2d(c, channels, 4, 2, 1)

    def forward(self, z, y=None):
        h = z * self.embed(y) if self.embed is not None else z
        h = torch.relu(self.bn0(self.project(h))).view(-1, 2 * self.c, self.s4, self.s4)
        h = torch.relu(self.bn1(self.deconv1(h)))
        return torch.tanh(self.deconv2(h))


class DcganCritic(nn.Module):
    """x → conv c 4×4/2 → LeakyReLU → conv 2c 4×4/2 → LeakyReLU → flatten → Dense 1 (+ projection)."""

    def __init__(self, c, size, channels, classes):
        super().__init__()
        self.conv0 = nn.Conv2d(channels, c, 4, 2, 1)
        self.conv1 = nn.Conv2d(c, 2 * c, 4, 2, 1)
        feature = (size // 4) * (size // 4) * 2 * c
        self.head = nn.Linear(feature, 1)
        self.project = nn.Embedding(classes, feature) if classes else None

    def forward(self, x, y=None):
        h = nn.functional.leaky_relu(self.conv0(x), LEAKY_ALPHA)
        phi = nn.functional.leaky_relu(self.conv1(h), LEAKY_ALPHA).flatten(1)
        out = self.head(phi)
        if self.project is not None:
            out = out + (self.project(y) * phi).sum(1, keepdim=True)
        return out


def build(spec):
    classes = spec.get('classes', 0)
    latent, hidden, batch = spec['latent'], spec['hidden'], spec['batch']
    if spec['arch'] == 'dcgan':
        size, channels = spec['size'], spec['channels']
        g = DcganGenerator(latent, hidden, size, channels, classes)
        d = DcganCritic(hidden, size, channels, classes)
        shape = (batch, channels, size, size)
    else:
        shape = (batch, *spec['shape'])
        out_dim = 1
        for s in spec['shape']:
            out_dim *= s
        image = len(spec['shape']) > 1
        g = MlpGenerator(latent, hidden, spec['layers'], out_dim, image, classes)
        d = MlpCritic(out_dim, hidden, spec['layers'], classes)
    return g, d, shape


def iteration_ms(spec, threads, iters, warmup):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(spec.get('device', 'cpu'))
    g, d, shape = build(spec)
    g, d = g.to(dev), d.to(dev)
    classes = spec.get('classes', 0)
    batch, latent, n_critic, lam = spec['batch'], spec['latent'], spec['n_critic'], spec['lambda']
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-4, betas=(0.0, 0.9))
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.0, 0.9))

    def labels():
        return torch.randint(0, classes, (batch,), device=dev) if classes else None

    def critic_step():
        real = torch.randn(shape, device=dev)
        y = labels()
        with torch.no_grad():
            fake = g(torch.randn(batch, latent, device=dev), y).view(shape)
        both = d(torch.cat([real, fake]), torch.cat([y, y]) if y is not None else None)
        d_real, d_fake = both[:batch], both[batch:]
        eps = torch.rand(batch, *([1] * (len(shape) - 1)), device=dev)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        grad = torch.autograd.grad(d(x_hat, y).sum(), x_hat, create_graph=True)[0]
        penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss = d_fake.mean() - d_real.mean() + lam * penalty
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()

    def generator_step():
        y = labels()
        loss = -d(g(torch.randn(batch, latent, device=dev), y).view(shape), y).mean()
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()

    def iteration():
        for _ in range(n_critic):
            critic_step()
        generator_step()
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


def main():
    spec = json.loads(sys.argv[1])
    iters = spec.get('iters', 3)
    warmup = spec.get('warmup', 1)
    best = None
    # Thread counts matter on the CPU only; on CUDA one run.
    thread_counts = spec.get('threads', [1, 2]) if spec.get('device', 'cpu') == 'cpu' else [1]
    for threads in thread_counts:
        ms = iteration_ms(spec, threads, iters, warmup)
        if best is None or ms < best[0]:
            best = (ms, threads)
    print(json.dumps({'ms': best[0], 'threads': best[1], 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
