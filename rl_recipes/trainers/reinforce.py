"""REINFORCE as a subclass of TRL's RLOOTrainer.

REINFORCE (Williams, 1992) moves the policy along A_i * grad log p(c_i | prompt), with the advantage
A_i the reward of completion c_i minus a baseline b that does not depend on c_i. RLOO (Ahmadian et
al., 2024) is REINFORCE whose baseline is the mean reward of the other k-1 completions of the same
prompt, so it needs k >= 2 generations per prompt, and TRL's RLOOConfig enforces that. This trainer
keeps everything of RLOOTrainer (generation, reward scoring, the KL penalty in the reward, logging,
LoRA, vLLM, distributed launch) and replaces only the advantage, with one of three baselines:

- `none`: A_i = r_i, the vanilla REINFORCE of the background text "REINFORCE vs RLOO" (docs/background.md);
  works with one generation per step.
- `moving_average`: A_i = r_i - b, b an exponential moving average of earlier steps' mean rewards
  (the text's "recent rewards as a baseline"); b starts at the first step's mean reward.
- `batch_mean`: A_i = r_i - mean of the rewards of the whole generation batch (all prompts).

The loss is RLOOTrainer's: -mean_i(A_i * ratio_i) with the sequence log-probability ratio clipped
to [1 - epsilon, 1 + epsilon]. With one optimisation pass per generation batch (`num_iterations=1`,
the default) the ratio is exactly 1 in value, so the gradient is -(1/N) sum_i A_i grad log p(c_i).

Departures from the text: its REINFORCE adds reward x gradient with plain SGD; here that is the
default (`optim: sgd`, constant learning rate, no gradient clipping, beta 0), and every one of those
can be changed like any TrainingArguments field.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate.utils import gather
from transformers.utils import logging
from trl import RLOOConfig, RLOOTrainer
from trl.trainer.utils import nanstd

from rl_recipes.checkpoints import newest_complete_checkpoint
from rl_recipes.saving import strict_json
from rl_recipes.scoring import total_reward
from rl_recipes.trainers.agent_rloo import AgentRLOOTrainer, ToolCallSettings

logger = logging.get_logger(__name__)

BASELINES = ("none", "moving_average", "batch_mean")
BASELINE_STATE_FILE = "reinforce_baseline.json"


@dataclass
class ReinforceConfig(ToolCallSettings, RLOOConfig):
    """RLOOConfig that accepts one generation per prompt, plus the choice of REINFORCE baseline and, for agents, the
    settings of tool calls (`ToolCallSettings`)."""

    baseline: str = field(
        default="none",
        metadata={"help": "Baseline subtracted from the reward.", "choices": list(BASELINES)},
    )
    baseline_decay: float = field(
        default=0.9,
        metadata={"help": "Decay of the moving-average baseline: b <- decay * b + (1 - decay) * mean reward."},
    )
    # The REINFORCE of "REINFORCE vs RLOO" (docs/background.md): one generation per step, plain SGD, constant
    # learning rate, no gradient clipping, no KL penalty.
    num_generations: int | None = field(default=1, metadata={"help": "Generations per prompt (1 is allowed)."})
    optim: str = field(default="sgd", metadata={"help": "Optimizer; plain SGD adds lr x advantage x gradient."})
    lr_scheduler_type: str = field(default="constant", metadata={"help": "Learning-rate schedule."})
    max_grad_norm: float = field(default=0.0, metadata={"help": "Gradient clipping norm; 0 turns clipping off."})
    beta: float = field(default=0.0, metadata={"help": "KL coefficient (KL to the reference in the reward)."})

    def __post_init__(self):
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {', '.join(BASELINES)}, not '{self.baseline}'.")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ValueError(f"baseline_decay must be in [0, 1), not {self.baseline_decay}.")
        try:
            super().__post_init__()
        except ValueError as error:
            # RLOOConfig's last check rejects one generation per prompt, the case REINFORCE is for;
            # every check before it has run by now.
            if self.num_generations != 1 or "at least 2 generations" not in str(error):
                raise
        self.check_tool_call_settings()
        if self.baseline == "batch_mean" and self.generation_batch_size < 2:
            raise ValueError(
                "baseline 'batch_mean' with a generation batch of 1 makes every advantage 0: "
                "raise per_device_train_batch_size or steps_per_generation, or pick another baseline."
            )
        if self.normalize_advantages and self.generation_batch_size < 2:
            # The standard deviation of one value is NaN (TRL's nanstd), and a NaN advantage becomes 0.
            raise ValueError(
                "normalize_advantages with a generation batch of 1 makes every advantage 0: "
                "raise per_device_train_batch_size or steps_per_generation, or set normalize_advantages false."
            )


class MovingAverageBaseline:
    """Exponential moving average of mean rewards; its value is saved with each checkpoint."""

    def __init__(self, decay: float):
        self.decay = decay
        self.value: float | None = None

    def update(self, mean_reward: float) -> None:
        self.value = mean_reward if self.value is None else self.decay * self.value + (1 - self.decay) * mean_reward

    def save(self, path: Path) -> None:
        path.write_text(strict_json({"decay": self.decay, "value": self.value}))

    def load(self, path: Path) -> None:
        self.value = json.loads(path.read_text())["value"]


class ReinforceTrainer(RLOOTrainer):
    """RLOOTrainer with a REINFORCE advantage (see the module docstring and `ReinforceConfig.baseline`)."""

    _tag_names = ["trl", "reinforce"]

    _scoring_passes: list | None = None  # log-probabilities computed while a generation batch is scored

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.moving_average = MovingAverageBaseline(self.args.baseline_decay)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        # Kept for the advantage: the parent's own advantage is zero with one generation per prompt.
        self._rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        return self._rewards_per_func

    def _get_per_token_logps_and_entropies(self, model, *args, **kwargs):
        logps, entropies, aux_loss = super()._get_per_token_logps_and_entropies(model, *args, **kwargs)
        if self._scoring_passes is not None:
            self._scoring_passes.append(logps)
        return logps, entropies, aux_loss

    def _generate_and_score_completions(self, inputs):
        # The parent's passes after generation: the policy's (old_logps), then with beta > 0 the reference's,
        # under TRL's own context managers (adapter disabled for a PEFT model, ...). Kept for the KL penalty.
        self._scoring_passes = []
        try:
            output = super()._generate_and_score_completions(inputs)
        finally:
            scoring_passes, self._scoring_passes = self._scoring_passes, None
        self._ref_logps = scoring_passes[-1] if self.beta != 0.0 else None
        if not self.model.training:
            return output  # evaluation keeps the parent's leave-one-out advantage
        rewards = self._total_rewards(self._rewards_per_func, output)  # all processes' completions
        if torch.isnan(rewards).all():
            # No completion could be scored: nothing to learn from, and a mean of nothing (NaN) must not
            # reach the moving average, which would stay NaN and zero every later advantage.
            output["advantages"] = torch.zeros(len(inputs), device=rewards.device)
            self._metrics["train"]["skipped_batches"].append(1.0)
            if self.accelerator.is_main_process:
                logger.warning(
                    "Step %d: no completion of the batch has a reward; the batch is skipped.",
                    self.state.global_step + 1,
                )
            return output
        baseline = self._baseline(rewards)
        advantages = rewards - baseline
        if self.normalize_advantages:
            advantages = (advantages - torch.nanmean(advantages)) / (nanstd(advantages) + 1e-4)
        advantages = torch.nan_to_num(advantages, nan=0.0)  # unscorable completions carry no signal

        local = slice(self.accelerator.process_index * len(inputs), (self.accelerator.process_index + 1) * len(inputs))
        output["advantages"] = advantages[local]
        self._metrics["train"]["baseline"].append(baseline)
        # The completions table shows the advantages the loss uses, not the parent's zeros.
        for _ in range(len(advantages)):
            self._logs["advantages"].pop()
        self._logs["advantages"].extend(advantages.tolist())
        return output

    def _baseline(self, rewards: torch.Tensor) -> float:
        if self.args.baseline == "none":
            return 0.0
        mean_reward = torch.nanmean(rewards).item()
        if self.args.baseline == "batch_mean":
            return mean_reward
        if self.moving_average.value is None:
            self.moving_average.update(mean_reward)
        baseline = self.moving_average.value
        self.moving_average.update(mean_reward)
        return baseline

    def _total_rewards(self, rewards_per_func: torch.Tensor, output: dict) -> torch.Tensor:
        """The reward RLOOTrainer optimises: weighted sum over reward functions, clipped, minus beta x KL."""
        rewards = total_reward(rewards_per_func, self.reward_weights)
        if self.reward_clip_range:
            rewards = rewards.clamp(min=self.reward_clip_range[0], max=self.reward_clip_range[1])
        if self.beta != 0.0:
            # RLOOTrainer's sequence KL, from the reference pass it has already run.
            kl = output["old_logps"] - (self._ref_logps * output["completion_mask"]).sum(dim=1)
            rewards = rewards - self.beta * gather(kl)
        return rewards

    def save_model(self, output_dir=None, _internal_call=False):
        super().save_model(output_dir, _internal_call)
        # A checkpoint's model is saved first and its trainer_state.json last: the baseline saved here is
        # in every complete checkpoint (see rl_recipes.checkpoints).
        if _internal_call and self.args.should_save:
            self.moving_average.save(Path(output_dir or self.args.output_dir) / BASELINE_STATE_FILE)

    def train(self, resume_from_checkpoint=None, **kwargs):
        checkpoint = resume_from_checkpoint
        if checkpoint is True:
            checkpoint, _ = newest_complete_checkpoint(self.args.output_dir)
            resume_from_checkpoint = str(checkpoint) if checkpoint else True
        if checkpoint and os.path.isfile(Path(checkpoint) / BASELINE_STATE_FILE):
            self.moving_average.load(Path(checkpoint) / BASELINE_STATE_FILE)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)


class AgentReinforceTrainer(ReinforceTrainer, AgentRLOOTrainer):
    """REINFORCE (`ReinforceTrainer`'s advantage) over tool-using rollouts (`AgentRLOOTrainer`'s loop and masking,
    which sit below the advantage in the method order, so the baseline and the KL read masked log-probabilities)."""
