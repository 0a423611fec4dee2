"""Collapse diagnostics for any TRL online trainer: are the completions still varied?

A policy that fixates on one completion (the background text's REINFORCE failure) shows it in two
numbers: the token entropy of its completions, which TRL already logs as `entropy`, and how many
distinct completions it wrote lately, which this mixin logs as `distinct_completions` (among the
last `window` completions of all processes). It can also append every completion, with its step and
total reward, to a JSON-lines file, which `scripts/compare.py` reads.
"""

import json
from collections import deque
from pathlib import Path

DISTINCT_WINDOW = 50


class CollapseDiagnosticsMixin:
    """Put before a TRL trainer class (RLOOTrainer, GRPOTrainer or a subclass) in the bases."""

    completions_file: Path | None = None  # where to append every completion, if anywhere

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        if not self.model.training:
            return output
        # The parent has just put this generation batch, gathered from all processes, in its logs.
        completions = [json.dumps(c) if not isinstance(c, str) else c for c in self._logs["completion"]]
        if not hasattr(self, "_recent_completions"):
            self._recent_completions = deque(maxlen=DISTINCT_WINDOW)
        self._recent_completions.extend(completions)
        self._metrics["train"]["distinct_completions"].append(len(set(self._recent_completions)))
        if self.completions_file is not None and self.accelerator.is_main_process:
            self._append_completions(completions)
        return output

    def _append_completions(self, completions: list[str]) -> None:
        weights = self.reward_weights.tolist()
        per_func = [list(self._logs["rewards"][name]) for name in self.reward_func_names]
        with open(self.completions_file, "a") as f:
            for i, completion in enumerate(completions):
                # Unscorable completions (None from every reward) come back as NaN; they add nothing.
                reward = sum(w * r[i] for w, r in zip(weights, per_func) if r[i] == r[i])
                f.write(json.dumps({"step": self.state.global_step + 1, "completion": completion, "reward": reward}) + "\n")
