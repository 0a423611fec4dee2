import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rewards.a_words import count_a_words
from rl_recipes.tiny_models.story_corpus import generate_corpus


def test_corpus_has_thousands_of_distinct_stories_that_open_like_the_prompt():
    stories = generate_corpus(5000, seed=1)
    assert len(set(stories)) > 4900
    assert all(story.startswith("Once upon a time") for story in stories)
    # Not one template: the stories differ in their second sentence too.
    assert len({story.split(". ")[1] for story in stories}) > 1000


def test_corpus_is_reproducible_from_its_seed():
    assert generate_corpus(50, seed=3) == generate_corpus(50, seed=3)
    assert generate_corpus(50, seed=3) != generate_corpus(50, seed=4)


def test_tiny_model_loads_like_a_hub_model_and_is_about_a_million_parameters(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert model.config.model_type == "llama"
    assert 0.5e6 < model.num_parameters() < 2e6
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    # The prompt is read as the start of a story: it begins with the end-of-text token, as in pretraining.
    assert tokenizer("Once upon a time")["input_ids"][0] == tokenizer.eos_token_id


def test_tiny_model_writes_stories_that_read_like_its_corpus(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    inputs = tokenizer(["Once upon a time"], return_tensors="pt")
    torch.manual_seed(0)
    outputs = model.generate(**inputs, do_sample=True, max_new_tokens=60, num_return_sequences=8)
    texts = tokenizer.batch_decode(outputs[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    corpus_words = {word.strip('.,!?"') for story in generate_corpus(2000) for word in story.split()}
    words = [word.strip('.,!?"') for text in texts for word in text.split()]
    assert len(words) > 8 * 20
    # Fluent enough to be mostly corpus vocabulary, varied enough to be more than one memorised story.
    assert sum(word in corpus_words for word in words) / len(words) > 0.9
    assert len(set(texts)) == 8
    # Untrained for the task: a-words are rare, which leaves RL something to learn.
    assert sum(count_a_words(text) for text in texts) / 8 < 15
