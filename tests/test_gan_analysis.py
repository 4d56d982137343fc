"""Latent arithmetic, unit dissection and the autoencoder foil, on constructed cases."""
import torch
from torch import nn

from coursekit.gan.autoencoder import Autoencoder, grey_share, sample_autoencoder, train_autoencoder
from coursekit.gan.dissect import intervene, rank_units, unit_activations
from coursekit.gan.latent import attribute_direction, ink, interpolate, slant
from coursekit.gan.nets import Generator


def test_ink_and_slant_on_drawn_strokes():
    img = torch.zeros(3, 1, 28, 28)
    for r in range(4, 24):
        img[0, 0, r, 14] = 1.0                 # vertical bar: no slant
        img[1, 0, r, 14 + (14 - r) // 2] = 1.0  # top leans right: positive slant
        img[2, 0, r, 13:16] = 1.0               # thick vertical bar: more ink
    s = slant(img)
    assert abs(s[0]) < 1e-6 and s[1] > 0.4
    assert ink(img[2:3]) > ink(img[0:1]) * 2.9


def test_interpolate_endpoints():
    z0, z1 = torch.zeros(4), torch.ones(4)
    path = interpolate(z0, z1, steps=5)
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    assert torch.allclose(path[2], torch.full((4,), 0.5))


class ToyG(Generator):
    """Unit 0 of `hidden` paints ink in proportion to z[0]; unit 1 is noise that paints nothing."""

    def __init__(self):
        super().__init__()
        self.latent_dim = 2
        self.hidden = nn.Linear(2, 2)
        with torch.no_grad():
            self.hidden.weight.copy_(torch.eye(2))
            self.hidden.bias.zero_()
        self.scale = nn.Parameter(torch.tensor(1.0))

    def forward(self, z):
        h = self.hidden(z)                       # (N, 2)
        level = torch.sigmoid(h[:, :1] * self.scale)
        return level.view(-1, 1, 1, 1).expand(-1, 1, 28, 28)


def test_rank_units_and_intervene_find_the_ink_unit():
    G = ToyG()
    order, corr = rank_units(G, G.hidden, ink, n=500)
    assert order[0] == 0 and corr[0] > 0.9
    z = G.sample_z(50, torch.Generator().manual_seed(0))
    with intervene(G.hidden, [0], 0.0):
        off = G(z)
    with intervene(G.hidden, [0], 5.0):
        on = G(z)
    assert torch.allclose(off, torch.full_like(off, 0.5))
    assert ink(on).min() > 0.99
    assert not G.hidden._forward_hooks  # hook removed
    acts, _ = unit_activations(G, G.hidden, z)
    assert acts.shape == (50, 2)


def test_attribute_direction_points_along_the_ink_unit():
    v = attribute_direction(ToyG(), ink, n=1000)
    assert v[0] > 1.0 and abs(v[1]) < 0.3 * v[0]


def test_autoencoder_samples_are_greyer_than_its_data():
    # MSE predicts averages: decoded random codes are blurrier (more grey pixels) than digits
    from coursekit.data import mnist
    torch.manual_seed(0)
    x, _ = mnist("train").tensors(2000)
    ae = Autoencoder(code_dim=4, hidden=64)
    losses = train_autoencoder(ae, x, epochs=3, progress=False)
    assert losses[-1] < losses[0]
    samples = sample_autoencoder(ae, x, 500)
    assert samples.shape == (500, 1, 28, 28)
    assert grey_share(samples) > 2 * grey_share(x)
