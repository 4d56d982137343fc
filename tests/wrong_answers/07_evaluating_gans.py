"""Typical wrong answers to notebook 07's exercises (see README.md beside this file)."""
from tools.wrong_answers import Wrong

WRONG_ANSWERS = {
    "ex1-fid-from-statistics": [
        Wrong("the factor 2 forgotten", cause=r"factor 2", replace={"- 2 * eigenvalues.sqrt().sum()": "- eigenvalues.sqrt().sum()"}),
        Wrong("no square root of the eigenvalues", cause=r"no square root", replace={"eigenvalues.sqrt().sum()": "eigenvalues.sum()"}),
        Wrong("the mean term not squared", cause=r"not squared", replace={"(mu1 - mu2).square().sum()": "(mu1 - mu2).norm()"}),
        Wrong("a tensor returned", cause=r"\.item\(\)", replace={"- 2 * eigenvalues.sqrt().sum()).item()": "- 2 * eigenvalues.sqrt().sum())"}),
    ],
    "ex2-inception-score": [
        Wrong("p(y) over the wrong axis", cause=r"wrong axis", replace={"probs.mean(0, keepdim=True)": "probs.mean(1, keepdim=True)"}),
        Wrong("exp forgotten", cause=r"exp is missing", replace={"kl.mean().exp().item()": "kl.mean().item()"}),
        Wrong("a tensor returned", cause=r"\.item\(\)", replace={"kl.mean().exp().item()": "kl.mean().exp()"}),
    ],
}
