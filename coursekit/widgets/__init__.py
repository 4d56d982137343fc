"""ipywidgets front ends used in the notebooks (sliders, the human rater).

Each widget lives in its own module with its logic in plain functions/classes that tests can
drive headless (calling the handlers from Python); only the layout touches ipywidgets.
"""
from .linear import LinearDimensionDemo  # noqa: E402,F401  (notebook 03: ε / n sliders)
from .human_rating import HumanRater, RatingSession  # noqa: F401  (notebook 07: HYPE rater)
