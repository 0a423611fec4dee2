"""TRL's own rewards, under the names `trl rloo` gives them and with the defaults it gives them.

A recipe written for `trl rloo` names `accuracy_reward`, `reasoning_accuracy_reward`,
`think_format_reward` and `get_soft_overlong_punishment`; here they are TRL's functions themselves.
One difference: TRL's accuracy and format rewards read a completion as a conversation
(`completion[0]["content"]`), so a plain-text completion (a base model on text prompts) reaches them
as a one-message conversation, as every reward of this registry reads both.
"""

import functools
from collections.abc import Callable

from trl.rewards import accuracy_reward, get_soft_overlong_punishment, reasoning_accuracy_reward, think_format_reward

# What `trl rloo` builds its `get_soft_overlong_punishment` with.
SOFT_OVERLONG_DEFAULTS = {"max_completion_len": 1280, "soft_punish_cache": 256}


def reading_text_completions(func: Callable) -> Callable:
    """`func`, which reads conversations, also given plain-text completions (as one assistant message each)."""

    @functools.wraps(func)
    def reward(completions, **kwargs):
        completions = [[{"role": "assistant", "content": c}] if isinstance(c, str) else c for c in completions]
        return func(completions=completions, **kwargs)

    return reward


def soft_overlong_punishment(
    max_completion_len: int = SOFT_OVERLONG_DEFAULTS["max_completion_len"],
    soft_punish_cache: int = SOFT_OVERLONG_DEFAULTS["soft_punish_cache"],
) -> Callable:
    """TRL's `get_soft_overlong_punishment` (DAPO's overlong penalty over completion tokens), with `trl rloo`'s defaults."""
    if not 0 <= soft_punish_cache <= max_completion_len:
        raise ValueError(
            f"get_soft_overlong_punishment: soft_punish_cache ({soft_punish_cache}) must be between 0 (a hard limit) and "
            f"max_completion_len ({max_completion_len}) tokens."
        )
    return get_soft_overlong_punishment(max_completion_len=max_completion_len, soft_punish_cache=soft_punish_cache)


TRL_REWARD_FUNCS: dict[str, Callable] = {
    "accuracy_reward": reading_text_completions(accuracy_reward),
    "reasoning_accuracy_reward": reading_text_completions(reasoning_accuracy_reward),
    "think_format_reward": reading_text_completions(think_format_reward),
}
# Built from their settings when a run starts, as `trl rloo` builds them.
TRL_REWARD_FACTORIES: dict[str, Callable] = {"get_soft_overlong_punishment": soft_overlong_punishment}
