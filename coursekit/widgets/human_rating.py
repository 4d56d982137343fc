"""A HYPE-style human real/fake test: the rater sees real and generated images in random order
and answers "real" or "fake"; the score is the rater's error rate with a bootstrap CI.

Zhou et al. 2019, "HYPE: A Benchmark for Human eYe Perceptual Evaluation of Generative
Models": HYPE∞ shows each image without a time limit and reports the error rate (50% means
the rater cannot tell); HYPE_time limits the exposure (here: a fixed ``exposure_s``, after
which the image is hidden but the rater may still answer; HYPE adapts the exposure by a
staircase, which this widget does not).

:class:`RatingSession` holds the logic and is driven from Python (tests, scripts);
:class:`HumanRater` is the ipywidgets front end, whose buttons call the session.
"""
from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from ..attacks._common import check_images
from ..metrics.human import error_rate_ci


@dataclass
class Trial:
    is_real: bool
    index: int                     # into the real or the fake images
    said_real: bool | None = None  # the rater's answer, None until answered
    seconds: float | None = None   # time from showing to answering


@dataclass(eq=False)
class RatingSession:
    """``n_trials`` images, half real and half fake (drawn without replacement), shuffled."""
    real: torch.Tensor = field(repr=False)
    fake: torch.Tensor = field(repr=False)
    n_trials: int = 20
    seed: int = 0
    exposure_s: float | None = None
    trials: list[Trial] = field(init=False, repr=False)
    position: int = field(init=False, default=0)
    _shown_at: float = field(init=False, default=0.0, repr=False)

    def __post_init__(self):
        check_images(self.real, "real")
        check_images(self.fake, "fake")
        if not isinstance(self.n_trials, int) or self.n_trials < 2:
            raise ValueError(f"n_trials must be an int >= 2, got {self.n_trials!r}")
        n_real, n_fake = self.n_trials // 2 + self.n_trials % 2, self.n_trials // 2
        if n_real > len(self.real) or n_fake > len(self.fake):
            raise ValueError(f"n_trials={self.n_trials} needs {n_real} real and {n_fake} fake "
                             f"images, got {len(self.real)} and {len(self.fake)}")
        if self.exposure_s is not None and not self.exposure_s > 0:
            raise ValueError(f"exposure_s must be > 0 seconds or None, got {self.exposure_s}")
        rng = np.random.default_rng(self.seed)
        trials = [Trial(True, int(i)) for i in rng.choice(len(self.real), n_real, replace=False)]
        trials += [Trial(False, int(i)) for i in rng.choice(len(self.fake), n_fake, replace=False)]
        self.trials = [trials[i] for i in rng.permutation(len(trials))]
        self._shown_at = time.monotonic()

    @property
    def done(self) -> bool:
        return self.position >= len(self.trials)

    def current_image(self) -> torch.Tensor:
        """The image (C, H, W) the rater must judge now."""
        if self.done:
            raise RuntimeError("the session is finished; read result()")
        t = self.trials[self.position]
        return (self.real if t.is_real else self.fake)[t.index]

    def mark_shown(self) -> None:
        """Start the answer clock of the current image (call it when the image is put on screen)."""
        self._shown_at = time.monotonic()

    def answer(self, said_real: bool) -> bool:
        """Record the answer for the current image and move on; return whether it was right."""
        if self.done:
            raise RuntimeError("the session is finished; read result()")
        t = self.trials[self.position]
        t.said_real, t.seconds = bool(said_real), time.monotonic() - self._shown_at
        self.position += 1
        self._shown_at = time.monotonic()
        return t.said_real == t.is_real

    def running_score(self) -> tuple[int, int]:
        """(answered, answered correctly) so far."""
        answered = [t for t in self.trials if t.said_real is not None]
        return len(answered), sum(t.said_real == t.is_real for t in answered)

    def result(self, n_boot: int = 1000, seed: int = 0) -> dict:
        """Error rate (HYPE∞ score) with its 95% bootstrap CI, and the two kinds of error."""
        answered = [t for t in self.trials if t.said_real is not None]
        if not answered:
            raise ValueError("no answers yet")
        rate, low, high = error_rate_ci([t.is_real for t in answered],
                                        [t.said_real for t in answered], n_boot=n_boot, seed=seed)
        fakes = [t for t in answered if not t.is_real]
        reals = [t for t in answered if t.is_real]
        return {
            "answered": len(answered), "error_rate": rate, "ci_low": low, "ci_high": high,
            "fakes_called_real": np.mean([t.said_real for t in fakes]) if fakes else float("nan"),
            "reals_called_fake": np.mean([not t.said_real for t in reals]) if reals else float("nan"),
        }


def png_bytes(image: torch.Tensor, scale: int = 4) -> bytes:
    """A (C, H, W) image in [0, 1] as PNG bytes, enlarged ``scale`` times (nearest)."""
    array = (image.detach().cpu().clamp(0, 1) * 255).round().byte()
    array = array[0].numpy() if array.shape[0] == 1 else array.permute(1, 2, 0).numpy()
    img = Image.fromarray(array)
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


# The timed exposure is a CSS animation of the image itself: it starts when the browser renders
# the <img> (when the picture appears), and after `exposure_s` hides it, leaving the grey behind.
HIDE = "@keyframes ck-rater-hide { to { visibility: hidden; } }"


def screen_html(image: torch.Tensor | None, side: str, exposure_s: float | None = None, trial: int = 0,
                scale: int = 10) -> str:
    """The rater's screen as HTML: ``image`` (or grey if None) in a ``side`` × ``side`` square."""
    box = f"width:{side};height:{side};background:#808080"
    if image is None:
        return f'<div class="ck-rater-screen" style="{box}"></div>'
    png = base64.b64encode(png_bytes(image, scale)).decode()
    hide = f"animation:ck-rater-hide 0s linear {exposure_s:g}s forwards;" if exposure_s else ""
    return (f"<style>{HIDE}</style>" if exposure_s else "") + (
        f'<div class="ck-rater-screen" style="{box}"><img class="ck-rater-image" data-trial="{trial}" '
        f'alt="image {trial + 1}" src="data:image/png;base64,{png}" '
        f'style="width:100%;height:100%;display:block;image-rendering:pixelated;{hide}"></div>')


class HumanRater:
    """The widget: "start", then each image at a fixed size, "real" / "fake" buttons and the
    running score; the error rate with its confidence interval at the end.

    >>> rater = HumanRater(real_images, fake_images, n_trials=20)
    >>> rater.widget   # display it in a notebook; rater.session.result() afterwards

    The layout follows the screen, not the notebook's width: the image is ``size_px`` pixels
    square but never more than 45% of the window's height, so image and buttons fit together
    on a 1366 × 768 laptop screen. With ``exposure_s`` each image is hidden that long after it
    appears. The clock is a CSS animation of the image in the browser, so it starts when the
    picture is on screen, and the kernel's message delays neither shorten nor lengthen it.
    """

    def __init__(self, real: torch.Tensor, fake: torch.Tensor, n_trials: int = 20,
                 seed: int = 0, exposure_s: float | None = None, size_px: int = 280):
        import ipywidgets as w
        if not isinstance(size_px, int) or size_px < 28:
            raise ValueError(f"size_px must be an int >= 28 pixels, got {size_px!r}")
        self.session = RatingSession(real, fake, n_trials, seed, exposure_s)
        self._side = f"min({size_px}px, 45vh)"
        self._scale = max(1, round(size_px / self.session.current_image().shape[-1]))  # nearest-neighbour
        self.screen = w.HTML(screen_html(None, self._side))
        self.progress = w.Label(f"{n_trials} images, real or fake? Press start."
                                + (f" Each image shows for {exposure_s:g} s." if exposure_s else ""))
        self.score = w.Label()
        self.start_button = w.Button(description="start", button_style="primary")
        self.real_button = w.Button(description="real", button_style="success", disabled=True)
        self.fake_button = w.Button(description="fake", button_style="danger", disabled=True)
        self.progress.add_class("ck-rater-progress")   # names the browser tests find them by
        self.score.add_class("ck-rater-score")
        self.start_button.on_click(lambda _: self._start())
        self.real_button.on_click(lambda _: self._on_answer(True))
        self.fake_button.on_click(lambda _: self._on_answer(False))
        self.widget = w.VBox([self.progress, self.screen,
                              w.HBox([self.start_button, self.real_button, self.fake_button]), self.score])

    def _start(self):
        self.start_button.layout.display = "none"
        self.real_button.disabled = self.fake_button.disabled = False
        self._show()

    def _show(self):
        s = self.session
        if s.done:
            r = s.result()
            self.screen.value = screen_html(None, self._side)
            self.real_button.disabled = self.fake_button.disabled = True
            self.progress.value = f"done: {r['answered']} images answered"
            self.score.value = (f"error rate {r['error_rate']:.0%} (95% CI "
                                f"{r['ci_low']:.0%}–{r['ci_high']:.0%}); 50% = cannot tell")
            return
        self.screen.value = screen_html(s.current_image(), self._side, s.exposure_s, s.position, self._scale)
        self.progress.value = f"image {s.position + 1} of {len(s.trials)}: real or fake?"
        s.mark_shown()

    def _on_answer(self, said_real: bool):
        if self.session.done:
            return
        self.session.answer(said_real)
        answered, right = self.session.running_score()
        self.score.value = f"score so far: {right} of {answered} right ({answered - right} errors)"
        self._show()
