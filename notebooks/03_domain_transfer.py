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
# 2. tell five adaptation strategies apart by what they train: `linear_probe`, `partial`,
#    `full`, `bitfit` and `lora`, and count their parameters by hand;
# 3. compare them at the same budget, from two starting points (the raw pre-trained encoder and
#    the news-tuned one);
# 4. draw few-shot curves with their spread over seeds, and test mention-replacement augmentation;
# 5. measure forgetting of the source task, and how much replay wins back.
#
# **Time.** On a 2-core CPU with the offline model all-MiniLM-L6-v2: smoke profile (the tests)
# about 2 minutes. The full profile (the real CrossNER politics) was not timed as a notebook run;
# the same runs took about 20 minutes inside the reference benchmark. A GPU is much faster.

# %%
import sys

if "google.colab" in sys.modules:  # on Colab, install the course package first (elsewhere: nothing to do)
    # %pip install --quiet "bmcourse @ git+https://github.com/bmcourse/bmcourse"
    print("bmcourse installed")

import bmcourse

settings = bmcourse.setup(seed=0)

# %% [markdown]
# The profile sets the sizes: the `smoke` profile (the tests) uses the small embedded samples
# and tiny budgets, so its numbers only illustrate; `full` uses the real data. Every run gets
# the same **budget**: it sees `BUDGET` training sentences (at most 10 passes over a tiny set),
# so strategies and sizes are compared at equal compute. The cell also holds the imports the
# exercises need (the tests run each exercise on top of it alone).

# %% tags=["setup"]
from bmcourse import by_profile, reference
from bmcourse import transfer as tr
from bmcourse.exercises import Checker, Exercise, checkpoint, expect_close, expect_equal
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

source, tokenizer, source_info = tr.source_tagger(SOURCE_RECIPE, progress=False)
conll = load_ner("conll2003")
conll_labels = conll["train"].features["ner_tags"].feature.names
conll_test = encode_ner(conll["test"], tokenizer, training=False)
source_f1 = evaluate(source, conll_test, progress=False)["f1"]
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
zero = tr.zero_shot(source, tokenizer, target["test"], mapping)
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
# Write `to_source_tags(tags, mapping)`: given one sentence's IOB2 tags in target types and a
# dict `{target type: source type}`, return the tags in source types. An entity whose type is
# not in the dict becomes `O` (all of its words), and the output must stay valid IOB2.

# %% tags=["exercise"]
ex1_mapping = {"politician": "PER", "country": "LOC", "politicalparty": "ORG"}
ex1_sentences = [["B-politician", "I-politician", "O", "B-country"],
                 ["B-election", "I-election", "O", "B-politicalparty", "I-politicalparty"],
                 ["O", "B-event", "B-country", "I-country"]]
ex1 = Exercise("03.1", "Target tags into source tags",
               Checker(lambda fn: expect_equal([tr.map_tags(s, ex1_mapping) for s in ex1_sentences])(
                   [fn(s, ex1_mapping) for s in ex1_sentences]), "a function"),
               hints=("A tag is O, or a prefix (B- or I-) and a type: split it, look the type up.",
                      "Keep the prefix when the type is in the mapping; otherwise the whole tag becomes O. "
                      "bmcourse.tagging.split_tag splits a tag."))
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
#
# The share of trainable parameters, counted on the real model:

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
# one seed per rate, scored on a fixed sample of validation sentences, the best mean dev F1
# over its targets wins, and a rate at the top of the grid makes it try larger ones. Its
# shipped result:

# %%
lr_sweep = reference.load("transfer_lr")
print(reference.label(lr_sweep))
print(f"targets {lr_sweep['settings']['targets']}, init={lr_sweep['settings']['init']}, "
      f"budget {lr_sweep['settings']['budget_sentences']} sentences, {lr_sweep['settings']['scored_on']}")
for strategy, tried in lr_sweep["mean_dev_f1"].items():
    print(f"{strategy:>13}: " + ", ".join(f"lr {lr} -> {f1:.3f}" for lr, f1 in tried.items())
          + f"  | chosen {lr_sweep['chosen'][strategy]:g}")
print("the package uses the chosen rates:", lr_sweep["chosen"] == tr.STRATEGY_LR)

# %% [markdown]
# ### Exercise 2 · BitFit's parameters
# Write `bitfit_names(model)`: the names (from `model.named_parameters()`) of the parameters
# BitFit trains, in the model's order.

# %% tags=["exercise"]
ex2_model, _ = load_token_classifier(["O", "B-X", "I-X"])
ex2 = Exercise("03.2", "BitFit's parameter selection",
               Checker(lambda fn: expect_equal(tr.bitfit_parameters(ex2_model))(list(fn(ex2_model))), "a function"),
               hints=("BitFit trains the bias terms everywhere, plus what no pre-trained weight exists for.",
                      "Parameter names end in .weight or .bias; the new head's names start with 'classifier'."))
bitfit_names = ...


# %% tags=["solution"]
def bitfit_names(model):
    """Every bias, and the task head."""
    return [name for name, _ in model.named_parameters() if name.endswith(".bias") or name.startswith("classifier")]


# %%
ex2.check(bitfit_names)

# %% [markdown]
# ### Exercise 3 · LoRA's parameters by hand
# LoRA replaces the update of a `d × d` weight by `B·A`, with `A` of shape `r × d` and `B` of
# shape `d × r`. Here it is applied to the query and value matrices of every layer, with rank
# `r = tr.LORA_RANK`, and the new head (`d → labels`, with a bias) is trained as well. Compute
# `lora_params`, the number of trainable parameters, from the model's configuration only.

# %% tags=["exercise"]
ex3_model, _ = load_token_classifier(["O", "B-X", "I-X", "B-Y", "I-Y"])
ex3_config = ex3_model.config  # hidden_size, num_hidden_layers, num_labels: all you need
_ex3_counted = tr.trainable_share(tr.apply_strategy(ex3_model, "lora"))[0]  # the check counts on the real model
ex3 = Exercise("03.3", "LoRA's trainable parameters",
               Checker(lambda n: expect_equal(_ex3_counted)(n), "a whole number"),
               hints=("Per adapted matrix: A has r·d numbers and B has d·r. How many matrices per layer, "
                      "how many layers?",
                      "The head is a linear layer from d to the number of labels: weights and biases."))
lora_params = ...

# %% tags=["solution"]
d, r = ex3_config.hidden_size, tr.LORA_RANK
lora_params = ex3_config.num_hidden_layers * 2 * (2 * d * r) + (d * ex3_config.num_labels + ex3_config.num_labels)

# %%
ex3.check(lora_params)

# %% [markdown]
# ## 3 · The strategies at the same budget
#
# Each strategy is trained from two starting points: `pretrained` (the raw encoder) and
# `source` (the encoder of the news tagger, with a new head). Every run sees the same number of
# training sentences and is scored on the target's test split.

# %%
table = []
for strategy in tr.STRATEGIES:
    for init in tr.INITS:
        result, _, _ = tr.adapt(TARGET, target, strategy, init, source_folder=source_info["folder"],
                                epochs=epochs_for(target["train"].num_rows, BUDGET))
        table.append(result)
print(f"{target['train'].num_rows} training sentences, {table[0].epochs:.2f} epoch(s) each")
print(format_table([{"strategy": r.strategy, "init": r.init, "trainable %": r.trainable_pct, "test F1": r.test_f1}
                    for r in table], digits=2))

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
# What each strategy costs on the reference machine, averaged over the targets (peak memory is
# the growth of the process's resident memory during training, so it depends on what ran before):

# %%
ref_strategies = REF["settings"]["strategies"]
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
# How far is each parameter-efficient strategy from `full`? Positive means below `full`:

# %%
ref_gaps = [{"target": t, "init": i, **{f"full - {s}": ref_f1[(t, "full", i)] - ref_f1[(t, s, i)]
                                        for s in ("bitfit", "lora")}}
            for t in ref_targets for i in REF["settings"]["inits"]]
print(format_table(ref_gaps, digits=3))
within = sum(row[f"full - {s}"] <= 0.03 for row in ref_gaps for s in ("bitfit", "lora"))
print(f"{within} of {2 * len(ref_gaps)} (strategy, target, init) pairs are within 3 F1 points of full")

# %% [markdown]
# ### Exercise 4 · Points per trained parameter
# From the reference rows (`REF["rows"]`), compute `lora_gap`: a dict `{target: F1 of full
# minus F1 of lora}` for `init="source"`.

# %% tags=["exercise"]
_ex4_rows = {(r["target"], r["strategy"]): r["test_f1"] for r in REF["rows"] if r["init"] == "source"}
ex4 = Exercise("03.4", "LoRA's gap to full fine-tuning",
               expect_close({t: _ex4_rows[(t, "full")] - _ex4_rows[(t, "lora")] for t in REF["settings"]["targets"]},
                            atol=1e-6),
               hints=("Each row has target, strategy, init and test_f1; keep the rows with init 'source'.",
                      "For each target, find the full row and the lora row and subtract: full minus lora."))
lora_gap = ...

# %% tags=["solution"]
lora_gap = {t: next(r["test_f1"] for r in REF["rows"] if (r["target"], r["strategy"], r["init"]) == (t, "full", "source"))
            - next(r["test_f1"] for r in REF["rows"] if (r["target"], r["strategy"], r["init"]) == (t, "lora", "source"))
            for t in REF["settings"]["targets"]}

# %%
ex4.check(lora_gap)

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
# fixed sample of the test split, as the settings say):

# %%
print(REF["settings"]["few_shot_scored_on"])
ref_source_gain = []
for t in ref_targets:
    diffs = tr.paired_differences(REF["few_shot"], t, up_to=50)
    aug = tr.paired_differences(REF["few_shot"], t, up_to=REF["settings"]["augment_up_to"],
                                a=("source", "mention_replacement"), b=("source", "none"))
    mean, spread = tr.mean_and_spread(diffs)
    ref_source_gain.append({"target": t, "source - pretrained (n<=50)": mean, "sd": spread,
                            "augmented - not": tr.mean_and_spread(aug)[0], "sd ": tr.mean_and_spread(aug)[1]})
print(format_table(ref_source_gain, digits=3))

# %%
fig = plots.plot_curve_panels({t: {f"init={init}": by_size for init, by_size in tr.scores_by_size(REF["few_shot"], t).items()}
                               for t in ref_targets},
                              title="Reference: few-shot curves (mean; band = min-max over seeds)")

# %% [markdown]
# ### Exercise 5 · Does the news model help with few examples?
# From `REF["few_shot"]`, compute `source_gain`: a dict `{target: mean over the pairs of
# (F1 with init=source minus F1 with init=pretrained)}`, pairing runs with the same `n` and
# `seed`, for `n <= 50` and `augmentation == "none"`.

# %% tags=["exercise"]
_ex5_expected = {t: tr.mean_and_spread(tr.paired_differences(REF["few_shot"], t, up_to=50))[0]
                 for t in REF["settings"]["targets"]}
ex5 = Exercise("03.5", "The source model's few-shot gain",
               expect_close(_ex5_expected, atol=1e-6),
               hints=("Pair a source run with the pretrained run of the same target, n and seed: they trained on "
                      "the same sentences.",
                      "Keep rows with augmentation 'none' and n <= 50; index them by (target, init, n, seed), then "
                      "average the differences per target."))
source_gain = ...

# %% tags=["solution"]
_runs = {(r["target"], r["init"], r["n"], r["seed"]): r["test_f1"] for r in REF["few_shot"]
         if r["augmentation"] == "none" and r["n"] <= 50}
source_gain = {}
for t in REF["settings"]["targets"]:
    pairs = [_runs[(t, "source", n, s)] - f1 for (tt, init, n, s), f1 in _runs.items()
             if tt == t and init == "pretrained"]
    source_gain[t] = sum(pairs) / len(pairs)

# %%
ex5.check(source_gain)

# %% [markdown]
# ## 5 · Forgetting, and replay
#
# After full fine-tuning on politics, how well does the model still tag news? To ask that, one
# head covers both label sets: the source's rows are kept, the target's new rows start fresh.
# Then the same run again with `REPLAY` source sentences mixed in per target sentence.

# %%
after = tr.forgetting(source, tokenizer, conll, target, epochs=epochs_for(target["train"].num_rows, BUDGET))
replayed = tr.forgetting(source, tokenizer, conll, target, replay=REPLAY,
                         epochs=epochs_for(target["train"].num_rows, BUDGET))
print(f"CoNLL-2003 test F1: before {source_f1:.2f}, after {after['source_f1']:.2f}, "
      f"after with replay {replayed['source_f1']:.2f} ({replayed['replayed_sentences']} source sentences mixed in)")
print(f"target test F1: without replay {after['target_f1']:.2f}, with replay {replayed['target_f1']:.2f}")

# %% [markdown]
# The reference run, per target (replay costs training time: more sentences per epoch):

# %%
forget = REF["forgetting"]
fig = plots.plot_bars({t: {"before": f["before"], "after": f["after"], "after replay": f["after_replay"]}
                       for t, f in forget.items()},
                      title="Reference: CoNLL-2003 test F1 before and after adapting", xlabel="entity F1")

# %%
print(format_table([{"target": t, "forgotten": f["before"] - f["after"],
                     "recovered by replay": f["after_replay"] - f["after"],
                     "extra training time %": 100 * (f["train_seconds_replay"] / f["train_seconds"] - 1),
                     "target F1": f["target_f1"], "target F1 with replay": f["target_f1_replay"]}
                    for t, f in forget.items()], digits=3))

# %% [markdown]
# Replay is not free: it costs training time (more sentences per epoch), and the target F1
# columns show what it did to the new task in this run.

# %% [markdown]
# ### Exercise 6 · How much does replay win back?
# Compute `recovered`: a dict `{target: share of the forgotten CoNLL F1 that replay recovers}`
# from `REF["forgetting"]`, i.e. (after replay − after) / (before − after), for every target
# that forgot something (before > after).

# %% tags=["exercise"]
_ex6_expected = {t: tr.replay_recovery(f["before"], f["after"], f["after_replay"]) for t, f in REF["forgetting"].items()
                 if f["before"] > f["after"]}
ex6 = Exercise("03.6", "Replay's recovered share",
               expect_close(_ex6_expected, atol=1e-6),
               hints=("What was forgotten is before minus after; what replay wins back is measured from 'after'.",
                      "A share: divide what replay won back by what was forgotten."))
recovered = ...

# %% tags=["solution"]
recovered = {t: (f["after_replay"] - f["after"]) / (f["before"] - f["after"]) for t, f in REF["forgetting"].items()
             if f["before"] > f["after"]}

# %%
ex6.check(recovered)

# %% [markdown]
# ## Summary
#
# | section | what you measured | source concept (articles) |
# |---|---|---|
# | 1 | zero-shot transfer through an explicit label mapping | 跨领域应用 (cross-domain use) |
# | 2 | what each strategy trains, counted by hand | 参数高效微调 (parameter-efficient fine-tuning) |
# | 3 | five strategies, two starting points, one budget | 迁移学习 (transfer learning) |
# | 4 | few-shot curves with their spread; augmentation | 小样本 (few-shot) |
# | 5 | forgetting of the source task, and replay | 持续学习 (continual learning) |
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
print(checkpoint([ex1, ex2, ex3, ex4, ex5, ex6]))
