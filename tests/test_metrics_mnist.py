"""coursekit.metrics on real MNIST images: the shipped feature network, the image-level
metrics and the sanity checks of issue 6 (damaged "generators" must score worse than real
held-out digits, each on the metric that should catch it).

Sets are small (1,500 digits each) so the whole file runs in well under a minute on 2 CPU
cores; the thresholds leave wide margins over the values measured (noted beside each).
"""
import pytest
import torch

from coursekit import metrics as M
from coursekit.data import mnist


@pytest.fixture(scope="module")
def digits():
    x_test, y_test = mnist("test").tensors(1500)
    x_train, y_train = mnist("train").tensors(1500)
    return x_train, y_train, x_test, y_test


@pytest.fixture(scope="module")
def feats(digits):
    x_train, y_train, x_test, y_test = digits
    g = torch.Generator().manual_seed(0)
    noisy = (x_test + 0.1 * torch.randn(x_test.shape, generator=g)).clamp(0, 1)
    low = x_test[y_test < 5]                       # mode dropping: only digits 0–4
    sets = {"train": x_train, "test": x_test, "noisy": noisy, "dropped": low}
    return {name: M.extract_features(x, progress=False) for name, x in sets.items()}


def test_mnist_feature_network_is_the_shipped_classifier_split_at_layer_17(test_set):
    net = M.feature_network("mnist")
    assert isinstance(net.body[M.MNIST_FEATURE_LAYER], torch.nn.ReLU)
    assert isinstance(net.body[16], torch.nn.Linear) and net.body[16].out_features == 128
    x = test_set[0][:256]
    out = M.extract_features(x, batch_size=100, progress=False)
    assert out.features.shape == (256, 128) and out.probs.shape == (256, 10)
    from coursekit.models import load_pretrained
    from coursekit.train import predict
    logits = predict(load_pretrained("mnist-cnn"), x)
    torch.testing.assert_close(out.probs, logits.softmax(1), rtol=1e-5, atol=1e-6)


def test_fid_on_images_equals_frechet_distance_of_features(digits, feats):
    x_train, _, x_test, _ = digits
    direct = M.fid(x_train[:400], x_test[:400], batch_size=128, progress=False)
    via = M.frechet_distance(feats["train"].features[:400], feats["test"].features[:400])
    assert direct == pytest.approx(via, rel=1e-9)


def test_image_level_friends_equal_the_feature_level_metrics(digits):
    x_train, _, x_test, _ = digits
    a, b = x_train[:150], x_test[:150]  # just above the 128 feature dimensions FID needs
    fa, fb = M.extract_features(a, progress=False), M.extract_features(b, progress=False)
    row = M.evaluate(a, b, kid_subsets=3, kid_subset_size=100, progress=False)
    assert row == M.evaluate_features(fa, fb, kid_subsets=3, kid_subset_size=100)
    assert row["FID"] == M.frechet_distance(fa.features, fb.features)
    assert M.image_kid(a, b, subsets=3, subset_size=100, progress=False) == \
        M.kid(fa.features, fb.features, subsets=3, subset_size=100)
    assert M.image_inception_score(b, progress=False) == M.inception_score(fb.probs)
    assert M.image_precision_recall(a, b, progress=False) == M.precision_recall(fa.features, fb.features)
    _, idx = M.nearest_neighbours(a[:20], a, features="mnist", k=1, progress=False)
    assert torch.equal(idx[:, 0], torch.arange(20))  # in feature space too, a copy finds itself


def test_real_test_digits_score_far_better_than_damaged_generators(feats):
    f = {k: v.features for k, v in feats.items()}
    real = M.frechet_distance(f["train"], f["test"])        # measured ≈ 37
    noisy = M.frechet_distance(f["train"], f["noisy"])      # measured ≈ 390
    dropped = M.frechet_distance(f["train"], f["dropped"])  # measured ≈ 350
    assert 5 * real < dropped and 5 * real < noisy


def test_dropping_digits_lowers_recall_and_inception_score(feats):
    real = M.precision_recall(feats["train"].features, feats["test"].features)
    dropped = M.precision_recall(feats["train"].features, feats["dropped"].features)
    assert dropped.recall < real.recall - 0.3         # half the classes are missing: ≈ 0.43 vs 0.85
    assert dropped.precision > 0.7                     # ... but what is there looks real
    is_real = M.inception_score(feats["test"].probs)[0]
    is_dropped = M.inception_score(feats["dropped"].probs)[0]
    assert is_real > 9 and is_dropped < 5.5            # IS ≈ classes covered: ≈ 9.5 vs 4.9


def test_noise_lowers_precision(feats):
    real = M.precision_recall(feats["train"].features, feats["test"].features)
    noisy = M.precision_recall(feats["train"].features, feats["noisy"].features)
    assert noisy.precision < real.precision - 0.2  # measured ≈ 0.47 against ≈ 0.85


def test_copies_are_caught_by_nearest_neighbours_not_by_fid(digits, feats):
    x_train, _, x_test, _ = digits
    copies = x_train[:200]
    dist, idx = M.nearest_neighbours(copies, x_train, features="pixels", k=2, progress=False)
    assert torch.equal(idx[:, 0], torch.arange(200)) and dist[:, 0].max() < 1e-6
    dist_new, _ = M.nearest_neighbours(x_test[:200], x_train, features="pixels", k=1, progress=False)
    assert dist_new.min() > 1.0  # fresh test digits are never copies of the training set


def test_image_level_metrics_reject_bad_images(test_set):
    x = test_set[0][:300]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.fid(x * 255, x, progress=False)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        M.fid(bad, x, progress=False)
    with pytest.raises(ValueError, match=r"shape \(N, 1, 28, 28\)"):
        M.fid(torch.rand(300, 1, 32, 32), x, progress=False)
    with pytest.raises(ValueError, match="features must be one of"):
        M.fid(x, x, features="vgg", progress=False)


def test_inception_without_cached_weights_is_a_clear_error(test_set, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    M.features._cached_network.cache_clear()
    with pytest.raises(FileNotFoundError, match="not there and coursekit does not download"):
        M.fid(test_set[0][:10], test_set[0][:10], features="inception", progress=False)


def test_inception_from_the_cache_gives_pool_features_and_imagenet_probabilities(tmp_path, monkeypatch):
    # No download possible here: put randomly initialised Inception-v3 weights where the torch
    # cache keeps the real ones, and check the code path (shapes, 1-channel input, resizing).
    from torchvision.models import inception_v3
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    M.features._cached_network.cache_clear()
    path = M.features.inception_weights_path()
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), path)
    out = M.extract_features(torch.rand(2, 1, 28, 28), features="inception", progress=False)
    M.features._cached_network.cache_clear()
    assert out.features.shape == (2, 2048) and out.probs.shape == (2, 1000)
    torch.testing.assert_close(out.probs.sum(1), torch.ones(2))


def test_extraction_leaves_the_images_and_the_shipped_model_alone(test_set):
    x = test_set[0][:100]
    x0 = x.clone()
    net = M.feature_network("mnist")
    state = {k: v.clone() for k, v in net.state_dict().items()}
    M.extract_features(x, progress=False)
    assert torch.equal(x, x0) and not net.training
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())


def test_classification_accuracy_score_prefers_complete_labelled_data(digits):
    # Ravuri & Vinyals 2019: train on the "generated" set, test on real digits. A small MLP,
    # 2 epochs on 1,000 digits (measured ≈ 0.73), against the same without digits 5–9
    # (measured ≈ 0.48: it can at best get the 0–4 part of the test digits right, 53.2%).
    x_train, y_train, x_test, y_test = digits
    x, y = x_train[:1000], y_train[:1000]
    full = M.classification_accuracy_score(x, y, x_test, y_test, arch="mnist-mlp", epochs=2)
    keep = y < 5
    dropped = M.classification_accuracy_score(x[keep], y[keep], x_test, y_test,
                                              arch="mnist-mlp", epochs=2)
    assert dropped < 0.54 and full > dropped + 0.15  # 0.532 = share of 0–4 in x_test: the bound
