"""Launch short two-process runs of the recipes one after another and count the ones that do not end.

    python scripts/stress_teardown.py --runs 30                          # 30 launches of each trainer
    python scripts/stress_teardown.py --runs 10 --recipes rloo.py --busy_cores 0

A two-process gloo run must end by itself on every exit path. A hang at teardown shows only now and
then, so one launch proves nothing: this launches `--runs` two-process runs of each recipe
(`accelerate launch --multi_gpu --num_processes 2 ... --use_cpu true`, tiny settings) with
`--busy_cores` processes spinning beside them, and gives each `--timeout` seconds. A run that
outlives it counts as a hang: its process tree gets a stack dump first when `py-spy` is installed
(`py-spy dump --native`), then is killed. Exit status 1 if any run hung or failed.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser

from rl_recipes import REPO_ROOT

TINY_RUN = ["--max_steps", "2", "--max_completion_length", "8", "--logging_steps", "1", "--save_strategy", "no",
            "--report_to", "none", "--disable_tqdm", "true"]
RECIPE_SETTINGS = {
    "rloo.py": ["--num_generations", "2", "--per_device_train_batch_size", "2"],
    "reinforce.py": [],
}


@dataclass
class StressArguments:
    runs: int = field(default=30, metadata={"help": "Launches of each recipe."})
    recipes: list[str] = field(default_factory=lambda: ["rloo.py", "reinforce.py"], metadata={"help": "Recipe scripts."})
    busy_cores: int = field(default=1, metadata={"help": "Processes spinning beside the runs, to load the machine."})
    timeout: int = field(default=180, metadata={"help": "Seconds after which a launch counts as hung."})
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Model to train; by default the tiny story model, built once into a temporary directory."}
    )


def launch_command(recipe: str, model: str, output_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--mixed_precision", "no", str(REPO_ROOT / "recipes" / recipe), "--model_name_or_path", model,
        "--output_dir", str(output_dir), *TINY_RUN, *RECIPE_SETTINGS.get(recipe, []), "--use_cpu", "true",
    ]


def descendants(pid: int) -> list[int]:
    children = [int(child) for child in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    return [pid_ for child in children for pid_ in (child, *descendants(child))]


def dump_stacks(pid: int, log: Path) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        return
    with open(log, "a") as f:
        for child in descendants(pid):
            f.write(f"\n=== py-spy dump --native --pid {child}\n")
            f.flush()
            subprocess.run([py_spy, "dump", "--native", "--pid", str(child)], stdout=f, stderr=subprocess.STDOUT, timeout=60)


def run_once(command: list[str], timeout: int, log: Path) -> str:
    """'ok', 'failed' or 'hung'; the launch runs in its own session so that all its processes can be ended."""
    with open(log, "w") as f:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return "ok" if process.wait(timeout=timeout) == 0 else "failed"
        except subprocess.TimeoutExpired:
            dump_stacks(process.pid, log)
            return "hung"
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def main() -> None:
    (args,) = HfArgumentParser(StressArguments).parse_args_into_dataclasses()
    workdir = Path(tempfile.mkdtemp(prefix="stress_teardown_"))
    busy = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(args.busy_cores)]
    counts = {recipe: {"ok": 0, "failed": 0, "hung": 0} for recipe in args.recipes}
    try:
        model = args.model_name_or_path
        if model is None:
            model = str(workdir / "tiny-story")
            subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "build_tiny_model.py"), "--output_dir", model],
                           cwd=REPO_ROOT, check=True, capture_output=True)
        for run in range(args.runs):
            for recipe in args.recipes:
                output_dir = workdir / f"{Path(recipe).stem}-{run}"
                log = workdir / f"{Path(recipe).stem}-{run}.log"
                started = time.monotonic()
                outcome = run_once(launch_command(recipe, model, output_dir), args.timeout, log)
                counts[recipe][outcome] += 1
                shutil.rmtree(output_dir, ignore_errors=True)
                if outcome == "ok":
                    log.unlink()
                print(f"{recipe} run {run + 1}/{args.runs}: {outcome} in {time.monotonic() - started:.0f} s"
                      + ("" if outcome == "ok" else f" (log: {log})"), flush=True)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    for recipe, count in counts.items():
        print(f"{recipe}: {args.runs} launches, {count['ok']} ended, {count['failed']} failed, {count['hung']} hung")
    sys.exit(1 if any(count["ok"] != args.runs for count in counts.values()) else 0)


if __name__ == "__main__":
    main()
