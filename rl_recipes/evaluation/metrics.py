"""A model's summary numbers: its rewards' means, how varied its completions are, how long they are."""

import statistics


def distinct_2(texts: list[str]) -> float:
    """Distinct word bigrams over all bigrams, within completions; words, so that tokenizers compare alike."""
    bigrams = [pair for text in texts for pair in zip(text.split(), text.split()[1:])]
    return len(set(bigrams)) / len(bigrams) if bigrams else 0.0


def mean_of(values: list) -> float | None:
    """Mean of the values a reward gave; None (JSON null) when it gave none."""
    given = [value for value in values if value is not None]
    return statistics.fmean(given) if given else None


def model_figures(name: str, texts: list[str], lengths: list[int], per_reward: dict, totals: list) -> dict:
    """The model's numbers. `distinct_fraction` is a fraction of its completions, unlike training's
    `distinct_completions`, which counts the distinct ones among the latest 50."""
    scored = [total for total in totals if total is not None]
    return {
        "model": name,
        "completions": len(texts),
        "reward_mean": mean_of(totals),
        "reward_std": statistics.pstdev(scored) if scored else None,
        "reward_left_out": len(totals) - len(scored),
        "rewards": {
            reward: {"mean": mean_of(values), "left_out": values.count(None)} for reward, values in per_reward.items()
        },
        "distinct_fraction": len(set(texts)) / len(texts),
        "distinct_2": distinct_2(texts),
        "mean_length": statistics.fmean(lengths),
    }
