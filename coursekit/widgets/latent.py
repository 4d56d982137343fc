"""A latent slider: move a code z along named directions and watch G(z) change."""
from __future__ import annotations

import torch
from torch import nn

from ..modes import eval_mode


class LatentExplorer:
    """z = z0 + Σ αᵢ vᵢ for named directions vᵢ, one slider per αᵢ, showing G(z).

    The logic (``set``, ``image``) runs without a browser; :meth:`show` builds the widgets,
    which redraw once per slider release (``draws`` counts the figures drawn).
    """

    def __init__(self, G: nn.Module, directions: dict[str, torch.Tensor], z0: torch.Tensor | None = None,
                 span: float = 3.0, seed: int = 0):
        if not directions:
            raise ValueError("directions must name at least one latent direction")
        self.G = G
        self.directions = {k: v.detach().flatten() for k, v in directions.items()}
        for name, v in self.directions.items():
            if v.numel() != G.latent_dim:
                raise ValueError(f"direction {name!r} has {v.numel()} entries, G.latent_dim is {G.latent_dim}")
        self.z0 = z0.flatten() if z0 is not None else G.sample_z(1, torch.Generator().manual_seed(seed))[0]
        self.alpha = {k: 0.0 for k in self.directions}
        self.span = span
        self.draws = 0
        self._out = None

    def set(self, name: str, value: float) -> None:
        if name not in self.alpha:
            raise ValueError(f"unknown direction {name!r}; have {sorted(self.alpha)}")
        self.alpha[name] = float(value)
        self._draw()

    def z(self) -> torch.Tensor:
        z = self.z0.clone()
        for name, v in self.directions.items():
            z = z + self.alpha[name] * v.to(z.device)
        return z

    @torch.no_grad()
    def image(self) -> torch.Tensor:
        with eval_mode(self.G):
            return self.G(self.z().unsqueeze(0))[0].cpu()  # (C, H, W)

    def _draw(self) -> None:
        if self._out is None:
            return
        import matplotlib.pyplot as plt
        from IPython.display import display
        self.draws += 1
        with self._out:
            self._out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(2.5, 2.5))
            ax.imshow(self.image()[0], cmap="gray", vmin=0, vmax=1)
            # as the sliders write it (d3's "+.1f" uses the minus sign U+2212)
            ax.set_title(", ".join(k + " " + f"{a:+.1f}".replace("-", "\u2212") for k, a in self.alpha.items()),
                         fontsize=8)
            ax.axis("off")
            display(fig)
            plt.close(fig)

    def show(self):
        import ipywidgets as w
        self._out = w.Output(layout=w.Layout(min_height="260px"))   # the figure's height
        self.sliders = {}
        for name in self.directions:
            s = w.FloatSlider(value=self.alpha[name], min=-self.span, max=self.span, step=0.1,
                              description=name, readout_format="+.1f", continuous_update=False)
            s.observe(lambda change, name=name: self.set(name, change["new"]), names="value")
            self.sliders[name] = s
        self._draw()
        return w.HBox([w.VBox(list(self.sliders.values())), self._out])
