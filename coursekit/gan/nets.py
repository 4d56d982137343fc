"""Generator and discriminator networks: small MLPs for the toys, DCGAN for 28×28 images.

DCGAN (Radford, Metz & Chintala 2016, §3 "Architecture guidelines"): strided (transposed)
convolutions instead of pooling, batch norm in G and D (not on G's output nor D's input),
ReLU in G with a bounded output, LeakyReLU(0.2) in D, weights drawn from N(0, 0.02).
The generator ends in a sigmoid so that its images live in [0, 1] like the course's data
(the paper's tanh gives [−1, 1]; the two differ by an affine map).
Discriminators return raw logits; the losses in :mod:`coursekit.gan.losses` take those.

The class-conditional pair (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets")
gives both players the label y: G(z, y) reads it as a one-hot vector appended to z, D(x, y)
scores it by projection (Miyato & Koyama 2018, "cGANs with Projection Discriminator", eq. 3).
:class:`ClassCodeDCGANGenerator` is that G with the class drawn as part of its code, so that
it samples digits from a random code alone, as an unconditional G does.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..modes import eval_mode
from ..train import EVAL_BATCH, predict
from ..validate import check_labels, check_positive


class Generator(nn.Module):
    """Base class for generators: ``latent_dim``, ``sample_z`` and ``sample``."""

    latent_dim: int

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n latent codes z ~ N(0, I), on the generator's device."""
        device = next(self.parameters()).device
        return torch.randn(n, self.latent_dim, generator=generator).to(device)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """n samples G(z) in eval mode (the mode is restored after); ``seed`` makes them repeat.
        All n codes are drawn first, then G runs on them batch by batch (:func:`predict`)."""
        if not (isinstance(n, int) and n >= 1):
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        return predict(self, self.sample_z(n, g))


class MLPGenerator(Generator):
    """z (N, latent_dim) → x (N, out_dim) through ``layers`` hidden ReLU layers."""

    def __init__(self, latent_dim: int = 2, out_dim: int = 2, hidden: int = 128, layers: int = 3):
        super().__init__()
        for name, value in (("latent_dim", latent_dim), ("out_dim", out_dim), ("hidden", hidden),
                            ("layers", layers)):
            check_positive(name, value, integer=True)
        self.latent_dim = latent_dim
        dims = [latent_dim] + [hidden] * layers
        blocks = [m for a, b in zip(dims, dims[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
        self.net = nn.Sequential(*blocks, nn.Linear(hidden, out_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """x (N, in_dim) → logit (N,) through ``layers`` hidden LeakyReLU layers."""

    def __init__(self, in_dim: int = 2, hidden: int = 128, layers: int = 3):
        super().__init__()
        for name, value in (("in_dim", in_dim), ("hidden", hidden), ("layers", layers)):
            check_positive(name, value, integer=True)
        dims = [in_dim] + [hidden] * layers
        blocks = [m for a, b in zip(dims, dims[1:]) for m in (nn.Linear(a, b), nn.LeakyReLU(0.2))]
        self.net = nn.Sequential(*blocks, nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class VirtualBatchNorm(nn.Module):
    """Virtual batch norm (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.5).

    Each example is normalised with the statistics of a fixed *reference batch* combined with
    itself (weights 1/(B+1) and B/(B+1)), so an output never depends on the other examples
    of its minibatch. Call :meth:`set_reference` with the reference activations first.
    """

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("ref_mean", None)
        self.register_buffer("ref_sq_mean", None)
        self.ref_size = 0

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dims = [0] + list(range(2, x.ndim))  # all but the feature axis
        return x.mean(dims, keepdim=True), (x ** 2).mean(dims, keepdim=True)

    def set_reference(self, x_ref: torch.Tensor) -> None:
        """Fix the reference statistics from a batch of activations (N, C, ...)."""
        mean, sq_mean = self._stats(x_ref.detach())
        self.ref_mean, self.ref_sq_mean, self.ref_size = mean, sq_mean, len(x_ref)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.ref_mean is None:
            raise RuntimeError("VirtualBatchNorm needs set_reference(x_ref) before use")
        dims = list(range(2, x.ndim))
        w_new = 1.0 / (self.ref_size + 1)
        own_mean = x.mean(dims, keepdim=True) if dims else x
        own_sq = (x ** 2).mean(dims, keepdim=True) if dims else x ** 2
        mean = w_new * own_mean + (1 - w_new) * self.ref_mean
        sq_mean = w_new * own_sq + (1 - w_new) * self.ref_sq_mean
        var = (sq_mean - mean ** 2).clamp_min(0)
        shape = (1, -1) + (1,) * len(dims)
        return (x - mean) / (var + self.eps).sqrt() * self.weight.view(shape) + self.bias.view(shape)


def dcgan_init(module: nn.Module) -> None:
    """Weights ~ N(0, 0.02) for (transposed) convolutions and linear layers; batch-norm
    scales ~ N(1, 0.02), biases 0 (Radford et al. 2016, §4). Virtual batch norm is initialised
    like batch norm, so that the two variants of one seed start from the same weights."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d | VirtualBatchNorm):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(Generator):
    """z (N, latent_dim) → image (N, 1, 28, 28) in [0, 1].

    ``depth=2``: linear to (2·ngf, 7, 7), then two stride-2 transposed convolutions
    (7 → 14 → 28). ``depth=3`` adds a stage and keeps the image size: linear to (4·ngf, 7, 7),
    transposed convolutions to (2·ngf, 14, 14) and (ngf, 28, 28), each with batch norm and
    ReLU, then a 3×3 convolution to the image; the last layer then mixes a neighbourhood of
    features at full resolution instead of painting each pixel from a 14×14 map.
    ``norm="virtual"`` swaps each batch norm for :class:`VirtualBatchNorm` (Salimans et al.
    2016, §3.5): before every forward pass a fixed reference batch of ``n_ref`` codes
    (drawn once from ``ref_seed``) is run through G to set each layer's reference statistics,
    so that a sample no longer depends on the other codes in its batch. The reference
    statistics are treated as constants (no gradient flows through them), a simplification of
    the paper, which also backpropagates through the reference pass.
    """

    def __init__(self, latent_dim: int = 64, ngf: int = 64, channels: int = 1, norm: str = "batch",
                 n_ref: int = 64, ref_seed: int = 12345, depth: int = 2):
        super().__init__()
        if norm not in ("batch", "virtual"):
            raise ValueError(f"norm must be 'batch' or 'virtual', got {norm!r}")
        if depth not in (2, 3):
            raise ValueError(f"depth must be 2 or 3, got {depth!r}")
        self.latent_dim, self.ngf, self.norm, self.depth = latent_dim, ngf, norm, depth
        self.top = ngf * 2 ** (depth - 1)  # channels of the 7×7 map
        bn1d, bn2d = (nn.BatchNorm1d, nn.BatchNorm2d) if norm == "batch" else (VirtualBatchNorm,) * 2
        self.project = nn.Sequential(nn.Linear(latent_dim, self.top * 7 * 7, bias=False),
                                     bn1d(self.top * 7 * 7), nn.ReLU())
        if depth == 2:
            self.net = nn.Sequential(
                nn.ConvTranspose2d(2 * ngf, ngf, 4, stride=2, padding=1, bias=False),  # (N, ngf, 14, 14)
                bn2d(ngf), nn.ReLU(),
                nn.ConvTranspose2d(ngf, channels, 4, stride=2, padding=1),            # (N, C, 28, 28)
                nn.Sigmoid(),
            )
        else:
            self.net = nn.Sequential(
                nn.ConvTranspose2d(4 * ngf, 2 * ngf, 4, stride=2, padding=1, bias=False),  # (N, 2·ngf, 14, 14)
                bn2d(2 * ngf), nn.ReLU(),
                nn.ConvTranspose2d(2 * ngf, ngf, 4, stride=2, padding=1, bias=False),      # (N, ngf, 28, 28)
                bn2d(ngf), nn.ReLU(),
                nn.Conv2d(ngf, channels, 3, padding=1),                                   # (N, C, 28, 28)
                nn.Sigmoid(),
            )
        dcgan_init(self)
        if norm == "virtual":
            self.register_buffer("z_ref", torch.randn(n_ref, latent_dim,
                                                      generator=torch.Generator().manual_seed(ref_seed)))

    def _run(self, z: torch.Tensor, set_reference: bool = False) -> torch.Tensor:
        h = z
        for module in self.project:
            if set_reference and isinstance(module, VirtualBatchNorm):
                module.set_reference(h)
            h = module(h)
        h = h.view(len(z), self.top, 7, 7)  # (N, 2·ngf, 7, 7) at depth 2
        for module in self.net:
            if set_reference and isinstance(module, VirtualBatchNorm):
                module.set_reference(h)
            h = module(h)
        return h

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.norm == "virtual":
            with torch.no_grad():
                self._run(self.z_ref, set_reference=True)
        return self._run(z)


class DCGANDiscriminator(nn.Module):
    """image (N, 1, 28, 28) → logit (N,): two stride-2 convolutions (28 → 14 → 7), then linear.

    ``depth=3`` adds a 3×3 convolution at 7×7 to 4·ndf channels (with the norm and LeakyReLU)
    before the linear layer, the mirror of the deeper generator.
    ``norm="none"`` drops the batch norm, as WGAN-GP's critic must (Gulrajani et al. 2017, §4):
    with batch norm each output depends on the whole batch, so the gradient penalty, a
    constraint on ∇D(x) for single inputs x, no longer means what it says.
    ``norm="spectral"`` drops it too and divides every weight matrix by its largest singular
    value instead (spectral normalisation, Miyato et al. 2018, eq. 8, one power iteration per
    step), which bounds D's Lipschitz constant layer by layer.
    """

    def __init__(self, ndf: int = 64, channels: int = 1, norm: str = "batch", depth: int = 2):
        super().__init__()
        if norm not in ("batch", "none", "spectral"):
            raise ValueError(f"norm must be 'batch', 'none' or 'spectral', got {norm!r}")
        if depth not in (2, 3):
            raise ValueError(f"depth must be 2 or 3, got {depth!r}")
        batch_norm = norm == "batch"
        norm_layer = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
        layers = [
            nn.Conv2d(channels, ndf, 4, stride=2, padding=1),                      # (N, ndf, 14, 14)
            nn.LeakyReLU(0.2),
            nn.Conv2d(ndf, 2 * ndf, 4, stride=2, padding=1, bias=not batch_norm),  # (N, 2·ndf, 7, 7)
            norm_layer(2 * ndf), nn.LeakyReLU(0.2),
        ]
        if depth == 3:
            layers += [nn.Conv2d(2 * ndf, 4 * ndf, 3, padding=1, bias=not batch_norm),  # (N, 4·ndf, 7, 7)
                       norm_layer(4 * ndf), nn.LeakyReLU(0.2)]
        self.features_dim = ndf * 2 ** (depth - 1) * 7 * 7  # the linear layer's input
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(self.features_dim, 1))
        dcgan_init(self)
        if norm == "spectral":
            for i, m in enumerate(self.net):
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    self.net[i] = nn.utils.parametrizations.spectral_norm(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class ConditionalDCGANGenerator(DCGANGenerator):
    """G(z, y): the DCGAN generator with the class y appended to z as a one-hot vector
    (Mirza & Osindero 2014, §3.2). ``latent_dim`` counts z only; ``depth`` as in
    :class:`DCGANGenerator`."""

    def __init__(self, latent_dim: int = 64, ngf: int = 64, num_classes: int = 10, channels: int = 1,
                 depth: int = 2):
        super().__init__(latent_dim + num_classes, ngf, channels, depth=depth)
        self.latent_dim, self.num_classes = latent_dim, num_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        check_labels(y, len(z), num_classes=self.num_classes)
        return super().forward(torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], dim=1))

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
        """n samples in eval mode; ``labels`` (n,) chooses their classes, by default 0, 1, 2, ...
        in turn (every class equally often when n is a multiple of ``num_classes``)."""
        if not (isinstance(n, int) and n >= 1):
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        device = next(self.parameters()).device
        labels = torch.arange(n) % self.num_classes if labels is None else torch.as_tensor(labels)
        if labels.shape != (n,) or labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"labels must be {n} integers in 0..{self.num_classes - 1}, "
                             f"got shape {tuple(labels.shape)} with values in "
                             f"[{labels.min().item()}, {labels.max().item()}]")
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        z, labels = self.sample_z(n, g), labels.long().to(device)
        with eval_mode(self):
            return torch.cat([self(z_b, y_b) for z_b, y_b in zip(z.split(EVAL_BATCH), labels.split(EVAL_BATCH))])


class ConditionalDCGANDiscriminator(DCGANDiscriminator):
    """D(x, y) = w·φ(x) + b + e(y)·φ(x): the DCGAN discriminator's features φ(x) (its last
    layer's input) scored by the plain linear head plus a learned class embedding e(y)
    (the projection discriminator, Miyato & Koyama 2018, eq. 3). ``depth`` as in
    :class:`DCGANDiscriminator`."""

    def __init__(self, ndf: int = 64, num_classes: int = 10, channels: int = 1, norm: str = "batch",
                 depth: int = 2):
        super().__init__(ndf, channels, norm, depth=depth)
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, self.features_dim)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        check_labels(y, len(x), num_classes=self.num_classes)
        phi = self.net[:-1](x)  # (N, features_dim)
        return self.net[-1](phi).squeeze(1) + (self.embed(y) * phi).sum(1)


class ClassCodeDCGANGenerator(ConditionalDCGANGenerator):
    """G(z) for a code z = (ε, c) that carries the digit: ε ~ N(0, I) (``noise_dim`` numbers)
    and c, the one-hot vector of a class drawn uniformly, as InfoGAN's categorical code (Chen et
    al. 2016, §5), except that D is told the class during training (it is trained as a
    class-conditional GAN with :class:`ConditionalDCGANDiscriminator`), so c *is* the digit.
    To its user it is an unconditional generator, G(z) for z from :meth:`sample_z`
    (``latent_dim`` = noise_dim + num_classes numbers); G(z, y) draws class y instead of the
    class in z, which is how the trainer asks for the real batch's classes.
    ``psi`` scales the noise that :meth:`sample_z` draws, ε ~ N(0, ψ²I): a sampling temperature
    set after training. ψ < 1 is BigGAN's truncation trick (Brock et al. 2019, §3.1), which
    trades variety for fidelity; ψ > 1 trades the other way (Kynkäänniemi et al. 2019, §4).
    """

    def __init__(self, noise_dim: int = 64, ngf: int = 32, num_classes: int = 10, channels: int = 1,
                 depth: int = 3, psi: float = 1.0):
        super().__init__(noise_dim, ngf, num_classes, channels, depth=depth)
        check_positive("psi", psi)
        self.noise_dim, self.latent_dim, self.psi = noise_dim, noise_dim + num_classes, psi

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes (ε, c): ε ~ N(0, ψ²I), then c one-hot of a class drawn uniformly."""
        device = next(self.parameters()).device
        eps = self.psi * torch.randn(n, self.noise_dim, generator=generator)
        c = torch.randint(self.num_classes, (n,), generator=generator)
        return torch.cat([eps, F.one_hot(c, self.num_classes).to(eps.dtype)], dim=1).to(device)

    def class_of(self, z: torch.Tensor) -> torch.Tensor:
        """The class each code carries (the largest entry of its one-hot part)."""
        return z[:, self.noise_dim:].argmax(1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (N, {self.latent_dim}) (noise and one-hot class), "
                             f"got {tuple(z.shape)}")
        if y is not None:
            return super().forward(z[:, :self.noise_dim], y)
        return DCGANGenerator.forward(self, z)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
        """n samples in eval mode: classes drawn from the code's prior, or ``labels`` (n,)."""
        if labels is not None:
            return super().sample(n, seed, labels)
        return Generator.sample(self, n, seed)
