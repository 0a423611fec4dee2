"""The calculator task: arithmetic a tiny model cannot do in its head, with stateless tools that can.

A question asks for the difference of two two-digit numbers, one call ("What is 89 - 47?"), or for a
product and then a sum, which takes two calls, the second using the first's result ("What is 7 * 83 +
15?"). Every number stays below 1000, one token each for the tiny model (`rl_recipes.tiny_models.chat_format`).

- `tools`: `add`, `subtract` and `multiply`, the tools recipes name by these bare names;
- `data`: the questions, their answers and the calls that solve them, as data set rows;
- `reward`: `calculator_answer`, 1 when the final turn is "The answer is N." with N right;
- `pretraining`: the tool model's calculator transcripts, tools used well or a guess.
"""
