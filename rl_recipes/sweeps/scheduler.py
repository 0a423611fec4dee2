"""Running a sweep's runs: each an ordinary recipe run (`accelerate launch recipes/<algorithm>.py --config <yaml>`)
as a child process, `jobs` of them side by side with the cores shared among them, and on resume only those the
output directory does not already hold finished.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from rl_recipes import REPO_ROOT
from rl_recipes.run_directory import COMPLETIONS_FILE
from rl_recipes.sweeps.analysis import read_run
from rl_recipes.sweeps.plan import CompareArguments, PlannedRun


class RunFailed(Exception):
    """A run of the sweep exited with an error; the sweep stops."""

    def __init__(self, run: "Run", status: int):
        super().__init__(f"{run.arm.label} seed {run.seed} failed (exit {status})")
        self.label, self.seed, self.status, self.log = run.arm.label, run.seed, status, run.run_dir / "train.log"


class Run:
    """One recipe with one seed, as a child process; `generated` counts its logged generations."""

    def __init__(self, planned: PlannedRun, args: CompareArguments, threads: int):
        arm, seed, run_dir = planned.arm, planned.seed, planned.run_dir
        self.arm, self.seed, self.run_dir, self.generated = arm, seed, run_dir, 0
        command = [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(REPO_ROOT / "accelerate_configs" / "cpu.yaml"),
            str(arm.script),
            "--config",
            str(arm.config),
            "--seed",
            str(seed),
            "--output_dir",
            str(run_dir),
            "--max_steps",
            str(arm.steps_for(args.generations)),
            "--save_completions",
            "true",
            "--overwrite_output_dir",
            "true",
            "--save_strategy",
            "no",
            "--report_to",
            "none",
        ]
        for key in ("model_name_or_path", "max_completion_length"):
            if getattr(args, key) is not None:
                command += [f"--{key}", str(getattr(args, key))]
        if arm.agent and args.eval_every:
            command += ["--eval_steps", str(arm.steps_for(args.eval_every))]
        run_dir.mkdir(parents=True, exist_ok=True)
        # Runs side by side share the cores instead of each starting a thread per core.
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        self.log = open(run_dir / "train.log", "w")
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def poll(self) -> int | None:
        """The exit status once the run ended, else None; updates `generated`."""
        completions = self.run_dir / COMPLETIONS_FILE
        if completions.is_file():
            with open(completions) as f:
                self.generated = sum(1 for _ in f)
        status = self.process.poll()
        if status is not None:
            self.log.close()
        return status

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait()
        self.log.close()


def threads_per_run(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // jobs)


def run_all(planned: list[PlannedRun], args: CompareArguments, progress) -> None:
    """Run every planned run, `args.jobs` at a time; the first failure stops the others and raises RunFailed."""
    threads = threads_per_run(args.jobs)
    waiting, running = list(planned), []
    try:
        while waiting or running:
            while waiting and len(running) < args.jobs:
                running.append(Run(waiting.pop(0), args, threads))
            time.sleep(1)
            for run in list(running):
                before = run.generated
                status = run.poll()
                progress.update(run.generated - before)
                if status is None:
                    continue
                running.remove(run)
                if status != 0:
                    raise RunFailed(run, status)
                progress.update(args.generations - run.generated)
                progress.write(f"{run.arm.label} seed {run.seed}: done")
    finally:
        for run in running:
            run.stop()


def finished(run_dir: Path, generations: int) -> bool:
    """Whether `run_dir` holds a run that ended and logged `generations` generations."""
    try:
        records, history = read_run(run_dir)
    except (OSError, ValueError):
        return False
    return len(records) == generations and any("train_runtime" in entry for entry in history)


def runs_to_do(planned: list[PlannedRun], generations: int, resume: bool) -> list[PlannedRun]:
    """The planned runs still to run: all of them, or on resume those not already finished with this budget."""
    return [run for run in planned if not (resume and finished(run.run_dir, generations))]
