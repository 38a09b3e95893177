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
# **Time.** Smoke profile (the embedded samples and the small offline encoder): well under a minute
# on a laptop CPU. Full profile (the real SST-2 and a CoNLL-2003 subset): most of its time goes into
# running the frozen encoder once over about 26,000 sentences, so it grows with the encoder's size
# and the machine's speed; section 2 times the encoder this run loaded, on this machine, and prints
# an estimate before anything long starts. No GPU needed.

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
from bmcourse.exercises import Checker, Exercise, checkpoint, describe, expect_close, on_example, on_examples
from bmcourse.train import progress_bar

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
# ### Exercise 1 · A reading path through the map
# One arrow at most comes into each box of the map: every concept builds on at most one other. So
# from the start of the map there is exactly one path of arrows to any concept, and it is an order
# in which to read about it. Write a function `learning_path(edges, concept)` that returns that
# path as a list of concept keys, from the concept with no arrow into it up to `concept` itself (a
# concept with no arrow into it gives a list of one key). `edges` lists the arrows as
# `(from, to)` pairs of keys, in any order, like `concepts.EDGES` (`("peft", "lora")`: LoRA builds
# on PEFT). The check calls it on the course map, `map_edges` below, for three concepts and judges
# the path by the arrows it follows; grading calls it on maps you have not seen (other keys, longer
# chains, more than one start).

# %% tags=["exercise"]
map_edges = list(concepts.EDGES)


def _follows_the_arrows(concept):
    """A checker: the answer is a list of keys that starts where the course map starts, follows its
    arrows and ends at ``concept`` (on a map with one arrow into each box, only one list does)."""
    arrows, has_arrow_in = set(map_edges), {target for _, target in map_edges}

    def test(got):
        if not isinstance(got, (list, tuple)) or not got or not all(isinstance(key, str) for key in got):
            return False, f"expected a non-empty list of concept keys, got {describe(got)}"
        if got[-1] != concept:
            return False, "the path must end at the concept asked for"
        if got[0] in has_arrow_in:
            return False, "the path starts at a concept that builds on another: go back to where the map starts"
        for step, (a, b) in enumerate(zip(got, got[1:]), 1):
            if (a, b) not in arrows:
                return False, f"step {step} follows no arrow of the map"
        return True, "a path along the arrows"
    return Checker(test, "a list")


def self_check(fn):
    """learning_path on the course map for LoRA, few-shot learning and pre-training (the start itself)."""
    return on_examples(fn, [((list(map_edges), concept), _follows_the_arrows(concept))
                            for concept in ("lora", "fewshot", "pretrain")])


ex1 = Exercise("00.1", "A reading path through the map", Checker(self_check, "a function"),
               hints=("Go backwards: the one arrow into a concept names what it builds on; from there, take "
                      "the arrow into that concept, and so on, until a concept has no arrow into it.",
                      "First turn the edges into a dict from each target to its source (what it builds on). "
                      "Start the list with the concept, put each source found in front of it, and stop when "
                      "the first key of the list is not a target of any arrow."),
               points=1)
learning_path = ...

# %% tags=["solution"]
def learning_path(edges, concept):
    builds_on = {target: source for source, target in edges}
    path = [concept]
    while path[0] in builds_on:
        path.insert(0, builds_on[path[0]])
    return path


# %%
ex1.check(learning_path)

# %% tags=["hidden-test"]
def grade_learning_path():
    """00.1 on maps drawn at grading time (unseen keys, long chains, several starts, the edges shuffled)
    against walking the arrows back."""
    from bmcourse import graded

    rng = graded.fresh_rng()
    keys = [f"idea{number}" for number in rng.sample(range(1000, 9999), rng.randint(14, 30))]
    starts = rng.randint(1, 3)  # keys[:starts] have no arrow into them
    edges = []
    for index in range(starts, len(keys)):  # one arrow into every other key: often from the key just before
        source = keys[index - 1] if rng.random() < 0.6 else rng.choice(keys[:index])
        edges.append((source, keys[index]))
    rng.shuffle(edges)
    parent = {target: source for source, target in edges}

    def walk_back(concept):
        path = [concept]
        while path[0] in parent:
            path.insert(0, parent[path[0]])
        return path

    deepest = max(keys, key=lambda key: len(walk_back(key)))
    for concept in (rng.choice(keys[:starts]), rng.choice(keys[starts:]), deepest):
        got = graded.call(learning_path, list(edges), concept)
        if not isinstance(got, (list, tuple)):
            raise AssertionError(f"00.1 learning_path: expected a list of keys, got {type(got).__name__}")
        if list(got) != walk_back(concept):
            raise AssertionError("00.1 learning_path: wrong path on a map you have not seen")


grade_learning_path()

# %% [markdown]
# ## 2 · A pre-trained encoder, and words in context
#
# The course's encoder is a BERT-style transformer. Offline (and in the smoke profile) it is
# **all-MiniLM-L6-v2** (6 layers, 384-dimensional vectors, lower-cases its input), shipped in a
# PyPI package; online the full profile's default is `bert-base-cased` (12 layers,
# 768-dimensional vectors, keeps the case). `load_encoder` returns it without any task head; the
# cell prints what this run loaded, and every later cell reads these facts from the model.

# %% tags=["setup"]
from bmcourse.models import count_parameters, load_encoder

encoder, tokenizer = load_encoder()
_, total_parameters = count_parameters(encoder)
lowercases = tokenizer.tokenize("Apple") == tokenizer.tokenize("apple")
print(f"{type(encoder).__name__}: {encoder.config.num_hidden_layers} layers, "
      f"hidden size {encoder.config.hidden_size}, {total_parameters / 1e6:.1f} M parameters, "
      f"{'lower-cases its input' if lowercases else 'keeps upper and lower case apart'}")

# %% [markdown]
# How long will the full profile take with this encoder? Its slow part runs the encoder once over
# about 26,000 sentences (section 4: 20,000 SST-2 training sentences and the 872 validation ones;
# section 5: 2,000 + 3,453 CoNLL-2003 sentences). The cell times the loaded encoder on one batch of
# 64 copies of one sentence, on this machine, and scales up. The sentence is longer than most of
# SST-2's, to stand for the padding and the tokenizing a real batch adds. It is a rough estimate
# (fitting the probes comes on top), but it grows with the model and the machine as the real time
# does, and the progress bars of sections 4 and 5 show the real one.

# %%
FULL_PROFILE_SENTENCES = 20_000 + 872 + 2_000 + 3_453
timing_sentence = ("a gripping , beautifully acted film that never loses its sense of humour , even when its "
                   "story of a family falling apart turns darker .")
timing_batch = tokenizer([timing_sentence] * 64, return_tensors="pt")
pass_seconds = []
with torch.no_grad():
    for _ in range(4):  # the first pass warms up; the median of the other three is kept
        start = time.perf_counter()
        encoder(**timing_batch, output_hidden_states=True)
        pass_seconds.append(time.perf_counter() - start)
per_sentence = float(np.median(pass_seconds[1:])) / 64
estimate = FULL_PROFILE_SENTENCES * per_sentence
print(f"{1000 * per_sentence:.1f} ms per sentence on this machine: the full profile's encoding would take about "
      + (f"{estimate / 60:.0f} min" if estimate >= 120 else f"{estimate:.0f} s"))

# %% [markdown]
# Pre-training taught this encoder to read each word in its context (bert-base-cased by filling
# in masked words; all-MiniLM-L6-v2 by imitating such a model, then by matching sentences that mean
# the same), so the vector it gives a word depends on the words around it. The input embedding, the first thing the
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
# On the right, the static vectors. An input-embedding row belongs to a token, not to a sense: two
# occurrences that start with the same token get exactly the same vector (similarity 1), whatever
# they mean. Whether all four occurrences of a word start with the same token depends on the
# tokenizer: one that lower-cases its input reads "Apple" and "apple" alike, a cased one (like
# bert-base-cased) does not, so the static block of "apple" is then not all 1. The table's last two
# columns count the different input rows each word used in this run and give the lowest static
# similarity among its pairs. On the left the contextual vectors differ from sentence to sentence.
# The table averages each word's 4×4 contextual block: pairs with the same sense against pairs with
# different senses.

# %%
def first_token_id(sentence: str, word: str) -> int:
    """The vocabulary id of ``word``'s first sub-word in ``sentence``: the input-embedding row it reads."""
    enc, position = word_position(sentence, word)
    return int(enc["input_ids"][0, position])


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
                 "static rows": len({first_token_id(occurrences[i][2], word) for i in idx}),
                 "static, lowest": round(min(static_sim[a, b].item() for a in idx for b in idx), 2) + 0.0})  # no -0.0
sense_table = pd.DataFrame(rows)
print(sense_table.to_string(index=False))
same_token = [(a, b) for a in range(len(occurrences)) for b in range(a)
              if first_token_id(occurrences[a][2], occurrences[a][0]) == first_token_id(occurrences[b][2], occurrences[b][0])]
print(f"{len(same_token)} pairs of occurrences start with the same token; their static similarity is "
      f"{'1 for every one' if all(static_sim[a, b].item() > 0.9999 for a, b in same_token) else 'not always 1'}")
separated = [r["word"] for r in rows if r["same sense"] > r["different senses"]]
print(f"same-sense pairs are closer than different-sense pairs for {len(separated)} of {len(rows)} words: "
      f"{', '.join(separated)}")

# %% [markdown]
# ### Exercise 2 · Cosine similarity by hand
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


ex2 = Exercise("00.2", "Cosine similarity by hand", Checker(self_check, "a function"),
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
ex2.check(cosine)

# %% tags=["hidden-test"]
def grade_cosine():
    """00.2 on vectors drawn at grading time (length, scale and angle vary; parallel and opposite
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
    graded.check_function(cosine, cases, "00.2 cosine",
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
# (all-MiniLM-L6-v2, the offline encoder, was trained for exactly this pooling; bert-base-cased was
# pre-trained to predict masked words, not to make sentence vectors, so its mean-pooled vectors
# were never tuned for similarity.)

# %%
def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors where ``mask`` is 1: (batch, tokens, dim) -> (batch, dim)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def sentence_features(texts: list[str], layers: tuple[int, ...] = (-1,), batch_size: int = 64,
                      progress: bool = False) -> dict[int, np.ndarray]:
    """Mean-pooled features of ``texts`` at each of ``layers`` (0 = input embeddings, -1 = last layer).

    Texts are encoded in batches sorted by length, so little compute goes into padding; ``progress``
    shows a progress bar (for the long runs of section 4)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = {layer: np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32) for layer in layers}
    bar = progress_bar(len(texts), "encoding", progress)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        enc = tokenizer([texts[i] for i in chunk], padding=True, truncation=True, max_length=128,
                        return_tensors="pt")
        with torch.no_grad():
            hidden_states = encoder(**enc, output_hidden_states=True).hidden_states
        for layer in layers:
            out[layer][chunk] = mean_pool(hidden_states[layer], enc["attention_mask"]).numpy()
        bar.update(len(chunk))
    bar.close()
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
# ### Exercise 3 · Masked max pooling
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


ex3 = Exercise("00.3", "Masked max pooling", Checker(_check_max_pool, "a function"),
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
ex3.check(max_pool)

# %% tags=["hidden-test"]
def grade_max_pool():
    """00.3 on batches drawn at grading time (batch, tokens, dim, dtype and the padding pattern vary:
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
            raise AssertionError(f"00.3 max_pool: expected a tensor, got {type(got).__name__}")
        graded.assert_close(got, want, "00.3 max_pool")


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
# 20,000 training sentences, the same for every method, so that encoding them, the slow part,
# stays within section 2's estimate (a progress bar shows how far it is).

# %%
from bmcourse.data import load_classification, resolve_source

sst2 = load_classification("sst2")
SST2_TRAIN = by_profile(smoke=sst2["train"].num_rows, full=20_000)
sst2_train = sst2["train"].shuffle(seed=0).select(range(min(SST2_TRAIN, sst2["train"].num_rows)))
train_texts, train_y = list(sst2_train["text"]), np.array(sst2_train["label"])
val_texts, val_y = list(sst2["validation"]["text"]), np.array(sst2["validation"]["label"])
print(f"SST-2: {len(train_texts)} of {sst2['train'].num_rows} training sentences, {len(val_texts)} validation "
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
LAYERS = tuple(range(encoder.config.num_hidden_layers + 1))  # 0 = input embeddings, then one per layer: the last is the output
train_features = sentence_features(train_texts, LAYERS, progress=True)
val_features = sentence_features(val_texts, LAYERS, progress=True)
encode_seconds = time.perf_counter() - start
print(f"encoded {len(train_texts) + len(val_texts)} sentences at {len(LAYERS)} layers (0 = input embeddings, "
      f"{LAYERS[-1]} = last layer) in {encode_seconds:.1f} s")

# %%
majority, majority_s = timed_fit(DummyClassifier(strategy="most_frequent"), np.zeros((len(train_y), 1)), train_y)
bow, bow_s = timed_fit(make_pipeline(CountVectorizer(ngram_range=(1, 2)), logistic_regression()), train_texts, train_y)
probe, probe_s = timed_fit(logistic_regression(), train_features[LAYERS[-1]], train_y)

sentiment_rows = [
    {"method": "majority class", "accuracy": majority.score(np.zeros((len(val_y), 1)), val_y),
     "train_seconds": majority_s},
    {"method": "bag of words + logistic regression", "accuracy": bow.score(val_texts, val_y),
     "train_seconds": bow_s},
    {"method": "frozen encoder + linear probe", "accuracy": probe.score(val_features[LAYERS[-1]], val_y),
     "train_seconds": probe_s},
]
print(pd.DataFrame(sentiment_rows).to_string(index=False, formatters={"accuracy": "{:.3f}".format,
                                                                      "train_seconds": "{:.2f} s".format}))
print("(the probe's training time does not count encoding the sentences, shown above)")

# %%
best = max(sentiment_rows, key=lambda r: r["accuracy"])
print(f"best on this split: {best['method']} ({best['accuracy']:.3f}); "
      f"probe minus bag of words: {sentiment_rows[2]['accuracy'] - sentiment_rows[1]['accuracy']:+.3f}")
print(f"the probe trained {probe.coef_.size} weights and {probe.intercept_.size} bias; the encoder's "
      f"{total_parameters / 1e6:.1f} M parameters only ran forwards")

# %% [markdown]
# The probe trains one weight per feature and a bias (the last line counts them for this encoder;
# the table gives its training time); the encoder's parameters are only run forwards, once per
# sentence, and never trained. That is why "frozen features + linear head" is the cheapest
# adaptation there is. (In the smoke profile
# the numbers come from a small sample and only illustrate; the reference results in section 6
# are from the real SST-2.)
#
# Which layer knows most? The same probe on every layer's mean-pooled features (a progress bar
# counts the layers):

# %%
layer_accuracy = {}
layer_bar = progress_bar(len(LAYERS), "probing layers", True)
for layer in LAYERS:
    layer_accuracy[layer] = logistic_regression().fit(train_features[layer], train_y).score(val_features[layer], val_y)
    layer_bar.update(1)
layer_bar.close()
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
# ### Exercise 4 · What does a probe train?
# The token-level probe of the next section reads the encoder's vectors (of size
# `encoder.config.hidden_size`, printed in section 2) and predicts one of CoNLL-2003's 9 tags.
# Write a function `probe_parameters(hidden_size, num_labels)` that returns how many parameters a
# linear probe from `hidden_size` features to `num_labels` classes trains (a weight per feature
# and class, plus a bias per class), as an `int`. Work it out from the two sizes: **do not build**
# a layer or any other `torch.nn` module to count its parameters, nor call `count_parameters` or
# fit a `LogisticRegression`. The check asks about the next section's probe; grading asks about
# other sizes, with those made to raise an error.

# %% tags=["exercise"]
def self_check(fn):
    """probe_parameters for the next section's probe against the parameters of a torch.nn.Linear that size."""
    layer = torch.nn.Linear(encoder.config.hidden_size, 9)
    return on_example(fn, (encoder.config.hidden_size, 9), expect_close(sum(p.numel() for p in layer.parameters()), rtol=0, atol=0))


ex4 = Exercise("00.4", "Parameters of a token probe", Checker(self_check, "a function"),
               hints=("A linear layer from d features to k classes is a d×k weight matrix plus k biases.",
                      "Count the entries of the weight matrix and of the bias vector and add them, with d and k "
                      "taken from the function's arguments, not copied from the example."),
               points=1)
probe_parameters = ...

# %% tags=["solution"]
def probe_parameters(hidden_size, num_labels):
    return hidden_size * num_labels + num_labels


# %%
ex4.check(probe_parameters)

# %% tags=["hidden-test"]
def grade_probe_parameters():
    """00.4 for sizes drawn at grading time against a torch.nn.Linear of that size (on the meta device:
    no memory); building any torch module, count_parameters and LogisticRegression.fit are forbidden."""
    import torch

    from bmcourse import graded

    rng = graded.fresh_rng()
    cases = []
    for _ in range(4):
        features, classes = rng.randint(2, 4096), rng.randint(3, 60)
        layer = torch.nn.Linear(features, classes, device="meta")
        cases.append(((features, classes), sum(p.numel() for p in layer.parameters())))
    graded.check_function(probe_parameters, cases, "00.4 probe_parameters",
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


def word_features(sentences: list[list[str]], progress: bool = True) -> list[np.ndarray]:
    """Per sentence, a (words, dim) array: the last layer's vector at each word's first sub-word
    (with a progress bar over the sentences unless ``progress`` is False)."""
    out = []
    bar = progress_bar(len(sentences), "encoding", progress)
    for start in range(0, len(sentences), 32):
        batch = sentences[start:start + 32]
        enc = tokenizer(batch, is_split_into_words=True, padding=True, truncation=True, max_length=256,
                        return_tensors="pt")
        with torch.no_grad():
            hidden = encoder(**enc).last_hidden_state
        for k in range(len(batch)):
            positions = first_subword_positions(enc.word_ids(k))
            out.append(hidden[k, positions].numpy())
        bar.update(len(batch))
    bar.close()
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
print(f"token probe trained in {token_probe_s:.2f} s on {x_train.shape[0]} words, {len(token_probe.classes_)} classes")
print(f"entity F1 {token_probe_scores['f1']:.3f} | token accuracy {token_probe_scores['token_accuracy']:.3f}"
      f" | words beyond 256 sub-words left unscored: {cut}")

# %% [markdown]
# Against fine-tuning: notebook 02's shipped reference result fine-tunes every parameter of an
# encoder on all 14,041 CoNLL-2003 training sentences (a full run on the real data; it is not this
# run, and its label line names its encoder: the second line says whether it is the one loaded here).

# %%
from bmcourse.models import loaded_model_info

ner_ref = reference.load("ner_reference")
print(reference.label(ner_ref))
this_model = loaded_model_info(encoder, tokenizer)["name"]
print(f"the reference fine-tuned {ner_ref['model']['name']}; this run loaded {this_model}: "
      + ("the same encoder" if ner_ref["model"]["name"] == this_model else "another encoder, so the gap below mixes both"))
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
# ### Exercise 5 · The token-level majority baseline
# Section 4 kept the sentiment probe honest with a majority-class baseline; do the same for the
# tags. Write a function `majority_tag_accuracy(train_tags, test_tags)` that finds the most frequent
# tag among all the words of `train_tags` and returns the token accuracy (a float from 0 to 1) of
# always predicting that tag on `test_tags`: the share of test words that carry it. Both arguments
# are lists of sentences, each a list of tag names such as `"B-PER"` or `"O"`; no two tags are
# equally frequent in `train_tags`. Count the tags yourself: **do not use** scikit-learn's
# `DummyClassifier` or `metrics.ner_report`. The check calls it on this run's CoNLL-2003 training
# and test tags; grading calls it on other tag sets, where the most frequent tag is not always `"O"`.
#
# Then set your number against the probe's token accuracy above. A tagger that always says `"O"`
# finds no entity at all (entity F1 0), which is why notebook 02 scores entities, not tokens.

# %% tags=["exercise"]
from sklearn.dummy import DummyClassifier

from bmcourse.data import load_ner

conll = load_ner("conll2003")
conll_tags = conll["train"].features["ner_tags"].feature.names
train_tag_names = [[conll_tags[t] for t in tags] for tags in conll["train"]["ner_tags"]]
test_tag_names = [[conll_tags[t] for t in tags] for tags in conll["test"]["ner_tags"]]


def self_check(fn):
    """majority_tag_accuracy on this run's CoNLL-2003 tags against scikit-learn's most-frequent-class
    baseline (DummyClassifier) fitted on the training words and scored on the test words."""
    train_flat = [tag for tags in train_tag_names for tag in tags]
    test_flat = [tag for tags in test_tag_names for tag in tags]
    baseline = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(train_flat), 1)), train_flat)
    accuracy = baseline.score(np.zeros((len(test_flat), 1)), test_flat)
    return on_example(fn, (train_tag_names, test_tag_names), expect_close(accuracy))


ex5 = Exercise("00.5", "The token-level majority baseline", Checker(self_check, "a function"),
               hints=("Two steps: count every tag over all training words (not per sentence) and keep the most "
                      "frequent; then count how many test words carry that tag.",
                      "collections.Counter counts the tags of one flat list of words, and its most_common(1) "
                      "gives the top tag; divide the test words with that tag by the number of test words."),
               points=1)
majority_tag_accuracy = ...

# %% tags=["solution"]
def majority_tag_accuracy(train_tags, test_tags):
    from collections import Counter

    counts = Counter(tag for tags in train_tags for tag in tags)
    top = counts.most_common(1)[0][0]
    test_words = [tag for tags in test_tags for tag in tags]
    return sum(tag == top for tag in test_words) / len(test_words)


# %%
ex5.check(majority_tag_accuracy)

# %% tags=["hidden-test"]
def grade_majority_tag_accuracy():
    """00.5 on tag sentences drawn at grading time (the most frequent training tag is "O" or an entity
    tag; when it is an entity tag, "O" has another share of the test words, and in the last round the
    test split's own most frequent tag is another with another share) against counting;
    DummyClassifier and ner_report are forbidden."""
    from collections import Counter

    from bmcourse import graded

    rng = graded.fresh_rng()
    tags = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]

    def draw(sentences, top, share):
        return [[top if rng.random() < share else rng.choice(tags) for _ in range(rng.randint(1, 12))]
                for _ in range(sentences)]

    cases = []
    for round_, top in enumerate(("O", rng.choice(tags[1:]), rng.choice(tags[1:]))):
        train = draw(rng.randint(5, 30), top, 0.5)
        counts = Counter(t for s in train for t in s).most_common()
        while len(counts) > 1 and counts[0][1] == counts[1][1]:  # no tie for the most frequent tag
            train.append([top])
            counts = Counter(t for s in train for t in s).most_common()
        majority = counts[0][0]
        # the last round's test split is led by another entity tag
        test_top = rng.choice([t for t in tags[1:] if t != majority]) if round_ == 2 else rng.choice(tags)
        test = draw(rng.randint(3, 20), test_top, 0.4)
        while True:  # every draw holds both traps: "O" assumed, and the test split's own majority
            test_counts = Counter(t for s in test for t in s)
            if majority != "O" and test_counts["O"] == test_counts[majority]:
                test.append([majority])
            elif round_ == 2 and max(test_counts.values()) == test_counts[majority]:
                test.append([test_top])
            else:
                break
        test_words = [tag for sentence in test for tag in sentence]
        cases.append(((train, test), sum(tag == majority for tag in test_words) / len(test_words)))
    graded.check_function(majority_tag_accuracy, cases, "00.5 majority_tag_accuracy",
                          forbid=("sklearn.dummy.DummyClassifier.fit", "bmcourse.metrics.ner_report"),
                          why="this exercise asks you to count the tags yourself")


grade_majority_tag_accuracy()

# %% [markdown]
# ## 6 · Reference results on the real data
#
# The numbers above come from whichever data this run used (the smoke profile uses the small
# embedded samples). The reference below ships with the package: this notebook run in the full
# profile on the real SST-2 and CoNLL-2003; its label line says with which model, data,
# machine, date and commit. A full run of your own writes its results to your results folder
# (`bmcourse.reference.results_dir()`), never into the package.

# %%
from bmcourse.data import source_label

real_data = all(resolve_source(name)[0] != "sample" for name in ("sst2", "conll2003"))
if settings.profile == "full" and real_data:  # this run used the real SST-2 and CoNLL-2003
    this_run = {
        **reference.provenance(model=loaded_model_info(encoder, tokenizer),
                               data_source=f"sst2: {source_label('sst2', kind='classification')}; "
                                           f"conll2003: {source_label('conll2003', kind='ner')}",
                               command="BMCOURSE_PROFILE=full bmcourse run notebooks/00_foundations.ipynb"),
        "device": "cpu",
        "encoder": {"layers": encoder.config.num_hidden_layers, "hidden_size": encoder.config.hidden_size,
                    "parameters": total_parameters, "lowercases": lowercases},
        "sentiment": {"train": len(train_texts), "train_split": sst2["train"].num_rows, "validation": len(val_texts),
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
ref_encoder = ref["encoder"]
print(f"reference encoder: {ref['model']['name']}, {ref_encoder['layers']} layers, hidden size "
      f"{ref_encoder['hidden_size']}, {ref_encoder['parameters'] / 1e6:.1f} M parameters; this run: {this_model}, "
      f"{encoder.config.num_hidden_layers} layers, hidden size {encoder.config.hidden_size}, "
      f"{total_parameters / 1e6:.1f} M parameters")
print(f"SST-2: {ref['sentiment']['train']} of {ref['sentiment']['train_split']} training sentences, "
      f"scored on the {ref['sentiment']['validation']} validation sentences")
print(metrics.format_table(ref["sentiment"]["rows"]))
print("probe accuracy per layer:", {int(k): round(v, 3) for k, v in ref["sentiment"]["layer_accuracy"].items()})
print(f"token probe on {ref['token_probe']['train_sentences']} CoNLL-2003 sentences: "
      f"entity F1 {ref['token_probe']['f1']:.3f}, token accuracy {ref['token_probe']['token_accuracy']:.3f}")

# %% [markdown]
# How much the pre-trained features help depends on how much labelled data the baseline gets:
# with few sentences a bag of words has little to learn from, while the probe starts from what
# pre-training learned. The first line below repeats this run's gap (the reference's you will read
# from its table in exercise 6), the second sets the reference's best layer against its last one.

# %%
ref_accuracy = {row["method"]: row["accuracy"] for row in ref["sentiment"]["rows"]}
ref_layers = {int(k): v for k, v in ref["sentiment"]["layer_accuracy"].items()}
ref_best_layer = max(ref_layers, key=ref_layers.get)
print(f"probe minus bag of words, this run ({len(train_texts)} training sentences): "
      f"{sentiment_rows[2]['accuracy'] - sentiment_rows[1]['accuracy']:+.3f}; the reference's "
      f"({ref['sentiment']['train']} sentences): exercise 6")
print(f"reference: best layer {ref_best_layer} ({ref_layers[ref_best_layer]:.3f}) vs last layer "
      f"{max(ref_layers)} ({ref_layers[max(ref_layers)]:.3f}) vs bag of words "
      f"({ref_accuracy['bag of words + logistic regression']:.3f})")

# %% [markdown]
# ### Exercise 6 · Read a results table
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


ex6 = Exercise("00.6", "Probe versus bag of words from a results table", Checker(self_check, "a function"),
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
ex6.check(probe_gain)

# %% tags=["hidden-test"]
def grade_probe_gain():
    """00.6 on results tables fabricated at grading time: other accuracies (the probe ahead and behind),
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
    graded.check_function(probe_gain, cases, "00.6 probe_gain")


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
print(checkpoint([ex1, ex2, ex3, ex4, ex5, ex6]))
