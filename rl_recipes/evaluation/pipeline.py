"""The evaluation's flow: every check and the tokenizers before any model loads (`prepare`), then one model's
completions, scores and summary (`evaluate`)."""

import os

from rl_recipes import REPO_ROOT
from rl_recipes.checks import RecipeError
from rl_recipes.embedded import ensure_embedded_model
from rl_recipes.evaluation.agent_rollouts import roll_out
from rl_recipes.evaluation.arguments import EvaluateArguments, check_arguments
from rl_recipes.evaluation.metrics import model_figures, pass_at
from rl_recipes.evaluation.models import Candidate, check_candidates, load_model, load_tokenizer
from rl_recipes.evaluation.reward_scores import environment_rewards, score
from rl_recipes.evaluation.sampling import sample


def prepare(args: EvaluateArguments, names: list[str]):
    """(reward functions, candidates with their tokenizers, prompts): every check, before any model loads."""
    from trl import RLOOTrainer

    from rewards import get_reward_funcs
    from rl_recipes.agents.tools import check_tool_chat_template
    from rl_recipes.data import load_prompts, tokenize_prompts
    from rl_recipes.runner.agent_wiring import check_agent_prompts, resolve_agent

    check_arguments(args)
    # Imported from the working directory, where a user's own reward (or tool) module lives (as in the recipes).
    reward_funcs = get_reward_funcs(args.reward_funcs, args.reward_kwargs)
    args.agent = resolve_agent(args, reward_funcs, RLOOTrainer)  # the tools as the RLOO and REINFORCE recipes run them
    # From the repository root on: the default prompts, and an adapter's relative base path as the
    # recipes record it (models/tiny-story).
    os.chdir(REPO_ROOT)
    candidates = check_candidates(names, args.models)
    dataset = load_prompts(
        args.dataset_name,
        args.dataset_config,
        args.dataset_split,
        args.prompt_column,
        conversational=args.conversational,
        system_prompt=args.system_prompt,
        environment_prompts=bool(args.environment_factory),
        split_setting="dataset_split",
    )
    if args.max_prompts is not None:
        dataset = dataset.select(range(min(args.max_prompts, len(dataset))))
    if args.agent:
        check_agent_prompts(dataset, args.environment_factory)
    for candidate in candidates:
        ensure_embedded_model(candidate.base or candidate.path)
        candidate.tokenizer = load_tokenizer(candidate)
        try:
            tokenize_prompts(dataset["prompt"][:1], candidate.tokenizer)  # chat prompts need a chat template
            if args.agent:
                check_tool_chat_template(candidate.tokenizer, candidate.name)
        except RecipeError as error:
            raise RecipeError(f"{candidate.name}: {error}") from None
    return reward_funcs, candidates, dataset


def resolve_device(setting: str) -> str:
    import torch

    return setting if setting != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")


def evaluate(
    candidate: Candidate, dataset, reward_funcs, args: EvaluateArguments, device: str
) -> tuple[dict, list[dict]]:
    """The model's summary and its completions, each with prompt, length and rewards."""
    from rl_recipes.data import tokenize_prompts

    tokenizer = candidate.tokenizer
    prompts = list(dataset["prompt"])
    model = load_model(candidate, args.dtype, device)
    expanded = [row for row in dataset for _ in range(args.num_samples)]
    columns = {column: [row[column] for row in expanded] for column in dataset.column_names if column != "prompt"}
    names, weights = list(args.reward_funcs), list(args.reward_weights or [1.0] * len(reward_funcs))
    if args.agent:
        completions, completion_ids, lengths, environments = roll_out(model, tokenizer, expanded, args, device)
        texts = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
        if environments:  # rewards get the rollouts' environments; each get_reward is one more reward, weight 1
            columns["environments"] = environments
            added = environment_rewards(environments)
            reward_funcs = [*reward_funcs, *added]
            names += [func.__name__ for func in added]
            weights += [1.0] * len(added)
    else:
        completion_ids = sample(model, tokenizer, tokenize_prompts(prompts, tokenizer), args, device)
        texts = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
        # Rewards see what they see in training: chat completions (of prompts that are lists of messages) as an
        # assistant message, other columns per completion.
        completions = (
            [[{"role": "assistant", "content": text}] for text in texts] if isinstance(prompts[0], list) else texts
        )
        lengths = [len(ids) for ids in completion_ids]
    per_reward, totals = score(
        reward_funcs, names, weights, [row["prompt"] for row in expanded], completions, completion_ids, columns
    )
    records = [
        {
            "model": candidate.name,
            "task": i // args.num_samples,  # the prompt's row in the data set: what groups a task's samples
            "prompt": row["prompt"],
            "completion": completions[i],
            "num_tokens": lengths[i],
            **{reward: values[i] for reward, values in per_reward.items()},
            "reward": totals[i],
        }
        for i, row in enumerate(expanded)
    ]
    passes = pass_at(totals, args.num_samples, args.pass_at_k, args.success_reward)
    return model_figures(candidate.name, texts, lengths, per_reward, totals, passes), records
