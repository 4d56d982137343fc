"""Typical wrong answers to notebook 01's exercises (see README.md beside this file)."""
from tools.wrong_answers import Wrong

WRONG_ANSWERS = {
    "ex1-targeted-loss": [
        Wrong("averaged over the batch", cause=r"averaged over the batch",
              replace={'reduction="none"': 'reduction="mean"'}),
        Wrong("the closeness term summed over the whole batch", cause=r"each example's own pixels",
              replace={".pow(2).sum(1)": ".pow(2).sum()"}),
        Wrong("a mean over the pixels", cause=r"sum over the pixels, not a mean",
              replace={".pow(2).sum(1)": ".pow(2).mean(1)"}),
        Wrong("the norm, not its square", cause=r"squared",
              replace={".pow(2).sum(1)": ".pow(2).sum(1).sqrt()"}),
        Wrong("λ on both terms", cause=r"λ weighs the closeness term only",
              source="""
              ce = F.cross_entropy(logits, target, reduction="none")
              return lam * (ce + (x - x0).flatten(1).pow(2).sum(1))
              """),
        Wrong("x changed in place", cause=r"unchanged",
              source="""
              ce = F.cross_entropy(logits, target, reduction="none")
              return ce + lam * x.sub_(x0).flatten(1).pow(2).sum(1)
              """),
    ],
    "ex2-fgsm": [
        Wrong("a step down the loss", cause=r"step \*up\* the loss",
              replace={"(x + eps * grad.sign())": "(x - eps * grad.sign())"}),
        Wrong("no clipping to [0, 1]", cause=r"clip the result",
              replace={".clamp(0, 1).detach()": ".detach()"}),
        Wrong("the raw gradient", cause=r"sign of the gradient",
              replace={"eps * grad.sign()": "eps * grad"}),
        Wrong(".backward() fills the model's .grad", cause=r"autograd\.grad|no parameter gradient",
              source="""
              x_var = x.detach().clone().requires_grad_(True)
              F.cross_entropy(model(x_var), y, reduction="sum").backward()
              out = (x + eps * x_var.grad.sign()).clamp(0, 1).detach()
              return out
              """),
        Wrong("x changed in place", cause=r"x left unchanged",
              source="""
              x_var = x.detach().requires_grad_(True)
              (grad,) = torch.autograd.grad(F.cross_entropy(model(x_var), y, reduction="sum"), x_var)
              return x.add_(eps * grad.sign()).clamp_(0, 1)
              """),
    ],
    "ex3-numerical-gradient": [
        Wrong("off by one", cause=r"last coordinate", replace={"range(len(x))": "range(len(x) - 1)"}),
        Wrong("divided by h", cause=r"divide the central difference by 2h",
              replace={"/ (2 * h)": "/ h"}),
        Wrong("the difference the wrong way round", cause=r"not the other way round",
              replace={"(f(x + e) - f(x - e))": "(f(x - e) - f(x + e))"}),
        Wrong("one-sided difference", cause=r"one-sided",
              replace={"grad[i] = (f(x + e) - f(x - e)) / (2 * h)": "grad[i] = (f(x + e) - f(x)) / h"}),
        Wrong("x changed in place", cause=r"unchanged",
              source="""
              grad = torch.zeros_like(x)
              for i in range(len(x)):
                  x[i] += h
                  up = f(x)
                  x[i] -= 2 * h
                  grad[i] = (up - f(x)) / (2 * h)
              return grad
              """),
    ],
    "ex4-dlr": [
        Wrong("the sign flipped", cause=r"the sign",
              replace={"return -(z_y - z_other)": "return (z_y - z_other)"}),
        Wrong("the max over every class, the true one included", cause=r"leave out the true class",
              replace={'logits.scatter(1, y[:, None], float("-inf")).max(1).values':
                       "logits.max(1).values"}),
        Wrong("the second largest logit in the denominator", cause=r"third",
              replace={"z_sorted[:, 0] - z_sorted[:, 2]": "z_sorted[:, 0] - z_sorted[:, 1]"}),
        Wrong("no denominator", cause=r"scale of the logits",
              replace={" / (z_sorted[:, 0] - z_sorted[:, 2] + 1e-12)": ""}),
        Wrong("sorted ascending", cause=r"descending",
              replace={"descending=True": "descending=False"}),
        Wrong("sorted along the batch", cause=r"dim=1",
              replace={"logits.sort(dim=1": "logits.sort(dim=0"}),
        Wrong("no + 1e-12", cause=r"1e-12", replace={" + 1e-12)": ")"}),
        Wrong("averaged over the batch", cause=r"averaged over the batch|one value per example",
              replace={"return -(z_y - z_other) / (z_sorted[:, 0] - z_sorted[:, 2] + 1e-12)":
                       "return (-(z_y - z_other) / (z_sorted[:, 0] - z_sorted[:, 2] + 1e-12)).mean()"}),
        Wrong("the logits changed in place", cause=r"logits left unchanged",
              source="""
              z_sorted = logits.sort(dim=1, descending=True).values
              z_y = logits.gather(1, y[:, None]).squeeze(1)
              z_other = logits.scatter_(1, y[:, None], float("-inf")).max(1).values
              return -(z_y - z_other) / (z_sorted[:, 0] - z_sorted[:, 2] + 1e-12)
              """),
    ],
}
