"""coursekit.viz: captions never run into the row above, perturbations on a signed colour scale."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from coursekit.viz import attack_grid, image_grid, show_perturbation  # noqa: E402


def _caption_overlaps(fig, margin: float = 4.0) -> list[str]:
    """Captions whose box comes within ``margin`` pixels (at 100 dpi) of an image of the row above."""
    fig.set_dpi(100)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.images]
    problems = []
    for ax in axes:
        if not ax.title.get_text():
            continue
        title = ax.title.get_window_extent(renderer)
        own = ax.images[0].get_window_extent(renderer)
        for other in axes:
            image = other.images[0].get_window_extent(renderer)
            beside = image.x0 < title.x1 and title.x0 < image.x1
            if other is not ax and image.y0 > own.y0 + 1 and beside and title.y1 + margin > image.y0:
                problems.append(ax.title.get_text())
    return problems


@pytest.mark.parametrize("size", [0.8, 1.0, 1.3])
def test_multi_row_captions_stay_below_the_row_above(size):
    x = torch.rand(24, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    fig = image_grid(x, titles=[f"label {i}\nsecond line" if i % 5 == 0 else f"label {i}" for i in range(24)],
                     ncols=8, size=size, title="three rows", row_labels=["a", "b", "c"])
    assert _caption_overlaps(fig) == []
    plt.close(fig)


def test_attack_grid_has_three_labelled_rows_and_one_signed_colour_bar():
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 0.5
    x_adv = (x + 0.1 * torch.randn_like(x).sign()).clamp(0, 1)
    fig = attack_grid(x, x_adv, [f"c{i}" for i in range(5)], [f"a{i}" for i in range(5)], title="t")
    assert _caption_overlaps(fig) == []
    bars = [ax for ax in fig.axes if not ax.images]           # the colour bar's axes draws no image
    assert len(bars) == 1
    lo, hi = bars[0].get_ylim()
    assert lo == pytest.approx(-hi) and hi == pytest.approx(0.1, abs=1e-6)
    assert [fig.axes[3 * 0].get_ylabel()] == ["image"]
    plt.close(fig)


def test_show_perturbation_is_centred_on_zero():
    im = show_perturbation(torch.full((1, 4, 4), 0.05), "δ", limit=0.2)
    assert im.get_clim() == (-0.2, 0.2) and im.get_cmap().name == "RdBu_r"
    plt.close(im.figure)


def test_bad_arguments_name_themselves():
    x = torch.rand(4, 1, 8, 8)
    with pytest.raises(ValueError, match="x must be a tensor of shape"):
        image_grid(x[0])
    with pytest.raises(ValueError, match="one title per image"):
        image_grid(x, titles=["a"])
    with pytest.raises(ValueError, match="one row label per row"):
        image_grid(x, ncols=2, row_labels=["a"])
    with pytest.raises(ValueError, match="x_adv must have the shape"):
        attack_grid(x, x[:2])
    with pytest.raises(ValueError, match="limit must be > 0"):
        show_perturbation(x[0], limit=0)
