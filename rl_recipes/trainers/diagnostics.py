"""Collapse diagnostics for any TRL online trainer: are the completions still varied?

A policy that fixates on one completion (the REINFORCE failure that the background text "REINFORCE vs RLOO"
describes; docs/background.md) shows it in two numbers: the token entropy of its completions, which TRL
already logs as `entropy`, and how many distinct completions it wrote lately, which this mixin logs as
`distinct_completions` (among the last `window` completions of all processes). It can also append every
completion, with its step and total reward, to a JSON-lines file, which the sweeps read (`rl_recipes.sweeps.analysis`).
`read_collapse` puts the end of a run into one line for the closing summary.
"""

import json
from collections import deque
from pathlib import Path

import torch

from rl_recipes.saving import strict_json
from rl_recipes.scoring import total_reward

DISTINCT_WINDOW = 50
# Below this mean token entropy (nats) sampling at temperature 1 is close to always picking the same
# token: the default run's tiny model starts near 0.5 and the collapsed runs of the background experiment end below 0.01.
LOW_ENTROPY = 0.05


def read_collapse(recent: list[str], last_batch: int, entropy: float | None) -> str | None:
    """One line saying how the completions collapsed, or None while they still vary.

    `recent` holds the latest completions, oldest first (the `distinct_completions` window), of which
    the last `last_batch` came from the last step; `entropy` is the last step's mean token entropy.
    """
    last = recent[-last_batch:] if last_batch else []
    if len(last) > 1 and len(set(last)) == 1:
        return f"all {len(last)} of the last completions are the same text"
    distinct = len(set(recent))
    if len(recent) > 1 and distinct <= max(1, len(recent) // 10):
        return f"only {distinct} distinct texts among the last {len(recent)} completions"
    if entropy is not None and entropy < LOW_ENTROPY:
        return f"token entropy {entropy:.3f}: sampling picks nearly the same token every time"
    return None


class CollapseDiagnosticsMixin:
    """Put before a TRL trainer class (RLOOTrainer, GRPOTrainer or a subclass) in the bases."""

    completions_file: Path | None = None  # where to append every completion, if anywhere

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        if not self.model.training:
            return output
        # The parent has just put this generation batch, gathered from all processes, in its logs.
        completions = [json.dumps(c, default=str) if not isinstance(c, str) else c for c in self._logs["completion"]]
        if not hasattr(self, "_recent_completions"):
            self._recent_completions = deque(maxlen=DISTINCT_WINDOW)
        self._recent_completions.extend(completions)
        self._metrics["train"]["distinct_completions"].append(len(set(self._recent_completions)))
        if self.completions_file is not None and self.accelerator.is_main_process:
            self._append_completions(completions)
        return output

    def collapse_summary(self) -> list[str]:
        """The diagnostics at the end of the run, and a one-line reading when they signal a collapse."""
        recent = list(getattr(self, "_recent_completions", []))
        entropies = [entry["entropy"] for entry in self.state.log_history if entry.get("entropy") is not None]
        entropy = entropies[-1] if entropies else None
        if not recent:
            return []
        lines = [
            f"at the end: {len(set(recent))} distinct of the last {len(recent)} completions"
            + (f", token entropy {entropy:.3f}" if entropy is not None else "")
        ]
        reading = read_collapse(recent, len(self._logs["completion"]), entropy)
        if reading:
            lines.append(f"collapse: {reading}")
        return lines

    def _append_completions(self, completions: list[str]) -> None:
        rewards_per_func = torch.tensor(
            [list(self._logs["rewards"][name]) for name in self.reward_func_names], dtype=torch.float64
        ).T
        # Unscorable completions (None from every reward) are NaN in TRL's total; the file has always written 0.
        totals = total_reward(rewards_per_func, self.reward_weights).nan_to_num(nan=0.0).tolist()
        # The prompt names the task, so that what the rollouts of one task did can be told apart (strategies per task).
        prompts = list(self._logs["prompt"])
        with open(self.completions_file, "a") as f:
            for prompt, completion, reward in zip(prompts, completions, totals, strict=True):
                record = {
                    "step": self.state.global_step + 1,
                    "prompt": prompt,
                    "completion": completion,
                    "reward": reward,
                }
                f.write(strict_json(record) + "\n")
