"""The completions scored with the recipes' rewards, called as in training, and their weighted total."""

import math

from rl_recipes.agents.environment_reward import environment_reward_func
from rl_recipes.checks import RecipeError


def environment_rewards(environments: list) -> list:
    """The rewards the trainers add for the rollouts' environments: each environment class with a `get_reward`, in
    the order the rollouts first use it, as one more reward named after it (weight 1, GRPOTrainer's rule)."""
    classes = dict.fromkeys(type(environment) for environment in environments)
    return [environment_reward_func(cls) for cls in classes if callable(getattr(cls, "get_reward", None))]


def score(reward_funcs, reward_names, weights, prompts, completions, completion_ids, columns) -> tuple[dict, list]:
    """(rewards by name, weighted total) per completion; None where a reward, or for the total every reward, gave none.

    The rewards are called as in training, with every keyword TRL passes (`trainer_state` a fresh state, at step
    0; what `log_extra` and `log_metric` are given is dropped), through the recipes' reward guard, async ones
    awaited. A reward that raises or returns bad values (the wrong number, a non-number, NaN) stops the
    evaluation with its fault."""
    import torch
    from transformers import TrainerState

    from rl_recipes.scoring import total_reward
    from rl_recipes.trainers.reward_guard import guard_rewards, score_outside_trl

    trl_keywords = {
        "trainer_state": TrainerState(),
        "log_extra": lambda column, values: None,
        "log_metric": lambda name, value: None,
    }
    per_reward = {}
    for name, reward in zip(reward_names, guard_rewards(reward_funcs, reward_names)):
        per_reward[name] = score_outside_trl(
            reward, prompts=prompts, completions=completions, completion_ids=completion_ids, **trl_keywords, **columns
        )
        if reward.faults:
            raise RecipeError(f"Reward '{name}' {reward.faults[0]}")
    # As the trainers sum them (NaN for a reward's None): in float64, the precision of the values the rewards return.
    rewards_per_func = (
        torch.tensor(
            [[math.nan if value is None else value for value in per_reward[name]] for name in reward_names],
            dtype=torch.float64,
        )
        .reshape(len(reward_names), len(completions))
        .T
    )
    totals = total_reward(rewards_per_func, torch.tensor(weights, dtype=torch.float64)).tolist()
    return per_reward, [None if math.isnan(total) else total for total in totals]
