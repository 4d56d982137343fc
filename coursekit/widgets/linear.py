"""Sliders for ε and the input dimension n on a linear model (notebook 03).

The model is ŷ = wᵀx with w, x ~ N(0, 1)ⁿ, attacked by x + ε·sign(w) (Goodfellow et al. 2015,
§3). The step moves ŷ by ε‖w‖₁ ≈ ε·n·√(2/π), which grows like n, while the clean score's
typical size, std(wᵀx) = √n, grows only like √n and no input moves by more than ε. So for any
fixed ε there is a dimension past which the step outweighs the score.

The logic is :class:`LinearDimensionDemo` (drive it from Python: ``demo.update(eps, n)``);
only :meth:`LinearDimensionDemo.widget` touches ipywidgets.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from ..linearity import linear_dimension_demo


# The ε slider's stops: 1-2-5 steps from 0.001 to 1, so the slider's label is the exact value
# that the figure uses (a log slider's readout rounds: it showed 0.050 for ε = 0.0501187).
EPS_STOPS = tuple(round(m * 10.0 ** e, 3) for e in range(-3, 0) for m in (1, 2, 5)) + (1.0,)


class LinearDimensionDemo:
    """State and drawing behind the ε / n sliders; ``draws`` counts the figures drawn."""

    def __init__(self, eps: float = 0.05, n: int = 64, max_n: int = 4096, seed: int = 0):
        if not (isinstance(max_n, int) and max_n >= 2):
            raise ValueError(f"max_n must be an int >= 2, got {max_n!r}")
        self.max_n, self.seed = max_n, seed
        self.dims = np.unique(np.geomspace(1, max_n, 60).astype(int))   # the curve's n values
        self.draws = 0
        self.state = self.update(eps, n, draw=False)

    def update(self, eps: float, n: int, draw: bool = True) -> dict:
        """Recompute for (ε, n); with ``draw`` also return the figure under ``state["figure"]``."""
        state = linear_dimension_demo(int(n), float(eps), seed=self.seed, max_n=self.max_n)
        state["score_scale"] = math.sqrt(state["n"])   # std of wᵀx for w, x ~ N(0, 1)ⁿ
        if draw:
            state["figure"] = self.draw(state)
        self.state = state
        return state

    def curve(self, eps: float) -> tuple[np.ndarray, np.ndarray]:
        """ε‖w‖₁ for every n in ``self.dims`` (same w as the sliders use)."""
        changes = [linear_dimension_demo(int(d), eps, self.seed, self.max_n)["change"] for d in self.dims]
        return self.dims, np.array(changes)

    def draw(self, state: dict):
        self.draws += 1
        eps, n = state["eps"], state["n"]
        dims, changes = self.curve(eps)
        fig, ax = plt.subplots(figsize=(6.5, 3.8))
        ax.plot(dims, changes, label="change of ŷ: ε‖w‖₁")
        ax.plot(dims, np.sqrt(dims), "--", label="typical clean score: √n")
        ax.axhline(eps, color="gray", lw=0.8, label=f"largest move of one input: ε = {eps:g}")
        ax.plot([n], [state["change"]], "o", color="C3", ms=8)
        ax.set(xscale="log", yscale="log", xlabel="number of inputs n (log scale)",
               ylabel="size (log scale)",
               title=f"n = {n}: ŷ moves {state['y_hat']:.2f} → {state['y_adv']:.2f} "
                     f"(by {state['change']:.2f})")
        ax.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        return fig

    def widget(self):
        """The sliders and the plot, as an ipywidgets box; one figure per slider change."""
        import ipywidgets as w
        from IPython.display import display

        stops = sorted(set(EPS_STOPS) | {float(self.state["eps"])})
        eps = w.SelectionSlider(options=[(f"{v:g}", v) for v in stops], value=float(self.state["eps"]),
                                description="ε", continuous_update=False)
        n = w.IntSlider(value=self.state["n"], min=1, max=self.max_n, step=1, description="n",
                        continuous_update=False)
        out = w.Output(layout=w.Layout(min_height="390px"))   # the figure's height: no jump on redraw

        def redraw(_=None):
            with out:
                out.clear_output(wait=True)
                display(self.update(eps.value, n.value)["figure"])
                plt.close("all")

        eps.observe(redraw, names="value")
        n.observe(redraw, names="value")
        self.sliders = {"eps": eps, "n": n}   # kept so tests can move them
        redraw()
        return w.VBox([w.HBox([eps, n]), out])
