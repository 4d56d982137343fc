"""Typical wrong answers to notebook 05's exercises (see README.md beside this file)."""
from tools.wrong_answers import Wrong

NORM = "((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()"

WRONG_ANSWERS = {
    "ex1-ns-loss": [
        Wrong("the saturating cost", cause=r"saturating cost",
              replace={"return F.softplus(-d_fake).mean()": "return -F.softplus(d_fake).mean()"}),
        Wrong("log of a sigmoid", cause=r"torch\.log of a sigmoid",
              replace={"return F.softplus(-d_fake).mean()": "return -torch.log(torch.sigmoid(d_fake)).mean()"}),
        Wrong("a sum over the batch", cause=r"sum over the batch",
              replace={"return F.softplus(-d_fake).mean()": "return F.softplus(-d_fake).sum()"}),
        Wrong("the sign inside softplus flipped", cause=r"sign flipped",
              replace={"return F.softplus(-d_fake).mean()": "return F.softplus(d_fake).mean()"}),
    ],
    "ex2-gradient-penalty": [
        Wrong("no create_graph", cause=r"create_graph", replace={", create_graph=True": ""}),
        Wrong("a norm per channel", cause=r"norm per channel", replace={NORM: "((grad.flatten(2).norm(dim=2) - 1) ** 2).mean()"}),
        Wrong("a one-sided penalty", cause=r"one-sided", replace={NORM: "(torch.relu(grad.flatten(1).norm(dim=1) - 1) ** 2).mean()"}),
        Wrong("ε and 1 − ε swapped", cause=r"swapped",
              replace={"eps * x_real + (1 - eps) * x_fake": "eps * x_fake + (1 - eps) * x_real"}),
        Wrong("the norm not squared", cause=r"not squared", replace={NORM: "(grad.flatten(1).norm(dim=1) - 1).mean()"}),
    ],
    "ex3-w1": [
        Wrong("no sorting", cause=r"not sorted", replace={"(a.sort().values - b.sort().values)": "(a - b)"}),
        Wrong("only one sample sorted", cause=r"only one sample sorted", replace={"b.sort().values": "b"}),
        Wrong("squared distances", cause=r"squared distances", replace={".abs().mean()": ".square().mean()"}),
        Wrong("signed differences", cause=r"absolute value", replace={".abs().mean()": ".mean()"}),
    ],
}
