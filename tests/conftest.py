"""Shared fixtures: the tiny models, built once per machine, and a recipe launcher."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Nothing in the suite may reach a hub: every model and data set is built or shipped locally.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
os.environ.update(OFFLINE_ENV)


# What a built model depends on: a change to any of these builds it anew.
MODEL_SOURCES = [
    REPO_ROOT / "rl_recipes" / "tiny_models",
    REPO_ROOT / "rl_recipes" / "tasks",
    REPO_ROOT / "scripts" / "build_tiny_model.py",
    REPO_ROOT / "scripts" / "build_tool_model.py",
]


def built_model(request, tmp_path_factory, name: str, script: str, *args: str) -> Path:
    """A model built through its real entry point `scripts/<script> ARGS`, once per machine: into pytest's cache
    (`.pytest_cache`) under a key of the builder's sources, its arguments and the library versions, so that a
    later test run reuses it until one of those changes. Without the cache (`-p no:cacheprovider`), once per run."""
    import hashlib

    import tokenizers
    import torch
    import transformers

    digest = hashlib.sha256(
        " ".join([script, *args, torch.__version__, transformers.__version__, tokenizers.__version__]).encode()
    )
    for source in sorted(path for root in MODEL_SOURCES for path in ([root] if root.is_file() else root.rglob("*.py"))):
        digest.update(source.read_bytes())
    cache = getattr(request.config, "cache", None)
    home = cache.mkdir(f"{name}-{digest.hexdigest()[:16]}") if cache else tmp_path_factory.mktemp(name)
    model_dir = home / name
    if not (model_dir / "config.json").is_file():
        scratch = tmp_path_factory.mktemp(f"{name}-build") / name
        subprocess.run(
            [sys.executable, str(REPO_ROOT / "scripts" / script), "--output_dir", str(scratch), *args],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
        )
        shutil.rmtree(model_dir, ignore_errors=True)  # an earlier build that stopped half-way
        shutil.move(str(scratch), str(model_dir))
    return model_dir


@pytest.fixture(scope="session")
def tiny_model_dir(request, tmp_path_factory) -> Path:
    """The embedded default model, built through its real entry point (once per machine, `built_model`), or one
    already built, named by `TINY_STORY_MODEL`."""
    if os.environ.get("TINY_STORY_MODEL"):
        return Path(os.environ["TINY_STORY_MODEL"])
    return built_model(request, tmp_path_factory, "tiny-story", "build_tiny_model.py")


@pytest.fixture(scope="session")
def tool_model_dir(request, tmp_path_factory) -> Path:
    """The embedded tool-using model, built through its real entry point but trained briefly: its tokenizer, chat
    template and response template are the real ones. 150 steps (about 35 s on 2 cores) teach it the call format, so
    the rollouts the tests run include calls and results; no test depends on its answers being right, and its copies
    are not checked. Built once per machine (`built_model`), or one already built, named by `TINY_TOOL_MODEL`."""
    if os.environ.get("TINY_TOOL_MODEL"):
        return Path(os.environ["TINY_TOOL_MODEL"])
    return built_model(
        request,
        tmp_path_factory,
        "tiny-tools",
        "build_tool_model.py",
        "--max_steps",
        "150",
        "--num_transcripts",
        "2000",
        "--skill_transcripts",
        "2000",
        "--min_copy_probability",
        "0",
    )


@pytest.fixture(scope="session")
def shipped_tool_model_dir(request, tmp_path_factory) -> Path:
    """The embedded tool-using model as recipes build it on first use (the builder's defaults, its copy check
    included; about 5 minutes on 2 cores), once per machine (`built_model`), or one already built, named by
    `SHIPPED_TOOL_MODEL`."""
    if os.environ.get("SHIPPED_TOOL_MODEL"):
        return Path(os.environ["SHIPPED_TOOL_MODEL"])
    return built_model(request, tmp_path_factory, "tiny-tools-shipped", "build_tool_model.py")


def launch(script: str, *args: str, processes: int = 1, env: dict | None = None, timeout: int = 600):
    """Run `accelerate launch recipes/<script> ARGS` from the repository root, as a user would."""
    if processes == 1:
        launcher = ["--config_file", str(REPO_ROOT / "accelerate_configs" / "cpu.yaml")]
    else:
        # accelerate's --cpu launcher starts one process; the DDP launcher starts gloo processes on CPU.
        launcher = ["--multi_gpu", "--num_processes", str(processes), "--mixed_precision", "no"]
        args = (*args, "--use_cpu", "true")
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *launcher,
        str(REPO_ROOT / "recipes" / script),
        *args,
    ]
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
