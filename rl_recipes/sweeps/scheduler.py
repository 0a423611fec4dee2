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
from rl_recipes.sweeps.held_out import evaluated, evaluation_command
from rl_recipes.sweeps.plan import CompareArguments, PlannedRun


class RunFailed(Exception):
    """A run of the sweep exited with an error; the sweep stops."""

    def __init__(self, run: "Run", status: int):
        super().__init__(f"{run.arm.label} seed {run.seed} failed (exit {status})")
        self.label, self.seed, self.status, self.log = run.arm.label, run.seed, status, run.log_file


class Run:
    """One recipe with one seed, as child processes: the training run, then (agent recipes, `--held_out_samples`)
    the trained model's evaluation on the held-out tasks; `generated` counts the run's logged generations. On
    resume, what the run directory already holds finished is not run again."""

    def __init__(self, planned: PlannedRun, args: CompareArguments, threads: int):
        arm, seed, run_dir = planned.arm, planned.seed, planned.run_dir
        self.arm, self.seed, self.run_dir, self.generated = arm, seed, run_dir, 0
        train = not (args.resume and finished(run_dir, args.generations))
        # (log file name, command), run one after another.
        self.commands = [("train.log", training_command(planned, args))] if train else []
        if arm.agent and args.held_out_samples and (train or not evaluated(run_dir)):
            self.commands.append(
                ("evaluate.log", evaluation_command(arm.settings, run_dir, seed, args.held_out_samples))
            )
        run_dir.mkdir(parents=True, exist_ok=True)
        # Runs side by side share the cores instead of each starting a thread per core.
        self.env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        self.process = None
        self._start_next()

    def _start_next(self) -> None:
        log_name, command = self.commands.pop(0)
        self.log_file = self.run_dir / log_name
        self.log = open(self.log_file, "w")
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)

    def poll(self) -> int | None:
        """The exit status once the run's last command ended (or one failed), else None; updates `generated`."""
        completions = self.run_dir / COMPLETIONS_FILE
        if completions.is_file():
            with open(completions) as f:
                self.generated = sum(1 for _ in f)
        status = self.process.poll()
        if status is None:
            return None
        self.log.close()
        if status == 0 and self.commands:
            self._start_next()
            return None
        return status

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait()
        self.log.close()


def training_command(planned: PlannedRun, args: CompareArguments) -> list[str]:
    """The recipe's launch, with the sweep's seed, budget, output directory and evaluation interval."""
    arm, seed, run_dir = planned.arm, planned.seed, planned.run_dir
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
    return command


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


def runs_to_do(planned: list[PlannedRun], args: CompareArguments) -> list[PlannedRun]:
    """The planned runs still to run: all of them, or on resume those not already finished with this budget (and,
    for agent runs, evaluated on the held-out tasks)."""
    if not args.resume:
        return list(planned)
    return [
        run
        for run in planned
        if not finished(run.run_dir, args.generations)
        or (run.arm.agent and args.held_out_samples and not evaluated(run.run_dir))
    ]
