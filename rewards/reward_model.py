"""A sequence-classification model as the reward: a trained reward model, or a classifier such as a sentiment model.

The model loads once per model and dtype in each process, whole, in eval mode, on the process's
device, and scores in batches without gradients. Long texts are cut from the left, so that what is
judged, the end of the completion, is kept.

Under DeepSpeed ZeRO-3 the training arguments switch on ZeRO-3's initialisation, which would shard
any model loaded with `from_pretrained` across the processes. The reward model is only ever called
directly, outside a DeepSpeed engine, so it is loaded with that switched off: each process holds a
whole copy (a reward classifier is small next to the policy; for a large one, pick `dtype`).

The setting that picks the label is `score_label`, not `label`: TRL passes every dataset column to
the reward as a keyword argument, and many classification data sets (IMDB, SST-2) have a `label`
column, which would override the setting.
"""

import contextlib
import functools
import os

from rewards.text import completion_text

SCORE_TYPES = ("logit", "probability")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@contextlib.contextmanager
def zero3_init_off():
    """Load models whole: without the ZeRO-3 initialisation that DeepSpeed's training arguments turn on."""
    import transformers.integrations.deepspeed as hf_deepspeed

    saved = hf_deepspeed._hf_deepspeed_config_weak_ref  # what `is_deepspeed_zero3_enabled` reads
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_deepspeed._hf_deepspeed_config_weak_ref = saved


def load_reward_model(model_name_or_path: str, dtype: str = "auto"):
    """(model, tokenizer) for `model_name_or_path` in `dtype`, loaded once per process: reward names that
    point to the same model share it."""
    if dtype not in DTYPES:
        raise ValueError(f"reward_model: dtype '{dtype}' is not one of {', '.join(DTYPES)}.")
    local = os.path.expanduser(model_name_or_path)
    key = os.path.realpath(local) if os.path.isdir(local) else model_name_or_path
    return _load_reward_model(key, dtype)


@functools.lru_cache(maxsize=None)
def _load_reward_model(model_name_or_path: str, dtype: str):
    from accelerate import PartialState
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, truncation_side="left")
        with zero3_init_off():
            model = AutoModelForSequenceClassification.from_pretrained(model_name_or_path, dtype=dtype)
    except OSError as error:  # no such directory or Hub id, no network, or no model files in it
        reason = " ".join(str(error).split())
        raise ValueError(
            f"reward_model: cannot load '{model_name_or_path}' ({reason[:200]}): set "
            "reward_kwargs: {reward_model: {model_name_or_path: ...}} to a local directory or Hub id."
        ) from None
    if tokenizer.pad_token is None:  # decoder-based reward models often have no padding token
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:  # the model finds each sequence's last token by it
        model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(PartialState().device).eval(), tokenizer


def _label_index(config, score_label: str | None) -> int:
    labels = ", ".join(config.label2id)
    if score_label is None:
        if config.num_labels == 1:
            return 0
        raise ValueError(
            f"reward_model: the model has {config.num_labels} labels ({labels}); choose the one to score with "
            "reward_kwargs: {reward_model: {score_label: ...}}."
        )
    if score_label not in config.label2id:
        raise ValueError(f"reward_model: the model has no label '{score_label}'; its labels are {labels}.")
    return config.label2id[score_label]


def _text(prompt, completion, tokenizer, include_prompt: bool) -> str:
    if not include_prompt:
        return completion_text(completion)
    if isinstance(completion, str):
        return prompt + completion
    # A conversation reads as the reward model was trained to read one: through its chat template.
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(prompt + completion, tokenize=False)
    return "\n".join(message["content"] for message in prompt + completion)


def reward_model(
    prompts: list,
    completions: list,
    model_name_or_path: str | None = None,
    score_label: str | None = None,
    score_type: str = "logit",
    include_prompt: bool = True,
    batch_size: int = 16,
    dtype: str = "auto",
    **kwargs,
) -> list[float]:
    """The model's score of each completion, with its prompt in front when `include_prompt` (as TRL does).

    A model with one output scores with it; a classifier with several labels scores with the label
    `score_label` (as in the model's config.label2id). `score_type` "logit" gives the raw output,
    "probability" its sigmoid (one output, or a multi-label model) or its softmax over the labels.
    `dtype` is the weights' type: "auto" (as saved), "float32", "bfloat16" or "float16".
    """
    import torch

    if model_name_or_path is None:
        raise ValueError(
            "reward_model needs a model: set reward_kwargs: {reward_model: {model_name_or_path: ...}} "
            "to a local path or Hub id."
        )
    if score_type not in SCORE_TYPES:
        raise ValueError(f"reward_model: score_type '{score_type}' is not one of {', '.join(SCORE_TYPES)}.")
    model, tokenizer = load_reward_model(model_name_or_path, dtype)
    index = _label_index(model.config, score_label)
    # A chat template writes the special tokens itself; the tokenizer adds them to plain text.
    is_chat = bool(completions) and not isinstance(completions[0], str)
    templated = include_prompt and is_chat and bool(tokenizer.chat_template)
    max_length = min(tokenizer.model_max_length, getattr(model.config, "max_position_embeddings", float("inf")))
    texts = [_text(p, c, tokenizer, include_prompt) for p, c in zip(prompts, completions, strict=True)]
    scores = []
    for start in range(0, len(texts), batch_size):
        inputs = tokenizer(
            texts[start : start + batch_size],
            padding=True,
            padding_side="right",  # as TRL scores: an encoder reads its first token, which left padding would move
            truncation=True,
            max_length=max_length,
            add_special_tokens=not templated,
            return_tensors="pt",
        ).to(model.device)
        with torch.no_grad():
            logits = model(**inputs).logits.float()
        if score_type == "probability":
            multi_label = model.config.num_labels == 1 or model.config.problem_type == "multi_label_classification"
            logits = logits.sigmoid() if multi_label else logits.softmax(dim=-1)
        scores.extend(logits[:, index].tolist())
    return scores
