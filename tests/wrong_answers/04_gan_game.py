"""Typical wrong answers to notebook 04's exercises (see README.md beside this file)."""
from tools.wrong_answers import Wrong

D_LOSS = "return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()"

WRONG_ANSWERS = {
    "ex1-d-loss": [
        Wrong("log of a sigmoid, the classic overflow", cause=r"torch\.log of a sigmoid",
              replace={D_LOSS: "return -torch.log(torch.sigmoid(d_real)).mean() - torch.log(1 - torch.sigmoid(d_fake)).mean()"}),
        Wrong("real and fake swapped", cause=r"real and fake swapped",
              replace={D_LOSS: "return F.softplus(-d_fake).mean() + F.softplus(d_real).mean()"}),
        Wrong("a sum over the batch", cause=r"sum over the batch",
              replace={D_LOSS: "return F.softplus(-d_real).sum() + F.softplus(d_fake).sum()"}),
        Wrong("the fake term forgotten", cause=r"fake term is missing",
              replace={D_LOSS: "return F.softplus(-d_real).mean()"}),
        Wrong("the generator's cost for the fakes", cause=r"generator's cost",
              replace={"F.softplus(d_fake)": "F.softplus(-d_fake)"}),
    ],
    "ex2-g-step": [
        Wrong("codes from torch.randn instead of the given generator", cause=r"torch\.randn",
              replace={"z = G.sample_z(batch_size, generator)": "z = torch.randn(batch_size, G.latent_dim)"}),
        Wrong("D not frozen", cause=r"freeze D",
              replace={"for p in D.parameters():\n    p.requires_grad_(False)\ntry:": "try:"}),
        Wrong("D left frozen", cause=r"requires_grad switched back on",
              replace={"finally:\n    for p in D.parameters():\n        p.requires_grad_(True)": "finally:\n    pass"}),
        Wrong("old gradients not cleared", cause=r"zero_grad", replace={"    opt_g.zero_grad()\n": ""}),
        Wrong("the saturating cost", cause=r"saturating cost",
              replace={"loss = F.softplus(-D(G(z))).mean()": "loss = -F.softplus(D(G(z))).mean()"}),
        Wrong("the loss returned as a tensor", cause=r"loss\.item\(\)", replace={"return loss.item()": "return loss"}),
    ],
    "ex3-d-step": [
        Wrong("G(z) not detached", cause=r"detach", replace={"x_fake = G(z).detach()": "x_fake = G(z)"}),
        Wrong("one concatenated batch", cause=r"concatenated batch",
              replace={"loss = F.softplus(-D(x_real)).mean() + F.softplus(D(x_fake)).mean()":
                       "scores = D(torch.cat([x_real, x_fake]))\n"
                       "loss = F.softplus(-scores[:len(x_real)]).mean() + F.softplus(scores[len(x_real):]).mean()"}),
        Wrong("real and fake swapped", cause=r"real and fake swapped",
              replace={"F.softplus(-D(x_real)).mean() + F.softplus(D(x_fake)).mean()":
                       "F.softplus(D(x_real)).mean() + F.softplus(-D(x_fake)).mean()"}),
        Wrong("old gradients not cleared", cause=r"zero_grad", replace={"opt_d.zero_grad()\n": ""}),
        Wrong("no optimizer step", cause=r"opt_d\.step", replace={"opt_d.step()\n": ""}),
    ],
    "ex4-train-loop": [
        Wrong("the G step inside the k loop", cause=r"G step inside the k loop",
              replace={"        d_losses.append(d_step(x_real, z))\n    g_losses.append(g_step())":
                       "        d_losses.append(d_step(x_real, z))\n        g_losses.append(g_step())"}),
        Wrong("one iteration too many", cause=r"one iteration too many",
              replace={"for _ in range(steps):": "for _ in range(steps + 1):"}),
        Wrong("one real batch reused for all k D steps", cause=r"fresh real batch",
              replace={"    for _ in range(k):\n        x_real = sample_real(batch_size, generator)\n":
                       "    x_real = sample_real(batch_size, generator)\n    for _ in range(k):\n"}),
        Wrong("codes from torch.randn", cause=r"given generator",
              replace={"z = G.sample_z(batch_size, generator)": "z = torch.randn(batch_size, G.latent_dim)"}),
        Wrong("the two lists returned swapped", cause=r"two lists swapped",
              replace={"return d_losses, g_losses": "return g_losses, d_losses"}),
    ],
}
