"""CycleGAN: unpaired image-to-image translation with a cycle-consistency loss.

Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks" (https://arxiv.org/abs/1703.10593). Two generators and two
discriminators; symbol table (paper → code → the official repository's names):

    G : X → Y      g_ab    netG_A          D_Y   d_b   netD_A   (judges domain B)
    F : Y → X      g_ba    netG_B          D_X   d_a   netD_B   (judges domain A)

The full objective (eq. 3, plus the identity term of §5.2):

    L = L_GAN(G, D_Y) + L_GAN(F, D_X) + λ·(‖F(G(x)) − x‖₁ + ‖G(F(y)) − y‖₁)     (eq. 2: cycle)
        + λ·λ_id·(‖G(y) − y‖₁ + ‖F(x) − x‖₁)                                   (identity)

with least-squares adversarial losses (§4, "Training details"): G minimises
E[(D(G(x)) − 1)²], D minimises ½·(E[(D(y) − 1)²] + E[D(G(x))²]), and D sees fakes drawn from
a pool of the last 50 generated images (Shrivastava et al. 2017, §3.2). Adam 2e-4, β₁ = 0.5;
the learning rate is constant for 100 epochs, then decays linearly to 0 over 100 more.

Networks (appendix 7.2): the ResNet generator of Johnson et al. 2016 (c7s1-64, d128, d256,
9 residual blocks for 256 px (6 for 128 px), u128, u64, c7s1-3) and the 70×70 PatchGAN
(C64-C128-C256-C512, then a 1-channel convolution), both with instance norm. Built with
the paper's sizes they have 11.378M and 2.765M parameters, the figures the official code
prints ("Total number of parameters : 11.378 M" for G_A, "2.765 M" for D_A).

Images are in [0, 1] as everywhere in the course; the generator maps them to [−1, 1] on the
way in and its tanh output back to [0, 1] on the way out (an affine map, no parameters).

The package, one job per file:

    nets.py        the ResNet generator, the PatchGAN discriminator, the pair G, F
    losses.py      cycle, identity and adversarial losses; the G step and the D step
    training.py    the config and presets, the image pool, the schedule, the training loop
    evaluation.py  translate a set of images; translation accuracy (semantic consistency)

Every name is re-exported here: ``from coursekit.gan.cyclegan import train_cyclegan`` works.
"""

from .evaluation import translate, translation_accuracy
from .losses import (cycle_loss, d_step, discriminator_loss, g_step, generator_adversarial_loss,
                     generator_losses, identity_loss)
from .nets import (CycleGANGenerators, PatchDiscriminator, ResnetBlock, ResnetGenerator,
                   count_parameters, norm_layer, receptive_field)
from .training import (PRESETS, CycleGANConfig, ImagePool, SampleDomain, build_cyclegan,
                       generator_kwargs, get_preset, linear_decay, make_optimizers, train_cyclegan)

__all__ = [
    "CycleGANGenerators", "PatchDiscriminator", "ResnetBlock", "ResnetGenerator", "count_parameters",
    "norm_layer", "receptive_field",
    "cycle_loss", "d_step", "discriminator_loss", "g_step", "generator_adversarial_loss", "generator_losses",
    "identity_loss",
    "PRESETS", "CycleGANConfig", "ImagePool", "SampleDomain", "build_cyclegan", "generator_kwargs",
    "get_preset", "linear_decay", "make_optimizers", "train_cyclegan",
    "translate", "translation_accuracy",
]
