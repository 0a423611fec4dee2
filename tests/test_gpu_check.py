"""scripts/gpu_check.sh needs a GPU to run; here its syntax and the commands it would run are checked."""

import os
import shlex
import subprocess

import pytest
from accelerate.commands.launch import launch_command_parser

from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_gpu_check_runs_each_gpu_path_for_two_steps_and_the_benchmarks_gpu_mode(tmp_path):
    import yaml

    script = REPO_ROOT / "scripts" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    result = subprocess.run(
        ["bash", str(script), str(tmp_path / "check")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DRY_RUN": "1"},
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    *runs, benchmark = [shlex.split(line) for line in result.stdout.splitlines()]

    seen = set()
    for argv in runs:
        assert argv[:2] == ["accelerate", "launch"]
        launch = launch_command_parser().parse_args(argv[2:])
        assert launch.config_file == "accelerate_configs/single_gpu.yaml"
        flags = launch.training_script_args
        settings = yaml.safe_load((REPO_ROOT / flags[flags.index("--config") + 1]).read_text())
        settings.update(zip(flags[0::2], flags[1::2]))  # flag, value pairs after the YAML, as TrlParser reads them
        assert (settings["--max_steps"], settings["--bf16"]) == ("2", "true")
        assert settings.get("--dtype", settings["dtype"]) == "float32"  # float32 weights, bf16 compute
        seen.add(
            (os.path.basename(launch.training_script), bool(settings.get("use_peft")), settings.get("--vllm_mode"))
        )
    assert {
        ("rloo.py", False, None),
        ("rloo.py", True, None),
        ("rloo.py", False, "colocate"),
        ("reinforce.py", False, None),
        ("grpo.py", False, None),
    } <= seen
    assert benchmark[:2] == ["python", "scripts/benchmark.py"]
    assert "--device cuda" in " ".join(benchmark) and "--dtype bfloat16" in " ".join(benchmark)
