"""pyproject.toml and environment.yml must declare the same dependencies."""
import re
import tomllib

import coursekit as ck


def _normalise(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ck.ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    listed = []
    for line in (ck.ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"^\s{6}- (.+)$", line)  # entries under `pip:`
        if m and not m.group(1).startswith("-e"):
            listed.append(m.group(1))
    assert sorted(map(_normalise, listed)) == sorted(map(_normalise, declared))
    assert "- -e .[dev]" in (ck.ROOT / "environment.yml").read_text()


def test_dependencies_are_ranges_not_pins():
    project = tomllib.loads((ck.ROOT / "pyproject.toml").read_text())["project"]
    for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert "==" not in req, f"{req}: declare a range, not a pin"
