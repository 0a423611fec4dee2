import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_default_model_is_built_exactly_once_under_a_multi_process_launch(tmp_path):
    build_log = tmp_path / "builds.jsonl"
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        str(REPO_ROOT / "tests" / "build_once_probe.py"),
        str(tmp_path / "tiny-story"),
    ]
    env = {**os.environ, "BUILD_LOG": str(build_log), "ACCELERATE_USE_CPU": "true"}
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    builds = [json.loads(line) for line in build_log.read_text().splitlines()]
    # One build, by the main process, in a child that does not inherit the launcher's process group.
    assert builds == [{"rank": "0", "launcher_vars_left": False}]


@pytest.mark.slow
def test_default_model_is_built_once_by_machines_that_share_the_checkout(tmp_path):
    # Two machines of a multi-node job: each has its own local main process, and both see one directory.
    build_log = tmp_path / "builds.jsonl"
    command = [sys.executable, str(REPO_ROOT / "tests" / "build_once_probe.py"), str(tmp_path / "tiny-story")]
    env = {**os.environ, "BUILD_LOG": str(build_log), "ACCELERATE_USE_CPU": "true"}
    machines = [subprocess.Popen(command, cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for machine in machines:
        _, stderr = machine.communicate(timeout=300)
        assert machine.returncode == 0, stderr[-3000:]
    assert len(build_log.read_text().splitlines()) == 1


def test_an_embedded_build_that_fails_stops_the_run_with_one_line(tmp_path, monkeypatch):
    import rl_recipes.embedded as embedded
    from rl_recipes.checks import RecipeError

    target = tmp_path / "tiny-tools"
    monkeypatch.setattr(
        embedded, "EMBEDDED_MODELS", [embedded.EmbeddedModel(target, "build_tool_model.py", "x", "1 s")]
    )
    monkeypatch.setattr(embedded.subprocess, "run", lambda command, env: subprocess.CompletedProcess(command, 1))
    with pytest.raises(RecipeError, match=r"^Building the embedded x failed \(exit 1; its message is above\)") as error:
        embedded.ensure_embedded_model(str(target))
    assert "scripts/build_tool_model.py" in str(error.value) and "\n" not in str(error.value)
    assert not embedded.is_built(target)
