"""A sparsifying front end, and BPDA to attack through what it does to gradients.

Gopalakrishnan, Marzi, Madhow & Pedarsani 2018 ("Combating Adversarial Attacks Using Sparse
Representations"; "Toward Robust Neural Networks via Sparsification"): natural images are
sparse in a suitable basis, a perturbation spread over all pixels is not. Keep only the K
largest coefficients of the image in that basis and rebuild it,

    x̂ = Ψ^T H_K(Ψ x),      H_K = keep the K entries of largest magnitude, zero the rest,

and most of the perturbation goes (for a linear classifier the attack's gain shrinks by about
K/d, their Theorem 1). Here Ψ is the orthonormal 2-D DCT-II of the whole image,
C = D X D^T with D_ki = α_k cos(π (2i + 1) k / 2n), α_0 = √(1/n), α_k = √(2/n).

The front end then writes its result back as an 8-bit image (round to ``levels`` grey
levels), as a deployed system that saves or sends the image would. That last step is what
breaks gradient attacks: rounding has zero derivative almost everywhere, so autograd's
gradient of the whole system is 0 and PGD does not move (Athalye, Carlini & Wagner 2018,
"Obfuscated Gradients Give a False Sense of Security": "shattered gradients"). Top-K on
its own is piecewise linear, and autograd's gradient through it is exact almost everywhere;
``levels=None`` leaves the rounding out.

BPDA (Athalye et al. 2018, "Backward Pass Differentiable Approximation"): on the
backward pass replace the front end g by a differentiable g' with g'(x) ≈ g(x); for a
front end meant to return an image close to its input, g' = identity, so ∇_x f(g(x)) is
approximated by ∇f evaluated at g(x). :class:`BPDA` does this for any preprocessing module;
for this front end a closer g' is top-K without the rounding, which is exact a.e.
"""
from __future__ import annotations

import math
import numbers

import torch
from torch import nn


def dct_matrix(n: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The orthonormal DCT-II matrix D, (n, n): rows are the cosine basis, D D^T = I."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    D = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    D[0] /= math.sqrt(2)
    return D.to(dtype=dtype, device=device)


def dct2(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D DCT of the last two dimensions (as scipy.fft.dctn(..., norm="ortho"))."""
    Dh = dct_matrix(x.shape[-2], x.dtype, x.device)
    Dw = dct_matrix(x.shape[-1], x.dtype, x.device)
    return Dh @ x @ Dw.T


def idct2(c: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dct2` (D orthonormal, so the transpose)."""
    Dh = dct_matrix(c.shape[-2], c.dtype, c.device)
    Dw = dct_matrix(c.shape[-1], c.dtype, c.device)
    return Dh.T @ c @ Dw


def keep_top_k(c: torch.Tensor, k: int) -> torch.Tensor:
    """H_K: per image and channel, keep the ``k`` coefficients of largest magnitude, zero the rest."""
    flat = c.flatten(-2)                                                    # (N, C, H·W)
    idx = flat.abs().topk(k, dim=-1).indices
    mask = torch.zeros_like(flat).scatter_(-1, idx, 1.0)
    return (flat * mask).view_as(c)


class SparsifyingFrontEnd(nn.Module):
    """x ↦ quantise(clip(IDCT(H_K(DCT(x))))): keep the ``k`` largest DCT coefficients.

    ``levels`` grey levels (256: 8-bit) for the final rounding, or None for no rounding.
    K = 100 of the 784 coefficients keeps "mnist-cnn" at 98.0% on the first 1,000 test digits
    (K = 60: 93.1%; "mnist-mlp" 97.9% with K = 60).
    """

    def __init__(self, k: int = 100, levels: int | None = 256):
        super().__init__()
        if not (isinstance(k, numbers.Integral) and k >= 1):
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        if levels is not None and not (isinstance(levels, numbers.Integral) and levels >= 2):
            raise ValueError(f"levels must be an int >= 2 or None, got {levels!r}")
        self.k, self.levels = int(k), levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.k > x.shape[-2] * x.shape[-1]:
            raise ValueError(f"k = {self.k} is more than the {x.shape[-2] * x.shape[-1]} "
                             f"coefficients of a {x.shape[-2]}×{x.shape[-1]} image")
        x_hat = idct2(keep_top_k(dct2(x), self.k)).clamp(0, 1)
        if self.levels is not None:
            x_hat = torch.round(x_hat * (self.levels - 1)) / (self.levels - 1)
        return x_hat

    def extra_repr(self) -> str:
        return f"k={self.k}, levels={self.levels}"


class BPDA(nn.Module):
    """``g`` on the forward pass, a differentiable ``approx`` of it on the backward pass
    (Athalye et al. 2018); the identity if ``approx`` is None.

    Computed as a(x) + (g(x) − a(x)).detach(): the value is g(x), the gradient a's.
    """

    def __init__(self, g: nn.Module, approx: nn.Module | None = None):
        super().__init__()
        self.g, self.approx = g, approx

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x if self.approx is None else self.approx(x)
        return a + (self.g(x) - a).detach()


BPDA_APPROX = (None, "identity", "top-k")


def sparsified_classifier(model: nn.Module, k: int = 100, levels: int | None = 256,
                          bpda: str | None = None) -> nn.Sequential:
    """The defended system ``model(front_end(x))``, as the defender runs it (``bpda=None``)
    or as the attacker differentiates it: same outputs, but the backward pass goes through
    the identity (``bpda="identity"``) or through top-K without the rounding
    (``bpda="top-k"``, the closer approximation)."""
    if bpda not in BPDA_APPROX:
        raise ValueError(f"bpda must be one of {BPDA_APPROX}, got {bpda!r}")
    front = SparsifyingFrontEnd(k, levels)
    if bpda is not None:
        front = BPDA(front, None if bpda == "identity" else SparsifyingFrontEnd(k, None))
    return nn.Sequential(front, model)
