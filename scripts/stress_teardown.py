"""Launch short two-process runs of the recipes one after another and count the ones that do not end.

    python scripts/stress_teardown.py --runs 30                          # 30 launches of each trainer and exit path
    python scripts/stress_teardown.py --runs 10 --recipes rloo.py --exit_paths normal signal --busy_cores 0

A two-process run must end by itself on every exit path. A hang at teardown shows only now and then,
so one launch proves nothing: this launches `--runs` two-process runs of each recipe and each exit
path, with `--busy_cores` processes spinning beside them, and gives each `--timeout` seconds:

- `normal`: DDP on two CPU processes (`accelerate launch --multi_gpu --num_processes 2 ... --use_cpu
  true`), trained to the end (exit status 0);
- `signal`: the same, sent SIGTERM (to the launcher's whole process group, as a scheduler does) once
  the first step has logged; it stops at the end of a step with a checkpoint and says so (the
  launcher then reports the signal with a status of its own);
- `reward_fault`: a reward that raises from the third step on (`tests.custom_rewards.fails_from_step_3`):
  both processes stop after saving the last completed step (status 1);
- `startup_error`: a data set that does not exist: both processes stop before any model loads (status 1);
- `zero3`: DeepSpeed ZeRO-3 on two CPU processes (`accelerate_configs/deepspeed_zero3.yaml`), to the end.

A run that outlives the timeout counts as a hang: its process tree gets a stack dump first when
`py-spy` is installed (`py-spy dump --native`), then is killed; one that ends with another status
counts as failed. Exit status 1 if any run hung or failed.
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
DDP = ["--multi_gpu", "--num_processes", "2", "--mixed_precision", "no"]
ZERO3 = ["--config_file", str(REPO_ROOT / "accelerate_configs" / "deepspeed_zero3.yaml"), "--num_processes", "2",
         "--mixed_precision", "no"]


@dataclass(frozen=True)
class ExitPath:
    launcher: list[str]
    flags: list[str]  # after TINY_RUN, so they override it
    status: int | None  # the exit status of ending well on this path (None: the launcher's own, not checked)
    says: str = ""  # what the run's output holds when it ended well
    signal_after_first_step: bool = False


EXIT_PATHS = {
    "normal": ExitPath(DDP, ["--use_cpu", "true"], 0),
    "signal": ExitPath(DDP, ["--use_cpu", "true", "--max_steps", "500"], None,
                       says=f"Stopped by signal {signal.SIGTERM.value} after step", signal_after_first_step=True),
    "reward_fault": ExitPath(DDP, ["--use_cpu", "true", "--max_steps", "4",
                                   "--reward_funcs", "tests.custom_rewards.fails_from_step_3"], 1),
    "startup_error": ExitPath(DDP, ["--use_cpu", "true", "--dataset_name", "no/such/prompts.jsonl"], 1),
    "zero3": ExitPath(ZERO3, [], 0),
}


@dataclass
class StressArguments:
    runs: int = field(default=30, metadata={"help": "Launches of each recipe on each exit path."})
    recipes: list[str] = field(default_factory=lambda: ["rloo.py", "reinforce.py"], metadata={"help": "Recipe scripts."})
    exit_paths: list[str] = field(default_factory=lambda: list(EXIT_PATHS),
                                  metadata={"help": f"Of {', '.join(EXIT_PATHS)}."})
    busy_cores: int = field(default=1, metadata={"help": "Processes spinning beside the runs, to load the machine."})
    timeout: int = field(default=180, metadata={"help": "Seconds after which a launch counts as hung."})
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Model to train; by default the tiny story model, built once into a temporary directory."}
    )


def launch_command(recipe: str, path: ExitPath, model: str, output_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "accelerate.commands.launch", *path.launcher, str(REPO_ROOT / "recipes" / recipe),
        "--model_name_or_path", model, "--output_dir", str(output_dir), *TINY_RUN, *RECIPE_SETTINGS.get(recipe, []),
        *path.flags,
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


def main() -> None:
    (args,) = HfArgumentParser(StressArguments).parse_args_into_dataclasses()
    unknown = [name for name in args.exit_paths if name not in EXIT_PATHS]
    if unknown:
        sys.exit(f"error: unknown exit path {unknown[0]}: use {', '.join(EXIT_PATHS)}.")
    workdir = Path(tempfile.mkdtemp(prefix="stress_teardown_"))
    busy = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(args.busy_cores)]
    runs = [(recipe, name) for recipe in args.recipes for name in args.exit_paths]
    counts = {run: {"ok": 0, "failed": 0, "hung": 0} for run in runs}
    try:
        model = args.model_name_or_path
        if model is None:
            model = str(workdir / "tiny-story")
            subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "build_tiny_model.py"), "--output_dir", model],
                           cwd=REPO_ROOT, check=True, capture_output=True)
        for run in range(args.runs):
            for recipe, name in runs:
                label = f"{Path(recipe).stem}-{name}-{run}"
                output_dir, log = workdir / label, workdir / f"{label}.log"
                started = time.monotonic()
                outcome = run_once(launch_command(recipe, EXIT_PATHS[name], model, output_dir), EXIT_PATHS[name],
                                   args.timeout, log)
                counts[recipe, name][outcome] += 1
                shutil.rmtree(output_dir, ignore_errors=True)
                if outcome == "ok":
                    log.unlink()
                print(f"{recipe} {name} run {run + 1}/{args.runs}: {outcome} in {time.monotonic() - started:.0f} s"
                      + ("" if outcome == "ok" else f" (log: {log})"), flush=True)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    print("\n| recipe | exit path | launches | ended as expected | failed | hung |\n| --- | --- | --- | --- | --- | --- |")
    for (recipe, name), count in counts.items():
        print(f"| {recipe} | {name} | {args.runs} | {count['ok']} | {count['failed']} | {count['hung']} |")
    sys.exit(1 if any(count["ok"] != args.runs for count in counts.values()) else 0)


if __name__ == "__main__":
    main()
