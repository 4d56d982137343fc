import pytest
import torch

from coursekit.gan import DCGANGenerator
from coursekit.widgets.latent import LatentExplorer


def test_sliders_move_the_code_and_the_image():
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=8, ngf=4)
    v = torch.zeros(8)
    v[0] = 1.0
    ex = LatentExplorer(G, {"first": v}, seed=1)
    z0, img0 = ex.z().clone(), ex.image()
    ex.set("first", 2.0)
    assert torch.allclose(ex.z(), z0 + 2 * v)
    assert not torch.equal(ex.image(), img0)
    ex.set("first", 0.0)
    assert torch.equal(ex.image(), img0)
    assert G.training  # the explorer leaves G's mode alone
    with pytest.raises(ValueError, match="unknown direction"):
        ex.set("second", 1.0)
    with pytest.raises(ValueError, match="latent_dim"):
        LatentExplorer(G, {"short": torch.zeros(3)})
    box = ex.show()  # builds the widgets without a browser
    assert len(box.children) == 2
