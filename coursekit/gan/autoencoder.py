"""A plain autoencoder, the foil for GANs: trained with squared error, it predicts averages.

Minimising E‖x − dec(enc(x))‖² makes dec(c) the conditional *mean* of the images that share
the code c; where several digits map near one code the mean is a blur of them. Sampling codes
from a Gaussian fitted to the training codes (a poor man's generative model) shows it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..modes import train_mode
from ..train import batches


class Autoencoder(nn.Module):
    """x (N, 1, 28, 28) → code (N, code_dim) → x̂ (N, 1, 28, 28) in [0, 1], MLPs both ways."""

    def __init__(self, code_dim: int = 8, hidden: int = 256):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(),
                                     nn.Linear(hidden, code_dim))
        self.decoder = nn.Sequential(nn.Linear(code_dim, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 784), nn.Sigmoid())

    def decode(self, c: torch.Tensor) -> torch.Tensor:
        return self.decoder(c).view(len(c), 1, 28, 28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encoder(x))


def train_autoencoder(model: Autoencoder, x: torch.Tensor, epochs: int = 3, lr: float = 2e-3,
                      batch_size: int = 128, seed: int = 0, progress: bool = True) -> list[float]:
    """Minimise the mean squared reconstruction error with Adam; return the loss per epoch.
    The model trains in train mode and comes back in the mode it came in."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    with train_mode(model):   # and back to the mode it came in
        for _ in tqdm(range(epochs), desc="autoencoder", disable=not progress):
            total = 0.0
            for idx in batches(len(x), batch_size, shuffle=True, generator=g):
                loss = F.mse_loss(model(x[idx]), x[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            losses.append(total / len(x))
    return losses


@torch.no_grad()
def sample_autoencoder(model: Autoencoder, x: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Decode n codes drawn from N(μ, Σ) fitted to the codes of ``x``."""
    codes = model.encoder(x)  # (N, code_dim)
    mu, cov = codes.mean(0), torch.cov(codes.T)
    L = torch.linalg.cholesky(cov + 1e-5 * torch.eye(len(mu), device=cov.device))
    eps = torch.randn(n, len(mu), generator=torch.Generator().manual_seed(seed)).to(mu.device)
    return model.decode(mu + eps @ L.T)


def grey_share(x: torch.Tensor, low: float = 0.2, high: float = 0.8) -> float:
    """Share of pixels strictly between ``low`` and ``high``: MNIST's strokes are nearly binary,
    so a high share of grey pixels is what blur looks like in numbers."""
    return ((x > low) & (x < high)).float().mean().item()
