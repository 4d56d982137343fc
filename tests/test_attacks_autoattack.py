"""APGD-CE, APGD-T, Square and the AutoAttack ensemble: the papers' definitions checked piece by
piece, and the robust accuracy they give checked against torchattacks on the same digits.

The cross-checks run on few digits to stay fast; the issue's bar (within 1 point of
torchattacks on 500 digits, for the same budgets) is measured on 500 digits by
``python -m tools.attack_agreement`` and asserted from its stored file
(tests/test_robustness_results.py)."""
import math

import pytest
import torch
import torch.nn.functional as F

from coursekit import attacks as A
from coursekit.attacks.apgd import checkpoints, step_halving
from coursekit.attacks.square import p_schedule
from coursekit.data import mnist
from coursekit.models import load_pretrained

pytestmark = pytest.mark.usefixtures("one_thread")
EPS = 0.3


@pytest.fixture(scope="module")
def robust():
    return load_pretrained("mnist-cnn-robust")


@pytest.fixture(scope="module")
def digits():
    return mnist("test").tensors(200)


def _acc(model, x_adv, y):
    with torch.no_grad():
        return (model(x_adv).argmax(1) == y).float().mean().item()


# ---------------------------------------------------------------- the DLR loss (paper eq. 5, 6)

def test_dlr_loss_by_hand():
    z = torch.tensor([[3.0, 1.0, 2.0, 0.0]])          # sorted: 3, 2, 1, 0
    y, t = torch.tensor([0]), torch.tensor([3])
    assert A.dlr_loss(z, y).item() == pytest.approx(-(3 - 2) / (3 - 1))
    assert A.dlr_loss(z, y, t).item() == pytest.approx(-(3 - 0) / (3 - (1 + 0) / 2))
    # the true class second: the margin is to the top class, and the loss is positive
    assert A.dlr_loss(z, torch.tensor([2])).item() == pytest.approx(-(2 - 3) / (3 - 1))


def test_dlr_loss_is_invariant_to_shifting_and_scaling_the_logits():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(64, 10, generator=g, dtype=torch.float64)   # float64: the shift by 100 cancels digits
    y, t = torch.randint(0, 10, (64,), generator=g), torch.randint(0, 10, (64,), generator=g)
    for a, b in ((7.0, 0.0), (0.01, -3.0), (1.0, 100.0)):
        torch.testing.assert_close(A.dlr_loss(a * z + b, y), A.dlr_loss(z, y))
        torch.testing.assert_close(A.dlr_loss(a * z + b, y, t), A.dlr_loss(z, y, t))
    # cross-entropy is not: scaling the logits up makes a correct prediction's loss vanish
    assert F.cross_entropy(100 * z, y) != pytest.approx(F.cross_entropy(z, y).item())


def test_dlr_loss_is_positive_exactly_when_the_prediction_leaves_y():
    z = torch.randn(500, 10, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 10, (500,), generator=torch.Generator().manual_seed(2))
    assert torch.equal(A.dlr_loss(z, y) > 0, z.argmax(1) != y)


# ---------------------------------------------------------------- APGD (Algorithm 1)

def _paper_checkpoints(n_iter):
    """w_j = ⌈p_j·N_iter⌉, p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)."""
    p_prev, p, out = 0.0, 0.22, []
    while p <= 1:
        out.append(math.ceil(round(p * n_iter, 9)))
        p_prev, p = p, p + max(p - p_prev - 0.03, 0.06)
    return out


@pytest.mark.parametrize("steps", [100, 1000])
def test_checkpoints_follow_the_paper(steps):
    assert checkpoints(steps) == _paper_checkpoints(steps)
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]


def test_step_halving_conditions_by_hand():
    """At a checkpoint after a phase of 20 steps, ρ = 0.75: condition 1 holds below 15 rises."""
    ups = torch.tensor([14.0, 15.0, 20.0, 20.0, 20.0])
    halved_then = torch.tensor([True, True, True, False, False])
    f_max = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.5])
    f_max_then = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0])
    got = step_halving(ups, 20, halved_then, f_max, f_max_then, rho=0.75)
    # 1: too few rises; 2: 15 rises is not fewer than 15; 3: rising and halved last time;
    # 4: not halved last time and no better than then (condition 2); 5: it improved
    assert got.tolist() == [True, False, False, True, False]


def test_apgd_without_its_ideas_is_pgd_with_a_fixed_step(robust, digits):
    x, y = digits[0][:20], digits[1][:20]
    _, info = A.apgd(robust, x, y, EPS, steps=30, step=0.01, momentum=1.0, halving=False,
                     generator=torch.Generator().manual_seed(0), trace=True)
    steps = info["step"][~info["step"].isnan()]
    assert torch.all(steps == 0.01)
    with pytest.raises(ValueError, match="step must be a number > 0"):
        A.apgd(robust, x, y, EPS, step=0)


def test_apgd_step_halving_follows_conditions_1_and_2(robust, digits):
    """Re-derive every halving from the recorded losses: at each checkpoint w_j, η halves exactly
    when (1) f rose in fewer than ρ = 75% of the steps since w_{j−1}, or (2) η was not halved at
    w_{j−1} and the best loss has not improved since (not tested at w_1)."""
    x, y = digits[0][:60], digits[1][:60]
    _, info = A.apgd(robust, x, y, EPS, steps=100, generator=torch.Generator().manual_seed(0),
                     trace=True)
    f, eta = info["loss"], info["step"]                      # (101, N): f(x^(k)), η^(k)
    alive = ~info["fooled"]
    assert alive.sum() >= 40, "the test needs digits that run all 100 steps"
    f, eta = f[:, alive], eta[:, alive]
    assert torch.all(eta[0] == 2 * EPS)
    prev_w, halved_then = 0, torch.ones(f.shape[1], dtype=torch.bool)
    f_prev = f[0].clone()                   # f at the point each step starts from
    f_max = f[0].clone()
    f_max_then = f_max.clone()
    ups = torch.zeros(f.shape[1])
    w = checkpoints(100)
    n_halved = 0
    for k in range(1, 101):
        ups += (f[k] > f_prev).float()
        f_prev = f[k].clone()
        f_max = torch.maximum(f_max, f[k])
        if k in w:
            expect = (ups < 0.75 * (k - prev_w)) | (~halved_then & (f_max <= f_max_then))
            torch.testing.assert_close(eta[k + 1], eta[k] / torch.where(expect, 2.0, 1.0))
            f_prev = torch.where(expect, f_max, f_prev)        # restarted from x_max
            halved_then, f_max_then, prev_w = expect, f_max.clone(), k
            ups.zero_()
            n_halved += int(expect.sum())
        elif k < 100:
            assert torch.equal(eta[k + 1], eta[k]), f"η changed between checkpoints at step {k}"
    assert n_halved > 0, "on a robust model some steps must halve"


def test_apgd_returns_the_best_point_when_it_fails(robust, digits):
    x, y = digits[0][:40], digits[1][:40]
    # 100 steps: the last checkpoint is at 99, so the last iterate is not the best point by luck
    x_adv, info = A.apgd(robust, x, y, EPS, steps=100, generator=torch.Generator().manual_seed(0),
                         trace=True)
    survived = ~info["fooled"]
    assert survived.sum() >= 30
    with torch.no_grad():
        f_adv = F.cross_entropy(robust(x_adv), y, reduction="none")
    best = info["loss"].nan_to_num(float("-inf")).max(0).values
    torch.testing.assert_close(f_adv[survived], best[survived], rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        assert torch.all(robust(x_adv[info["fooled"]]).argmax(1) != y[info["fooled"]])


def test_apgd_batch_equals_one_example_at_a_time(robust, digits):
    model = load_pretrained("mnist-cnn-robust").double()
    x, y = digits[0][:6].double(), digits[1][:6]
    batch = A.apgd(model, x, y, EPS, steps=20, random_start=False)
    single = torch.cat([A.apgd(model, x[i:i + 1], y[i:i + 1], EPS, steps=20, random_start=False)
                        for i in range(len(x))])
    torch.testing.assert_close(batch, single, rtol=0, atol=1e-12)


@pytest.mark.parametrize("attack", ["apgd", "apgd-dlr", "apgd_t", "square"])
def test_stays_in_the_ball_and_the_box_and_is_seeded(robust, digits, attack):
    x, y = digits[0][:32], digits[1][:32]
    run = {"apgd": lambda g: A.apgd(robust, x, y, EPS, steps=10, generator=g),
           "apgd-dlr": lambda g: A.apgd(robust, x, y, EPS, steps=10, loss="dlr", generator=g),
           "apgd_t": lambda g: A.apgd_t(robust, x, y, EPS, steps=5, targets=2, generator=g),
           "square": lambda g: A.square(robust, x, y, EPS, queries=50, generator=g)}[attack]
    rng = torch.get_rng_state()
    x_adv = run(torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), rng), "the global RNG was used"
    assert (x_adv - x).abs().max() <= EPS + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert torch.equal(x_adv, run(torch.Generator().manual_seed(3)))


def test_apgd_t_tries_the_classes_ranked_after_the_true_one(robust, digits):
    x, y = digits[0][:50], digits[1][:50]
    _, info = A.apgd_t(robust, x, y, EPS, steps=20, targets=3,
                       generator=torch.Generator().manual_seed(0), trace=True)
    with torch.no_grad():
        ranked = robust(x).scatter(1, y[:, None], float("-inf")).argsort(1, descending=True)[:, :3]
    broken = info["fooled"]
    assert broken.any() and (~broken).any()
    assert torch.all((ranked[broken] == info["target"][broken, None]).any(1))
    assert torch.all(info["target"][~broken] == -1)
    # a digit that survives runs every target: 3 × (20 steps + the start)
    assert torch.all(info["iterations"][~broken] == 3 * 21)


def test_bad_arguments_are_named(robust, digits):
    x, y = digits[0][:4], digits[1][:4]
    with pytest.raises(ValueError, match="loss must be one of"):
        A.apgd(robust, x, y, EPS, loss="cw")
    with pytest.raises(ValueError, match="rho must be a number in"):
        A.apgd(robust, x, y, EPS, rho=1.5)
    with pytest.raises(ValueError, match="targeted=True needs loss='ce'"):
        A.apgd(robust, x, y, EPS, loss="dlr", targeted=True)
    with pytest.raises(ValueError, match="targets must be at most 9"):
        A.apgd_t(robust, x, y, EPS, targets=10)
    with pytest.raises(ValueError, match="queries must be an int > 0"):
        A.square(robust, x, y, EPS, queries=0)
    with pytest.raises(ValueError, match="p_init must be a share"):
        A.square(robust, x, y, EPS, p_init=2)
    with pytest.raises(ValueError, match="attacks must be distinct names"):
        A.autoattack(robust, x, y, EPS, attacks=("apgd-ce", "fab-t"))


# ---------------------------------------------------------------- Square (Algorithms 1 and 2)

def test_p_schedule_halves_at_the_authors_iterations():
    assert [p_schedule(i, 10_000) for i in (0, 10, 11, 50, 51, 200, 201, 500, 501)] == \
        pytest.approx([0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.1, 0.1, 0.05])
    assert p_schedule(9_000, 10_000) == pytest.approx(0.8 / 512)
    # rescaled to the budget: with 1,000 queries the first halving comes after iteration 1
    assert p_schedule(1, 1_000) == pytest.approx(0.8) and p_schedule(2, 1_000) == pytest.approx(0.4)


def test_square_is_a_black_box_and_counts_its_queries(robust, digits):
    x, y = digits[0][:40], digits[1][:40]
    box = A.QueryCounter(robust)
    x_adv, info = A.square(box, x, y, EPS, queries=300, generator=torch.Generator().manual_seed(0),
                           trace=True)
    assert box.queries == int(info["queries"].sum())
    assert info["queries"].max() <= 300
    fooled = _acc(robust, x_adv, y) < 1
    assert fooled and torch.all(info["queries"][~info["fooled"]] == 300)
    assert torch.all(info["queries"][info["fooled"]] < 300) or info["fooled"].sum() == 0
    # every pixel at a corner of the ε-box (or clipped to [0, 1]): Square's search space
    delta = (x_adv - x).abs()
    at_corner = ((delta - EPS).abs() < 1e-6) | (x_adv == 0) | (x_adv == 1)
    assert at_corner.all()


def test_square_only_accepts_improvements(robust, digits):
    x, y = digits[0][:30], digits[1][:30]
    _, start = A.square(robust, x, y, EPS, queries=1, generator=torch.Generator().manual_seed(0),
                        trace=True)
    x_adv, end = A.square(robust, x, y, EPS, queries=200, generator=torch.Generator().manual_seed(0),
                          trace=True)
    # the same stripes to start from (the first draw); from there the margin only goes down
    assert torch.all(end["margin"] <= start["margin"])
    with torch.no_grad():
        torch.testing.assert_close(A.margin_loss(robust(x_adv), y, False), end["margin"])


# ---------------------------------------------------------------- AutoAttack

@pytest.fixture(scope="module")
def aa(robust, digits):
    x, y = digits[0][:100], digits[1][:100]
    return x, y, A.autoattack(robust, x, y, EPS, steps=20, targets=3, queries=500)


def test_autoattack_report_adds_up(robust, aa):
    x, y, res = aa
    names = [r["attack"] for r in res.report]
    assert names == ["apgd-ce", "apgd-t", "square"]
    accs = [res.clean_accuracy] + [r["robust_accuracy"] for r in res.report]
    assert accs == sorted(accs, reverse=True), "robust accuracy never rises along the ensemble"
    assert res.robust_accuracy == accs[-1] == res.broken_by.count("") / len(x)
    for r in res.report:
        assert r["broke"] == res.broken_by.count(r["attack"])
    assert res.report[0]["ran_on"] == len(x) - res.broken_by.count("clean")
    assert res.report[1]["ran_on"] == res.report[0]["ran_on"] - res.report[0]["broke"]
    assert A.square_only(res) == res.broken_by.count("square") / len(x)


def test_autoattack_x_adv_is_the_worst_case_per_digit(robust, aa):
    x, y, res = aa
    assert (res.x_adv - x).abs().max() <= EPS + 1e-6
    with torch.no_grad():
        pred = robust(res.x_adv).argmax(1)
    broken = torch.tensor([b != "" for b in res.broken_by])
    assert torch.equal(pred != y, broken), "broken digits are fooled at x_adv, robust ones are not"
    with torch.no_grad():   # a survivor's x_adv is the closest call any attack found
        margin_adv, margin_x = A.margin_loss(robust(res.x_adv), y, False), A.margin_loss(robust(x), y, False)
    assert torch.all(margin_adv[~broken] <= margin_x[~broken])
    assert (margin_adv[~broken] < margin_x[~broken]).float().mean() > 0.9


def test_autoattack_is_at_least_as_strong_as_its_first_attack(robust, aa):
    x, y, res = aa
    alone = _acc(robust, A.apgd(robust, x, y, EPS, steps=20, generator=torch.Generator().manual_seed(0)), y)
    assert res.robust_accuracy <= alone


# ---------------------------------------------------------------- against torchattacks

@pytest.fixture(scope="module")
def pgd_trained():
    return load_pretrained("mnist-cnn-pgd")


# Few digits here, so the bar is wider than the (1 point on 500 digits, asserted from the
# stored comparison): two random attacks disagree on the borderline digits, and on 100-200 digits
# one digit is 0.5-1 point. The tolerance is 3 points. What it catches, seen when this test was
# written: APGD-CE descending the loss, Square accepting worse points. What it does not: APGD
# without its step halving, APGD-T with one target (on this model they break as many digits);
# the tests above check those parts one by one.
@pytest.mark.parametrize("attack", ["apgd-ce", "apgd-dlr", "apgd-t", "square"])
def test_robust_accuracy_agrees_with_torchattacks(pgd_trained, digits, attack):
    torchattacks = pytest.importorskip("torchattacks")
    n = {"apgd-ce": 200, "apgd-dlr": 200, "apgd-t": 100, "square": 100}[attack]
    x, y = digits[0][:n], digits[1][:n]
    m = pgd_trained
    g = torch.Generator().manual_seed(0)
    ours, theirs = {
        "apgd-ce": (lambda: A.apgd(m, x, y, EPS, generator=g),
                    lambda: torchattacks.APGD(m, eps=EPS, steps=100, loss="ce")(x, y)),
        "apgd-dlr": (lambda: A.apgd(m, x, y, EPS, loss="dlr", generator=g),
                     lambda: torchattacks.APGD(m, eps=EPS, steps=100, loss="dlr")(x, y)),
        "apgd-t": (lambda: A.apgd_t(m, x, y, EPS, targets=3, generator=g),
                   lambda: torchattacks.APGDT(m, eps=EPS, steps=100, n_classes=4)(x, y)),
        "square": (lambda: A.square(m, x, y, EPS, queries=1000, generator=g),
                   lambda: torchattacks.Square(m, eps=EPS, n_queries=1000)(x, y)),
    }[attack]
    rng = torch.get_rng_state()
    a_ours, a_theirs = _acc(m, ours(), y), _acc(m, theirs(), y)
    torch.set_rng_state(rng)                      # torchattacks reseeds the global generator
    assert abs(a_ours - a_theirs) <= 0.03, (attack, a_ours, a_theirs)
