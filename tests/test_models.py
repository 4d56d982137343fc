import json

import pytest
import torch

from coursekit.models import MnistCNN, MnistMLP, available, build, load_checkpoint, load_pretrained
from coursekit.models.pretrained import read_manifest, register, sha256
from coursekit.train import accuracy


def test_shipped_cnn_scores_at_least_99_percent(test_set):
    # The bar the course sets for its standard classifier (issue 2); a two-stage CNN of this
    # size is expected to land around 99.3-99.5% (cf. LeCun et al. 1998, LeNet-5: 99.05%).
    model = load_pretrained("mnist-cnn")
    x, y = test_set
    acc = accuracy(model, x, y)
    assert acc >= 0.99, f"mnist-cnn test accuracy {acc:.4f} < 0.99"
    recorded = read_manifest()["mnist-cnn"]["metrics"]["test_accuracy"]
    assert acc == pytest.approx(recorded, abs=1e-4), "accuracy differs from the manifest's figure"


def test_shipped_mlp_matches_its_recorded_accuracy(test_set):
    x, y = test_set
    acc = accuracy(load_pretrained("mnist-mlp"), x, y)
    assert acc == pytest.approx(read_manifest()["mnist-mlp"]["metrics"]["test_accuracy"], abs=1e-4)
    assert acc >= 0.97


def test_shipped_files_are_small_and_checksummed():
    manifest = read_manifest()
    assert {"mnist-cnn", "mnist-mlp"} <= set(available())
    from coursekit.config import pretrained_dir
    for name, entry in manifest.items():
        path = pretrained_dir() / entry["file"]
        assert sha256(path) == entry["sha256"], name
        assert entry["command"] == f"python -m coursekit.pretrain {name}"
    assert (pretrained_dir() / manifest["mnist-cnn"]["file"]).stat().st_size < 2_000_000


def test_loaded_model_is_in_eval_mode_and_takes_unit_range_images(test_set):
    model = load_pretrained("mnist-cnn")
    assert not model.training
    x, _ = test_set
    logits = model(x[:4])
    assert logits.shape == (4, 10)
    # normalisation is the model's first layer: a batch in [0, 1] goes in as it is
    assert type(model[0]).__name__ == "Normalize"


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ValueError, match="mnist-cnn"):
        load_pretrained("mnist-resnet-9000")


def test_tampered_file_fails_loudly(data_copy):
    path = data_copy / "pretrained" / "mnist-cnn.pt"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"mnist-cnn\.pt.*sha256.*coursekit\.pretrain mnist-cnn"):
        load_pretrained("mnist-cnn")


def test_missing_file_says_how_to_rebuild(data_copy):
    (data_copy / "pretrained" / "mnist-cnn.pt").unlink()
    with pytest.raises(FileNotFoundError, match="python -m coursekit.pretrain mnist-cnn"):
        load_pretrained("mnist-cnn")


def test_mismatched_architecture_fails_loudly(data_copy):
    # a valid MLP checkpoint recorded under the CNN's name, checksum and all
    folder = data_copy / "pretrained"
    register("mnist-cnn", MnistMLP(), "mnist-mlp", {}, {}, folder=folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["mnist-cnn"]["arch"] = "mnist-cnn"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="holds a 'mnist-mlp' model, expected 'mnist-cnn'"):
        load_pretrained("mnist-cnn")


def test_checkpoint_that_does_not_fit_its_architecture(tmp_path):
    path = tmp_path / "odd.pt"
    torch.save({"arch": "mnist-cnn", "kwargs": {}, "state_dict": MnistCNN(c1=8).state_dict()}, path)
    with pytest.raises(ValueError, match="does not fit the 'mnist-cnn' architecture"):
        load_checkpoint(path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable coursekit checkpoint"):
        load_checkpoint(path)


def test_build_rejects_unknown_architecture():
    with pytest.raises(ValueError, match="arch must be one of"):
        build("mnist-transformer")


def test_data_readme_lists_every_shipped_file_with_its_checksum():
    import re

    from coursekit.config import data_dir
    text = (data_dir() / "README.md").read_text()
    listed = dict(re.findall(r"^\| `([^`]+)` \| [\d,]+ \| `([0-9a-f]{64})` \|$", text, re.M))
    shipped = {p.relative_to(data_dir()).as_posix(): sha256(p)
               for p in data_dir().rglob("*") if p.is_file() and p.suffix in {".gz", ".pt"}}
    assert listed == shipped, "data/README.md is stale: `python -m coursekit.pretrain` rewrites it"


def test_small_cnn_activation_swaps_every_relu_and_keeps_the_weights_layout():
    relu = build("mnist-cnn-small")
    silu = build("mnist-cnn-small", activation="silu")
    assert sum(isinstance(m, torch.nn.ReLU) for m in relu) == 3
    assert sum(isinstance(m, torch.nn.SiLU) for m in silu) == 3
    assert not any(isinstance(m, torch.nn.ReLU) for m in silu)
    silu.load_state_dict(relu.state_dict())       # same parameters, so checkpoints load across
    with pytest.raises(ValueError, match="activation must be one of"):
        build("mnist-cnn-small", activation="tanh")
