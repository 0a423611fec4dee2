"""A generator of short children's stories: the pretraining corpus of the embedded tiny model.

The stories stand in for a real story data set (TinyStories and the like), which cannot be fetched
here. Every story opens with "Once upon a time", as the prompt of the background experiment does, and
is built from a handful of plot shapes (a lost thing found, a new friend, a trip, a rainy day, baking,
a wish), each sentence drawn from several phrasings and filled with names, animals, objects, places,
feelings and lines of dialogue. A seed makes the corpus reproducible.
"""

import random

NAMES = [
    "Lily",
    "Tom",
    "Mia",
    "Ben",
    "Sara",
    "Max",
    "Anna",
    "Sam",
    "Lucy",
    "Jack",
    "Emma",
    "Tim",
    "Zoe",
    "Leo",
    "Ella",
    "Finn",
    "Ruby",
    "Noah",
    "Amy",
    "Oscar",
    "Ivy",
    "Jake",
    "Nora",
    "Adam",
]
ANIMALS = [
    "cat",
    "dog",
    "bunny",
    "bird",
    "frog",
    "duck",
    "bear",
    "fox",
    "mouse",
    "owl",
    "pig",
    "lamb",
    "turtle",
    "puppy",
    "kitten",
    "squirrel",
    "horse",
    "ant",
    "alligator",
    "elephant",
]
OBJECTS = [
    "ball",
    "kite",
    "hat",
    "book",
    "doll",
    "toy car",
    "red cup",
    "blue box",
    "shiny stone",
    "drum",
    "teddy bear",
    "balloon",
    "apple",
    "little boat",
    "crayon",
    "scarf",
    "spoon",
    "star sticker",
]
PLACES = [
    "park",
    "garden",
    "forest",
    "beach",
    "farm",
    "pond",
    "hill",
    "town",
    "school",
    "zoo",
    "river",
    "meadow",
    "market",
    "attic",
    "playground",
    "big tree",
]
ADJECTIVES = [
    "big",
    "small",
    "happy",
    "sleepy",
    "brave",
    "kind",
    "silly",
    "shy",
    "curious",
    "little",
    "tiny",
    "fluffy",
    "funny",
    "gentle",
    "quiet",
    "clever",
]
FEELINGS = ["happy", "sad", "scared", "excited", "proud", "surprised", "tired", "glad", "worried", "calm"]
FOODS = ["cake", "cookies", "soup", "bread", "pie", "apples", "berries", "pancakes", "carrots", "honey"]
WEATHER = ["sunny", "rainy", "windy", "snowy", "cloudy", "warm", "cold"]
TIMES = ["One day", "One morning", "Every day", "In the evening", "After lunch", "That day", "Later"]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _pick_cast(rng: random.Random) -> dict:
    hero, friend = rng.sample(NAMES, 2)
    animal, other_animal = rng.sample(ANIMALS, 2)
    return {
        "hero": hero,
        "friend": friend,
        "animal": animal,
        "other_animal": other_animal,
        "object": rng.choice(OBJECTS),
        "place": rng.choice(PLACES),
        "other_place": rng.choice(PLACES),
        "adj": rng.choice(ADJECTIVES),
        "feeling": rng.choice(FEELINGS),
        "food": rng.choice(FOODS),
        "weather": rng.choice(WEATHER),
        "time": rng.choice(TIMES),
        "pronoun": rng.choice(["he", "she"]),
    }


def _opening(rng: random.Random, c: dict) -> str:
    return rng.choice(
        [
            f"Once upon a time, there was {_article(c['adj'])} {c['adj']} {c['animal']} named {c['hero']}.",
            f"Once upon a time, there was a {c['adj']} girl named {c['hero']}.",
            f"Once upon a time, there was a {c['adj']} boy named {c['hero']}.",
            f"Once upon a time, in a {c['adj']} {c['place']}, there lived {_article(c['animal'])} {c['animal']}.",
            f"Once upon a time, {c['hero']} lived near a {c['place']} with {'his' if c['pronoun'] == 'he' else 'her'} mom.",
            f"Once upon a time, {_article(c['animal'])} {c['animal']} and {_article(c['other_animal'])} {c['other_animal']} were best friends.",
        ]
    )


def _lost_and_found(rng: random.Random, c: dict) -> list[str]:
    return [
        f"{c['hero']} had a {c['object']} that {c['pronoun']} loved very much.",
        rng.choice(
            [
                f"{c['time']}, {c['hero']} could not find the {c['object']}.",
                f"{c['time']}, the {c['object']} was gone!",
            ]
        ),
        f'{c["hero"]} felt {c["feeling"]}. "Where is my {c["object"]}?" {c["pronoun"]} asked.',
        rng.choice(
            [
                f"{c['hero']} looked in the {c['place']} and under the bed.",
                f"{c['hero']} looked everywhere, but it was not there.",
            ]
        ),
        f'Then a {c["animal"]} came by and said, "I saw it near the {c["other_place"]}!"',
        f"They went to the {c['other_place']} together, and there it was.",
        rng.choice(
            [
                f'{c["hero"]} hugged the {c["animal"]} and said, "Thank you!"',
                f"{c['hero']} was so happy. {c['pronoun'].capitalize()} never lost the {c['object']} again.",
            ]
        ),
    ]


def _new_friend(rng: random.Random, c: dict) -> list[str]:
    return [
        f"{c['time']}, {c['hero']} went to the {c['place']} to play.",
        f"There {c['pronoun']} saw {_article(c['adj'])} {c['adj']} {c['other_animal']} sitting all alone.",
        f'"Hello, do you want to play with me?" asked {c["hero"]}.',
        rng.choice(
            [
                f"The {c['other_animal']} was shy, but it said yes.",
                f'The {c["other_animal"]} smiled and said, "Yes, please!"',
            ]
        ),
        f"They played with a {c['object']} and ran around the {c['place']}.",
        rng.choice(
            [
                f"When the sun went down, they were tired and {c['feeling']}.",
                "They laughed and laughed until it was time to go home.",
            ]
        ),
        f"From that day on, {c['hero']} and the {c['other_animal']} were best friends.",
    ]


def _trip(rng: random.Random, c: dict) -> list[str]:
    return [
        f"{c['time']}, {c['hero']} and {c['friend']} went on a trip to the {c['place']}.",
        f"It was a {c['weather']} day, and they took a {c['object']} with them.",
        rng.choice(
            [
                f"On the way, they met {_article(c['animal'])} {c['animal']} who was lost.",
                f"At the {c['place']}, they found a path they had never seen before.",
            ]
        ),
        f'"Let us help!" said {c["friend"]}. "We can go together."',
        rng.choice(
            [
                f"They walked to the {c['other_place']} and ate {c['food']} under a tree.",
                f"They sang a song and shared some {c['food']}.",
            ]
        ),
        f"At the end of the day, {c['hero']} felt {c['feeling']}.",
        "It was the best trip ever.",
    ]


def _rainy_day(rng: random.Random, c: dict) -> list[str]:
    return [
        f"{c['time']}, it was too {rng.choice(['rainy', 'cold', 'windy'])} to go outside.",
        f"{c['hero']} was bored and a little {c['feeling']}.",
        'Mom said, "Why don\'t you build a fort with a blanket?"',
        rng.choice(
            [
                f"{c['hero']} and the {c['animal']} made a big fort in the living room.",
                f"{c['hero']} got a box, a blanket and a {c['object']}.",
            ]
        ),
        f"Inside the fort, they read a book about {_article(c['other_animal'])} {c['other_animal']}.",
        rng.choice(
            [
                "Soon the rain stopped and the sun came out.",
                "They had so much fun that they forgot about the rain.",
            ]
        ),
        f'"This is the best day," said {c["hero"]}.',
    ]


def _baking(rng: random.Random, c: dict) -> list[str]:
    return [
        f"{c['time']}, {c['hero']} wanted to make {c['food']} for {c['friend']}.",
        f"{c['pronoun'].capitalize()} got a bowl, a spoon and some flour.",
        rng.choice(
            [
                f"The {c['animal']} wanted to help, but it made a big mess.",
                f"Flour went all over the floor, and {c['hero']} laughed.",
            ]
        ),
        f'"Oh no!" said {c["hero"]}. "Let us try again."',
        f"This time, they were careful, and the {c['food']} smelled so good.",
        rng.choice(
            [
                f'{c["friend"]} came over and said, "Yum! Thank you, {c["hero"]}!"',
                f"They shared the {c['food']} with all their friends at the {c['place']}.",
            ]
        ),
        f"Everyone was {c['feeling']}, and they ate it all up.",
    ]


def _wish(rng: random.Random, c: dict) -> list[str]:
    return [
        f"{c['hero']} wished to see the top of the {c['place']}.",
        f'{c["time"]}, {c["pronoun"]} asked {_article(c["animal"])} {c["animal"]}, "Can you help me?"',
        rng.choice(
            [
                f'The {c["animal"]} said, "Climb on my back, and hold on tight!"',
                f"The {c['animal']} thought and thought, and then it had an idea.",
            ]
        ),
        f"They went up and up, past a {c['object']} and a {c['adj']} {c['other_animal']}.",
        f"At the top, {c['hero']} could see the whole {c['other_place']}.",
        rng.choice(
            [
                f'"Wow!" said {c["hero"]}. "It is so beautiful!"',
                f"{c['hero']} felt {c['feeling']} and gave the {c['animal']} a hug.",
            ]
        ),
    ]


PLOTS = [_lost_and_found, _new_friend, _trip, _rainy_day, _baking, _wish]


def generate_story(rng: random.Random) -> str:
    cast = _pick_cast(rng)
    plot = rng.choice(PLOTS)
    sentences = [_opening(rng, cast), *plot(rng, cast)]
    # Drop one middle sentence now and then, so plots vary in length as well as in words.
    if len(sentences) > 5 and rng.random() < 0.4:
        del sentences[rng.randrange(2, len(sentences) - 1)]
    return " ".join(sentences)


def generate_corpus(num_stories: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [generate_story(rng) for _ in range(num_stories)]
