"""Evaluating generative models: IS, FID, KID, precision/recall, FID∞, copies, CAS, humans.

Statistics on features (tensors or arrays, float64 inside):
    frechet_distance, gaussian_statistics, fid_infinity, inception_score, kid, precision_recall
On images (features from a named network, batched, any device):
    extract_features, fid, image_inception_score, image_kid, image_precision_recall,
    evaluate (all metrics on two image sets), evaluate_features (the same from features)
Checks beyond the numbers:
    nearest_neighbours (+ show_nearest_neighbours), classification_accuracy_score, error_rate_ci
"""
from .cas import classification_accuracy_score
from .features import (FEATURE_NETWORKS, MNIST_FEATURE_LAYER, Features, extract_features,
                       feature_network)
from .frechet import FIDInfinity, fid_infinity, frechet_distance, gaussian_statistics
from .human import error_rate_ci
from .images import evaluate, evaluate_features, fid, image_inception_score, image_kid, image_precision_recall
from .inception_score import inception_score
from .kid import kid
from .memorisation import nearest_neighbours, show_nearest_neighbours
from .precision_recall import PrecisionRecall, precision_recall

__all__ = [
    "FEATURE_NETWORKS", "MNIST_FEATURE_LAYER", "Features", "extract_features", "feature_network",
    "FIDInfinity", "fid_infinity", "frechet_distance", "gaussian_statistics",
    "inception_score", "kid", "PrecisionRecall", "precision_recall",
    "evaluate", "evaluate_features", "fid", "image_inception_score", "image_kid", "image_precision_recall",
    "nearest_neighbours", "show_nearest_neighbours", "classification_accuracy_score",
    "error_rate_ci",
]
