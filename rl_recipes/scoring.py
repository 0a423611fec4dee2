"""The weighted total reward of each completion, by TRL's rule, for every place that sums the rewards."""

import torch


def total_reward(rewards_per_func: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Each completion's total: the weighted sum of its rewards, NaN where no reward scored it.

    `rewards_per_func` is (n completions, f reward functions), NaN where a function returned None; `weights` is
    (f,). Returns (n,), in the promoted dtype of the two, on `rewards_per_func`'s device.

    The rule is TRL's (`RLOOTrainer._generate_and_score_completions`, trl/trainer/rloo_trainer.py, TRL 1.16): a
    missing reward adds nothing (`nansum` of the weighted rewards), and a completion that every function left out
    stays NaN, since `nansum` would make it 0, which biases a leave-one-out baseline and reads as a real score.
    """
    rewards = (rewards_per_func * weights.to(rewards_per_func.device).unsqueeze(0)).nansum(dim=1)
    rewards[torch.isnan(rewards_per_func).all(dim=1)] = torch.nan
    return rewards
