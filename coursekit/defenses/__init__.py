"""Defenses against adversarial examples, each with the attack that knows about it.

=======================  ==================================================================
module                   what it holds
=======================  ==================================================================
``certify``              certification over the whole ε-ball: :func:`margin_lower_bounds`,
                         :func:`certify`, :func:`certified_accuracy`, with either bound:
``ibp``                  interval bound propagation (Gowal et al. 2018):
                         :func:`interval_bounds`, :func:`interval_step`
``wong_kolter``          the dual network of Wong & Kolter 2018: :func:`wong_kolter_bounds`
``bounds``               what both bounds share: the layers, the ε-ball as a box, the margins
``certified_training``   :func:`train_ibp`, IBP training with an ε ramp (Gowal et al. 2018)
``detector``             the safety net: :class:`ActivationDetector` (Metzen et al. 2017),
                         :func:`fit_detector`, :class:`RejectOrClassify`,
                         :func:`detector_aware_attack` (Carlini & Wagner 2017)
``ensemble``             :class:`Ensemble`, the average of logits or probabilities
``randomized``           failed defenses as switches: :class:`GaussianNoiseDefense`,
                         :func:`with_test_time_dropout` (weight decay: ``train_classifier``);
                         :func:`smoothing_radius_bound`, what randomized smoothing can certify
``frontend``             :class:`SparsifyingFrontEnd` (top-K DCT), :class:`BPDA`
``adaptive``             :func:`pgd_attack`, :func:`eot_attack`, :func:`naive_vs_adaptive`
``adversarial``          adversarial training with a pluggable inner attack (FGSM, fast
                         FGSM, PGD; mixed loss; logit pairing): :class:`AdvRecipe`,
                         :data:`RECIPES`, :func:`adversarial_training`, :func:`robust_accuracy`
``robust_model``         a defended MNIST model from a recipe: :func:`train_defended` (the
                         shipped ones' recipes are in ``coursekit.pretrain.defended``)
``static``               training on a static adversarial set (the lecture's cheaper idea)
``plots``                :func:`plot_history`, the held-out curves of adversarial training
``train``                the DDP-ready entry point ``torchrun -m coursekit.defenses.train``
``lineup``               notebook 02's defenses, built one way for the notebook and for the
                         stored table (``python -m coursekit.defenses.lineup``)
``scoreboard``           one table of defenses × attacks (:class:`Defense`, :class:`AttackBudget`,
                         :func:`evaluate_defense`, :func:`defense_table`, :func:`format_table`),
                         with APGD, Square and AutoAttack columns on request;
                         :func:`gradient_masking_checks` measures a row for one model
``masking``              the one gradient-masking checklist read off a row of that table
                         (:func:`masking_checklist`)
=======================  ==================================================================
"""
from .adversarial import (RECIPES, AdvRecipe, accuracy_under_attack, adversarial_loss,
                          adversarial_training, fast_fgsm, held_out_accuracies, inner_attack,
                          robust_accuracy)
from .plots import plot_history
from .robust_model import TrainedModel, load_recipe_record, train_defended
from .static import static_adversarial_set, static_adversarial_training
from .adaptive import eot_attack, naive_vs_adaptive, pgd_attack
from .certified_training import ibp_loss, train_ibp, worst_case_logits
from .certify import certified_accuracy, certify, margin_lower_bounds
from .ibp import interval_bounds, interval_step
from .wong_kolter import wong_kolter_bounds
from .detector import (ActivationDetector, RejectOrClassify, detection_report,
                       detector_aware_attack, fit_detector, train_detector)
from .ensemble import Ensemble
from .frontend import BPDA, SparsifyingFrontEnd, dct2, idct2, sparsified_classifier
from .randomized import GaussianNoiseDefense, smoothing_radius_bound, with_test_time_dropout
from .masking import masking_checklist
from .scoreboard import (AttackBudget, Defense, defense_table, evaluate_defense, format_masking_report,
                         format_table, gradient_masking_checks)

# The shipped classifiers trained to resist attacks (notebook 02); every other shipped MNIST
# classifier was trained the ordinary way. Their recipes are in coursekit.pretrain.defended
# (ROBUST_RECIPES, CERTIFIED_RECIPES, VARIANTS; a test keeps this list in step with them).
DEFENDED_MODELS = ("mnist-cnn-robust", "mnist-cnn-trades", "mnist-certified", "mnist-cnn-fgsm",
                   "mnist-cnn-alp", "mnist-cnn-mixed", "mnist-cnn-pgd")

__all__ = [
    "DEFENDED_MODELS", "RECIPES", "AdvRecipe", "TrainedModel", "accuracy_under_attack", "adversarial_loss",
    "adversarial_training", "fast_fgsm", "held_out_accuracies", "inner_attack", "plot_history",
    "robust_accuracy",
    "static_adversarial_set", "static_adversarial_training", "train_defended", "load_recipe_record",
    "certified_accuracy", "certify", "ibp_loss", "interval_bounds", "margin_lower_bounds",
    "train_ibp", "wong_kolter_bounds", "worst_case_logits",
    "ActivationDetector", "BPDA", "Ensemble", "GaussianNoiseDefense", "RejectOrClassify",
    "SparsifyingFrontEnd", "dct2", "detection_report", "detector_aware_attack", "eot_attack",
    "fit_detector", "format_masking_report", "gradient_masking_checks", "idct2",
    "naive_vs_adaptive", "pgd_attack",
    "interval_step", "smoothing_radius_bound", "sparsified_classifier", "train_detector",
    "with_test_time_dropout",
    "AttackBudget", "Defense", "defense_table", "evaluate_defense", "format_table",
    "masking_checklist",
]
