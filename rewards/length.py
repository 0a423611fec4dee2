"""Rewards on a completion's shape rather than its content: its length, and how much it repeats itself."""

from collections.abc import Callable

from rewards.text import completion_text

LENGTH_UNITS = ("words", "characters", "tokens")


def length_penalty(
    completions: list,
    target_length: int = 100,
    penalty: float = 0.01,
    unit: str = "words",
    completion_ids: list | None = None,
    **kwargs,
) -> list[float]:
    """0 at `target_length`, minus `penalty` per unit away from it, whether shorter or longer.

    `unit` is "words" (whitespace-separated), "characters", or "tokens" (the policy's own, as TRL
    passes them in `completion_ids`). With the defaults a completion 100 words off the target scores -1.
    """
    if unit not in LENGTH_UNITS:
        raise ValueError(f"length reward: unit '{unit}' is not one of {', '.join(LENGTH_UNITS)}.")
    if unit == "tokens":
        if completion_ids is None:
            raise ValueError("length reward: unit 'tokens' needs the completion_ids that TRL passes every reward.")
        lengths = [len(ids) for ids in completion_ids]
    elif unit == "words":
        lengths = [len(completion_text(c).split()) for c in completions]
    else:
        lengths = [len(completion_text(c)) for c in completions]
    return [penalty * -abs(length - target_length) for length in lengths]  # 0.0 at the target, not -0.0


def get_repetition_penalty(ngram_size: int = 3, max_penalty: float = 1.0) -> Callable:
    """TRL's repetition penalty (`trl.rewards.get_repetition_penalty_reward`), with `max_penalty` given as a positive size.

    The reward is minus `max_penalty` times the fraction of the completion's token n-grams (the policy's
    own tokens, as TRL passes them in `completion_ids`) that repeat an earlier one: 0 for a completion
    without repeats or shorter than one n-gram, towards -`max_penalty` for one phrase over and over.
    """
    from trl.rewards import get_repetition_penalty_reward

    if ngram_size < 1:
        raise ValueError(f"repetition reward: ngram_size must be at least 1, not {ngram_size}.")
    if max_penalty < 0:
        raise ValueError(
            f"repetition reward: max_penalty is the size of the largest penalty, so positive (not {max_penalty}); "
            "the reward is already negative."
        )
    return get_repetition_penalty_reward(ngram_size=ngram_size, max_penalty=-max_penalty)
