# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Domain transfer, measured
#
# The source articles claim that a model trained in one domain carries over to another
# (跨领域应用: medicine, law, finance ...), and that parameter-efficient methods make that cheap.
# In this notebook you **measure** that claim. A tagger trained on news (CoNLL-2003) is moved to
# a new domain (CrossNER politics) in the ways practitioners use, and every claim is checked
# against a number computed here or in the shipped reference run on four real targets.
#
# **You will learn to**
# 1. reuse a source tagger without training (zero-shot) through an explicit label mapping, and
#    see which target types it cannot know;
# 2. apply LoRA to one layer by hand and check it against `peft`; tell five adaptation
#    strategies apart by what they train (`linear_probe`, `partial`, `full`, `bitfit` and
#    `lora`) and count their parameters by hand;
# 3. compare them at the same budget, from two starting points (the raw pre-trained encoder and
#    the news-tuned one), on the target's own types and on the coarse types zero-shot is scored on;
# 4. draw few-shot curves with their spread over seeds, and test mention-replacement augmentation;
# 5. measure forgetting of the source task, and how much replay and elastic weight consolidation
#    (EWC) keep.
#
# **Time.** On a 2-core CPU with the offline model all-MiniLM-L6-v2: smoke profile (the tests)
# about 2 minutes. The full profile (the real CrossNER politics) was not timed as a notebook run;
# the same runs took about 20 minutes inside the reference benchmark. A GPU is much faster.

# %%
import sys

if "google.colab" in sys.modules:  # on Colab, install the course package first (elsewhere: nothing to do)
    # pip keeps Colab's preinstalled torch, transformers, ... where they meet the course's version ranges
    # (pyproject.toml); its last line, "Successfully installed ...", lists everything it added or changed
    # %pip install --upgrade-strategy only-if-needed "bmcourse @ git+https://github.com/bmcourse/bmcourse"
    print("bmcourse installed")

import bmcourse

settings = bmcourse.setup(seed=0)

# %% [markdown]
# The profile sets the sizes: the `smoke` profile (the tests) uses the small embedded samples
# and tiny budgets, so its numbers only illustrate; `full` uses the real data. Every run gets
# the same **budget**: it sees `BUDGET` training sentences (at most 10 passes over a tiny set),
# so strategies and sizes are compared at equal compute. The cell also holds the imports the
# exercises need (the tests run each exercise on top of it alone).
#
# **How the exercises work.** Each exercise asks you to write a *function*. Its check
# cell calls your function on the example shown next to it and says right or wrong, with a hint,
# but never the expected value. When the notebook is graded, your function is called on inputs
# made up at grading time (other tags, parameter names, configurations and result rows), with
# the package function the exercise rules out made to raise an error while it runs.

# %% tags=["setup"]
import torch

from bmcourse import by_profile, reference
from bmcourse import transfer as tr
from bmcourse.exercises import Checker, Exercise, checkpoint, expect_close, expect_equal, on_example
from bmcourse.models import load_token_classifier
from bmcourse.transfer import epochs_for

TARGET = "crossner_politics"  # any NER folder in the same layout works here, by its name
SOURCE_RECIPE = by_profile(smoke=tr.SourceRecipe(epochs=2, lr=5e-4), full=tr.SourceRecipe())
BUDGET = by_profile(smoke=70, full=500)  # training sentences each run sees
SIZES = by_profile(smoke=(5, 15, 10**9), full=(10, 25, 50, 100, 10**9))  # 10**9: all of the split
SEEDS = by_profile(smoke=2, full=3)
AUGMENT_UP_TO = by_profile(smoke=5, full=25)  # mention replacement at these small sizes
REPLAY = 0.5  # replayed source sentences per target sentence
REF = reference.load("bench_transfer_cpu")  # the shipped full run on four real targets


# %% [markdown]
# ## 1 · The source tagger, and what it knows about politics for free
#
# The starting point is a CoNLL-2003 tagger (news: persons, organisations, locations, misc).
# `source_tagger` trains it once with the course's recipe and caches it as safetensors; the
# cache key covers the model, the data and the recipe, so a change to any of them retrains.

# %%
from bmcourse.data import load_ner
from bmcourse.train import encode_ner, evaluate

source, tokenizer, source_info = tr.source_tagger(SOURCE_RECIPE)  # a progress bar while it trains
conll = load_ner("conll2003")
conll_labels = conll["train"].features["ner_tags"].feature.names
conll_test = encode_ner(conll["test"], tokenizer, training=False)
source_f1 = evaluate(source, conll_test)["f1"]  # with a progress bar (the full test split takes a while)
print(f"source tagger: {source_info['train_sentences']} CoNLL-2003 training sentences; "
      f"CoNLL-2003 test F1 {source_f1:.2f}")

# %% [markdown]
# The target uses other, finer types. The source model can only be scored on target types that
# have a CoNLL counterpart, so the mapping is written out, shown, and the types it cannot map
# are listed (they count as `O` in zero-shot scoring, never silently dropped).

# %%
target = load_ner(TARGET)
target_labels = target["train"].features["ner_tags"].feature.names
print({split: target[split].num_rows for split in target})
mapping = tr.label_mapping(target_labels, conll_labels)
print(mapping.describe())

# %% [markdown]
# Zero-shot means: run the news tagger on political text as it is, map the gold tags into
# CoNLL types, and score only the mapped types.

# %%
zero = tr.zero_shot(source, tokenizer, target["test"], mapping, progress=True)
print(f"zero-shot test F1 on the mapped types: {zero['test_f1']:.2f} "
      f"({zero['mapped_entities']} mapped gold entities)")
print("unmapped types and their test entities:", zero["unmapped"])

# %% [markdown]
# The reference run (section 3 introduces it) did the same on four real targets. A target whose
# types have no CoNLL counterpart at all (NCBI-disease: `Disease`) cannot be scored zero-shot:

# %%
for name, z in REF["zero_shot"].items():
    score = "no shared type, nothing to score" if z["test_f1"] is None else f"F1 {z['test_f1']:.3f}"
    print(f"{name:>18}: zero-shot {score}; unmapped types (test entities): {z['unmapped'] or 'none'}")

# %% [markdown]
# ### Exercise 1 · Map target tags into source tags
# Write a function `to_source_tags(tags, mapping)`: given one sentence's IOB2 tags in target types
# (a list of strings) and a dict `{target type: source type}`, it returns the list of tags in
# source types. An entity whose type is not in the dict becomes `O` (all of its words), and the
# output must stay valid IOB2. A type name may itself contain a hyphen (WNUT-17 has
# `creative-work`). Write it yourself, **without `tr.map_tags`** (the package's version, which
# `zero_shot` used above). The check calls it on the sentences below; grading calls it on other
# types, mappings and sentences.

# %% tags=["exercise"]
ex1_mapping = {"politician": "PER", "country": "LOC", "politicalparty": "ORG"}
ex1_sentences = [["B-politician", "I-politician", "O", "B-country"],
                 ["B-election", "I-election", "O", "B-politicalparty", "I-politicalparty"],
                 ["O", "B-event", "B-country", "I-country"],
                 ["B-creative-work", "I-creative-work", "O", "B-politician"]]


def self_check(fn):
    """to_source_tags on each sentence above against the package's tr.map_tags."""
    for number, sentence in enumerate(ex1_sentences, start=1):
        passed, message = on_example(fn, (list(sentence), dict(ex1_mapping)),
                                     expect_equal(tr.map_tags(sentence, ex1_mapping)))
        if not passed:
            return False, f"on sentence {number}: {message}"
    return True, "values match"


ex1 = Exercise("03.1", "Target tags into source tags", Checker(self_check, "a function"),
               hints=("A tag is O, or a prefix (B- or I-) and a type: split it into the two, then look the type up.",
                      ("Keep the prefix when the type is in the mapping and write the source type after it; "
                       "otherwise the tag becomes O. Split at the first hyphen only, so that a type such as "
                       "creative-work stays whole (str.partition, or bmcourse.tagging.split_tag, does that).")),
               points=2)
to_source_tags = ...


# %% tags=["solution"]
def to_source_tags(tags, mapping):
    """Target IOB2 tags rewritten into source types; unmapped entities become O."""
    out = []
    for tag in tags:
        prefix, _, kind = tag.partition("-")
        out.append(f"{prefix}-{mapping[kind]}" if kind in mapping else "O")
    return out


# %%
ex1.check(to_source_tags)

# %% tags=["hidden-test"]
def grade_to_source_tags():
    """03.1 on type names, mappings and sentences made up at grading time against the package's map_tags,
    which is forbidden while the answer runs."""
    from bmcourse import graded
    from bmcourse.transfer.source import map_tags as reference

    rng = graded.fresh_rng()
    letters = "abcdefghijklmnopqrstuvwxyz"
    for _ in range(3):
        kinds = []
        while len(kinds) < 6:  # six distinct made-up type names
            kind = "".join(rng.choices(letters, k=rng.randint(3, 9)))
            kinds += [kind] if kind not in kinds else []
        kinds[0] = f"{kinds[0]}-{kinds[1]}"  # a type with a hyphen in its name, as WNUT-17's creative-work
        sources = ("PER", "ORG", "LOC", "MISC", "".join(rng.choices(letters.upper(), k=4)))
        mapping = {kind: rng.choice(sources) for kind in rng.sample(kinds, rng.randint(2, len(kinds) - 2))}
        sentences = [[]]
        for kind in rng.sample(kinds, len(kinds)):  # every type once, each entity two words long
            sentences[0] += [f"B-{kind}", f"I-{kind}"] + ["O"] * rng.randint(0, 1)
        for _ in range(4):
            tags = []
            for _ in range(rng.randint(1, 8)):
                kind = rng.choice(kinds)
                tags += ["O"] if rng.random() < 0.3 else [f"B-{kind}"] + [f"I-{kind}"] * rng.randint(0, 3)
            sentences.append(tags)
        for tags in sentences:
            want = reference(tags, mapping)
            got = graded.call(to_source_tags, list(tags), dict(mapping),
                              forbid=("bmcourse.transfer.map_tags", "bmcourse.transfer.source.map_tags"),
                              why="this exercise asks you to write the mapping yourself")
            if not isinstance(got, (list, tuple)):
                raise AssertionError(f"03.1 to_source_tags: expected a list of tags, got {type(got).__name__}")
            if list(got) != want:
                raise AssertionError("03.1 to_source_tags: wrong tags on sentences you have not seen")


grade_to_source_tags()

# %% [markdown]
# ## 2 · Five strategies: what each one trains
#
# Every strategy puts a **new head** on the encoder (the target has its own labels) and then
# trains a different part of the model:
#
# | strategy | trains |
# |---|---|
# | `linear_probe` | the head only (the encoder is frozen) |
# | `partial` | the top 2 transformer blocks and the head |
# | `full` | everything |
# | `bitfit` | every bias vector and the head |
# | `lora` | small low-rank updates `B·A` beside the query and value matrices (rank 8, via `peft`), and the head |

# %% [markdown]
# ### LoRA: a frozen layer and a low-rank update beside it
#
# LoRA keeps a pre-trained linear layer `h = W·x + b` **frozen** and trains a low-rank update
# beside it:
#
# `h = W·x + b + (alpha / r) · B·(A·x)`, with `A` of shape `r × d_in` and `B` of shape `d_out × r`.
#
# Only `A` and `B` train: `r·(d_in + d_out)` numbers instead of the `d_out·d_in` of `W`. `A`
# starts random and `B` at zero, so at the start the layer computes exactly what it computed
# before. `alpha / r` scales the update; the LoRA paper scales by `1 / r` so that a change of
# rank needs less retuning of the learning rate. You write it first, then look at what `peft`
# (the library the strategy `lora` uses) builds for the same layer.

# %% [markdown]
# ### Exercise 2 · LoRA on one layer, by hand
# Write a function `lora_forward(x, base, A, B, alpha)`: `x` is a tensor whose last dimension is
# `d_in` (one vector, or a batch of them), `base` the frozen `torch.nn.Linear` (`W` and `b`), `A`
# and `B` the two LoRA matrices (shapes as above) and `alpha` the scaling's numerator; the rank
# `r` is `A`'s first dimension. It returns the adapted layer's output `h`. Compute it with tensor
# operations yourself, **without `peft`** (or `tr.lora_layer`, the package's call of it). The
# check takes the query matrix of the model's first transformer block, wraps it with peft's LoRA
# (`ex2_peft`), gives `B` non-zero values as training would, and compares your output with
# peft's for the same `A` and `B`; grading does the same on layers, ranks, scalings and inputs
# made up at grading time.

# %% tags=["exercise"]
ex2_model, _ = load_token_classifier(["O", "B-X", "I-X"])
ex2_layer = ex2_model.base_model.encoder.layer[0].attention.self.query  # a pre-trained linear layer
with torch.random.fork_rng(devices=[]):  # the example's random draws leave later cells' draws as they were
    torch.manual_seed(0)
    ex2_peft = tr.lora_layer(ex2_layer, rank=tr.LORA_RANK)  # peft's LoRA beside a frozen copy of the layer
    with torch.no_grad():
        ex2_peft.lora_B["default"].weight.normal_(std=0.05)  # as if trained: peft starts B at zero
    ex2_x = torch.randn(4, ex2_layer.in_features)  # four input vectors
ex2_base = ex2_peft.base_layer  # the frozen copy: W and b, requires_grad False
ex2_A, ex2_B = (adapter["default"].weight.detach().clone() for adapter in (ex2_peft.lora_A, ex2_peft.lora_B))
ex2_alpha = 2 * tr.LORA_RANK  # the alpha of the package's LoRA


def self_check(fn):
    """lora_forward on the example against peft's output for the same layer, A and B."""
    with torch.no_grad():
        wanted = ex2_peft(ex2_x)
    return on_example(fn, (ex2_x, ex2_base, ex2_A, ex2_B, ex2_alpha), expect_close(wanted, rtol=1e-4, atol=1e-5))


ex2 = Exercise("03.2", "LoRA on one layer", Checker(self_check, "a function"),
               hints=("The output is the frozen layer's own output plus an update that goes through A first, "
                      "then B, then is scaled.",
                      ("A is r × d_in and x holds vectors in its last dimension, so x times the transpose of A "
                       "gives r numbers per vector; B's transpose maps them to d_out. Scale by alpha divided by "
                       "the rank (A's first dimension), and add what base computes (its weight and bias).")),
               points=2)
lora_forward = ...


# %% tags=["solution"]
def lora_forward(x, base, A, B, alpha):
    """The frozen layer's output plus LoRA's update, scaled by alpha / r."""
    rank = A.shape[0]
    return base(x) + (alpha / rank) * (x @ A.T) @ B.T


# %%
ex2.check(lora_forward)

# %% tags=["hidden-test"]
def grade_lora_forward():
    """03.2 on linear layers, ranks, scalings and inputs drawn at grading time, against peft's LoRA of the
    same layer, A and B; peft (and the package's call of it) is forbidden while the answer runs."""
    from bmcourse import graded
    from bmcourse.transfer import strategies

    rng = graded.fresh_rng()
    for _ in range(3):
        d_in, d_out, rank = rng.randint(2, 12), rng.randint(2, 12), rng.randint(2, 6)
        alpha = round(rank * rng.uniform(1.5, 4.0), 2)  # alpha / r is neither 1 nor alpha: a wrong scaling shows
        with torch.random.fork_rng(devices=[]):  # later cells' draws stay the same
            torch.manual_seed(graded.fresh_seed(rng))
            lora = strategies.lora_layer(torch.nn.Linear(d_in, d_out), rank=rank, alpha=alpha)  # with a bias, as BERT's
            with torch.no_grad():
                lora.lora_B["default"].weight.normal_()
            x = torch.randn(*rng.choice(((rng.randint(1, 5),), (rng.randint(1, 3), rng.randint(1, 4)))), d_in)
        with torch.no_grad():
            wanted = lora(x)
        A, B = (adapter["default"].weight.detach().clone() for adapter in (lora.lora_A, lora.lora_B))
        got = graded.call(lora_forward, x.clone(), lora.base_layer, A, B, alpha,
                          forbid=("peft.tuners.lora.layer.Linear.forward", "peft.inject_adapter_in_model",
                                  "peft.get_peft_model", "bmcourse.transfer.lora_layer",
                                  "bmcourse.transfer.strategies.lora_layer"),
                          why="this exercise asks you to compute LoRA's output yourself")
        graded.assert_close(got, wanted, "03.2 lora_forward", rtol=1e-5, atol=1e-5)


grade_lora_forward()

# %% [markdown]
# The library builds the same thing. `peft` replaces the layer by a wrapper that holds the
# original as `base_layer` (frozen), `A` and `B` as two small linear layers, and the scaling.
# Its parameters, from the loaded model, and what a fresh adapter (`B` still zero) changes:

# %%
with torch.random.fork_rng(devices=[]):
    peft_query = tr.lora_layer(ex2_layer, rank=tr.LORA_RANK)
for name, parameter in peft_query.named_parameters():
    print(f"{name:>26}  shape {tuple(parameter.shape)!s:>12}  {'trains' if parameter.requires_grad else 'frozen'}")
print(f"scaling alpha / r = {peft_query.scaling['default']:g}")
with torch.no_grad():
    print("a fresh adapter leaves the layer's output exactly as it was:", torch.equal(peft_query(ex2_x), ex2_layer(ex2_x)))

# %% [markdown]
# Your function next to peft on the check's `A` and `B` (it runs once exercise 2 is answered).
# The two add the same terms in another order, so float32 rounding leaves tiny differences;
# the cell prints the power of ten that bounds them:

# %%
if callable(lora_forward):
    with torch.no_grad():
        yours, peft_output = lora_forward(ex2_x, ex2_base, ex2_A, ex2_B, ex2_alpha), ex2_peft(ex2_x)
    largest = (yours - peft_output).abs().max().item()
    bound = next(b for b in (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, float("inf")) if largest <= b)
    print(f"your lora_forward and peft: allclose {torch.allclose(yours, peft_output, rtol=1e-4, atol=1e-5)}, "
          f"largest difference at most {bound:g}")
else:
    print("answer exercise 2 first: this cell compares your lora_forward with peft")

# %% [markdown]
# ### Exercise 3 · BitFit's parameters
# Write a function `bitfit_names(names)`: given a model's parameter names in the model's order (as
# `model.named_parameters()` lists them), it returns the list of the names BitFit trains, in the
# same order. Decide from the names alone, **without `tr.bitfit_parameters`** (or
# `tr.apply_strategy`, which uses it). The check calls it on the names of a freshly loaded tagger
# (`ex3_names` below); grading calls it on the names of other models whose task head is also
# called `classifier`.

# %% tags=["exercise"]
ex3_model, _ = load_token_classifier(["O", "B-X", "I-X"])
ex3_names = [name for name, _ in ex3_model.named_parameters()]


def self_check(fn):
    """bitfit_names(ex3_names) against the package's selection on the same model."""
    return on_example(fn, (list(ex3_names),), expect_equal(tr.bitfit_parameters(ex3_model)))


ex3 = Exercise("03.3", "BitFit's parameter selection", Checker(self_check, "a function"),
               hints=("BitFit trains the bias terms everywhere, plus what no pre-trained weight exists for.",
                      ("Parameter names end in .weight or .bias; the new head's names start with 'classifier'. "
                       "Keep a name when either is true, and keep the order you were given.")),
               points=1)
bitfit_names = ...


# %% tags=["solution"]
def bitfit_names(names):
    """Every bias, and the task head, in the model's order."""
    return [name for name in names if name.endswith(".bias") or name.startswith("classifier")]


# %%
ex3.check(bitfit_names)

# %% tags=["hidden-test"]
def grade_bitfit_names():
    """03.3 on the parameter names of made-up models (other prefixes, layer counts, layers without a bias)
    against the package's bitfit_parameters, which is forbidden while the answer runs."""
    from types import SimpleNamespace

    from bmcourse import graded
    from bmcourse.transfer.strategies import bitfit_parameters as reference

    rng = graded.fresh_rng()
    for _ in range(3):
        base = rng.choice(("roberta", "electra", "deberta", "encoder", f"m{rng.randint(0, 999)}"))  # not the tagger's
        blocks = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                  "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"]
        unbiased = set(rng.sample(blocks, rng.randint(0, 3)))  # some models leave out a few biases
        names = [f"{base}.embeddings.{kind}_embeddings.weight" for kind in ("word", "position", "token_type")]
        names += [f"{base}.embeddings.LayerNorm.weight", f"{base}.embeddings.LayerNorm.bias"]
        for layer in range(rng.randint(1, 4)):
            for block in blocks:
                names.append(f"{base}.encoder.layer.{layer}.{block}.weight")
                names += [] if block in unbiased else [f"{base}.encoder.layer.{layer}.{block}.bias"]
        names += [f"{base}.pooler.dense.weight", f"{base}.pooler.dense.bias"] if rng.random() < 0.5 else []
        names += ["classifier.weight", "classifier.bias"]
        want = reference(SimpleNamespace(named_parameters=lambda names=names: ((name, None) for name in names)))
        got = graded.call(bitfit_names, list(names),
                          forbid=("bmcourse.transfer.bitfit_parameters", "bmcourse.transfer.strategies.bitfit_parameters",
                                  "bmcourse.transfer.apply_strategy", "bmcourse.transfer.strategies.apply_strategy"),
                          why="this exercise asks you to select the parameters yourself")
        if not isinstance(got, (list, tuple)):
            raise AssertionError(f"03.3 bitfit_names: expected a list of names, got {type(got).__name__}")
        if list(got) != want:
            raise AssertionError("03.3 bitfit_names: wrong selection from parameter names you have not seen")


grade_bitfit_names()

# %% [markdown]
# ### Exercise 4 · LoRA's parameters by hand
# LoRA replaces the update of a `d × d` weight by `B·A`, with `A` of shape `r × d` and `B` of
# shape `d × r`. Here it is applied to the query and value matrices of every layer, and the new
# head (`d → labels`, with a bias) is trained as well. Write a function `lora_params(config, rank)`
# that returns the number of trainable parameters of a model with configuration `config` (it has
# `hidden_size`, `num_hidden_layers` and `num_labels`) when LoRA has rank `rank`. Count **by
# hand**, from those numbers: without building a model or a layer (no `torch.nn` module, no
# `peft`, no `tr.apply_strategy` or `tr.trainable_share`). The check calls it on the tagger's
# configuration `ex4_config` with `r = tr.LORA_RANK`, against the count on the real model;
# grading calls it on other configurations and ranks.

# %% tags=["exercise"]
ex4_model, _ = load_token_classifier(["O", "B-X", "I-X", "B-Y", "I-Y"])
ex4_config = ex4_model.config  # hidden_size, num_hidden_layers, num_labels: all you need
_ex4_counted = tr.trainable_share(tr.apply_strategy(ex4_model, "lora"))[0]  # the check counts on the real model


def self_check(fn):
    """lora_params(ex4_config, tr.LORA_RANK) against the trainable parameters counted on the real model."""
    return on_example(fn, (ex4_config, tr.LORA_RANK), expect_equal(_ex4_counted))


ex4 = Exercise("03.4", "LoRA's trainable parameters", Checker(self_check, "a function"),
               hints=("Per adapted matrix: A has r·d numbers and B has d·r. How many matrices per layer, "
                      "how many layers?",
                      ("The head is a linear layer from d to the number of labels: weights and biases. Take d, "
                       "the layers, the labels and r from the arguments, not from the example.")),
               points=2)
lora_params = ...


# %% tags=["solution"]
def lora_params(config, rank):
    d, labels = config.hidden_size, config.num_labels
    adapters = config.num_hidden_layers * 2 * (rank * d + d * rank)  # A and B beside query and value
    return adapters + d * labels + labels  # the head's weights and biases


# %%
ex4.check(lora_params)

# %% tags=["hidden-test"]
def grade_lora_params():
    """03.4 on configurations and ranks drawn at grading time, against the trainable parameters counted
    with the package's LoRA on a tiny model of that configuration; building any model or layer (and the
    package's counting) is forbidden while the answer runs."""
    import warnings

    import torch
    from transformers import BertConfig, BertForTokenClassification

    from bmcourse import graded
    from bmcourse.transfer import strategies

    rng = graded.fresh_rng()
    cases = []
    for _ in range(3):
        heads, rank = rng.randint(1, 4), rng.randint(1, 12)
        config = BertConfig(hidden_size=heads * rng.randint(2, 8), num_attention_heads=heads,
                            num_hidden_layers=rng.randint(1, 4), intermediate_size=rng.randint(2, 16),
                            vocab_size=rng.randint(5, 30), max_position_embeddings=8, num_labels=rng.randint(2, 9))
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():  # later cells' draws stay the same
            warnings.simplefilter("ignore")
            tiny = strategies.apply_strategy(BertForTokenClassification(config), "lora", rank=rank)
            cases.append(((config, rank), strategies.trainable_share(tiny)[0]))
    graded.check_function(lora_params, cases, "03.4 lora_params",
                          forbid=("torch.nn.Module.__init__", "bmcourse.transfer.apply_strategy",
                                  "bmcourse.transfer.strategies.apply_strategy", "bmcourse.transfer.strategies.lora_model",
                                  "bmcourse.transfer.trainable_share", "bmcourse.transfer.strategies.trainable_share"),
                          why="this exercise asks you to count from the configuration, without building a model",
                          rtol=0.0, atol=0.0)


grade_lora_params()

# %% [markdown]
# ## 3 · The strategies at the same budget
#
# First what each strategy trains, counted by the package on the real model with this
# notebook's target labels (exercise 3 picked BitFit's parameters by hand and exercise 4
# counted LoRA's; `lora` goes through `peft`, as in section 2), and each one's learning rate:

# %%
from bmcourse.metrics import format_table

share_rows = []
for strategy in tr.STRATEGIES:
    model, _ = load_token_classifier(target_labels)
    trainable, total, pct = tr.trainable_share(tr.apply_strategy(model, strategy))
    share_rows.append({"strategy": strategy, "trainable": trainable, "total": total, "trainable %": pct,
                       "learning rate": f"{tr.STRATEGY_LR[strategy]:g}"})
print(format_table(share_rows, digits=3))

# %% [markdown]
# The learning rates differ by strategy: a frozen or nearly frozen model needs much larger
# steps. They were chosen on **validation** data (never test) by `bmcourse bench transfer-lr`:
# one seed per rate, scored on a fixed sample of validation sentences, and the best mean dev F1
# over its targets wins. While the best is the largest rate tried, the sweep tries a larger one
# (×2.5), but at most `extend` of them per strategy: a strategy that reaches that cap with its
# largest rate still best keeps that rate, and a larger one might do better. Its shipped result
# says which strategies stopped there:

# %%
lr_sweep = reference.load("transfer_lr")
print(reference.label(lr_sweep))
print(f"targets {lr_sweep['settings']['targets']}, init={lr_sweep['settings']['init']}, "
      f"budget {lr_sweep['settings']['budget_sentences']} sentences, {lr_sweep['settings']['scored_on']}")
for strategy, tried in lr_sweep["mean_dev_f1"].items():
    print(f"{strategy:>13}: " + ", ".join(f"lr {lr} -> {f1:.3f}" for lr, f1 in tried.items())
          + f"  | chosen {lr_sweep['chosen'][strategy]:g}")
print("the package uses the chosen rates:", lr_sweep["chosen"] == tr.STRATEGY_LR)
capped = [s for s, tried in lr_sweep["mean_dev_f1"].items()
          if len(tried) == len(lr_sweep["settings"]["grid"][s]) + lr_sweep["settings"]["extend"]
          and lr_sweep["chosen"][s] == max(float(lr) for lr in tried)]
print(f"at the cap of {lr_sweep['settings']['extend']} larger rates with the largest rate tried still best: "
      f"{', '.join(capped) or 'none'}")

# %% [markdown]
# Each strategy is trained from two starting points: `pretrained` (the raw encoder) and
# `source` (the encoder of the news tagger, with a new head). Every run sees the same number of
# training sentences and is scored on the target's test split twice: on the target's own types
# (`test F1`), and on the mapped types, with its gold and predicted tags both mapped into CoNLL
# types as zero-shot was scored in section 1 (`mapped F1`).

# %%
from bmcourse.train import progress_bar

table = []
bar = progress_bar(len(tr.STRATEGIES) * len(tr.INITS), "strategy runs", True)
for strategy in tr.STRATEGIES:
    for init in tr.INITS:
        result, _, _ = tr.adapt(TARGET, target, strategy, init, source_folder=source_info["folder"],
                                epochs=epochs_for(target["train"].num_rows, BUDGET), mapping=mapping.mapped or None)
        table.append(result)
        bar.update()
bar.close()
print(f"{target['train'].num_rows} training sentences, {table[0].epochs:.2f} epoch(s) each")
print(format_table([{"strategy": r.strategy, "init": r.init, "trainable %": r.trainable_pct, "test F1": r.test_f1,
                     "mapped F1": r.mapped_f1} for r in table], digits=2))

# %%
from bmcourse import plots

fig = plots.plot_bars({s: {init: next(r.test_f1 for r in table if (r.strategy, r.init) == (s, init))
                           for init in tr.INITS} for s in tr.STRATEGIES},
                      title=f"{TARGET}: test F1 per strategy (this run)", xlabel="entity F1")

# %% [markdown]
# Training time and memory are measured too, but they depend on the machine, so they are not
# printed here; the reference run below records them. Which starting point did better on this
# run? The comparison is computed, not assumed:

# %%
gains = {r.strategy: r.test_f1 - next(p.test_f1 for p in table if (p.strategy, p.init) == (r.strategy, "pretrained"))
         for r in table if r.init == "source"}
better = [s for s, g in gains.items() if g > 0]
print(f"init=source beats init=pretrained for {len(better)} of {len(gains)} strategies on this run: "
      f"{', '.join(better) or 'none'}")

# %% [markdown]
# Zero-shot and the adapted taggers are not scored on the same task. Zero-shot only has to
# find the coarse CoNLL types (a politician and any other person are both `PER`); `test F1`
# asks an adapted tagger for the target's own, finer types, where telling a politician from
# another person counts too. The `mapped F1` column scores the adapted taggers' predictions on
# the coarse task zero-shot was scored on: that is the like-for-like comparison.

# %%
if zero["test_f1"] is None:
    print("no target type maps to a CoNLL type: zero-shot has nothing to score")
else:
    above = [f"{r.strategy}/{r.init}" for r in table if r.mapped_f1 > zero["test_f1"]]
    print(f"zero-shot (no training): F1 {zero['test_f1']:.2f} on the mapped types")
    print(f"adapted runs above it on the same mapped types: {len(above)} of {len(table)}"
          + (f" ({', '.join(above)})" if above else ""))
    print(f"adapted runs above it on their own finer types (test F1): "
          f"{sum(r.test_f1 > zero['test_f1'] for r in table)} of {len(table)}")

# %% [markdown]
# ### The same table on four real targets (reference run)
# The shipped reference ran `bmcourse bench transfer` on the real data: WNUT-17 (social media),
# NCBI-disease (biomedical), CrossNER politics and science. Its label line says with which
# model, data, machine, date and commit.

# %%
print(reference.label(REF))
print(f"budget {REF['settings']['budget_sentences']} training sentences per run; learning rates "
      f"{REF['settings']['strategy_lr']}")
ref_targets = REF["settings"]["targets"]
ref_f1 = {(r["target"], r["strategy"], r["init"]): r["test_f1"] for r in REF["rows"]}
print(format_table([{"target": t, "init": i, **{s: ref_f1[(t, s, i)] for s in REF["settings"]["strategies"]}}
                    for t in ref_targets for i in REF["settings"]["inits"]], digits=3))

# %% [markdown]
# These are F1 scores on each target's own types. The reference's zero-shot scores (section 1)
# are on the mapped, coarse types, a different task; whether this reference also scored its
# adapted taggers on the mapped types is read from its rows:

# %%
ref_mapped = [r for r in REF["rows"] if r.get("mapped_f1") is not None]
if ref_mapped:
    print(format_table([{"target": r["target"], "strategy": r["strategy"], "init": r["init"], "test F1": r["test_f1"],
                         "mapped F1": r["mapped_f1"], "zero-shot F1": REF["zero_shot"][r["target"]]["test_f1"]}
                        for r in ref_mapped], digits=3))
else:
    print("this reference scored its adapted taggers on the targets' own types only: compare its zero-shot "
          "F1 with them only as two different tasks (this run's table above has both)")

# %% [markdown]
# What each strategy costs on the reference machine, averaged over the targets (peak memory is
# the growth of the process's resident memory during training, so it depends on what ran before):

# %%
ref_strategies = REF["settings"]["strategies"]
print(f"train seconds: measured {REF['settings'].get('train_seconds_measured', 'per run, one run at a time')}")
print(format_table([{"strategy": s, "trainable %": next(r["trainable_pct"] for r in REF["rows"] if r["strategy"] == s),
                     **{f"train s ({i})": sum(r["train_seconds"] for r in REF["rows"] if (r["strategy"], r["init"]) == (s, i))
                        / len(ref_targets) for i in REF["settings"]["inits"]},
                     "peak memory MB": max(r["peak_memory_mb"] for r in REF["rows"] if r["strategy"] == s)}
                    for s in ref_strategies], digits=2))

# %% [markdown]
# Which starting point wins, and which strategy, is read off the rows rather than assumed:

# %%
ref_mean = {(s, i): sum(ref_f1[(t, s, i)] for t in ref_targets) / len(ref_targets)
            for s in ref_strategies for i in REF["settings"]["inits"]}
source_wins = [(t, s) for t in ref_targets for s in ref_strategies if ref_f1[(t, s, "source")] > ref_f1[(t, s, "pretrained")]]
print(f"init=source beats init=pretrained in {len(source_wins)} of {len(ref_targets) * len(ref_strategies)} "
      "(target, strategy) pairs")
for init in REF["settings"]["inits"]:
    ranking = sorted(ref_strategies, key=lambda s: -ref_mean[(s, init)])
    print(f"init={init}: strategies by mean test F1 over the targets: "
          + ", ".join(f"{s} {ref_mean[(s, init)]:.3f}" for s in ranking))

# %%
learned_nothing = {i: [(t, s) for t in ref_targets for s in ref_strategies if ref_f1[(t, s, i)] == 0]
                   for i in REF["settings"]["inits"]}
for init, runs in learned_nothing.items():
    print(f"init={init}: {len(runs)} of {len(ref_targets) * len(ref_strategies)} runs found no entity at all (F1 0)"
          + (f": {', '.join(f'{t}/{s}' for t, s in runs)}" if runs else ""))

# %% [markdown]
# At this small budget the starting point can matter more than the strategy: a run that finds
# no entity at all has not learned the task within its budget (a larger `--budget` would
# change that, at a cost in time), which is one more reason to read the rows, not a single mean.

# %%
ref_share = {r["strategy"]: r["trainable_pct"] for r in REF["rows"] if r["target"] == ref_targets[0]}
fig = plots.plot_tradeoff({s: (ref_share[s], sum(ref_f1[(t, s, "source")] for t in ref_targets) / len(ref_targets))
                           for s in REF["settings"]["strategies"]},
                          title="Reference: trainable share vs mean test F1 (init=source, 4 targets)")

# %% [markdown]
# How far is a parameter-efficient strategy from `full`? BitFit's gap per target and start
# (positive means below `full`); LoRA's, from the source start, is yours to compute in exercise 5:

# %%
ref_gaps = [{"target": t, "init": i, "full - bitfit": ref_f1[(t, "full", i)] - ref_f1[(t, "bitfit", i)]}
            for t in ref_targets for i in REF["settings"]["inits"]]
print(format_table(ref_gaps, digits=3))
within = sum(row["full - bitfit"] <= 0.03 for row in ref_gaps)
print(f"bitfit is within 3 F1 points of full in {within} of {len(ref_gaps)} (target, init) pairs")

# %% [markdown]
# ### Exercise 5 · LoRA's gap to full fine-tuning
# Write a function `lora_gap(rows)`: given result rows like `REF["rows"]` (one dict per run, with
# at least `target`, `strategy`, `init` and `test_f1`, in any order), it returns a dict
# `{target: F1 of full minus F1 of lora}` over the runs with `init="source"`, one entry per target
# in the rows. The check calls it on `REF["rows"]`; grading calls it on made-up rows: other
# targets, scores and order.

# %% tags=["exercise"]
def self_check(fn):
    """lora_gap(REF["rows"]) against the gaps of the reference table (full − lora, init=source)."""
    scores = {(r["target"], r["strategy"], r["init"]): r["test_f1"] for r in REF["rows"]}
    gaps = {t: scores[(t, "full", "source")] - scores[(t, "lora", "source")] for t in REF["settings"]["targets"]}
    return on_example(fn, ([dict(r) for r in REF["rows"]],), expect_close(gaps, atol=1e-9))


ex5 = Exercise("03.5", "LoRA's gap to full fine-tuning", Checker(self_check, "a function"),
               hints=("Each row has target, strategy, init and test_f1; keep the rows with init 'source'.",
                      ("For each target, find its full row and its lora row and subtract: full minus lora. "
                       "Take the targets from the rows you are given, not from REF.")),
               points=1)
lora_gap = ...


# %% tags=["solution"]
def lora_gap(rows):
    """F1 of full minus F1 of lora per target, for the runs that start from the source tagger."""
    f1 = {(row["target"], row["strategy"]): row["test_f1"] for row in rows if row["init"] == "source"}
    return {target: f1[(target, "full")] - f1[(target, "lora")] for target, _ in f1}


# %%
ex5.check(lora_gap)

# %% tags=["hidden-test"]
def grade_lora_gap():
    """03.5 on result rows made up at grading time: other targets and scores, extra fields, any order."""
    from bmcourse import graded

    rng = graded.fresh_rng()
    for _ in range(3):
        rows, want = [], {}
        for _ in range(rng.randint(3, 6)):
            target = f"target_{rng.getrandbits(32):08x}"
            f1 = {(strategy, init): rng.random() for strategy in ("linear_probe", "partial", "full", "bitfit", "lora")
                  for init in ("pretrained", "source")}
            want[target] = f1[("full", "source")] - f1[("lora", "source")]
            rows += [{"target": target, "strategy": strategy, "init": init, "test_f1": score,
                      "train_seconds": rng.uniform(1, 60)} for (strategy, init), score in f1.items()]
        rng.shuffle(rows)
        got = graded.call(lora_gap, [dict(row) for row in rows])
        if not isinstance(got, dict) or set(got) != set(want):
            raise AssertionError("03.5 lora_gap: expected a dict with one entry per target in the rows")
        graded.assert_close([got[t] for t in want], [want[t] for t in want], "03.5 lora_gap", rtol=1e-9, atol=1e-12)


grade_lora_gap()

# %% [markdown]
# ## 4 · Few-shot curves
#
# How many target sentences does each starting point need? For every size, `few_shot` samples
# sentences per seed so that every target type appears at least once (when the size allows);
# a size at or above the training split means all of it. Each run sees up to `BUDGET`
# sentences (a tiny set is passed over at most 10 times, so the smallest sizes see fewer).
# Mention replacement (swap an entity for another of the same type from the same small
# training set) doubles the smallest sets; it is tried from the `source` start.

# %%
few = []
bar = progress_bar(sum(SEEDS * (len(tr.INITS) + (n <= AUGMENT_UP_TO)) for n in SIZES), "few-shot runs", True)
for n in SIZES:
    for seed in range(SEEDS):
        subset = tr.few_shot(target["train"], n, seed, quiet=seed > 0)  # says once when n exceeds the split
        runs = [(init, "none", subset) for init in tr.INITS]
        if n <= AUGMENT_UP_TO:
            runs.append(("source", "mention_replacement", tr.augment_with_mentions(subset, copies=1, seed=seed)))
        for init, augmentation, split in runs:
            result, _, _ = tr.adapt(TARGET, target, "full", init, source_folder=source_info["folder"],
                                    train_split=split, epochs=epochs_for(split.num_rows, BUDGET), seed=seed)
            few.append({"target": TARGET, "n": subset.num_rows, "seed": seed, "init": init,
                        "augmentation": augmentation, "test_f1": result.test_f1})
            bar.update()
bar.close()
print(f"{len(few)} runs")

# %%
fig = plots.plot_curves_with_bands({f"init={init}": by_size for init, by_size in tr.scores_by_size(few, TARGET).items()},
                                   title=f"{TARGET}: this run, {SEEDS} seeds (band: min-max)")

# %% [markdown]
# The paired difference (same sentences, same seed) between the two starting points at the
# small sizes, and what augmentation changes, with their spread:

# %%
def describe_differences(name, values):
    """Mean and spread of paired differences, as one line."""
    mean, spread = tr.mean_and_spread(values)
    return f"{name}: mean {mean:+.2f}, standard deviation {spread:.2f} over {len(values)} pairs"


print(describe_differences("source minus pretrained, n <= 50", tr.paired_differences(few, TARGET, up_to=50)))
print(describe_differences("augmented minus not (init=source)", tr.paired_differences(
    few, TARGET, up_to=AUGMENT_UP_TO, a=("source", "mention_replacement"), b=("source", "none"))))

# %% [markdown]
# The reference run, on four targets with three seeds per size (each run scored on the same
# fixed sample of the test split, as the settings say). For the news start against the raw
# one at n ≤ 50: in how many pairs it wins, and how far the differences spread (their mean per
# target is what exercise 6 asks you to compute); for augmentation, its mean and spread:

# %%
print(REF["settings"]["few_shot_scored_on"])
ref_source_gain = []
for t in ref_targets:
    diffs = tr.paired_differences(REF["few_shot"], t, up_to=50)
    aug = tr.paired_differences(REF["few_shot"], t, up_to=REF["settings"]["augment_up_to"],
                                a=("source", "mention_replacement"), b=("source", "none"))
    ref_source_gain.append({"target": t, "pairs (n<=50)": len(diffs), "source ahead in": sum(d > 0 for d in diffs),
                            "sd": tr.mean_and_spread(diffs)[1],
                            "augmented - not": tr.mean_and_spread(aug)[0], "sd ": tr.mean_and_spread(aug)[1]})
print(format_table(ref_source_gain, digits=3))

# %%
fig = plots.plot_curve_panels({t: {f"init={init}": by_size for init, by_size in tr.scores_by_size(REF["few_shot"], t).items()}
                               for t in ref_targets},
                              title="Reference: few-shot curves (mean; band = min-max over seeds)")

# %% [markdown]
# ### Exercise 6 · Does the news model help with few examples?
# Write a function `source_gain(few)`: given few-shot result rows like `REF["few_shot"]` (one dict
# per run, with `target`, `n`, `seed`, `init`, `augmentation` and `test_f1`, in any order), it
# returns a dict `{target: mean over the pairs of (F1 with init=source minus F1 with
# init=pretrained)}`, one entry per target in the rows. A pair is two runs of the same target,
# `n` and `seed` (they trained on the same sentences), both with `augmentation == "none"` and
# `n <= 50`; a run whose partner is missing (a failed run, say) belongs to no pair and is left
# out. Pair the runs yourself, **without `tr.paired_differences`** (or `tr.mean_and_spread`), which
# the cells above use. The check calls it on `REF["few_shot"]`; grading calls it on made-up rows.

# %% tags=["exercise"]
def self_check(fn):
    """source_gain(REF["few_shot"]) against the package's paired differences and their mean, per target."""
    means = {t: tr.mean_and_spread(tr.paired_differences(REF["few_shot"], t, up_to=50))[0]
             for t in REF["settings"]["targets"]}
    return on_example(fn, ([dict(r) for r in REF["few_shot"]],), expect_close(means, atol=1e-9))


ex6 = Exercise("03.6", "The source model's few-shot gain", Checker(self_check, "a function"),
               hints=("Pair a source run with the pretrained run of the same target, n and seed: they trained on "
                      "the same sentences.",
                      ("Keep rows with augmentation 'none' and n <= 50; index them by (target, init, n, seed), then "
                       "for each source run look up its pretrained partner (skip it when there is none) and average "
                       "the differences per target.")),
               points=2)
source_gain = ...


# %% tags=["solution"]
def source_gain(few):
    """Mean paired difference (source minus pretrained) per target, n <= 50, no augmentation."""
    runs = {(r["target"], r["init"], r["n"], r["seed"]): r["test_f1"] for r in few
            if r["augmentation"] == "none" and r["n"] <= 50}
    differences = {}
    for (target, init, n, seed), f1 in runs.items():
        partner = runs.get((target, "pretrained", n, seed))
        if init == "source" and partner is not None:
            differences.setdefault(target, []).append(f1 - partner)
    return {target: sum(values) / len(values) for target, values in differences.items()}


# %%
ex6.check(source_gain)

# %% tags=["hidden-test"]
def grade_source_gain():
    """03.6 on few-shot rows made up at grading time (other targets, sizes on both sides of 50, seeds,
    augmented runs, runs whose partner is missing, any order) against the package's pairing, which is
    forbidden while the answer runs."""
    import statistics

    from bmcourse import graded
    from bmcourse.transfer import fewshot

    rng = graded.fresh_rng()
    for _ in range(3):
        rows = []
        for _ in range(rng.randint(3, 5)):
            target, own = f"target_{rng.getrandbits(32):08x}", []
            sizes = (rng.choice((5, 10)), rng.choice((20, 25, 40)), 50, rng.choice((51, 100, 200, 3394)))
            for n in sizes:
                for seed in range(rng.randint(2, 4)):
                    settings = [("pretrained", "none"), ("source", "none")]
                    settings += [("source", "mention_replacement")] if n <= 25 else []
                    own += [{"target": target, "n": n, "seed": seed, "init": init, "augmentation": augmentation,
                             "test_f1": rng.random(), "train_seconds": rng.uniform(1, 30)}
                            for init, augmentation in settings]
            pairs = sorted({(row["n"], row["seed"]) for row in own if row["n"] <= 50})
            for n, seed in rng.sample(pairs, 2):  # two failed runs, in two pairs: their partners are left alone
                failed = (n, seed, rng.choice(("pretrained", "source")), "none")
                own = [row for row in own if (row["n"], row["seed"], row["init"], row["augmentation"]) != failed]
            rows += own
        rng.shuffle(rows)
        targets = {row["target"] for row in rows}
        want = {t: statistics.fmean(fewshot.paired_differences(rows, t, up_to=50)) for t in targets}
        got = graded.call(source_gain, [dict(row) for row in rows],
                          forbid=("bmcourse.transfer.paired_differences", "bmcourse.transfer.fewshot.paired_differences",
                                  "bmcourse.transfer.mean_and_spread", "bmcourse.transfer.fewshot.mean_and_spread"),
                          why="this exercise asks you to pair the runs yourself")
        if not isinstance(got, dict) or set(got) != set(want):
            raise AssertionError("03.6 source_gain: expected a dict with one entry per target in the rows")
        graded.assert_close([got[t] for t in want], [want[t] for t in want], "03.6 source_gain",
                            rtol=1e-9, atol=1e-12)


grade_source_gain()

# %% [markdown]
# ## 5 · Forgetting, and replay
#
# After full fine-tuning on politics, how well does the model still tag news? To ask that, one
# head covers both label sets: the source's rows are kept, the target's new rows start fresh.
# Then the same run again with `REPLAY` source sentences mixed in per target sentence.

# %%
after = tr.forgetting(source, tokenizer, conll, target, epochs=epochs_for(target["train"].num_rows, BUDGET),
                      progress=True)  # a progress bar while each run trains
replayed = tr.forgetting(source, tokenizer, conll, target, replay=REPLAY,
                         epochs=epochs_for(target["train"].num_rows, BUDGET), progress=True)
print(f"CoNLL-2003 test F1: before {source_f1:.2f}, after {after['source_f1']:.2f}, "
      f"after with replay {replayed['source_f1']:.2f} ({replayed['replayed_sentences']} source sentences mixed in)")
print(f"target test F1: without replay {after['target_f1']:.2f}, with replay {replayed['target_f1']:.2f}")

# %% [markdown]
# The reference run, per target:

# %%
forget = REF["forgetting"]
fig = plots.plot_bars({t: {"before": f["before"], "after": f["after"], "after replay": f["after_replay"]}
                       for t, f in forget.items()},
                      title="Reference: CoNLL-2003 test F1 before and after adapting", xlabel="entity F1")

# %%
print(format_table([{"target": t, "CoNLL F1 forgotten": f["before"] - f["after"],
                     "extra training time %": 100 * (f["train_seconds_replay"] / f["train_seconds"] - 1),
                     "target F1": f["target_f1"], "target F1 with replay": f["target_f1_replay"]}
                    for t, f in forget.items()], digits=3))

# %% [markdown]
# In the reference run replay is not free. It costs training time (more sentences per epoch),
# and it can cost the new task: the target F1 columns above are the reference's, and the
# largest drop among them is:

# %%
replay_cost = {t: f["target_f1"] - f["target_f1_replay"] for t, f in forget.items()}
costliest = max(replay_cost, key=replay_cost.get)
print(f"replay lowered the target F1 on {sum(c > 0 for c in replay_cost.values())} of {len(forget)} targets; "
      f"most on {costliest}: {forget[costliest]['target_f1']:.3f} without replay, "
      f"{forget[costliest]['target_f1_replay']:.3f} with it")

# %% [markdown]
# ### Exercise 7 · How much does replay win back?
# Write a function `recovered(forgetting)`: given forgetting results like `REF["forgetting"]` (a
# dict `{target: {"before": ..., "after": ..., "after_replay": ..., ...}}` of CoNLL F1 scores), it
# returns a dict `{target: share of the forgotten CoNLL F1 that replay recovers}`, i.e.
# (after replay − after) / (before − after), for every target that forgot something
# (before > after) and for no other. Compute it yourself, **without `tr.replay_recovery`**. The
# check calls it on `REF["forgetting"]`; grading calls it on made-up results, some of which forgot
# nothing.

# %% tags=["exercise"]
def self_check(fn):
    """recovered(REF["forgetting"]) against the package's replay_recovery, per target that forgot something."""
    shares = {t: tr.replay_recovery(f["before"], f["after"], f["after_replay"]) for t, f in REF["forgetting"].items()}
    return on_example(fn, ({t: dict(f) for t, f in REF["forgetting"].items()},),
                      expect_close({t: share for t, share in shares.items() if share is not None}, atol=1e-9))


ex7 = Exercise("03.7", "Replay's recovered share", Checker(self_check, "a function"),
               hints=("What was forgotten is before minus after; what replay wins back is measured from 'after'.",
                      ("A share: divide what replay won back by what was forgotten. Leave out every target "
                       "whose F1 did not drop: it forgot nothing, so there is no share to compute.")),
               points=1)
recovered = ...


# %% tags=["solution"]
def recovered(forgetting):
    """Share of the forgotten source F1 that replay wins back, per target that forgot something."""
    return {target: (f["after_replay"] - f["after"]) / (f["before"] - f["after"])
            for target, f in forgetting.items() if f["before"] > f["after"]}


# %%
ex7.check(recovered)

# %% tags=["hidden-test"]
def grade_recovered():
    """03.7 on forgetting results made up at grading time (targets that forgot, that kept their F1, that
    gained) against the package's replay_recovery, which is forbidden while the answer runs."""
    from bmcourse import graded
    from bmcourse.transfer.forgetting import replay_recovery as reference

    rng = graded.fresh_rng()
    for _ in range(3):
        results = {}
        for kind in ["forgot"] * rng.randint(2, 4) + ["kept", "gained"]:
            before = rng.uniform(0.5, 0.95)
            after = {"forgot": before * rng.uniform(0.0, 0.9), "kept": before, "gained": before + 0.01}[kind]
            results[f"target_{rng.getrandbits(32):08x}"] = {
                "before": before, "after": after, "after_replay": rng.uniform(0.0, 1.0), "replay": 0.5,
                "target_f1": rng.random(), "train_seconds": rng.uniform(1, 30)}
        results = dict(rng.sample(list(results.items()), len(results)))
        shares = {t: reference(f["before"], f["after"], f["after_replay"]) for t, f in results.items()}
        want = {t: share for t, share in shares.items() if share is not None}
        got = graded.call(recovered, {t: dict(f) for t, f in results.items()},
                          forbid=("bmcourse.transfer.replay_recovery", "bmcourse.transfer.forgetting.replay_recovery"),
                          why="this exercise asks you to compute the share yourself")
        if not isinstance(got, dict) or set(got) != set(want):
            raise AssertionError("03.7 recovered: expected one entry per target that forgot something, and no other")
        graded.assert_close([got[t] for t in want], [want[t] for t in want], "03.7 recovered", rtol=1e-9, atol=1e-12)


grade_recovered()

# %% [markdown]
# ## 6 · Forgetting without replayed data: elastic weight consolidation
#
# Replay needs the old data at hand. The articles' map of continual learning (持续学习) names a
# second family next to memory replay (记忆重放): **regularisation** (正则化方法). Its best-known
# member is elastic weight consolidation (EWC). It keeps no source sentences for training; instead it
# 1. measures once how much the source task relies on each weight: the diagonal of the **Fisher
#    information**, one number $F_i \ge 0$ per weight, estimated from squared gradients of the source
#    loss (here each batch's mean-loss gradient, squared, averaged over the batches);
# 2. fine-tunes on the target with a penalty that pulls each weight back towards its source value
#    $\theta^*_i$, the harder the larger $F_i$:
#
# $$\text{loss} = \text{target loss} + \frac{\lambda}{2}\sum_i F_i\,(\theta_i - \theta^*_i)^2 .$$
#
# Each weight is tied to its source value by a spring of stiffness $\lambda F_i$: weights the news task
# hardly uses move freely, the ones it relies on are held. The run below is the plain run of section 5
# with this penalty: the same joint head, budget, learning rate and seed. Its Fisher is estimated on
# the source sentences replay mixed in above (at most `REPLAY` × `BUDGET` of them), and λ is the value
# the reference run chose on validation data (never test).

# %%
CONTINUAL = reference.load("continual_reference")  # the shipped full run: plain, replay and EWC on real targets
EWC_LAM = CONTINUAL["lam"]  # chosen there on validation data
with_ewc = tr.ewc_forgetting(source, tokenizer, conll, target, lam=EWC_LAM, fisher_ratio=REPLAY,
                             fisher_at_most=round(REPLAY * BUDGET), epochs=epochs_for(target["train"].num_rows, BUDGET),
                             progress=True)  # a progress bar for the Fisher pass and the training
print(f"lambda = {EWC_LAM:g}; Fisher estimated on {with_ewc['fisher_sentences']} CoNLL-2003 training sentences")
print(format_table([{"run": "plain fine-tuning", "CoNLL-2003 test F1": after["source_f1"], "target test F1": after["target_f1"]},
                    {"run": "replay", "CoNLL-2003 test F1": replayed["source_f1"], "target test F1": replayed["target_f1"]},
                    {"run": "EWC", "CoNLL-2003 test F1": with_ewc["source_f1"], "target test F1": with_ewc["target_f1"]}],
                   digits=2))

# %% [markdown]
# The reference run did the same on real targets (one row each), after choosing λ on one target's
# validation data (the second printed line says how); it reran plain fine-tuning and replay as well,
# so all three columns come from one run:

# %%
print(reference.label(CONTINUAL))
print("lambda chosen on", CONTINUAL["settings"]["lam_chosen_on"])
print("lambda tried on validation data (CoNLL-2003 F1 / target F1):",
      "; ".join(f"{r['lam']:g}: {r['source_dev_f1']:.3f} / {r['target_dev_f1']:.3f}" for r in CONTINUAL["lam_sweep"]),
      f"-> chosen {CONTINUAL['lam']:g}")
print(format_table([{"target": t, "CoNLL F1 before": f["before"], "kept: plain": f["after"],
                     "kept: replay": f["after_replay"], "kept: EWC": f["after_ewc"], "target F1: plain": f["target_f1"],
                     "target F1: replay": f["target_f1_replay"], "target F1: EWC": f["target_f1_ewc"]}
                    for t, f in CONTINUAL["forgetting"].items()], digits=3))

# %% [markdown]
# What the reference says, counted from the table rather than read off it:

# %%
runs = CONTINUAL["forgetting"]
print(f"EWC kept more CoNLL-2003 F1 than plain fine-tuning on {sum(f['after_ewc'] > f['after'] for f in runs.values())} "
      f"of {len(runs)} targets, and more than replay on {sum(f['after_ewc'] > f['after_replay'] for f in runs.values())}")
print(f"EWC's target F1 was at least plain fine-tuning's on "
      f"{sum(f['target_f1_ewc'] >= f['target_f1'] for f in runs.values())} of {len(runs)} targets, "
      f"and at least replay's on {sum(f['target_f1_ewc'] >= f['target_f1_replay'] for f in runs.values())}")

# %% [markdown]
# Both methods cost something. Replay needs stored source sentences and trains on more sentences
# per epoch; EWC needs no stored sentences after one Fisher pass, but it keeps two extra copies of the
# weights' size (the Fisher and $\theta^*$), and one λ must fit every target. Which of the two keeps
# more of the news task, and at what price for the new one, is what the counts above answer.

# %% [markdown]
# ### Exercise 8 · The EWC penalty
# Write a function `penalty(theta, anchor, fisher, lam)`: `theta`, `anchor` ($\theta^*$) and `fisher`
# are dicts `{parameter name: tensor}`, `lam` is λ. It returns $\frac{\lambda}{2}\sum_i F_i(\theta_i -
# \theta^*_i)^2$ over every parameter named in `fisher`, as one number (a float or a 0-dimensional
# tensor). `theta` may hold parameters that `fisher` does not name (the target's new head rows, say):
# nothing protects them, so they add nothing. Write it yourself, **without `tr.ewc_penalty`** (or the
# package's `penalty_gradient`). The check calls it on the tensors below; grading calls it on other
# names, shapes and values.

# %% tags=["exercise"]
ex8_gen = torch.Generator().manual_seed(8)
ex8_theta = {"encoder.weight": torch.randn(4, 3, generator=ex8_gen), "encoder.bias": torch.randn(3, generator=ex8_gen),
             "head.new_rows": torch.randn(2, 3, generator=ex8_gen)}
ex8_anchor = {name: value + 0.1 * torch.randn(value.shape, generator=ex8_gen) for name, value in ex8_theta.items()}
ex8_fisher = {name: torch.rand(ex8_theta[name].shape, generator=ex8_gen) for name in ("encoder.weight", "encoder.bias")}
EX8_LAM = 50.0


def self_check(fn):
    """penalty on the tensors above against the package's tr.ewc_penalty."""
    want = float(tr.ewc_penalty(ex8_theta, ex8_anchor, ex8_fisher, EX8_LAM))
    return on_example(fn, (ex8_theta, ex8_anchor, ex8_fisher, EX8_LAM), expect_close(want, rtol=1e-5))


ex8 = Exercise("03.8", "The EWC penalty", Checker(self_check, "a function"),
               hints=("For each parameter the Fisher covers: how far each weight moved from its source value, "
                      "squared, times its Fisher value; add all of that up and scale it by half of lambda.",
                      ("Loop over the names in fisher, not in theta: a parameter without a Fisher entry is free. "
                       "The products are element by element (tensors of one shape); reduce each to one number "
                       "with .sum() before adding the parameters together.")),
               points=1)
penalty = ...


# %% tags=["solution"]
def penalty(theta, anchor, fisher, lam):
    """EWC's penalty: lam/2 times the Fisher-weighted squared distance to the anchor, over the Fisher's names."""
    total = sum((fisher[name] * (theta[name] - anchor[name]) ** 2).sum() for name in fisher)
    return lam / 2 * total


# %%
ex8.check(penalty)

# %% tags=["hidden-test"]
def grade_penalty():
    """03.8 on parameter names, shapes and values made up at grading time (some parameters without a Fisher
    entry) against the package's ewc_penalty, which is forbidden while the answer runs."""
    import torch

    from bmcourse import graded
    from bmcourse.transfer.ewc import ewc_penalty as reference

    rng = graded.fresh_rng()
    gen = torch.Generator().manual_seed(graded.fresh_seed(rng))
    for _ in range(3):
        names = [f"layer{rng.randint(0, 99)}.{kind}{i}" for i, kind in
                 enumerate(rng.choices(("weight", "bias", "scale"), k=rng.randint(3, 6)))]
        theta = {n: torch.randn([rng.randint(1, 5) for _ in range(rng.randint(1, 2))], generator=gen,
                                dtype=torch.float64) for n in names}
        anchor = {n: v + rng.uniform(0.01, 1.0) * torch.randn(v.shape, generator=gen, dtype=torch.float64)
                  for n, v in theta.items()}
        covered = rng.sample(names, rng.randint(1, len(names) - 1))  # the others have no Fisher entry
        fisher = {n: rng.choice((1e-3, 1.0, 30.0)) * torch.rand(theta[n].shape, generator=gen, dtype=torch.float64)
                  for n in covered}
        lam = rng.uniform(0.5, 2000.0)
        want = float(reference(theta, anchor, fisher, lam))
        got = graded.call(penalty, {n: v.clone() for n, v in theta.items()}, {n: v.clone() for n, v in anchor.items()},
                          {n: v.clone() for n, v in fisher.items()}, lam,
                          forbid=("bmcourse.transfer.ewc_penalty", "bmcourse.transfer.ewc.ewc_penalty",
                                  "bmcourse.transfer.penalty_gradient", "bmcourse.transfer.ewc.penalty_gradient",
                                  "bmcourse.transfer.ewc.Consolidated.penalty"),
                          why="this exercise asks you to write the penalty yourself")
        graded.assert_close(got, want, "03.8 penalty", rtol=1e-9, atol=1e-12)


grade_penalty()

# %% [markdown]
# ## Summary
#
# | section | what you measured | source concept (articles) |
# |---|---|---|
# | 1 | zero-shot transfer through an explicit label mapping | 跨领域应用 (cross-domain use) |
# | 2 | LoRA on one layer by hand against `peft`; what each strategy trains, counted by hand | 参数高效微调 (parameter-efficient fine-tuning) |
# | 3 | five strategies, two starting points, one budget; scored on the target's types and on zero-shot's mapped types | 迁移学习 (transfer learning) |
# | 4 | few-shot curves with their spread; augmentation | 小样本 (few-shot) |
# | 5 | forgetting of the source task, and replay | 持续学习 (continual learning) |
# | 6 | EWC: a penalty from the Fisher instead of replayed data, at the same budget | 持续学习: 正则化方法 (regularisation) vs 记忆重放 (replay) |
#
# The conclusions drawn in the text come from the numbers printed above them: where this
# run (a smoke run uses tiny samples) and the reference differ, trust the reference and its
# spread, and rerun with `BMCOURSE_PROFILE=full` to see your own.

# %% tags=["cuda-varies"]
# this notebook's headline result, shown in `bmcourse run`'s summary table
from bmcourse.data import data_name

best_row = max(table, key=lambda r: r.test_f1)
bmcourse.headline(f"best test F1 on {data_name(TARGET)} at the same budget (this run)",
                  f"{best_row.test_f1:.3f} ({best_row.strategy}, from {best_row.init})")

# %%
print(checkpoint([ex1, ex2, ex3, ex4, ex5, ex6, ex7, ex8]))
