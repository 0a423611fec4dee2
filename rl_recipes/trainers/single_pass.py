"""Skip RLOOTrainer's log-probability pass where it cannot matter.

After generating, RLOOTrainer runs the policy once more without gradients to record each
completion's log-probability, `old_logps`. The loss uses it in the ratio p / p_old, which is 1
unless the policy has moved since generation: when a generation batch is reused (`num_iterations`
> 1) or spread over several optimizer steps (`steps_per_generation` > `gradient_accumulation_steps`).
The KL penalty (`beta` > 0) reads it too.
So does dropout: TRL's pass runs in train mode, so with active dropout (a LoRA adapter's
`lora_dropout`, an OPT model's `dropout`, ...) p_old comes from another dropout mask than p, the
ratio differs from 1 and may be clipped, and the pass changes the update; it is kept then, so that
the update is TRL's. Whether a model's dropout is active is decided by what it does, not by its
module types (many architectures call dropout as a function): a forward pass of the model in train
mode, once per model, that draws random numbers keeps the pass. In every other case,
the tiny-model recipes among them, the pass is pure cost: a whole forward pass over every
completion, 0.017 s of TRL's 0.22 s step (8%) on the tiny model at the default recipe's settings
(see `scripts/benchmark.py`).

TRL's GRPOTrainer already skips it in that case; this mixin does the same for RLOOTrainer and its
subclasses: the pass returns a placeholder, and the loss takes `old_logps` from its own forward
pass, detached, so the ratio is 1 and the gradient is TRL's (to float rounding: the two passes are
the same computation, so in float32 they agree to the last bit; in bf16 autocast they may differ
by rounding, which TRL's own two passes would too).
"""

import torch
from trl.models.utils import disable_gradient_checkpointing


class SinglePassMixin:
    """Put before RLOOTrainer (or a subclass) in the bases."""

    def old_logps_needed(self) -> bool:
        args = self.args
        return (
            self.num_iterations > 1
            or args.steps_per_generation != args.gradient_accumulation_steps
            or self.beta != 0.0
            or self._dropout_is_active()
        )

    def _dropout_is_active(self) -> bool:
        """`has_active_dropout` of the policy, probed once per model (every process probes at the same moment,
        as a ZeRO-3 forward pass needs them all)."""
        probed = getattr(self, "_dropout_probe", None)
        if probed is None or probed[0] is not self.model:
            with disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs):
                probed = (self.model, has_active_dropout(self.model))
            self._dropout_probe = probed
        return probed[1]

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
    """Whether a forward pass of `model` in train mode is random: whether it draws from the random-number
    generator (of the CPU, or of the model's GPU), as dropout with p > 0 does whatever calls it.

    Drawing, not a change in the output, is the test: a new LoRA adapter's output does not depend on its
    dropout until its B matrix has moved from zero, but from the first update on it does. The
    generator's state is restored afterwards, so that probing leaves the run's dropout masks and
    sampling as they would have been; the model's mode is restored too.
    """
    vocab_size = model.get_input_embeddings().num_embeddings
    device = next(model.parameters()).device
    input_ids = torch.arange(1, 17, device=device).remainder(vocab_size).view(2, 8)
    devices = [device] if device.type == "cuda" else []
    was_training = model.training
    try:
        model.train()
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            before = generator_states(devices)
            model(input_ids=input_ids)
            after = generator_states(devices)
    finally:
        model.train(was_training)
    return any(not torch.equal(b, a) for b, a in zip(before, after))


def generator_states(devices: list) -> list[torch.Tensor]:
    return [torch.get_rng_state(), *(torch.cuda.get_rng_state(device) for device in devices)]
