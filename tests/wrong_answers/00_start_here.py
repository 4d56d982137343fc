"""Typical wrong answers to notebook 00's exercise (see README.md beside this file)."""
from tools.wrong_answers import Wrong

WRONG_ANSWERS = {
    "ex0-error-rate": [
        Wrong("accuracy instead of error rate", cause=r"expected 0\.006", replace={"!=": "=="}),
        Wrong("count instead of rate", cause=r"got 12", replace={".mean()": ".sum()"}),
        Wrong("a tensor instead of a float", cause=r"float|number", replace={".item()": ""}),
    ],
}
