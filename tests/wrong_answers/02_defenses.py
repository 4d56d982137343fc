"""Typical wrong answers to notebook 02's exercises (see README.md beside this file)."""
from tools.wrong_answers import Wrong

WRONG_ANSWERS = {
    "ex1-adversarial-step": [
        Wrong("the attack in train mode", cause=r"attack ran in train mode",
              replace={"model.eval()\n": ""}),
        Wrong("two forward passes", cause=r"went through the network separately",
              replace={"logits_clean, logits_adv = model(torch.cat([x, x_adv])).chunk(2)":
                       "logits_clean, logits_adv = model(x), model(x_adv)"}),
        Wrong("one cross-entropy over the whole batch", cause=r"whole 2N batch",
              replace={"loss = F.cross_entropy(logits_clean, y) + lam * F.cross_entropy(logits_adv, y)":
                       "loss = F.cross_entropy(torch.cat([logits_clean, logits_adv]), torch.cat([y, y]))"}),
        Wrong("mode not restored", cause=r"restore the model.s mode",
              replace={"model.train(was_training)\n": ""}),
        Wrong("δ not clipped to the ball", cause=r"within ε|clip δ",
              replace={"(delta0 + alpha * grad.sign()).clamp(-eps, eps)": "(delta0 + alpha * grad.sign())"}),
        Wrong("x_adv not clipped to [0, 1]", cause=r"within \[0, 1\]|clip x_adv",
              replace={"(x + delta).clamp(0, 1).detach()": "(x + delta).detach()"}),
        Wrong("the attack started from x", cause=r"start the attack from x \+ δ₀",
              replace={"x_start = (x + delta0).detach().requires_grad_(True)": "x_start = x.detach().clone().requires_grad_(True)"}),
        Wrong("a float not returned", cause=r"float", replace={"return loss.item()": "return loss"}),
    ],
    "ex2-eot-gradient": [
        Wrong("the sum of the draws, not their mean", cause=r"average over the draws",
              replace={" for _ in range(samples)) / samples": " for _ in range(samples))"}),
        Wrong("the mean cross-entropy over the images", cause=r"sum the cross-entropy over the images",
              replace={'reduction="sum"': 'reduction="mean"'}),
        Wrong("one call of the model", cause=r"call the model `samples` times",
              source="""
              x_var = x.detach().clone().requires_grad_(True)
              loss = F.cross_entropy(model(x_var), y, reduction="sum")
              (grad,) = torch.autograd.grad(loss, x_var)
              return grad
              """),
    ],
    "ex3-interval-linear": [
        Wrong("W instead of |W| for the radius", cause=r"through \|W\|", replace={"rad @ W.abs().T": "rad @ W.T"}),
        Wrong("the bias forgotten", cause=r"bias", replace={"mid = mid @ W.T + b": "mid = mid @ W.T"}),
        Wrong("the corners as bounds", cause=r"corners",
              source="""
              a, c = lower @ W.T + b, upper @ W.T + b
              return torch.minimum(lower @ W.T, upper @ W.T) + b, torch.maximum(a, c)
              """),
    ],
}
