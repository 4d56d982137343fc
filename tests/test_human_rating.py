"""The HYPE-style rater (coursekit.widgets.human_rating), driven headless by button clicks.

Reference: Zhou et al. 2019 (HYPE); the score is the rater error rate. A rater who is always
right scores 0%, one who always answers "real" scores 50% on a balanced set.
"""
import pytest
import torch

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
    while not perfect.session.done:
        shown_is_dark = perfect.session.current_image().mean() < 0.5
        (perfect.real_button if shown_is_dark else perfect.fake_button).click()
    r = perfect.session.result()
    assert r["answered"] == 20 and r["error_rate"] == 0 and r["ci_high"] == 0
    assert perfect.real_button.disabled and "error rate 0%" in perfect.status.value

    blind = HumanRater(real, fake, n_trials=20, seed=3)
    for _ in range(20):
        blind.real_button.click()  # says "real" to everything
    r = blind.session.result()
    assert r["error_rate"] == 0.5 and r["fakes_called_real"] == 1 and r["reals_called_fake"] == 0
    assert r["ci_low"] < 0.5 < r["ci_high"]


def test_exposure_limit_hides_the_image_but_still_takes_the_answer(images):
    real, fake = images
    rater = HumanRater(real, fake, n_trials=4, exposure_s=60.0)
    shown = rater.image.value
    assert rater._timer is not None and rater._timer.is_alive()
    rater.hide_image()  # what the timer does when the exposure time is over
    assert rater.image.value != shown
    rater.fake_button.click()
    assert rater.session.position == 1 and rater.image.value != rater._blank
    rater._timer.cancel()


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
