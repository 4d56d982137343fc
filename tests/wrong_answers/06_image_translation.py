"""Typical wrong answers to notebook 06's exercises (see README.md beside this file)."""
from tools.wrong_answers import Wrong

WRONG_ANSWERS = {
    "ex1-cycle-loss": [
        Wrong("computed under torch.no_grad()", cause=r"no_grad", source="""
            with torch.no_grad():
                loss_a = (g_ba(g_ab(x_a)) - x_a).abs().mean()
                loss_b = (g_ab(g_ba(x_b)) - x_b).abs().mean()
            return loss_a + loss_b
            """),
        Wrong("a Python number instead of a tensor", cause=r"Python number",
              replace={"return loss_a + loss_b": "return (loss_a + loss_b).item()"}),
        Wrong("only the A → B → A round trip", cause=r"only the A → B → A",
              replace={"return loss_a + loss_b": "return loss_a"}),
        Wrong("only the B → A → B round trip", cause=r"only the B → A → B",
              replace={"return loss_a + loss_b": "return loss_b"}),
        Wrong("the mean of the two round trips", cause=r"averaged",
              replace={"return loss_a + loss_b": "return (loss_a + loss_b) / 2"}),
        Wrong("squared error instead of L1", cause=r"squared", replace={".abs().mean()": ".square().mean()"}),
        Wrong("a sum over pixels instead of the mean", cause=r"sum over pixels",
              replace={".abs().mean()": ".abs().sum()"}),
        Wrong("signed differences", cause=r"without abs", replace={".abs().mean()": ".mean()"}),
        Wrong("G(x_a) detached inside the round trip", cause=r"G\(x_a\) is detached",
              replace={"g_ba(g_ab(x_a))": "g_ba(g_ab(x_a).detach())"}),
        Wrong("F(x_b) detached inside the round trip", cause=r"F\(x_b\) is detached",
              replace={"g_ab(g_ba(x_b))": "g_ab(g_ba(x_b).detach())"}),
        Wrong("the input changed in place", cause=r"in-place",
              replace={"(g_ba(g_ab(x_a)) - x_a).abs()": "x_a.sub_(g_ba(g_ab(x_a))).abs()"}),
    ],
    "ex2-image-pool": [
        Wrong("no detach", cause=r"forgot \.detach\(\)",
              replace={"for image in images.detach():": "for image in images:"}),
        Wrong("off by one: the pool grows to size + 1", cause=r"off by one",
              replace={"len(pool) < size": "len(pool) <= size"}),
        Wrong("hands out the new image instead of the stored one", cause=r"handed out the new image",
              replace={"out.append(pool[i])": "out.append(image)"}),
        Wrong("never stores the new image", cause=r"never changes", replace={"pool[i] = image": "pass"}),
        Wrong("swaps when the draw is above 0.5", cause=r"below 0\.5",
              replace={"generator=generator).item() < 0.5": "generator=generator).item() > 0.5"}),
        Wrong("draws the index before the coin", cause=r"draw nothing else", source="""
            if size == 0:
                return images.detach()
            out = []
            for image in images.detach():
                if len(pool) < size:
                    pool.append(image)
                    out.append(image)
                    continue
                i = int(torch.randint(len(pool), (1,), generator=generator))
                if torch.rand(1, generator=generator).item() < 0.5:
                    out.append(pool[i])
                    pool[i] = image
                else:
                    out.append(image)
            return torch.stack(out)
            """),
    ],
}
