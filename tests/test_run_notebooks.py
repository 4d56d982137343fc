"""tools/run_notebooks.py: the running-time line every notebook's first cell carries."""
import pytest

from tools.run_notebooks import format_duration, recorded, stated_times, with_times

LINE = "**Running time** (measured on a 2-core CPU, no GPU): full mode 3 min 30 s, quick mode 40 s."


def test_reads_both_modes():
    assert stated_times("# 01 · Title\n\nSome text.\n\n" + LINE) == {"full": 210, "quick": 40}


@pytest.mark.parametrize("full, seconds", [("4 min", 240), ("55 s", 55), ("1 min 5 s", 65)])
def test_reads_minutes_or_seconds_alone(full, seconds):
    text = f"**Running time** (measured): full mode {full}, quick mode 1 min."
    assert stated_times(text) == {"full": seconds, "quick": 60}


def test_a_cell_without_the_line_is_refused_with_the_expected_form():
    with pytest.raises(ValueError, match=r"(?s)states no running time.*full mode 3 min 30 s"):
        stated_times("# 01 · Title\n\nIt takes about 10 minutes.")


def test_recording_rounds_up_with_margin_and_replaces_the_line():
    assert recorded(100) == 120          # 115 s → next multiple of 10
    assert recorded(181.2) == 210        # 208.4 → 210
    source = with_times("# T\n\n" + LINE, full_s=recorded(100), quick_s=30)
    assert stated_times(source) == {"full": 120, "quick": 30}
    assert source.count("Running time") == 1
    assert stated_times(with_times("# T", 250, 45)) == {"full": 250, "quick": 45}


def test_format_duration():
    assert [format_duration(s) for s in (40, 120, 130)] == ["40 s", "2 min", "2 min 10 s"]


def test_execute_counts_the_kernels_cpu_time_and_reports_errors(tmp_path):
    """A kernel busy for about a second: its CPU time is counted (it is what a loaded machine's
    wall time cannot tell), and a failing cell comes back as the error's last line."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from tools.run_notebooks import execute

    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0:\n    pass"
    path = tmp_path / "busy.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(busy)]), path)
    wall, cpu, error = execute(path, quick=True, out_dir=None, timeout=60)
    assert error is None
    assert 1.0 <= cpu < wall + 5, (wall, cpu)
    nbformat.write(new_notebook(cells=[new_code_cell("raise ValueError('stated claim is false')")]), path)
    _, _, error = execute(path, quick=True, out_dir=None, timeout=60)
    assert "stated claim is false" in error
