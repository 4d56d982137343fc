"""Typical wrong answers to notebook 00's exercise (see README.md beside this file)."""
from tools.wrong_answers import Wrong

WRONG_ANSWERS = {
    "ex0-error-rate": [
        Wrong("accuracy instead of error rate", cause=r"accuracy .*not the error rate", replace={"!=": "=="}),
        Wrong("count instead of rate", cause=r"counted the mistakes", replace={".mean()": ".sum()"}),
        Wrong("a tensor instead of a float", cause=r"float", replace={".item()": ""}),
        Wrong("arg-max over the batch instead of the classes", cause=r"dim|axis|classes",
              replace={"argmax(1)": "argmax(0)"}),
        Wrong("predicted class read off the largest logit's value, not its index", cause=r"arg-?max|index",
              replace={".argmax(1)": ".max(1).values"}),
    ],
}
