"""Multi-turn rollouts with the recipes' tools and environments, run by the trainers' tool loop on the evaluation's
sampler."""

import sys

from rl_recipes.checks import RecipeError
from rl_recipes.evaluation.arguments import EvaluateArguments
from rl_recipes.evaluation.sampling import Sampler


def roll_out(model, tokenizer, rows: list[dict], args: EvaluateArguments, device: str):
    """Multi-turn rollouts of `rows` (each already repeated `num_samples` times) with the tools and environment, as
    the trainers run them: (transcripts, their token ids, the model's own tokens in each, the environments, or
    None). Tool results are in the token ids but not in the model's count, as in training's completion lengths."""
    import torch

    from rl_recipes.agents.execution import ToolExecutor
    from rl_recipes.agents.rollout import (
        ToolLoop,
        prefix_preserving_template,
        reset_environments,
        rollout_tools,
        tool_call_marker,
    )

    factory = args.agent.get("environment_factory")
    several = isinstance(factory, dict)  # by name: each row's `environment` picks, and is not passed to reset
    environments = [(factory[str(row["environment"])] if several else factory)() for row in rows] if factory else None
    prompts = [row["prompt"] for row in rows]
    if environments:
        reset_rows = [{k: v for k, v in row.items() if k != "environment" or not several} for row in rows]
        prompts, faults = reset_environments(environments, reset_rows, prompts)
        if any(faults):
            raise RecipeError(next(fault for fault in faults if fault))
    per_rollout = [
        rollout_tools(args.agent["tools"], environments[i] if environments else None) for i in range(len(rows))
    ]
    chat_template = prefix_preserving_template(tokenizer)
    prompt_ids = [
        tokenizer.apply_chat_template(
            prompt,
            tools=listed or None,
            chat_template=chat_template,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
        )["input_ids"]
        for prompt, (_, listed) in zip(prompts, per_rollout)
    ]
    torch.manual_seed(args.seed)
    loop = ToolLoop(
        tokenizer=tokenizer,
        generate=Sampler(model, tokenizer, args, device),
        max_completion_length=args.max_completion_length,
        max_model_len=getattr(model.config.get_text_config(), "max_position_embeddings", sys.maxsize),
        max_iterations=args.max_tool_calling_iterations,
        chat_template=chat_template,
        call_marker=tool_call_marker(tokenizer, chat_template),
        executor=ToolExecutor(args.max_parallel_tool_calls, args.agent["tool_call_timeout"]),
    )
    trajectories = loop.run(prompt_ids, [tools for tools, _ in per_rollout], [listed for _, listed in per_rollout])
    return (
        [t.messages for t in trajectories],
        [t.completion_ids for t in trajectories],
        [t.model_tokens for t in trajectories],
        environments,
    )
