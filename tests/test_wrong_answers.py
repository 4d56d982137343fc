"""The exercises' visible self-checks catch the mistakes they teach (tools/wrong_answers.py).

For every notebook with exercises: each wrong answer in its table (tests/wrong_answers/) fails
the visible checks of the released version with a message naming its cause, every single-change
mutant of a solution that the hidden tests reject fails the visible checks too (at least 95% of
them, per notebook), no failure comes with an empty message, and the correct solution passes.
"""
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from coursekit.grading import exercise_notebooks
from coursekit.grading.exercises import validate_notebook
from tools.wrong_answers import TABLES, load_table, run, summary

NOTEBOOKS = exercise_notebooks()
MIN_WRONG_PER_EXERCISE = 3
MIN_CATCH_RATE = 0.95
# (notebook, test) -> what is still missing. Such a test is expected to fail (strictly: it
# fails the suite once it passes, so the entry is removed as soon as the work lands).
PENDING: dict[tuple[str, str], str] = {}


def pending(request, notebook: str) -> None:
    reason = PENDING.get((notebook, request.node.originalname))
    if reason:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_a_table_of_wrong_answers(path, request):
    pending(request, path.stem)
    table = load_table(path)
    assert table, f"no {TABLES / (path.stem + '.py')}"
    for exercise in validate_notebook(path).exercises:
        assert len(table.get(exercise.solution_id, [])) >= MIN_WRONG_PER_EXERCISE, (
            f"{path.name}: exercise {exercise.solution_id} lists fewer than {MIN_WRONG_PER_EXERCISE} wrong answers")


@pytest.fixture(scope="module")
def reports(request):
    """{notebook: future report} for every notebook this run's tests ask for, two computed at a
    time: each worker is one process with one thread, so two fill the two cores of CI."""
    wanted = []
    for item in request.session.items:
        notebook = getattr(getattr(item, "callspec", None), "params", {}).get("report")
        if item.module is request.module and notebook is not None and notebook not in wanted:
            wanted.append(notebook)
    pool = ThreadPoolExecutor(max_workers=2)
    yield {notebook: pool.submit(run, notebook) for notebook in wanted}
    pool.shutdown(cancel_futures=True)


@pytest.fixture(scope="module", params=NOTEBOOKS, ids=lambda p: p.stem)
def report(request, reports):
    return reports[request.param].result()


@pytest.mark.slow
def test_the_correct_solutions_pass_their_visible_checks(report, request):
    pending(request, report['notebook'].removesuffix('.ipynb'))
    failing = {r["exercise"] for r in report["results"] if r["baseline"] != "same"}
    assert not failing, f"{report['notebook']}: the correct solution fails the checks of {sorted(failing)}"


@pytest.mark.slow
def test_each_wrong_answer_of_the_table_fails_with_its_cause(report, request):
    pending(request, report['notebook'].removesuffix('.ipynb'))
    problems = []
    for r in (r for r in report["results"] if r["origin"] == "table"):
        if r["verdict"] != "caught":
            problems.append(f"{r['exercise']} / {r['what']}: {r['verdict']} ({r['message'][:200]})")
        elif not re.search(r["cause"], r["message"], re.IGNORECASE):
            problems.append(f"{r['exercise']} / {r['what']}: the message does not name the cause "
                            f"/{r['cause']}/: {r['message'][:300]}")
    assert not problems, f"{report['notebook']}:\n" + "\n".join(problems)


@pytest.mark.slow
def test_mutants_that_change_the_result_fail_the_visible_checks(report, request):
    pending(request, report['notebook'].removesuffix('.ipynb'))
    stats = summary(report)
    caught = sum(s["caught"] for s in stats.values())
    escaped = [r for r in report["results"] if r["origin"] == "mutant" and r["verdict"] == "escaped"]
    changed = caught + len(escaped)
    rate = caught / changed if changed else 1.0
    detail = "\n".join(f"  {r['exercise']}: {r['what']}\n    {r['code'][:300]}" for r in escaped)
    assert rate >= MIN_CATCH_RATE, (f"{report['notebook']}: the visible checks catch {rate:.0%} of {changed} "
                                    f"wrong results (goal {MIN_CATCH_RATE:.0%}); these escape:\n{detail}")


@pytest.mark.slow
def test_no_failure_has_an_empty_message(report, request):
    pending(request, report['notebook'].removesuffix('.ipynb'))
    empty = [f"{r['exercise']} / {r['what']}" for r in report["results"]
             if r["verdict"] == "caught" and not re.sub(r"^\w+:\s*", "", r["message"]).strip()]
    assert not empty, f"{report['notebook']}: failures without a message: {empty}"
