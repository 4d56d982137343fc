"""The HYPE-style rater (coursekit.widgets.human_rating), driven headless by button clicks.

Reference: Zhou et al. 2019 (HYPE); the score is the rater error rate. A rater who is always
right scores 0%, one who always answers "real" scores 50% on a balanced set.
"""
import base64
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

from coursekit.widgets import HumanRater, RatingSession


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    real = torch.rand(30, 1, 28, 28, generator=g) * 0.5          # "real": dark
    fake = 0.5 + torch.rand(30, 1, 28, 28, generator=g) * 0.5    # "fake": bright
    return real, fake


def test_session_is_balanced_random_and_seeded(images):
    real, fake = images
    s = RatingSession(real, fake, n_trials=20, seed=1)
    truth = [t.is_real for t in s.trials]
    assert sum(truth) == 10 and truth != sorted(truth, reverse=True)  # mixed, not grouped
    assert truth == [t.is_real for t in RatingSession(real, fake, n_trials=20, seed=1).trials]


def test_clicking_the_buttons_scores_a_perfect_and_a_blind_rater(images):
    real, fake = images
    perfect = HumanRater(real, fake, n_trials=20, seed=2)
    assert perfect.real_button.disabled and "<img" not in perfect.screen.value   # nothing before "start"
    perfect.start_button.click()
    while not perfect.session.done:
        shown_is_dark = perfect.session.current_image().mean() < 0.5
        (perfect.real_button if shown_is_dark else perfect.fake_button).click()
    r = perfect.session.result()
    assert r["answered"] == 20 and r["error_rate"] == 0 and r["ci_high"] == 0
    assert perfect.real_button.disabled and "error rate 0%" in perfect.score.value

    blind = HumanRater(real, fake, n_trials=20, seed=3)
    blind.start_button.click()
    for k in range(20):
        if k == 5:   # the running score: "real" is right exactly for the real images so far
            right = sum(t.is_real for t in blind.session.trials[:5])
            assert blind.score.value == f"score so far: {right} of 5 right ({5 - right} errors)"
        blind.real_button.click()  # says "real" to everything
    r = blind.session.result()
    assert r["error_rate"] == 0.5 and r["fakes_called_real"] == 1 and r["reals_called_fake"] == 0
    assert r["ci_low"] < 0.5 < r["ci_high"]


def shown_png(rater) -> bytes:
    """The PNG the rater's screen shows now (its HTML carries it as a data: URL)."""
    return base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', rater.screen.value).group(1))


def test_the_image_has_a_fixed_size_that_follows_the_screen(images):
    real, fake = images
    rater = HumanRater(real, fake, n_trials=4, size_px=280)
    assert "<img" not in rater.screen.value                       # grey until "start"
    rater.start_button.click()
    assert "width:min(280px, 45vh);height:min(280px, 45vh)" in rater.screen.value
    shown = Image.open(io.BytesIO(shown_png(rater)))
    assert shown.size == (280, 280)                                  # 28 px × 10, nearest
    expected = (rater.session.current_image()[0] * 255).round().byte().numpy()
    assert np.array_equal(np.asarray(shown)[::10, ::10], expected)
    with pytest.raises(ValueError, match="size_px"):
        HumanRater(real, fake, size_px=10)


def test_exposure_is_a_css_animation_of_each_new_image(images):
    """The hiding happens in the browser (tests/test_browser_widgets.py measures it); here: each
    image carries the animation with the right delay, and each trial is a new element."""
    real, fake = images
    rater = HumanRater(real, fake, n_trials=4, exposure_s=0.5)
    rater.start_button.click()
    first = rater.screen.value
    assert "@keyframes ck-rater-hide" in first and "animation:ck-rater-hide 0s linear 0.5s forwards" in first
    rater.fake_button.click()                                  # answered, the next image comes
    assert rater.session.position == 1 and 'data-trial="1"' in rater.screen.value
    untimed = HumanRater(real, fake, n_trials=4)
    untimed.start_button.click()
    assert "<img" in untimed.screen.value and "animation:" not in untimed.screen.value


def test_bad_arguments(images):
    real, fake = images
    with pytest.raises(ValueError, match="n_trials=100 needs 50 real"):
        RatingSession(real, fake, n_trials=100)
    with pytest.raises(ValueError, match="exposure_s must be > 0"):
        RatingSession(real, fake, exposure_s=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        RatingSession(real * 3, fake)
    s = RatingSession(real, fake, n_trials=2)
    s.answer(True), s.answer(False)
    with pytest.raises(RuntimeError, match="finished"):
        s.answer(True)
