"""Repeated two-process launches of the recipes on each exit path, each under a time limit: a launch that outlives
it counts as hung and gets a stack dump of its processes (`py-spy dump --native`, where py-spy is installed) before
it is killed. What `scripts/stress_teardown.py` runs; see its docstring for the exit paths.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rl_recipes import REPO_ROOT

TINY_RUN = [
    "--max_steps",
    "2",
    "--max_completion_length",
    "8",
    "--logging_steps",
    "1",
    "--save_strategy",
    "no",
    "--report_to",
    "none",
    "--disable_tqdm",
    "true",
]
RECIPE_SETTINGS = {
    "rloo.py": ["--num_generations", "2", "--per_device_train_batch_size", "2"],
    "reinforce.py": [],
}
DDP = ["--multi_gpu", "--num_processes", "2", "--mixed_precision", "no"]
ZERO3 = [
    "--config_file",
    str(REPO_ROOT / "accelerate_configs" / "deepspeed_zero3.yaml"),
    "--num_processes",
    "2",
    "--mixed_precision",
    "no",
]


@dataclass(frozen=True)
class ExitPath:
    launcher: list[str]
    flags: list[str]  # after TINY_RUN, so they override it
    status: int | None  # the exit status of ending well on this path (None: the launcher's own, not checked)
    says: str = ""  # what the run's output holds when it ended well
    signal_after_first_step: bool = False


EXIT_PATHS = {
    "normal": ExitPath(DDP, ["--use_cpu", "true"], 0),
    "signal": ExitPath(
        DDP,
        ["--use_cpu", "true", "--max_steps", "500"],
        None,
        says=f"Stopped by signal {signal.SIGTERM.value} after step",
        signal_after_first_step=True,
    ),
    "reward_fault": ExitPath(
        DDP, ["--use_cpu", "true", "--max_steps", "4", "--reward_funcs", "tests.custom_rewards.fails_from_step_3"], 1
    ),
    "startup_error": ExitPath(DDP, ["--use_cpu", "true", "--dataset_name", "no/such/prompts.jsonl"], 1),
    "zero3": ExitPath(ZERO3, [], 0),
}


def launch_command(recipe: str, path: ExitPath, model: str, output_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *path.launcher,
        str(REPO_ROOT / "recipes" / recipe),
        "--model_name_or_path",
        model,
        "--output_dir",
        str(output_dir),
        *TINY_RUN,
        *RECIPE_SETTINGS.get(recipe, []),
        *path.flags,
    ]


def descendants(pid: int) -> list[int]:
    children = [
        int(child) for child in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    ]
    return [pid_ for child in children for pid_ in (child, *descendants(child))]


def dump_stacks(pid: int, log: Path) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        return
    with open(log, "a") as f:
        for child in descendants(pid):
            f.write(f"\n=== py-spy dump --native --pid {child}\n")
            f.flush()
            subprocess.run(
                [py_spy, "dump", "--native", "--pid", str(child)], stdout=f, stderr=subprocess.STDOUT, timeout=60
            )


def run_once(command: list[str], path: ExitPath, timeout: int, log: Path) -> str:
    """'ok', 'failed' or 'hung'; the launch runs in its own session so that all its processes can be signalled and
    ended together."""
    with open(log, "w") as f:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            if path.signal_after_first_step:
                while "step 1/" not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.2)
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            status = process.wait(timeout=max(deadline - time.monotonic(), 1))
            ended_well = path.status in (None, status) and path.says in log.read_text()
            return "ok" if ended_well else "failed"
        except subprocess.TimeoutExpired:
            dump_stacks(process.pid, log)
            return "hung"
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def stress(
    runs: int, recipes: list[str], exit_paths: list[str], busy_cores: int, timeout: int, model_name_or_path: str | None
) -> dict[tuple[str, str], dict[str, int]]:
    """Launch `runs` times each recipe on each exit path, one after another, with `busy_cores` spinning processes
    beside them; returns, by (recipe, exit path), how many launches ended 'ok', 'failed' and 'hung'. Prints a line
    a launch; keeps the logs of those that did not end well (in a temporary directory it names)."""
    workdir = Path(tempfile.mkdtemp(prefix="stress_teardown_"))
    busy = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(busy_cores)]
    launches = [(recipe, name) for recipe in recipes for name in exit_paths]
    counts = {launch: {"ok": 0, "failed": 0, "hung": 0} for launch in launches}
    try:
        model = model_name_or_path
        if model is None:
            model = str(workdir / "tiny-story")
            subprocess.run(
                [sys.executable, str(REPO_ROOT / "scripts" / "build_tiny_model.py"), "--output_dir", model],
                cwd=REPO_ROOT,
                check=True,
                capture_output=True,
            )
        for run in range(runs):
            for recipe, name in launches:
                label = f"{Path(recipe).stem}-{name}-{run}"
                output_dir, log = workdir / label, workdir / f"{label}.log"
                started = time.monotonic()
                outcome = run_once(
                    launch_command(recipe, EXIT_PATHS[name], model, output_dir), EXIT_PATHS[name], timeout, log
                )
                counts[recipe, name][outcome] += 1
                shutil.rmtree(output_dir, ignore_errors=True)
                if outcome == "ok":
                    log.unlink()
                print(
                    f"{recipe} {name} run {run + 1}/{runs}: {outcome} in {time.monotonic() - started:.0f} s"
                    + ("" if outcome == "ok" else f" (log: {log})"),
                    flush=True,
                )
    finally:
        for process in busy:
            process.kill()
            process.wait()
    return counts
