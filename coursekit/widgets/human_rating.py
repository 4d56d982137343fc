"""A HYPE-style human real/fake test: the rater sees real and generated images in random order
and answers "real" or "fake"; the score is the rater's error rate with a bootstrap CI.

Zhou et al. 2019, "HYPE: A Benchmark for Human eYe Perceptual Evaluation of Generative
Models": HYPE∞ shows each image without a time limit and reports the error rate (50% means
the rater cannot tell); HYPE_time limits the exposure (here: a fixed ``exposure_s``, after
which the image is hidden but the rater may still answer).

:class:`RatingSession` holds the logic and is driven from Python (tests, scripts);
:class:`HumanRater` is the ipywidgets front end, whose buttons call the session.
"""
from __future__ import annotations

import io
import threading
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

    def answer(self, said_real: bool) -> bool:
        """Record the answer for the current image and move on; return whether it was right."""
        if self.done:
            raise RuntimeError("the session is finished; read result()")
        t = self.trials[self.position]
        t.said_real, t.seconds = bool(said_real), time.monotonic() - self._shown_at
        self.position += 1
        self._shown_at = time.monotonic()
        return t.said_real == t.is_real

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


class HumanRater:
    """The widget: an image, "real" and "fake" buttons, and the running score.

    >>> rater = HumanRater(real_images, fake_images, n_trials=20)
    >>> rater.widget   # display it in a notebook; rater.session.result() afterwards
    """

    def __init__(self, real: torch.Tensor, fake: torch.Tensor, n_trials: int = 20,
                 seed: int = 0, exposure_s: float | None = None):
        import ipywidgets as w
        self.session = RatingSession(real, fake, n_trials, seed, exposure_s)
        self._blank = png_bytes(torch.full_like(self.session.current_image(), 0.5))
        self.image = w.Image(format="png")
        self.real_button = w.Button(description="real", button_style="success")
        self.fake_button = w.Button(description="fake", button_style="danger")
        self.status = w.Label()
        self.real_button.on_click(lambda _: self._on_answer(True))
        self.fake_button.on_click(lambda _: self._on_answer(False))
        self.widget = w.VBox([self.image, w.HBox([self.real_button, self.fake_button]), self.status])
        self._timer: threading.Timer | None = None
        self._show()

    def _show(self):
        s = self.session
        if s.done:
            r = s.result()
            self.image.value = self._blank
            self.real_button.disabled = self.fake_button.disabled = True
            self.status.value = (f"done: error rate {r['error_rate']:.0%} (95% CI "
                                 f"{r['ci_low']:.0%}–{r['ci_high']:.0%}); 50% = cannot tell")
            return
        self.image.value = png_bytes(s.current_image())
        self.status.value = f"image {s.position + 1} of {len(s.trials)}: real or fake?"
        if s.exposure_s is not None:
            self._timer = threading.Timer(s.exposure_s, self.hide_image)
            self._timer.daemon = True
            self._timer.start()

    def hide_image(self):
        """Replace the image by grey (called when the exposure time is over)."""
        self.image.value = self._blank

    def _on_answer(self, said_real: bool):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.session.answer(said_real)
        self._show()
