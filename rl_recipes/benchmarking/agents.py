"""`--agent`: agent rollouts as the agent trainer runs them (`recipes/configs/calculator/rloo.yaml`, `--agent_batch`
rollouts a batch, on the tiny tool-using model): the model's tokens per second, and where the time goes (the model's
generation, the tools, parsing the calls, rendering what follows a call, the rest), against single-turn generation
of as many tokens per rollout on the same model and prompts, in the same run. With `--tool_latency` above 0, the
slow-tool comparison as well (`slow_tools`)."""

import statistics
import tempfile
from dataclasses import asdict
from pathlib import Path

from rl_recipes.benchmarking.arguments import BenchmarkArguments
from rl_recipes.benchmarking.builders import quiet_recipe_trainer
from rl_recipes.benchmarking.rollouts import (
    AGENT_RECIPE,
    agent_batches,
    agent_overrides,
    parallel_tool_calls_override,
    time_rollouts,
)
from rl_recipes.benchmarking.tables import AGENT_PHASES, agent_table, write_numbers
from rl_recipes.benchmarking.timing import PhaseTimer, device_name


def run_agent(args: BenchmarkArguments, json_path: Path) -> None:
    """Agent rollouts through the agent trainer's own `_generate`, each phase timed, against single-turn generation
    of as many tokens a rollout; with `--tool_latency`, also with slow tools, ours against TRL's GRPOTrainer loop."""
    from rl_recipes.agents.rollout import ToolLoop
    from rl_recipes.algorithms import ALGORITHMS
    from rl_recipes.benchmarking.slow_tools import slow_tool_comparison, time_slow_tools
    from rl_recipes.embedded import ensure_embedded_model
    from rl_recipes.runner.lifecycle import end_together

    ensure_embedded_model(args.agent_model)
    slow_tools = None
    with tempfile.TemporaryDirectory() as output_dir:
        # The calculator recipe has tools: the registry's RLOO builds its agent trainer, as recipes/rloo.py does.
        trainer = quiet_recipe_trainer(
            ALGORITHMS["rloo"], AGENT_RECIPE, agent_overrides(args, output_dir) + parallel_tool_calls_override(args)
        )
        timer = PhaseTimer(args.device)
        generate_turn = trainer._generate_single_turn
        trainer._generate_single_turn = timer.wrap("model", generate_turn)
        trainer.model.train()
        recipe_tools = list(trainer.tools)
        trainer.tools = [timer.wrap("tools", tool) for tool in recipe_tools]
        parse, suffix = ToolLoop._parse, ToolLoop.tool_suffix_ids
        ToolLoop._parse = timer.wrap("parsing", parse)
        ToolLoop.tool_suffix_ids = timer.wrap("rendering", suffix)
        batches = agent_batches(trainer, args)
        try:
            agent_steps = time_rollouts(trainer, batches, args, timer)
            lengths = [step["tokens"] / len(batches[0]) for step in agent_steps]
            # Single turn: the same prompts, as many tokens a rollout, in one generation each.
            length = round(statistics.fmean(lengths))
            saved = trainer.generation_config.max_new_tokens, trainer.generation_config.min_new_tokens
            trainer.generation_config.max_new_tokens = trainer.generation_config.min_new_tokens = length
            single_steps = []
            for step, prompts in enumerate(batches):
                prompt_ids, _, _ = trainer._tokenize_prompts(prompts)
                start = timer.now()
                completion_ids = generate_turn(prompt_ids, None, {})
                if step >= args.warmup_steps:
                    single_steps.append({"total": timer.now() - start, "tokens": sum(map(len, completion_ids))})
            trainer.generation_config.max_new_tokens, trainer.generation_config.min_new_tokens = saved
        finally:
            ToolLoop._parse, ToolLoop.tool_suffix_ids = parse, suffix
        if args.tool_latency > 0:
            trainer._generate_single_turn = generate_turn
            slow_tools = time_slow_tools(args, trainer, recipe_tools, batches, timer)
        parallel = getattr(trainer.args, "max_parallel_tool_calls", None)
        end_together(trainer)
    agent_seconds = sum(step["total"] for step in agent_steps)
    agent = {
        "tokens_per_s": sum(step["tokens"] for step in agent_steps) / agent_seconds,
        "seconds_per_batch": agent_seconds / len(agent_steps),
        "model_tokens_per_rollout": length,
        "tool_calls_per_rollout": statistics.fmean(step["tool_calls_per_rollout"] for step in agent_steps),
        "shares": {
            phase: sum(step.get(phase, 0.0) for step in agent_steps) / agent_seconds
            for phase in AGENT_PHASES
            if phase != "other"
        },
    }
    agent["shares"]["other"] = 1 - sum(agent["shares"].values())
    single_seconds = sum(step["total"] for step in single_steps)
    single = {
        "tokens_per_s": sum(step["tokens"] for step in single_steps) / single_seconds,
        "seconds_per_batch": single_seconds / len(single_steps),
    }
    ratio = agent["tokens_per_s"] / single["tokens_per_s"]
    print(
        f"\n{args.agent_batch} rollouts a batch (calculator task, tiny tool model), {args.dtype}, {device_name(args)}, "
        f"{args.steps} timed batches after {args.warmup_steps} warm-up; {length} model tokens a rollout\n"
    )
    print(agent_table(agent, single))
    print(f"\nagent rollouts / single turn, model tokens per second: {ratio:.2f}")
    latency = None
    if slow_tools:
        latency = slow_tool_comparison(args, agent, slow_tools, parallel)
    write_numbers(
        json_path,
        {
            "settings": asdict(args),
            "device": device_name(args),
            "agent": agent,
            "single_turn": single,
            "agent_vs_single_turn": ratio,
            "tool_latency": latency,
        },
    )
    print(f"numbers in {json_path}")
