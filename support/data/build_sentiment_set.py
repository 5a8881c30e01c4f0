"""Build the labelled support-message set for the sentiment classifier (support/sentiment.py).

Run: ``python support/data/build_sentiment_set.py`` (writes support/data/sentiment.csv).

Each sentence comes from a hand-written template filled with varied vocabulary (products,
problems, time spans, feelings). The split is by template, not by sentence: every template
belongs either to the training or to the test side, so the held-out score measures how well the
model handles phrasings it has never seen, not how well it recognises a template it trained on.
The generator is seeded, so the file is reproducible byte for byte.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

SEED = 20261121
PER_TEMPLATE = 8
OUT = Path(__file__).resolve().parent / "sentiment.csv"

FILL: dict[str, list[str]] = {
    "product": [
        "order",
        "subscription",
        "parcel",
        "account",
        "invoice",
        "refund",
        "delivery",
        "card payment",
        "headphones",
        "jacket",
        "coffee machine",
        "gift card",
        "plan upgrade",
        "return",
    ],
    "problem": [
        "was charged twice",
        "keeps failing at checkout",
        "never arrived",
        "arrived broken",
        "was cancelled without notice",
        "shows the wrong amount",
        "is stuck in processing",
        "got declined three times",
        "is missing items",
        "cannot be found anywhere",
    ],
    "time": ["two weeks", "ten days", "a month", "three days", "since Monday", "all week", "48 hours", "five days"],
    "neg_feel": [
        "furious",
        "fed up",
        "really disappointed",
        "angry",
        "frustrated",
        "sick of this",
        "upset",
        "done with you",
        "annoyed",
        "disgusted",
    ],
    "neg_adj": [
        "terrible",
        "awful",
        "useless",
        "unacceptable",
        "ridiculous",
        "pathetic",
        "horrible",
        "a joke",
        "the worst",
        "a disgrace",
    ],
    "pos_adj": [
        "great",
        "fantastic",
        "excellent",
        "brilliant",
        "wonderful",
        "amazing",
        "superb",
        "lovely",
        "really helpful",
        "spot on",
    ],
    "pos_feel": ["happy", "delighted", "thrilled", "grateful", "pleased", "very satisfied", "relieved", "glad"],
    "agent": [
        "Maria",
        "your agent",
        "the support team",
        "Tom",
        "the person on the phone",
        "your colleague",
        "the chat assistant",
        "Lena",
    ],
    "question": [
        "change my delivery address",
        "update my billing details",
        "add a second user",
        "download last month's invoice",
        "switch to the annual plan",
        "change my password",
        "pause my subscription",
        "track my parcel",
    ],
    "info": [
        "my order number is 48213",
        "I am on the Pro plan",
        "I ordered on the website",
        "I paid with a Visa card",
        "I live in Lisbon",
        "the email on the account is the same",
        "I am writing from my work address",
        "the parcel was sent by DHL",
    ],
}

TEMPLATES: dict[str, list[str]] = {
    "negative": [
        "My {product} {problem} and I am {neg_feel}.",
        "This is {neg_adj}. My {product} {problem}.",
        "I have waited {time} and nobody answers. {neg_adj}!",
        "Your service is {neg_adj}, I want my money back.",
        "Third time writing: the {product} {problem}. I am {neg_feel}.",
        "Honestly {neg_adj}. I will cancel and tell everyone to avoid you.",
        "Why does my {product} keep failing? I am {neg_feel} with this company.",
        "Nobody has helped me in {time}, this is {neg_adj}.",
        "I am {neg_feel}: {agent} promised a fix and nothing happened.",
        "Worst experience ever, the {product} {problem}.",
        "Stop ignoring me. My {product} {problem} and it has been {time}.",
        "Absolutely {neg_adj} support, I regret buying from you.",
        "You charged me again and my {product} {problem}. Unbelievable.",
        "I'm {neg_feel}, {time} of waiting for a simple answer.",
        "Payment failed again, I'm {neg_feel} and about to leave.",
        "Disappointed and {neg_feel}: the {product} {problem}.",
        "The {product} is {neg_adj} and so is your support.",
        "So {neg_feel}. {agent} hung up on me.",
        "{neg_adj} company. The {product} {problem} and no one cares.",
        "I regret ever ordering, the {product} {problem}.",
        "Not happy at all: {time} and still no refund.",
        "I'm {neg_feel} and I want to speak to a manager now.",
        "What a {neg_adj} way to treat customers.",
        "Never again. {neg_adj} experience with the {product}.",
    ],
    "neutral": [
        "How can I {question}?",
        "Could you tell me how to {question}? {info}.",
        "Hi, I would like to {question}.",
        "Quick question about my {product}: {info}.",
        "Is it possible to {question} before Friday?",
        "Please {question} for me, {info}.",
        "What are the steps to {question}?",
        "Just checking the status of my {product}. {info}.",
        "I need to {question}, what information do you need?",
        "Hello, {info}. Where can I see my {product}?",
        "Can someone confirm when my {product} will be processed?",
        "Following up on my {product} request, {info}.",
        "I want to {question}; is there a form for that?",
        "For your records, {info}.",
        "When does the {product} usually take effect?",
        "Could you send me the details of my {product}?",
        "Hi {agent}, {info}. How do I {question}?",
        "Where do I go to {question}?",
        "I have a question about the {product}, {info}.",
        "Do you ship the {product} abroad?",
        "Please let me know if I need to {question}.",
        "{info}, can you look up my {product}?",
        "Is the {product} covered by the warranty?",
        "What is the usual time for a {product}? {info}.",
    ],
    "positive": [
        "Thanks, {agent} was {pos_adj} and fixed my {product}.",
        "I am {pos_feel}, the {product} arrived early.",
        "{pos_adj} service, thank you so much!",
        "Just wanted to say {agent} was {pos_adj}.",
        "Problem solved, I am {pos_feel}. Thank you!",
        "The {product} works perfectly now, {pos_adj} job.",
        "Really {pos_feel} with how quickly you sorted my {product}.",
        "Thank you for the quick refund, {pos_adj}!",
        "Love it! The {product} is {pos_adj}.",
        "{agent} went above and beyond, I'm {pos_feel}.",
        "All sorted, thanks a lot, {pos_adj} support as always.",
        "I'm {pos_feel} to be a customer, keep it up.",
        "Cheers, that fixed it. {pos_adj}!",
        "Very {pos_feel} with the new {product}, thank you.",
        "You made my day, {pos_adj} help with my {product}.",
        "Thanks {agent}, {pos_adj} and friendly as ever.",
        "The {product} is {pos_adj}, I'm {pos_feel}.",
        "So {pos_feel}, {agent} solved it in minutes.",
        "{pos_adj} company, I will recommend you to friends.",
        "Glad I ordered, the {product} is {pos_adj}.",
        "Happy customer here: quick refund and {pos_adj} service.",
        "I'm {pos_feel} and will definitely buy again.",
        "What a {pos_adj} way to treat customers, thank you.",
        "Always a pleasure. {pos_adj} experience with the {product}.",
    ],
}

# Every fourth template of each class (indices 3, 7, 11, 15) is held out for testing.
TEST_EVERY = 4


def _fill(template: str, rng: random.Random) -> str:
    text = template
    for key, words in FILL.items():
        while "{" + key + "}" in text:
            text = text.replace("{" + key + "}", rng.choice(words), 1)
    return text[0].upper() + text[1:]


def build() -> list[tuple[str, str, str]]:
    rng = random.Random(SEED)  # noqa: S311 - reproducible data, not a secret
    rows: list[tuple[str, str, str]] = []
    for label, templates in TEMPLATES.items():
        for index, template in enumerate(templates):
            split = "test" if index % TEST_EVERY == TEST_EVERY - 1 else "train"
            seen: set[str] = set()
            for _ in range(PER_TEMPLATE * 4):  # bounded: duplicates are skipped, never retried forever
                if len(seen) >= PER_TEMPLATE:
                    break
                sentence = _fill(template, rng)
                if sentence not in seen:
                    seen.add(sentence)
                    rows.append((sentence, label, split))
    return rows


def main() -> None:
    rows = build()
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "split"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} sentences to {OUT}")


if __name__ == "__main__":
    main()
