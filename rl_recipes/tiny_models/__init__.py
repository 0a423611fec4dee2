"""The models this repository trains itself, on CPU, to stand in for Hub models (`rl_recipes.embedded` builds
them on first use).

- `story_model`: the embedded default, a tiny Llama story model, and `story_corpus`, the stories it learns;
- `tool_model`: the tiny tool-using model, pretrained on the embedded tasks' transcripts (`rl_recipes.tasks`),
  and `chat_format`, its tokens, chat template and response template;
- `pretraining`: the Llama pretraining both share.
"""
