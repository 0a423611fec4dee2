"""Completions sampled as the trainers sample them: RLOOConfig's settings over the model's generation config, in
batches, left padding, each cut after its first end-of-sequence token."""

from rl_recipes.evaluation.arguments import EvaluateArguments


def sampling_config(model_config, temperature: float):
    """The model's generation config with the trainers' sampling settings over it, as TRL sets them when it
    generates: RLOOConfig's top_p, top_k, min_p and repetition_penalty, so that no setting of the model's own
    (an instruct model's repetition penalty, say) changes what is sampled."""
    from dataclasses import fields

    from transformers import GenerationConfig
    from trl import RLOOConfig

    trainer_settings = {
        f.name: f.default for f in fields(RLOOConfig) if f.name in ("top_p", "top_k", "min_p", "repetition_penalty")
    }
    config = GenerationConfig.from_dict(model_config.to_dict())
    config.update(do_sample=True, temperature=temperature, **trainer_settings)
    return config


class Sampler:
    """Continuations of token-id rows, sampled as the trainers sample (`sampling_config`), in batches, each cut after
    its first end-of-sequence token."""

    def __init__(self, model, tokenizer, args: EvaluateArguments, device: str):
        import torch

        eos_ids = model.generation_config.eos_token_id
        if eos_ids is None:
            eos_ids = tokenizer.eos_token_id
        self.eos_ids = torch.tensor([eos_ids] if isinstance(eos_ids, int) else eos_ids, device=device)
        self.config = sampling_config(model.generation_config, args.temperature)
        self.config.update(pad_token_id=tokenizer.pad_token_id, eos_token_id=self.eos_ids.tolist())
        self.model, self.tokenizer, self.batch_size, self.device = model, tokenizer, args.batch_size, device

    def __call__(self, rows: list[list[int]], max_new_tokens: int) -> list[list[int]]:
        import torch

        self.config.max_new_tokens = max_new_tokens
        continuations = []
        for start in range(0, len(rows), self.batch_size):
            batch = self.tokenizer.pad(
                {"input_ids": rows[start : start + self.batch_size]}, padding_side="left", return_tensors="pt"
            ).to(self.device)
            with torch.no_grad():
                sequences = self.model.generate(**batch, generation_config=self.config)
            for ids in sequences[:, batch["input_ids"].shape[1] :]:
                is_eos = torch.isin(ids, self.eos_ids)
                end = int(is_eos.int().argmax()) + 1 if is_eos.any() else len(ids)
                continuations.append(ids[:end].tolist())
        return continuations


def sample(model, tokenizer, prompt_ids: list[list[int]], args: EvaluateArguments, device: str) -> list[list[int]]:
    """`num_samples` completions of each prompt (prompt-major), each cut after its first end-of-sequence token."""
    import torch

    torch.manual_seed(args.seed)
    return Sampler(model, tokenizer, args, device)(
        [ids for ids in prompt_ids for _ in range(args.num_samples)], args.max_completion_length
    )
