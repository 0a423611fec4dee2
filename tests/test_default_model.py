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
