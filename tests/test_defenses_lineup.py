"""coursekit.defenses.lineup (notebook 02's defenses and the stored table) and the smoothing bound."""
import math

import pytest
import torch
from scipy.stats import norm

from coursekit.defenses import lineup as L
from coursekit.defenses import smoothing_radius_bound
from coursekit.defenses.scoreboard import AUTOATTACK_COLUMNS, AttackBudget, format_table
from coursekit.models.pretrained import read_manifest


def test_smoothing_radius_bound_is_cohen_et_al_with_all_samples_agreeing():
    # p_A = α^(1/n) is the one-sided Clopper–Pearson lower bound when all n samples agree
    for sigma, n, alpha in ((0.3, 1000, 0.001), (0.5, 100_000, 0.001), (0.25, 100, 0.05)):
        assert smoothing_radius_bound(sigma, n, alpha) == pytest.approx(sigma * norm.ppf(alpha ** (1 / n)), rel=1e-9)
    assert smoothing_radius_bound(0.3, 10_000) > smoothing_radius_bound(0.3, 1000)   # more samples, more proof
    with pytest.raises(ValueError, match="n must be"):
        smoothing_radius_bound(0.3, 0)
    with pytest.raises(ValueError, match="alpha must be"):
        smoothing_radius_bound(0.3, 10, alpha=1.0)


def test_comparable_columns_leave_out_spsa_when_its_budget_differs():
    assert L.comparable(L.FULL_BUDGET, L.FULL_BUDGET) == list(L.FULL_BUDGET.columns())
    assert "SPSA" not in L.comparable(L.QUICK_BUDGET, L.FULL_BUDGET)
    assert len(L.comparable(L.QUICK_BUDGET, L.FULL_BUDGET)) == len(L.FULL_BUDGET.columns()) - 1
    # the live rows (no AutoAttack columns) against the stored table (with them): the live ones
    assert L.comparable(L.FULL_BUDGET, L.STORED_BUDGET) == list(L.FULL_BUDGET.columns())
    assert set(L.STORED_BUDGET.columns()) - set(L.FULL_BUDGET.columns()) == set(AUTOATTACK_COLUMNS)


def test_the_lineup_names_every_row_once(cnn):
    names = [d.name for d in L.undefended()] + [d.name for d in L.front_ends(L.shipped("mnist-mlp")[0])] \
        + [d.name for d in L.adversarially_trained()] + [L.certified().name]
    assert len(names) == len(set(names))
    assert all(d.train_seconds > 0 for d in L.adversarially_trained())


# --- the stored table (data/results/defense_table.json) ---------------------------------------

@pytest.fixture(scope="module")
def table():
    return L.load_table()


def test_stored_table_says_how_it_was_made(table):
    assert table["command"] == L.command(table["n_digits"]) and table["n_digits"] >= 100 and table["eps"] == L.EPS
    assert isinstance(table["budget"], AttackBudget) and table["budget"] == L.STORED_BUDGET
    assert table["sizes"] == vars(L.FULL_SIZES)
    assert table["columns"] == list(table["budget"].columns()) and table["versions"]["torch"]
    assert len(table["rows"]) == 18


def test_stored_rows_are_of_the_shipped_weights(table):
    """Each stored row records the sha256 of the shipped weights it measured (its system's and
    mnist-cnn's, the transfer source); a model retrained since has another sha256 in the
    manifest, and its rows must be scored again (`--rows NAME`, then `--merge`)."""
    manifest = read_manifest()
    for label, row in table["rows"].items():
        assert "mnist-cnn" in row["weights"], f"the stored row {label!r} does not say which weights it measured"
        stale = [name for name, sha in row["weights"].items() if manifest[name]["sha256"] != sha]
        assert not stale, f"the stored row {label!r} was scored on other weights of {stale}: score it again"
    for label, name in {**L.ADVERSARIALLY_TRAINED, L.certified().name: "mnist-certified"}.items():
        assert name in table["rows"][label]["weights"], label


def test_stored_table_is_the_full_500_digit_run(table):
    assert table["n_digits"] == 500 and table["command"] == L.COMMAND


def test_command_names_the_digits_unless_default():
    assert L.command(500) == L.COMMAND and L.command(100) == L.COMMAND + " --n 100"


def test_stored_rows_format_and_keep_their_verdicts(table):
    rows = [L.stored_row(table, name) for name in table["rows"]]
    assert format_table(rows, table["budget"]).count("\n") == len(rows) + 1
    failed = {r["name"]: [c for c, ok in r["checks"].items() if not ok] for r in rows}
    assert len(failed["DCT front end, naive PGD"]) >= 2
    # any other flag is the per-digit one: a few digits that only a black box broke, recorded
    for r in rows:
        assert r["checks"]["no digit falls to a black box alone"] == (r["black box alone"] <= 0.005), r["name"]
        if r["name"] != "DCT front end, naive PGD":
            assert failed[r["name"]] in ([], ["no digit falls to a black box alone"]), (r["name"], failed[r["name"]])
    cols = {r["name"]: r for r in rows}
    # robust accuracy is AutoAttack's: it never exceeds PGD-50×10 by more than sampling noise on
    # a random defense, and the adversarially trained rows are the only ones that hold
    for r in rows:
        assert r["AutoAttack"] <= min(r["APGD-CE"], r["Square"], r["clean"]), r["name"]
    trained = [cols[n]["AutoAttack"] for n in L.ADVERSARIALLY_TRAINED if n != "FGSM adversarial training"]
    others = [cols[n]["AutoAttack"] for n in cols
              if n not in L.ADVERSARIALLY_TRAINED or n == "FGSM adversarial training"]
    assert min(trained) >= max(others) + 0.5
    for r in rows:
        assert all(0 <= r[c] <= 1 for c in table["budget"].columns() if not math.isnan(r[c])), r["name"]


def test_parallel_parts_merge_into_one_table(tmp_path):
    # two parts on 2 digits: each scores mnist-cnn first for the transfer attack, keeps only its rows
    kw = dict(budget=L.QUICK_BUDGET, sizes=L.QUICK_SIZES)
    a = L.run_table(2, out=tmp_path / "a.json", sections=("front ends",), rows_only=("DCT front end + BPDA",), **kw)
    b = L.run_table(2, out=tmp_path / "b.json", sections=("undefended", "certified"),
                    rows_only=("mnist-cnn (no defense)", "IBP-certified (ε = 0.1)"), **kw)
    assert list(a["rows"]) == ["DCT front end + BPDA"]
    assert list(b["rows"]) == ["mnist-cnn (no defense)", "IBP-certified (ε = 0.1)"]
    merged = L.merge_tables([tmp_path / "b.json", tmp_path / "a.json"], tmp_path / "table.json")
    assert list(merged["rows"]) == ["mnist-cnn (no defense)", "IBP-certified (ε = 0.1)", "DCT front end + BPDA"]
    sha = {name: entry["sha256"] for name, entry in read_manifest().items()}
    assert merged["rows"]["IBP-certified (ε = 0.1)"]["weights"] == {n: sha[n] for n in ("mnist-certified", "mnist-cnn")}
    assert merged["rows"]["DCT front end + BPDA"]["weights"] == {n: sha[n] for n in ("mnist-mlp", "mnist-cnn")}
    assert merged["cpu_seconds"] == pytest.approx(a["cpu_seconds"] + b["cpu_seconds"], abs=0.2)
    assert L.load_table(tmp_path / "table.json")["budget"] == L.QUICK_BUDGET
    with pytest.raises(ValueError, match="sections must be among"):
        L.lineup(None, None, sections=("nothing",))
