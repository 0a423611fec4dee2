"""`reward_faults/<name>` counts the faulty samples of a generation batch over all processes."""

from collections import defaultdict
from types import SimpleNamespace

import torch

from rl_recipes.trainers import reward_guard
from rl_recipes.trainers.reward_guard import RewardGuardMixin, guard_rewards


def nan_for_odd(completions, **kwargs):
    return [float("nan") if i % 2 else 1.0 for i in range(len(completions))]


class ScoresEachReward:
    """The part of a TRL trainer that the guard sits on: every reward scores the local completions."""

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        return [func(prompts=prompts, completions=completions) for func in self.reward_funcs]


class GuardedTrainer(RewardGuardMixin, ScoresEachReward):
    def __init__(self):
        self.reward_funcs = guard_rewards([nan_for_odd], ["tests.test_reward_fault_counts.nan_for_odd"])
        self.reward_fault_policy = "skip"
        self.accelerator = SimpleNamespace(device=torch.device("cpu"))
        self.model = SimpleNamespace(training=True)
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}


def test_fault_counts_are_summed_over_processes(monkeypatch):
    # A second process whose batch had 3 faulty samples of this reward.
    monkeypatch.setattr(reward_guard, "gather", lambda local: torch.cat([local, torch.tensor([3.0])]))
    trainer = GuardedTrainer()
    trainer._calculate_rewards([], ["p"] * 4, ["a", "b", "c", "d"], [])
    assert trainer._metrics["train"]["reward_faults/nan_for_odd"] == [2.0 + 3.0]
