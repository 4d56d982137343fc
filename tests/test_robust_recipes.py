"""The recipes measured for the course's robust model: data/results/robust_recipes.json
(``python -m tools.robust_recipes``). Asserted are properties that survive a library update:
the record of how each figure was made, and figures that follow from the per-digit rows."""
import json
from dataclasses import asdict

import pytest

from tools.robust_recipes import CANDIDATES, COMMAND, N_VAL, default_path

STORED = json.loads(default_path().read_text()) if default_path().is_file() else {"candidates": {}}


def test_the_file_records_its_command_sample_and_machine():
    assert STORED["command"] == COMMAND and STORED["n_val"] == N_VAL and STORED["eps"] == 0.3
    assert {"torch", "python", "cpu_count", "torch_threads"} <= set(STORED["machine"])
    assert STORED["candidates"], "no candidate measured yet"


@pytest.mark.parametrize("name", sorted(STORED["candidates"]))
def test_each_candidate_is_complete_and_its_figures_follow_from_its_rows(name):
    entry = STORED["candidates"][name]
    kwargs, recipe = CANDIDATES[name]
    assert entry["arch_kwargs"] == kwargs and entry["recipe"] == asdict(recipe)
    assert len(entry["history"]) == recipe.epochs and entry["train_cpu_seconds"] > 0
    held = entry["held_out"]
    rows = held["broken_by"]                     # per held-out digit: "clean", an attack, or ""
    assert len(rows) == N_VAL
    assert held["clean"] == pytest.approx(sum(r != "clean" for r in rows) / N_VAL)
    assert held["autoattack"] == pytest.approx(rows.count("") / N_VAL)
    assert held["square_only"] == pytest.approx(rows.count("square") / N_VAL)
    after = list(held["after"].values())         # robust accuracy after each attack, in turn
    assert after == sorted(after, reverse=True) and after[-1] == pytest.approx(held["autoattack"])
    assert held["autoattack"] <= held["clean"] and held["pgd50"] <= held["clean"]


def test_the_public_loader_reads_the_record_and_names_its_command_when_missing(tmp_path):
    from coursekit.defenses import load_recipe_record
    assert load_recipe_record() == STORED
    with pytest.raises(FileNotFoundError, match="python -m tools.robust_recipes"):
        load_recipe_record(tmp_path / "robust_recipes.json")
