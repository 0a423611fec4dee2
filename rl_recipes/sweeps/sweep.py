"""One sweep from its arguments to its outputs: plan and check, build the models the recipes name, run what is not
already finished, read every run and write the plot and tables."""

import os

from tqdm.auto import tqdm
from transformers import AutoTokenizer

from rewards.a_words import max_a_words
from rl_recipes import REPO_ROOT
from rl_recipes.embedded import ensure_embedded_model
from rl_recipes.sweeps.analysis import budgets_of, sweep_figures
from rl_recipes.sweeps.plan import CompareArguments, make_plan
from rl_recipes.sweeps.report import write_outputs
from rl_recipes.sweeps.scheduler import run_all, runs_to_do, threads_per_run


def run_sweep(args: CompareArguments) -> str:
    """Run the sweep `args` describes and write its outputs to `args.output_dir`; return the table(s) to print.

    Raises RecipeError for a bad input (before any run starts) and RunFailed when a run fails."""
    plan = make_plan(args)
    os.chdir(REPO_ROOT)  # recipes name their model and prompts relative to the repository root
    for model in {arm.settings["model_name_or_path"] for arm in plan.arms}:
        ensure_embedded_model(model)
    single_turn = [arm for arm in plan.arms if not arm.agent]
    max_reward = None
    if single_turn:
        arm = single_turn[0]
        max_reward = max_a_words(
            AutoTokenizer.from_pretrained(arm.settings["model_name_or_path"]), arm.settings["max_completion_length"]
        )

    to_run = runs_to_do(plan.runs, args)
    if len(to_run) < len(plan.runs):
        print(
            f"resuming: {len(plan.runs) - len(to_run)} of {len(plan.runs)} runs already finished in {plan.output_dir}"
        )
    with tqdm(total=len(to_run) * args.generations, unit="gen", desc="sweep") as progress:
        run_all(to_run, args, progress)

    results = sweep_figures(
        plan.tasks, plan.runs, args.window, max_reward, budgets_of(args.generations, args.eval_every)
    )
    return write_outputs(results, plan.arms, args, max_reward, threads_per_run(args.jobs), plan.output_dir)
