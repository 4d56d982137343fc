"""The loss zoo and the tips of notebook 05 (the coursekit.gan.zoo package), and the stored full results."""
import json
import math
import statistics

import pytest
import torch

from coursekit.gan import LOSSES
from coursekit.gan import zoo
from coursekit.gan.zoo import experiment
from coursekit.gan.zoo.store import _encode


def test_digit_coverage_by_hand():
    # 100 samples: 60 confident 3s, 30 confident 7s, 9 unsure, 1 confident 5 (1% exactly)
    probs = torch.full((100, 10), 0.01)
    probs[:60, 3], probs[60:90, 7], probs[90:99, 1], probs[99, 5] = 0.91, 0.91, 0.5, 0.91
    c = zoo.digit_coverage(probs, min_share=0.01, confidence=0.9)
    assert c == {"digits_covered": 3, "confident": pytest.approx(0.91)}
    assert zoo.digit_coverage(probs, min_share=0.02)["digits_covered"] == 2
    with pytest.raises(ValueError, match="probs must have shape"):
        zoo.digit_coverage(torch.zeros(0, 10))


def test_tip_settings_change_one_thing():
    assert zoo.tip_settings("ttur", "mnist") == pytest.approx({"lr_d": 4e-4, "lr_g": 1e-4})  # DCGAN 2e-4 ×2, ×½
    assert zoo.tip_settings("ttur", "ring") == pytest.approx({"lr_d": 2e-3, "lr_g": 5e-4})
    assert zoo.tip_settings("k=5", "ring") == {"k": 5}
    assert zoo.tip_settings("label-smoothing", "mnist") == {"real_label": 0.9}
    assert zoo.tip_settings("virtual-bn", "mnist") == {"norm": "virtual"}
    with pytest.raises(ValueError, match="tip must be one of"):
        zoo.tip_settings("virtual-bn", "ring")


def test_mean_std_uses_bessels_correction():
    assert zoo.mean_std([1.0, 2.0, 6.0]) == pytest.approx((3.0, math.sqrt(7.0)))
    assert zoo.mean_std([4.0]) == (4.0, 0.0)


def test_compare_by_hand():
    rows = [{"fid": 10.0, "modes": 8}, {"fid": 12.0, "modes": 8}, {"fid": 14.0, "modes": 8}]
    base = [{"fid": 20.0, "modes": 6}, {"fid": 22.0, "modes": 8}, {"fid": 24.0, "modes": 8}]
    # difference −10, standard error √(4/3 + 4/3) = 1.633, Welch's ν = (8/3)² / (2·(4/3)²/2) = 4,
    # t_{0.975, 4} = 2.7764 (any t table): the interval −10 ± 4.53 excludes 0, lower FID is better
    c = zoo.compare(rows, base, "fid")
    assert c["difference"] == pytest.approx(-10.0) and c["standard_error"] == pytest.approx(math.sqrt(8 / 3))
    assert c["df"] == pytest.approx(4.0) and c["half_width"] == pytest.approx(2.7764 * math.sqrt(8 / 3), rel=1e-4)
    assert c["verdict"] == "better" and zoo.compare(base, rows, "fid")["verdict"] == "worse"
    # modes: +0.67 against se √(0 + 1.333/3) = 0.667 with ν = 2 (t = 4.303): no clear difference
    m = zoo.compare(rows, base, "modes")
    assert m["df"] == pytest.approx(2.0) and m["verdict"] == "no clear difference"
    assert zoo.compare(rows, rows, "fid")["verdict"] == "no clear difference"  # se 0, difference 0


def test_compare_does_not_count_two_standard_errors_as_clear_with_three_seeds():
    # difference −4.5, se 1.633 (2.76 se): beyond two standard errors, inside ± t_4·se = ± 4.53
    a, b = [{"fid": v} for v in (0.0, 2.0, 4.0)], [{"fid": v} for v in (4.5, 6.5, 8.5)]
    c = zoo.compare(a, b, "fid")
    assert 2 * c["standard_error"] < -c["difference"] < c["half_width"]
    assert c["verdict"] == "no clear difference"
    # no spread on either side: any difference is clear
    assert zoo.compare([{"fid": 1.0}] * 3, [{"fid": 2.0}] * 3, "fid")["verdict"] == "better"
    with pytest.raises(ValueError, match="at least 2 seeds"):
        zoo.compare(a[:1], b, "fid")
    with pytest.raises(ValueError, match="level must be in"):
        zoo.compare(a, b, "fid", level=1.5)


def test_samples_round_trip():
    images = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    back = zoo.decode_samples(_encode(images, "images"))
    assert back.shape == images.shape and (back - images).abs().max() <= 0.5 / 255 + 1e-6
    points = torch.randn(50, 2, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(zoo.decode_samples(_encode(points, "points")), points, atol=2e-3)  # float16


TINY = zoo.ZooConfig(seeds=(0, 1), ring_steps=4, mnist_steps=2, n_eval=150, n_curve=1)


def test_run_zoo_end_to_end_and_resume(tmp_path, monkeypatch):
    real_features = zoo.mnist_features
    monkeypatch.setattr(experiment, "mnist_features", lambda x: real_features(x[:300]))  # 300 test digits: fast
    out = tmp_path / "zoo.json"
    first = zoo.run_zoo(TINY, losses=("non-saturating", "wgan"), tips=("ttur", "virtual-bn"), out=out, progress=False)
    assert first["complete"] and json.loads(out.read_text())["complete"]
    assert [r["seed"] for r in first["losses"]["ring"]["wgan"]] == [0, 1]
    assert set(first["tips"]["mnist"]) == {"ttur", "virtual-bn"} and set(first["tips"]["ring"]) == {"ttur"}
    assert set(first["losses"]["mnist"]) == {"non-saturating", "wgan"} | set(zoo.EXTRA)  # the extra rows: MNIST only
    assert set(first["losses"]["ring"]) == {"non-saturating", "wgan"}
    assert first["summary"]["losses"] == zoo.summarise(first["losses"])
    assert "non-saturating (baseline)" in zoo.format_table(first, "tips")
    # an interrupted file: only the missing runs are computed again
    saved = json.loads(out.read_text())
    saved["complete"] = False
    saved["losses"]["ring"]["wgan"].pop()
    out.write_text(json.dumps(saved))
    calls = []
    real_run_ring = zoo.run_ring
    monkeypatch.setattr(experiment, "run_ring", lambda *a, **k: calls.append(a) or real_run_ring(*a, **k))
    again = zoo.run_zoo(TINY, losses=("non-saturating", "wgan"), tips=("ttur", "virtual-bn"), out=out, progress=False)
    assert calls == [("wgan", 1, TINY.ring_steps)]
    rows = lambda r: [(x["seed"], x["modes_covered"], x["high_quality"]) for x in r["losses"]["ring"]["wgan"]]  # noqa: E731
    assert rows(again) == rows(first)  # seeded runs repeat exactly
    with pytest.raises(ValueError, match="losses must come from"):
        zoo.run_zoo(TINY, losses=("vanilla",))


def test_two_worker_processes_store_the_rows_one_process_stores():
    # each run seeds itself, so its row does not depend on the process (a one-thread worker)
    # that made it; the rows come back in the plan's order
    def without_seconds(results):
        return {part: {problem: {name: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
                                 for name, rows in by_name.items()}
                       for problem, by_name in results[part].items()} for part in ("losses", "tips")}

    kwargs = dict(losses=("hinge",), tips=(), extra=(), progress=False)
    one, two = (zoo.run_zoo(TINY, workers=w, **kwargs) for w in (1, 2))
    assert [r["seed"] for r in two["losses"]["mnist"]["hinge"]] == [0, 1]
    assert without_seconds(two) == without_seconds(one)
    assert two["samples"] == one["samples"] and two["machine"]["processes"] == 2
    for bad in (0, 1.5, "2"):
        with pytest.raises(ValueError, match="workers must be an int >= 1"):
            zoo.run_zoo(TINY, workers=bad, **kwargs)


def test_command_line_quick_run(tmp_path, capsys):
    out = tmp_path / "quick.json"
    zoo.main(["--quick", "--out", str(out), "--losses", "hinge", "--tips", "--problems", "ring"])
    saved = json.loads(out.read_text())
    assert saved["complete"] and saved["config"]["ring_steps"] == zoo.QUICK.ring_steps
    assert list(saved["losses"]["ring"]) == ["hinge"] and saved["tips"] == {"ring": {}}
    assert "| hinge |" in capsys.readouterr().out



def test_python_dash_m_runs_the_command_line():
    # `python -m coursekit.gan.zoo` (the package's __main__.py) is the documented command
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "coursekit.gan.zoo", "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {zoo.COMMAND}") and "--quick" in done.stdout
    assert "Are GANs Created Equal?" in done.stdout  # the package docstring describes the experiment

# ---------------------------------------------------------------- the stored full results

@pytest.fixture(scope="module")
def stored():
    return zoo.load_results()


def test_stored_zoo_is_the_full_experiment(stored):
    assert stored["complete"] and stored["command"] == zoo.COMMAND
    assert stored["config"] == json.loads(json.dumps(zoo.ZooConfig().__dict__))  # made with FULL
    assert stored["wall_seconds"] > 0
    assert len(stored["config"]["seeds"]) >= 3
    for problem in ("ring", "mnist"):
        extra = {name for name, problems in zoo.EXTRA_PROBLEMS.items() if problem in problems}
        assert set(stored["losses"][problem]) == set(LOSSES) | extra
        for name, rows in stored["losses"][problem].items():
            assert sorted(r["seed"] for r in rows) == sorted(stored["config"]["seeds"]), (problem, name)
    for tip, problems in zoo.TIP_PROBLEMS.items():
        for problem in problems:
            assert sorted(r["seed"] for r in stored["tips"][problem][tip]) == sorted(stored["config"]["seeds"])
        assert stored["tip_settings"][tip] == {p: zoo.tip_settings(tip, p) for p in problems}


def test_stored_summary_recomputes_from_the_per_seed_numbers(stored):
    for part in ("losses", "tips"):
        for problem, by_name in stored[part].items():
            for name, rows in by_name.items():
                for metric in zoo.METRICS[problem]:
                    values = [r[metric] for r in rows]
                    mean, std = stored["summary"][part][problem][name][metric]
                    assert mean == pytest.approx(statistics.fmean(values), abs=1e-9)
                    assert std == pytest.approx(torch.tensor(values, dtype=torch.float64).std().item(), abs=1e-9)


def test_stored_rows_are_plausible(stored):
    for problem, by_name in stored["losses"].items():
        for rows in by_name.values():
            for r in rows:
                if problem == "ring":
                    assert 0 <= r["modes_covered"] <= 8 and 0 <= r["high_quality"] <= 1
                else:
                    assert r["fid"] > 0 and 0 <= r["digits_covered"] <= 10 and 0 <= r["confident"] <= 1
                    assert [s for s, _ in r["fid_curve"]][-1] == stored["config"]["mnist_steps"]
                assert r["seconds"] > 0
    for problem, by_name in stored["samples"].items():
        for name, entry in by_name.items():
            shape = (500, 2) if problem == "ring" else (8, 1, 28, 28)
            assert tuple(zoo.decode_samples(entry).shape) == shape, (problem, name)
