"""The floor: the work of an RLOO step done with plain PyTorch and no framework (the model's `generate`, the reward,
one leave-one-out advantage-weighted log-likelihood step with AdamW), timed in the same phases as the trainers."""

import torch

from rl_recipes.benchmarking.arguments import BenchmarkArguments
from rl_recipes.benchmarking.timing import PhaseTimer, contender_figures

FLOOR = "floor (plain PyTorch)"


def time_floor(args: BenchmarkArguments, memory) -> dict:
    """The same work with no framework: generate, score, one REINFORCE/RLOO step with AdamW."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rewards import a_words

    torch.manual_seed(0)
    dtype = torch.bfloat16 if args.dtype == "bfloat16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(args.model_name_or_path, dtype=dtype).to(args.device)
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
    if args.use_peft:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
        )
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    prompt = tokenizer(["Once upon a time"] * args.generations_per_step, return_tensors="pt").to(args.device)
    prompt_length = prompt["input_ids"].shape[1]
    timer = PhaseTimer(args.device)
    memory.reset()
    for _ in range(args.warmup_steps + args.steps):
        timer.begin()
        start = timer.now()
        model.eval()
        with torch.no_grad():
            sequences = model.generate(
                **prompt,
                do_sample=True,
                max_new_tokens=args.completion_length,
                top_k=0,
                top_p=1.0,
                temperature=1.0,
                pad_token_id=tokenizer.pad_token_id,
            )
        timer.current["generation"] = timer.now() - start
        completion_ids = sequences[:, prompt_length:]
        # Tokens up to and including the first EOS belong to the completion; the rest is padding.
        is_eos = completion_ids == tokenizer.eos_token_id
        first_eos = torch.where(is_eos.any(1), is_eos.int().argmax(1), completion_ids.shape[1])
        mask = (torch.arange(completion_ids.shape[1], device=args.device)[None] <= first_eos[:, None]).float()

        start = timer.now()
        texts = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
        rewards = torch.tensor(a_words(completions=texts), device=args.device)
        timer.current["scoring"] = timer.now() - start

        start = timer.now()
        model.train()
        advantages = rewards - (rewards.sum() - rewards) / (len(rewards) - 1)  # leave-one-out
        attention = torch.cat([prompt["attention_mask"], mask.long()], dim=1)
        logits = model(input_ids=sequences, attention_mask=attention).logits[:, prompt_length - 1 : -1].float()
        token_logps = torch.log_softmax(logits, -1).gather(2, completion_ids.unsqueeze(2)).squeeze(2)
        loss = -(advantages * (token_logps * mask).sum(1)).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        timer.current["update"] = timer.now() - start
        timer.end(tokens=int(mask.sum().item()))
    peak = memory.read_mib()
    return contender_figures(FLOOR, timer.steps[args.warmup_steps :], args.generations_per_step, peak, [])
