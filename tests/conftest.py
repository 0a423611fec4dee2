"""Shared fixtures: the tiny story model, built once per test session, and a recipe launcher."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Nothing in the suite may reach a hub: every model and data set is built or shipped locally.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
os.environ.update(OFFLINE_ENV)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The embedded default model, built through its real entry point into a temporary directory (or, to save the
    build when running a few tests by hand, one already built on this machine, named by `TINY_STORY_MODEL`)."""
    if os.environ.get("TINY_STORY_MODEL"):
        return Path(os.environ["TINY_STORY_MODEL"])
    output_dir = tmp_path_factory.mktemp("models") / "tiny-story"
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "build_tiny_model.py"), "--output_dir", str(output_dir)],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    return output_dir


@pytest.fixture(scope="session")
def tool_model_dir(tmp_path_factory) -> Path:
    """The embedded tool-using model, built through its real entry point but trained briefly: its tokenizer, chat
    template and response template are the real ones. 150 steps (about 35 s on 2 cores) teach it the call format:
    about a third of its calculator rollouts call a tool, so the rollouts the tests run include calls and results;
    no test depends on its answers being right. (Or one already built, named by `TINY_TOOL_MODEL`.)"""
    if os.environ.get("TINY_TOOL_MODEL"):
        return Path(os.environ["TINY_TOOL_MODEL"])
    output_dir = tmp_path_factory.mktemp("models") / "tiny-tools"
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "build_tool_model.py"), "--output_dir", str(output_dir),
         "--max_steps", "150", "--num_transcripts", "2000"],
        cwd=REPO_ROOT, check=True, capture_output=True,
    )
    return output_dir


def launch(script: str, *args: str, processes: int = 1, env: dict | None = None, timeout: int = 600):
    """Run `accelerate launch recipes/<script> ARGS` from the repository root, as a user would."""
    if processes == 1:
        launcher = ["--config_file", str(REPO_ROOT / "accelerate_configs" / "cpu.yaml")]
    else:
        # accelerate's --cpu launcher starts one process; the DDP launcher starts gloo processes on CPU.
        launcher = ["--multi_gpu", "--num_processes", str(processes), "--mixed_precision", "no"]
        args = (*args, "--use_cpu", "true")
    command = [sys.executable, "-m", "accelerate.commands.launch", *launcher, str(REPO_ROOT / "recipes" / script), *args]
    return subprocess.run(
        command, cwd=REPO_ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


def run_script(script: str, *args: str, env: dict | None = None, timeout: int = 600):
    """Run `python recipes/<script> ARGS` (no launcher) from the repository root."""
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "recipes" / script), *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def logged_rewards(output_dir: Path) -> list[float]:
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    return [entry["reward"] for entry in history if "reward" in entry]


def assert_succeeded(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
