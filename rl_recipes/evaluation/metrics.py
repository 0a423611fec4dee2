"""A model's summary numbers: its rewards' means, how varied its completions are, how long they are."""

import math
import statistics


def distinct_2(texts: list[str]) -> float:
    """Distinct word bigrams over all bigrams, within completions; words, so that tokenizers compare alike."""
    bigrams = [pair for text in texts for pair in zip(text.split(), text.split()[1:])]
    return len(set(bigrams)) / len(bigrams) if bigrams else 0.0


def mean_of(values: list) -> float | None:
    """Mean of the values a reward gave; None (JSON null) when it gave none."""
    given = [value for value in values if value is not None]
    return statistics.fmean(given) if given else None


def pass_at_k(samples: int, successes: int, k: int) -> float:
    """The chance that at least one of k completions succeeds, estimated without bias from `samples` completions of
    which `successes` succeeded: 1 - C(samples - successes, k) / C(samples, k) (Chen et al., 2021, "Evaluating Large
    Language Models Trained on Code", eq. 1). Raises ValueError unless 1 <= k <= samples."""
    if not 1 <= k <= samples:
        raise ValueError(f"pass@{k} needs between 1 and {samples} samples")
    return 1.0 - math.comb(samples - successes, k) / math.comb(samples, k)


def pass_at(totals: list, samples: int, ks: list[int], success_reward: float) -> dict[str, float]:
    """{"pass@k": the mean over prompts of `pass_at_k`} for each k, from totals ordered prompt by prompt,
    `samples` a prompt; a completion succeeds when its total reward (None: unscored) is at least `success_reward`."""
    prompts = [totals[start : start + samples] for start in range(0, len(totals), samples)]
    successes = [sum(total is not None and total >= success_reward for total in group) for group in prompts]
    return {f"pass@{k}": statistics.fmean(pass_at_k(samples, count, k) for count in successes) for k in ks}


def model_figures(
    name: str, texts: list[str], lengths: list[int], per_reward: dict, totals: list, passes: dict | None = None
) -> dict:
    """The model's numbers. `distinct_fraction` is a fraction of its completions, unlike training's
    `distinct_completions`, which counts the distinct ones among the latest 50. `passes`: `pass_at`'s figures."""
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
        **(passes or {}),
    }
