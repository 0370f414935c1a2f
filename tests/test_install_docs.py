"""README's install and test commands, requirements*.txt and .ci/run agree, and the runtime needs no test tool."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEST_TOOLS = ("pytest", "hypothesis", "dash[testing]", "selenium")


def requirement_lines(name: str) -> list[str]:
    lines = (REPO / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def readme_block(heading: str) -> list[str]:
    """The lines of the first bash block under a README heading."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, f"no bash block under {heading!r}"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_runtime_requirements_are_pinned_and_hold_no_test_tool():
    runtime = requirement_lines("requirements.txt")
    assert runtime and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", line) for line in runtime), runtime
    names = {line.split("==")[0].lower() for line in runtime}
    assert not names & set(TEST_TOOLS)
    assert {"flask-compress", "brotli"} <= names


def test_test_requirements_add_the_test_tools_to_the_runtime():
    lines = requirement_lines("requirements-test.txt")
    assert lines[0] == "-r requirements.txt"
    # The optional Dask path's own file (requirements-dask.txt) is tested too, so the test tools include it.
    included = [line for line in lines[1:] if line.startswith("-r ")]
    assert included == ["-r requirements-dask.txt"]
    assert requirement_lines("requirements-dask.txt") == ["-r requirements.txt", "dask[distributed]==2026.8.0"]
    lines = [line for line in lines if not line.startswith("-r ")]
    pinned = {line.split("==")[0].lower() for line in lines}
    assert all("==" in line for line in lines)
    assert {"pytest", "hypothesis", "dash[testing]"} <= pinned


def test_readme_quick_start_installs_the_runtime_only_and_starts_the_dashboard():
    (command,) = readme_block("Quick start")
    assert "pip install -r requirements.txt" in command and "requirements-test" not in command
    assert command.startswith("python3 -m venv .venv") and command.endswith(".venv/bin/python -m dashboard")


def test_ci_runs_exactly_the_readme_test_command_after_installing_what_it_needs():
    block = readme_block("Running the tests")
    assert any("apt-get install" in line and "chromium-driver" in line and "python3-venv" in line for line in block)
    assert any("pip install -r requirements-test.txt" in line for line in block)
    test_command = block[-1]
    assert test_command.startswith(".venv/bin/python -m pytest")
    ci = [line for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert "set -euo pipefail" in ci, "CI must stop with a non-zero exit on the first failure"
    assert "pip install -q -r requirements-test.txt" in "\n".join(ci)
    assert ci[-1] == test_command


def test_the_runtime_imports_no_test_tool():
    # The dashboard and the ETL start with every test tool made unimportable, as after `pip install -r
    # requirements.txt` alone.
    blocker = ("import sys, importlib.abc\n"
               "class Block(importlib.abc.MetaPathFinder):\n"
               "    def find_spec(self, name, path=None, target=None):\n"
               "        if name.split('.')[0] in {'pytest', 'hypothesis', 'selenium', '_pytest'}:\n"
               "            raise ImportError('test tool imported at run time: ' + name)\n"
               "sys.meta_path.insert(0, Block())\n"
               "import etl.__main__, etl.pipeline, etl.extract.cli, dashboard.__main__, dashboard.app\n"
               "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", blocker], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
