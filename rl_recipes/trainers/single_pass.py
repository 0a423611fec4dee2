"""Skip RLOOTrainer's log-probability pass where it cannot matter.

After generating, RLOOTrainer runs the policy once more without gradients to record each
completion's log-probability, `old_logps`. The loss uses it in the ratio p / p_old, which is 1
unless the policy has moved since generation: when a generation batch is reused (`num_iterations`
> 1) or spread over several optimizer steps (`steps_per_generation` > `gradient_accumulation_steps`).
The KL penalty (`beta` > 0) reads it too. So does dropout: TRL's pass runs in train mode, so with
active dropout (a LoRA adapter's `lora_dropout`, say) p_old comes from another dropout mask than p,
the ratio differs from 1 and is clipped, and the pass changes the update; it is kept then, so that
the update is always exactly TRL's. In every other case, the tiny-model recipes among them, the pass
is pure cost: a whole forward pass over every completion, 0.017 s of TRL's 0.22 s step (8%) on the
tiny model at the default recipe's settings (see `scripts/benchmark.py`, and the README's Performance).

TRL's GRPOTrainer already skips it in that case; this mixin does the same for RLOOTrainer and its
subclasses: the pass returns a placeholder, and the loss takes `old_logps` from its own forward
pass, detached, so the ratio is exactly 1 and the gradient is unchanged.
"""

import torch


class SinglePassMixin:
    """Put before RLOOTrainer (or a subclass) in the bases."""

    def old_logps_needed(self) -> bool:
        args = self.args
        return (
            self.num_iterations > 1
            or args.steps_per_generation != args.gradient_accumulation_steps
            or self.beta != 0.0
            or has_active_dropout(self.model)
        )

    def _compute_loss(self, model, inputs):
        self._loss_inputs = inputs  # where the forward pass below puts old_logps, before the loss reads it
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._loss_inputs = None

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        skip = not self.old_logps_needed()
        # The pass after generation: the policy itself, no gradients, no entropies.
        if skip and model is self.model and not torch.is_grad_enabled() and not kwargs.get("compute_entropy"):
            return torch.zeros(input_ids.size(0), logits_to_keep, device=input_ids.device), None, None
        logps, entropies, aux_loss = super()._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
        )
        loss_inputs = getattr(self, "_loss_inputs", None)
        if skip and loss_inputs is not None:
            loss_inputs["old_logps"] = (logps.detach() * loss_inputs["completion_mask"]).sum(1)
        return logps, entropies, aux_loss


def has_active_dropout(model) -> bool:
    """Whether a forward pass in train mode is random: a dropout layer, or attention dropout set in the config."""
    if any(isinstance(module, torch.nn.Dropout) and module.p > 0 for module in model.modules()):
        return True
    config = getattr(model, "config", None)
    return bool(getattr(config, "attention_dropout", 0.0))
