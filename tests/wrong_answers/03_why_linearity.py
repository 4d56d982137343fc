"""Typical wrong answers to notebook 03's exercises (see README.md beside this file)."""
from tools.wrong_answers import Wrong

WRONG_ANSWERS = {
    "ex1-sign-step": [
        Wrong("sign(0) taken as +1", cause=r"sign\(0\) must be 0",
              replace={"sign = lambda a: (a > 0) - (a < 0)": "sign = lambda a: 1 if a >= 0 else -1"}),
        Wrong("the bias forgotten", cause=r"forgot the bias",
              replace={"lin.exact(b))": "0)"}),
        Wrong("a step along w instead of sign(w)", cause=r"along w itself",
              replace={"eps * sign(lin.exact(wi))": "eps * lin.exact(wi)"}),
        Wrong("the step taken downhill", cause=r"wrong way",
              replace={"lin.exact(xi) + eps": "lin.exact(xi) - eps"}),
        Wrong("ε read as a binary double", cause=r"lin\.exact",
              replace={"eps = lin.exact(eps)": "eps = Fraction(eps)"}),
        Wrong("floats instead of exact fractions", cause=r"Fraction",
              replace={"eps = lin.exact(eps)": "eps = float(eps)"}),
        Wrong("x* as a list", cause=r"tuple",
              replace={"x_star = tuple(": "x_star = list("}),
    ],
    "ex2-logit-shift": [
        Wrong("no absolute value", cause=r"\|z\(x_adv\) − z\(x\)\| before averaging",
              replace={"(z_adv - z).abs().mean()": "(z_adv - z).mean()"}),
        Wrong("sum instead of mean", cause=r"average over the images",
              replace={".abs().mean()": ".abs().sum()"}),
        Wrong("the first logit", cause=r"second logit",
              replace={"predict(model, x)[:, 1]": "predict(model, x)[:, 0]",
                       "predict(model, fgsm(model, x, y, eps))[:, 1]": "predict(model, fgsm(model, x, y, eps))[:, 0]"}),
        Wrong("a tensor instead of a float", cause=r"float", replace={".mean().item()": ".mean()"}),
    ],
}
