"""coursekit: the companion package of the course on adversarial examples and GANs.

Notebooks do ``import coursekit as ck`` and find here the course-wide helpers
(quick mode and budgets, seeding, device choice); the implementations live in subpackages
(``ck.data``, ``ck.models``, ``ck.train``, ...).
"""
from .config import ROOT, budget, data_dir, get_device, is_quick, pretrained_dir, seed_all, threads

__version__ = "0.1.0"
__all__ = ["ROOT", "budget", "data_dir", "get_device", "is_quick", "pretrained_dir", "seed_all", "threads"]
