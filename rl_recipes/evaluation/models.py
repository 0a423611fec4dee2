"""The models to compare: each one checked before any loads (model, adapter or Hub id), then its tokenizer and
weights loaded as training had them."""

from dataclasses import dataclass
from pathlib import Path

from rl_recipes.checks import RecipeError, check_adapter_base, check_model_source
from rl_recipes.embedded import embedded_model


@dataclass
class Candidate:
    """A model to evaluate: its name as given, what to load, the base under an adapter, its tokenizer."""

    name: str
    path: str
    base: str | None = None
    tokenizer: object = None


def check_candidates(names: list[str], sources: list[str]) -> list[Candidate]:
    """Every model exists (or is a Hub id, cached when offline), and every adapter's base does."""
    candidates = []
    for name, source in zip(names, sources):
        path = Path(source).expanduser()
        check_model_source(source, setting="--models")
        if path.is_dir() and (path / "adapter_config.json").is_file():
            base = check_adapter_base(
                path,
                fix="merge it into a base that exists with "
                "scripts/merge_lora.py --base_model, and evaluate the merged model.",
            )
            candidates.append(Candidate(name, str(path.resolve()), base=base))
        elif path.is_dir() and not (path / "config.json").is_file() and embedded_model(source) is None:
            raise RecipeError(f"{name} holds neither config.json (a model) nor adapter_config.json (a LoRA adapter).")
        else:
            candidates.append(Candidate(name, source))
    return candidates


def load_tokenizer(candidate: Candidate):
    """The model's tokenizer; for an adapter, the one its run saved beside it, else the base's."""
    from transformers import AutoTokenizer

    has_own = candidate.base is None or (Path(candidate.path) / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(candidate.path if has_own else candidate.base)
    if tokenizer.pad_token is None:  # batches need a pad token; the end-of-sequence one is masked out anyway
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(candidate: Candidate, dtype: str, device: str):
    """The model in eval mode; an adapter is applied, unmerged, on its base as in training."""
    from transformers import AutoModelForCausalLM

    if candidate.base is None:
        model = AutoModelForCausalLM.from_pretrained(candidate.path, dtype=dtype)
    else:
        from peft import PeftModel

        model = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(candidate.base, dtype=dtype), candidate.path
        )
    return model.to(device).eval()
