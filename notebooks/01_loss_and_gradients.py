# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Losses and gradients, checked against autograd
#
# Fine-tuning minimises an empirical risk with a gradient method. The source articles write
# the whole recipe in three formulas: the risk $\mathcal{L}(\theta)=\frac1N\sum_i \ell(M_\theta(x_i),y_i)$,
# the binary cross-entropy, and the update $\theta \leftarrow \theta-\eta\nabla_\theta\mathcal{L}(\theta)-\eta\lambda\theta$.
# Here you derive each gradient by hand and **check it numerically** against `torch.autograd`.
#
# **You will learn to**
# 1. derive $\partial\ell/\partial z=\hat y-y$ for a sigmoid + BCE output, and see why the fused `BCEWithLogitsLoss` is safer;
# 2. derive the softmax cross-entropy gradient $\operatorname{softmax}(z)-\operatorname{onehot}(y)$;
# 3. average a token-classification loss over non-ignored positions (`ignore_index=-100`), and measure what labelling padding as `O` does;
# 4. write the backward pass of a linear classification head;
# 5. tell weight decay from an L2 penalty (the same for SGD; for Adam only the L2 version minimises the penalised loss);
# 6. use a warm-up + linear-decay schedule and gradient clipping;
# 7. see on a 2-D loss surface what a too-small, a good and a too-large learning rate do.
#
# **Time.** A few seconds on a CPU: everything is small-tensor maths, no model is loaded.
#
# **How to read a check.** `compare(name, hand, auto)` prints one line such as
# `dL/dz       allclose: True | agrees within 1e-12`: whether the two results are equal up to
# rounding (`allclose`, `rtol=1e-5`), and the smallest of the tolerances $10^{-12}$, $10^{-8}$,
# $10^{-5}$, $10^{-3}$ that bounds their largest absolute difference (beyond $10^{-3}$ it says
# `differs by up to ...`). It does not print whether they are bit-for-bit equal, nor the last
# digits of the difference, because both depend on your CPU: its kernels add numbers in their own
# order, so one machine gives a difference of $6\cdot10^{-17}$ where another gives $10^{-17}$.
# That is rounding, not a wrong derivation, which would be off by far more than $10^{-8}$. The raw
# numbers are in the dictionary `compare` returns (`exact`, `max_abs_diff`) if you want them.
#
# **How the exercises work.** Each of the seven exercises asks you to write a *function*, not to
# compute one number. Its check cell calls your function on the example shown next to it and
# compares with a reference (autograd, PyTorch's loss or optimiser): it says right or wrong, with a
# hint, but never the expected value. When the notebook is graded, your function is also called
# on inputs drawn at grading time, with the shortcut the exercise rules out (autograd,
# `F.cross_entropy`, `torch.optim`, `warmup_linear`) made to raise an error while it runs. So
# copying a value you can see, or calling the function you were asked to replace, passes nothing.

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
import torch
import torch.nn.functional as F

from bmcourse.compare import compare, finite_difference_grad
from bmcourse.exercises import Checker, Exercise, checkpoint, expect_close, on_example

DT = torch.float64  # checks run in double precision, so rounding stays far below any real error


# %% [markdown]
# ## 1 · Empirical risk and binary cross-entropy
#
# With a logit $z$ and $\hat y=\sigma(z)=1/(1+e^{-z})$, the articles' binary cross-entropy is
#
# $$\ell(\hat y,y)=-\big[y\log\hat y+(1-y)\log(1-\hat y)\big].$$
#
# The chain rule splits $\partial\ell/\partial z$ into two factors:
#
# $$\frac{\partial\ell}{\partial\hat y}=-\frac{y}{\hat y}+\frac{1-y}{1-\hat y}=\frac{\hat y-y}{\hat y(1-\hat y)},
# \qquad \frac{\partial\hat y}{\partial z}=\sigma(z)\big(1-\sigma(z)\big)=\hat y(1-\hat y),$$
#
# $$\frac{\partial\ell}{\partial z}=\frac{\hat y-y}{\hat y(1-\hat y)}\cdot\hat y(1-\hat y)=\hat y-y.$$
#
# The empirical risk averages over $N$ examples, so each $\partial\mathcal{L}/\partial z_i=(\hat y_i-y_i)/N$.

# %%
gen = torch.Generator().manual_seed(0)
z = torch.randn(6, generator=gen, dtype=DT, requires_grad=True)
y = torch.tensor([1, 0, 1, 1, 0, 0], dtype=DT)

risk = F.binary_cross_entropy_with_logits(z, y)  # mean over the N = 6 examples
risk.backward()
hand_dz = (torch.sigmoid(z.detach()) - y) / len(y)
print(f"risk = {risk.item():.4f}")
check_bce = compare("dL/dz", hand_dz, z.grad)


# %% [markdown]
# Autograd is itself something to check. Two independent references: **central finite
# differences**, $(f(x+\varepsilon e_i)-f(x-\varepsilon e_i))/2\varepsilon$, and
# `torch.autograd.gradcheck`, which does the same for every input and compares with the
# analytical Jacobian. Both need float64: in float32 the rounding error of $f$ divided by
# $2\varepsilon$ swamps the answer. Even in float64 a finite difference has its own error (about
# $\varepsilon^2$ from truncation plus the rounding of $f$ divided by $\varepsilon$), so expect it
# to agree within $10^{-8}$, not $10^{-12}$.

# %%
def bce_risk(logits):
    """Mean BCE of the logits against the labels y above."""
    return F.binary_cross_entropy_with_logits(logits, y)


fd_dz = finite_difference_grad(bce_risk, z)
gradcheck_ok = torch.autograd.gradcheck(bce_risk, (z.detach().clone().requires_grad_(),))
check_fd = compare("finite diff", fd_dz, hand_dz)
print("gradcheck:", gradcheck_ok)


# %% [markdown]
# ### Why `BCEWithLogitsLoss` and not `sigmoid` then `log`
#
# In float32, $\sigma(40)$ rounds to exactly 1, so $\log(1-\hat y)=\log 0=-\infty$. The fused
# loss never forms $\hat y$: it uses $\ell=\max(z,0)-zy+\log(1+e^{-|z|})$ (a log-sum-exp), which
# is exact for any $z$. Below, a confident wrong prediction: label $y=0$, logit $z$ large.

# %%
def naive(zs, ys):
    """sigmoid, then the BCE formula written out."""
    p = torch.sigmoid(zs)
    return -(ys * torch.log(p) + (1 - ys) * torch.log(1 - p))


print(f"{'z':>5} | {'naive loss':>10} {'grad':>9} | {'F.bce(sigmoid)':>14} {'grad':>9} | "
      f"{'with logits':>11} {'grad':>9}")
for value in (10.0, 40.0, 100.0):
    row = []
    for loss_fn in (naive,
                    lambda zs, ys: F.binary_cross_entropy(torch.sigmoid(zs), ys, reduction="none"),
                    lambda zs, ys: F.binary_cross_entropy_with_logits(zs, ys, reduction="none")):
        zt = torch.tensor([value], dtype=torch.float32, requires_grad=True)
        loss = loss_fn(zt, torch.zeros(1)).sum()
        loss.backward()
        row += [loss.item(), zt.grad.item()]
    print(f"{value:5.0f} | {row[0]:10.2f} {row[1]:9.2f} | {row[2]:14.2f} {row[3]:9.2f} | "
          f"{row[4]:11.2f} {row[5]:9.2f}")

# %% [markdown]
# The true loss is $\log(1+e^{z})\approx z$ and the true gradient is $\hat y-y\approx 1$. The
# naive version returns `inf` and a `nan` gradient (one `nan` poisons every weight after the
# update). `F.binary_cross_entropy` clamps $\log$ at $-100$, so it reports 100 instead of 40
# and, worse, a **zero** gradient: the most wrong examples stop teaching. Only the fused loss
# gives the right numbers. (The table shows two decimals: in float32, $1-\sigma(10)$ keeps only
# about three correct digits, and the rounding of the last one can depend on the CPU's `exp` kernel.)

# %% [markdown]
# ### Exercise 1 · The sigmoid's slope
# Write a function `sigmoid_slope(z)` that returns $\sigma'(z)$ elementwise for a float64 tensor
# `z` of any shape (the result has `z`'s shape), from the formula above. **Not with autograd**:
# no `.backward()`, `torch.autograd` or `torch.func`, and no finite differences. The check calls
# it on `z1` below (it includes $z=2$); grading calls it on tensors you have not seen.

# %% tags=["exercise"]
z1 = torch.tensor([-3.0, 0.0, 2.0], dtype=DT)


def self_check(fn):
    """sigmoid_slope(z1) against the slope measured numerically (a central finite difference)."""
    measured = finite_difference_grad(lambda t: torch.sigmoid(t).sum(), z1)  # ∂/∂z_i of Σ σ(z_j) is σ'(z_i)
    return on_example(fn, (z1.clone(),), expect_close(measured))


ex1 = Exercise("01.1", "The sigmoid's slope", Checker(self_check, "a function"),
               hints=("The derivative of the sigmoid can be written with the sigmoid itself.",
                      ("σ'(z) = σ(z)·(1 − σ(z)): evaluate the sigmoid of the whole tensor once (torch.sigmoid "
                       "works elementwise), then use that result twice.")),
               points=1)
sigmoid_slope = ...

# %% tags=["solution"]
def sigmoid_slope(z):
    s = torch.sigmoid(z)
    return s * (1 - s)


# %%
ex1.check(sigmoid_slope)

# %% tags=["hidden-test"]
def grade_sigmoid_slope():
    """01.1 on tensors drawn at grading time (0-d, 1-d, 2-d) against autograd, autograd forbidden."""
    import torch

    from bmcourse import graded

    rng = graded.fresh_rng()
    draw = torch.Generator().manual_seed(graded.fresh_seed(rng))
    cases = []
    for shape in ((), (rng.randint(2, 9),), (rng.randint(2, 5), rng.randint(2, 5))):
        z = 3 * torch.randn(shape, generator=draw, dtype=torch.float64)
        leaf = z.clone().requires_grad_()
        torch.sigmoid(leaf).sum().backward()
        cases.append(((z,), leaf.grad))
    graded.check_function(sigmoid_slope, cases, "01.1 sigmoid_slope",
                          forbid=graded.AUTOGRAD + ("bmcourse.compare.finite_difference_grad",))


grade_sigmoid_slope()

# %% [markdown]
# ### Exercise 2 · The BCE gradient vector
# Write a function `bce_grad(z, y)`: for logits `z` of shape (N,) and 0/1 labels `y` of shape (N,)
# (float64 tensors, any N), it returns $\partial\mathcal{L}/\partial z$ of the **mean** BCE, shape
# (N,), **by hand**: no autograd, no finite differences. The check calls it on `z2`, `y2` below;
# grading calls it on other logits, labels and N.

# %% tags=["exercise"]
z2 = torch.tensor([2.0, -1.0, 0.5, 3.0], dtype=DT)
y2 = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=DT)


def self_check(fn):
    """bce_grad(z2, y2) against autograd's gradient of the mean BCE."""
    z = z2.clone().requires_grad_()
    F.binary_cross_entropy_with_logits(z, y2).backward()
    return on_example(fn, (z2.clone(), y2.clone()), expect_close(z.grad))


ex2 = Exercise("01.2", "BCE gradient vector", Checker(self_check, "a function"),
               hints=("Each entry is the prediction minus the label, σ(z_i) − y_i.",
                      ("The mean over the N examples divides every entry by N: ∂L/∂z_i = (σ(z_i) − y_i) / N. "
                       "Take N from the input (its length), not from the example above.")),
               points=2)
bce_grad = ...

# %% tags=["solution"]
def bce_grad(z, y):
    return (torch.sigmoid(z) - y) / len(y)


# %%
ex2.check(bce_grad)

# %% tags=["hidden-test"]
def grade_bce_grad():
    """01.2 on logits and labels drawn at grading time (N varies) against autograd, autograd forbidden."""
    import torch
    from torch.nn import functional

    from bmcourse import graded

    rng = graded.fresh_rng()
    draw = torch.Generator().manual_seed(graded.fresh_seed(rng))
    cases = []
    for n in (rng.randint(5, 12), rng.randint(1, 3)):
        z = 3 * torch.randn(n, generator=draw, dtype=torch.float64)
        labels = torch.randint(0, 2, (n,), generator=draw).to(torch.float64)
        leaf = z.clone().requires_grad_()
        functional.binary_cross_entropy_with_logits(leaf, labels).backward()
        cases.append(((z, labels), leaf.grad))
    graded.check_function(bce_grad, cases, "01.2 bce_grad",
                          forbid=graded.AUTOGRAD + ("bmcourse.compare.finite_difference_grad",))


grade_bce_grad()

# %% [markdown]
# ## 2 · Softmax cross-entropy
#
# With $C$ classes, $p=\operatorname{softmax}(z)$, $p_k=e^{z_k}/\sum_j e^{z_j}$, and
# $\ell=-\log p_y=-z_y+\log\sum_j e^{z_j}$. Differentiating the two terms:
#
# $$\frac{\partial\ell}{\partial z_k}=-[k=y]+\frac{e^{z_k}}{\sum_j e^{z_j}}=p_k-[k=y],
# \qquad\text{i.e.}\quad \nabla_z\ell=\operatorname{softmax}(z)-\operatorname{onehot}(y).$$
#
# For binary labels with logits $(0,z)$ this is exactly section 1's $\hat y-y$.

# %%
logits = torch.randn(5, 4, generator=gen, dtype=DT, requires_grad=True)
targets = torch.tensor([0, 3, 1, 1, 2])

F.cross_entropy(logits, targets).backward()
hand_ce = (torch.softmax(logits.detach(), dim=1) - F.one_hot(targets, 4)) / len(targets)
fd_ce = finite_difference_grad(lambda t: F.cross_entropy(t, targets), logits)
gradcheck_ce = torch.autograd.gradcheck(lambda t: F.cross_entropy(t, targets), (logits.detach().clone().requires_grad_(),))
check_ce = compare("dL/dz", hand_ce, logits.grad)
check_ce_fd = compare("finite diff", fd_ce, hand_ce)
print("gradcheck:", gradcheck_ce)

# %% [markdown]
# ### Exercise 3 · One softmax cross-entropy gradient
# Write a function `ce_grad(z, y)`: for the logits `z` of one example (a float64 tensor of shape
# (C,), any number of classes C) and its true class `y` (an int), it returns $\nabla_z\ell$ of the
# softmax cross-entropy, shape (C,), **by hand** (no autograd). The check calls it on
# $z=(2,1,0.5,-1)$ with $y=2$ (`z3`, `y3` below); grading on other logits, classes and C.

# %% tags=["exercise"]
z3 = torch.tensor([2.0, 1.0, 0.5, -1.0], dtype=DT)
y3 = 2


def self_check(fn):
    """ce_grad(z3, y3) against autograd's gradient of the cross-entropy."""
    z = z3.clone().requires_grad_()
    F.cross_entropy(z.unsqueeze(0), torch.tensor([y3])).backward()
    return on_example(fn, (z3.clone(), y3), expect_close(z.grad))


ex3 = Exercise("01.3", "Softmax cross-entropy gradient", Checker(self_check, "a function"),
               hints=("The gradient is the softmax of the logits minus the one-hot vector of the true class.",
                      ("softmax(z) is a probability vector; subtract 1 from its entry at the true class y "
                       "and leave the other C − 1 entries as they are. Take C from z, not from the example.")),
               points=2)
ce_grad = ...

# %% tags=["solution"]
def ce_grad(z, y):
    return torch.softmax(z, 0) - F.one_hot(torch.tensor(y), len(z))


# %%
ex3.check(ce_grad)

# %% tags=["hidden-test"]
def grade_ce_grad():
    """01.3 on logits and classes drawn at grading time (C varies) against autograd, autograd forbidden."""
    import torch
    from torch.nn import functional

    from bmcourse import graded

    rng = graded.fresh_rng()
    draw = torch.Generator().manual_seed(graded.fresh_seed(rng))
    cases = []
    for round_, classes in enumerate((rng.randint(5, 10), rng.randint(2, 3), rng.randint(2, 10))):
        z = 2 * torch.randn(classes, generator=draw, dtype=torch.float64)
        true_class = rng.randrange(1, classes) if round_ == 0 else rng.randrange(classes)  # one is never class 0
        leaf = z.clone().requires_grad_()
        functional.cross_entropy(leaf.unsqueeze(0), torch.tensor([true_class])).backward()
        cases.append(((z, true_class), leaf.grad))
    graded.check_function(ce_grad, cases, "01.3 ce_grad",
                          forbid=graded.AUTOGRAD + ("bmcourse.compare.finite_difference_grad",))


grade_ce_grad()

# %% [markdown]
# ## 3 · Token classification: the mean over non-ignored positions
#
# In NER every token has a label, and a batch is padded to its longest sentence. Positions
# labelled `-100` (padding, special tokens, continuation sub-words) are **skipped**:
#
# $$\mathcal{L}=\frac{1}{|V|}\sum_{(b,t)\in V}-\log p_{b,t,y_{b,t}},\qquad V=\{(b,t): y_{b,t}\ne-100\}.$$
#
# The divisor is the number of *real* positions, not $B\times T$. Here: 2 sentences of 5 and 3
# tokens, padded to length 8, with 5 labels (`O` is label 0).

# %%
NUM_LABELS, PAD = 5, -100
lengths = [5, 3]
token_logits = torch.randn(2, 8, NUM_LABELS, generator=gen, dtype=DT)
token_labels = torch.full((2, 8), PAD)
for b, n in enumerate(lengths):
    token_labels[b, :n] = torch.randint(0, NUM_LABELS, (n,), generator=gen)
print(token_labels)

# %%
mask = token_labels != PAD
log_probs = torch.log_softmax(token_logits, dim=-1)
hand_loss = -log_probs[mask].gather(1, token_labels[mask].unsqueeze(1)).sum() / mask.sum()
auto_loss = F.cross_entropy(token_logits.reshape(-1, NUM_LABELS), token_labels.reshape(-1), ignore_index=PAD)
print(f"real positions: {int(mask.sum())} of {mask.numel()}; loss {hand_loss.item():.4f}")
check_masked = compare("loss", hand_loss, auto_loss)


# %% [markdown]
# ### Labelling padding as `O`
#
# The source articles pad labels with `O` (label 0) instead of `-100`. Then padding counts as
# 8 extra "correct answers to learn". Two things happen, measured below:
# the loss is averaged over $16$ positions instead of $8$, so the gradient on every **real**
# token shrinks by the factor real/(real + pad) $=8/16$; and the padding positions get a
# **non-zero gradient**, which teaches the model to predict `O` from pad tokens.

# %%
def token_grad(labels):
    """Gradient of the mean token loss with respect to the logits, for the given labels."""
    x = token_logits.clone().requires_grad_()
    F.cross_entropy(x.reshape(-1, NUM_LABELS), labels.reshape(-1), ignore_index=PAD).backward()
    return x.grad


labels_as_o = token_labels.masked_fill(~mask, 0)
grad_ignore, grad_o = token_grad(token_labels), token_grad(labels_as_o)
ratio = grad_o[mask] / grad_ignore[mask]
print(f"loss with -100 on padding: {auto_loss.item():.4f}")
print(f"loss with O on padding:    {F.cross_entropy(token_logits.reshape(-1, NUM_LABELS), labels_as_o.reshape(-1)).item():.4f}")
print(f"gradient ratio on real tokens: min {ratio.min().item():.4f}, max {ratio.max().item():.4f} "
      f"(real/(real+pad) = {int(mask.sum())}/{mask.numel()} = {mask.sum().item() / mask.numel():.4f})")
print(f"gradient norm on padding: -100 -> {grad_ignore[~mask].norm().item():.4f}, "
      f"O -> {grad_o[~mask].norm().item():.4f}")

# %% [markdown]
# ### Exercise 4 · A masked mean by hand
# Write a function `masked_loss(logits, labels)`: for logits of shape (N, C) and integer labels of
# shape (N,) where -100 marks an ignored row, it returns the mean cross-entropy over the rows that
# are not ignored (a float or a 0-d tensor), **without** `F.cross_entropy` (nor
# `nn.CrossEntropyLoss` or `F.nll_loss`, which compute it for you). The check calls it on
# `ex4_logits` (shape (6, 3)) and `ex4_labels` below; grading on other shapes and masks.

# %% tags=["exercise"]
ex4_logits = torch.randn(6, 3, generator=torch.Generator().manual_seed(4), dtype=DT)
ex4_labels = torch.tensor([2, -100, 0, 1, -100, 1])


def self_check(fn):
    """masked_loss(ex4_logits, ex4_labels) against F.cross_entropy with ignore_index=-100."""
    reference = F.cross_entropy(ex4_logits, ex4_labels, ignore_index=-100)
    return on_example(fn, (ex4_logits.clone(), ex4_labels.clone()), expect_close(reference))


ex4 = Exercise("01.4", "Masked mean loss", Checker(self_check, "a function"),
               hints=("Keep only rows whose label is not -100; divide by how many there are, not by N.",
                      ("The loss of one kept row is −log softmax(row)[label] = logsumexp(row) − row[label]; "
                       "torch.log_softmax and indexing (or gather) pick it out. Average it over the kept rows.")),
               points=2)
masked_loss = ...

# %% tags=["solution"]
def masked_loss(logits, labels):
    keep = labels != -100
    log_probs = torch.log_softmax(logits[keep], dim=1)
    return -log_probs[torch.arange(int(keep.sum())), labels[keep]].mean()


# %%
ex4.check(masked_loss)

# %% tags=["hidden-test"]
def grade_masked_loss():
    """01.4 on logits and masks drawn at grading time against F.cross_entropy, which is forbidden."""
    import torch
    from torch.nn import functional

    from bmcourse import graded

    rng = graded.fresh_rng()
    draw = torch.Generator().manual_seed(graded.fresh_seed(rng))
    cases = []
    for _ in range(3):
        rows, classes = rng.randint(3, 12), rng.randint(2, 7)
        logits = 2 * torch.randn(rows, classes, generator=draw, dtype=torch.float64)
        labels = torch.randint(0, classes, (rows,), generator=draw)
        labels[torch.rand(rows, generator=draw) < 0.4] = -100
        kept, ignored = rng.sample(range(rows), 2)  # at least one row of each kind
        labels[kept], labels[ignored] = rng.randrange(classes), -100
        cases.append(((logits, labels), functional.cross_entropy(logits, labels, ignore_index=-100)))
    graded.check_function(masked_loss, cases, "01.4 masked_loss",
                          forbid=("torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss",
                                  "torch.nn.CrossEntropyLoss", "torch.nn.NLLLoss"),
                          why="this exercise asks for the masked mean without PyTorch's cross-entropy")


grade_masked_loss()

# %% [markdown]
# ## 4 · The backward pass of a linear token-classification head
#
# A classification head on top of an encoder is one matrix: for $N_{\text{tok}}$ token vectors
# $X\in\mathbb{R}^{N_{\text{tok}}\times d}$, logits $Z=XW+b$ with $W\in\mathbb{R}^{d\times C}$.
# Let $P=\operatorname{softmax}(Z)$ row-wise, $Y$ the one-hot labels, $m$ the mask of real
# positions and $N=\sum m$. From section 2, $\partial\mathcal{L}/\partial Z=G=\operatorname{diag}(m)(P-Y)/N$
# (ignored rows get zero), and since $Z$ is linear in $W$, $b$ and $X$:
#
# $$\frac{\partial\mathcal{L}}{\partial W}=X^\top G,\qquad \frac{\partial\mathcal{L}}{\partial b}=\sum_i G_{i,:},
# \qquad \frac{\partial\mathcal{L}}{\partial X}=G\,W^\top.$$

# %%
D = 6
X = torch.randn(2 * 8, D, generator=gen, dtype=DT, requires_grad=True)
W = torch.randn(D, NUM_LABELS, generator=gen, dtype=DT, requires_grad=True)
bias = torch.zeros(NUM_LABELS, dtype=DT, requires_grad=True)
flat_labels = token_labels.reshape(-1)

F.cross_entropy(X @ W + bias, flat_labels, ignore_index=PAD).backward()

# %%
with torch.no_grad():
    real = flat_labels != PAD
    P = torch.softmax(X @ W + bias, dim=1)
    Y = F.one_hot(flat_labels.clamp(min=0), NUM_LABELS).to(DT)  # -100 rows: any class, masked next
    G = (P - Y) * real.unsqueeze(1) / real.sum()
    dW, db, dX = X.T @ G, G.sum(0), G @ W.T
head_checks = [compare("dW", dW, W.grad), compare("db", db, bias.grad), compare("dX", dX, X.grad)]
print(f"rows of dX that are exactly zero (the {int((~real).sum())} ignored positions): "
      f"{int((X.grad.abs().sum(1) == 0).sum())}")

# %% [markdown]
# Forget the mask and you get the padding-as-`O` gradient of section 3; forget the $1/N$ and
# the gradient grows with the batch's token count, so the right learning rate would depend on
# sentence length.
#
# ### Exercise 5 · dW of the head
# Write a function `head_dW(X, W, labels)`: for token vectors `X` of shape (N, d), head weights `W`
# of shape (d, C) (no bias) and labels of shape (N,) with -100 for ignored positions, it returns
# $\partial\mathcal{L}/\partial W$ of the mean cross-entropy of $XW$ over the real positions, shape
# (d, C), **by hand** (no autograd). The check calls it on `X5`, `W5`, `labels5` below (one
# position ignored); grading on other sizes and masks.

# %% tags=["exercise"]
gen5 = torch.Generator().manual_seed(5)
X5 = torch.randn(5, 3, generator=gen5, dtype=DT)
W5 = torch.randn(3, 4, generator=gen5, dtype=DT)
labels5 = torch.tensor([1, 3, -100, 0, 2])


def self_check(fn):
    """head_dW(X5, W5, labels5) against autograd's gradient of F.cross_entropy(X5 W5, ignore_index=-100)."""
    W = W5.clone().requires_grad_()
    F.cross_entropy(X5 @ W, labels5, ignore_index=-100).backward()
    return on_example(fn, (X5.clone(), W5.clone(), labels5.clone()), expect_close(W.grad))


ex5 = Exercise("01.5", "dW of the linear head", Checker(self_check, "a function"),
               hints=(("Start from G = (softmax(X W) − onehot(labels)) / N with N the number of real rows, "
                       "and a zero row of G for each ignored position."),
                      ("Z = X W is linear in W, so ∂L/∂W = Xᵀ G, of shape (d, C). F.one_hot needs a valid "
                       "class for the -100 rows too: give them any class, their rows of G are zeroed anyway.")),
               points=2)
head_dW = ...

# %% tags=["solution"]
def head_dW(X, W, labels):
    keep = (labels != -100).unsqueeze(1)
    G = (torch.softmax(X @ W, 1) - F.one_hot(labels.clamp(min=0), W.shape[1])) * keep / keep.sum()
    return X.T @ G


# %%
ex5.check(head_dW)

# %% tags=["hidden-test"]
def grade_head_dW():
    """01.5 on heads and masks drawn at grading time (N, d, C vary) against autograd, autograd forbidden."""
    import torch
    from torch.nn import functional

    from bmcourse import graded

    rng = graded.fresh_rng()
    draw = torch.Generator().manual_seed(graded.fresh_seed(rng))
    cases = []
    for _ in range(3):
        rows, dim, classes = rng.randint(3, 12), rng.randint(1, 6), rng.randint(2, 6)
        tokens = torch.randn(rows, dim, generator=draw, dtype=torch.float64)
        weights = torch.randn(dim, classes, generator=draw, dtype=torch.float64)
        labels = torch.randint(0, classes, (rows,), generator=draw)
        labels[torch.rand(rows, generator=draw) < 0.3] = -100
        kept, ignored = rng.sample(range(rows), 2)  # at least one real and one ignored position
        labels[kept], labels[ignored] = rng.randrange(classes), -100
        leaf = weights.clone().requires_grad_()
        functional.cross_entropy(tokens @ leaf, labels, ignore_index=-100).backward()
        cases.append(((tokens, weights, labels), leaf.grad))
    graded.check_function(head_dW, cases, "01.5 head_dW",
                          forbid=graded.AUTOGRAD + ("bmcourse.compare.finite_difference_grad",))


grade_head_dW()

# %% [markdown]
# ## 5 · Weight decay: the same as L2 for SGD, not for Adam
#
# The articles' update is $\theta\leftarrow\theta-\eta\nabla\mathcal{L}(\theta)-\eta\lambda\theta$. For plain
# gradient descent this is exactly gradient descent on $\mathcal{L}(\theta)+\frac\lambda2\lVert\theta\rVert^2$,
# since $\nabla\frac\lambda2\lVert\theta\rVert^2=\lambda\theta$. Three ways, one trajectory. The problem is a
# quadratic $\frac12(\theta-t)^\top A(\theta-t)$ with its minimum at $t=(1,1)$, and $\lambda=2$: far
# more than the 0.01 used in fine-tuning, so that the effect is visible in two dimensions.

# %%
A = torch.tensor([[10.0, 0.0], [0.0, 1.0]], dtype=DT)  # curvature 10 along θ1, 1 along θ2
target = torch.tensor([1.0, 1.0], dtype=DT)
START = torch.tensor([-1.5, -1.5], dtype=DT)


def quad(theta):
    """A quadratic with different curvature per coordinate and its minimum at (1, 1)."""
    d = theta - target
    return 0.5 * d @ A @ d


def run(make_opt, steps=60, penalty=0.0):
    """The parameter after each of `steps` optimiser steps on quad (+ penalty/2 * ||θ||²)."""
    theta = START.clone().requires_grad_()
    opt, path = make_opt([theta]), [START.clone()]
    for _ in range(steps):
        opt.zero_grad()
        (quad(theta) + 0.5 * penalty * theta.pow(2).sum()).backward()
        opt.step()
        path.append(theta.detach().clone())
    return torch.stack(path)


LR, WD = 0.05, 2.0
sgd_decay = run(lambda p: torch.optim.SGD(p, lr=LR, weight_decay=WD))
sgd_l2 = run(lambda p: torch.optim.SGD(p, lr=LR), penalty=WD)

theta, by_formula = START.clone(), [START.clone()]
for _ in range(60):
    grad = A @ (theta - target)
    theta = theta - LR * grad - LR * WD * theta
    by_formula.append(theta)
by_formula = torch.stack(by_formula)
sgd_checks = [compare("SGD wd/L2", sgd_decay, sgd_l2), compare("SGD/rule", sgd_decay, by_formula)]

# %% [markdown]
# For Adam the two differ. Adam divides each coordinate's gradient by a running RMS of that
# coordinate's gradients. `Adam(weight_decay=λ)` is the L2 penalty: it adds $\lambda\theta$ to the
# gradient **before** that division, so it runs Adam on $\mathcal{L}(\theta)+\frac\lambda2\lVert\theta\rVert^2$.
# `AdamW` (decoupled weight decay) keeps $\lambda\theta$ out of the gradient and its statistics. In
# one `step()`, PyTorch's AdamW first multiplies $\theta$ by $(1-\eta\lambda)$ and then subtracts the
# Adam step, computed from the gradient at the original $\theta$:
#
# $$\theta\leftarrow(1-\eta\lambda)\,\theta-\eta\,\frac{\hat m}{\sqrt{\hat v}+\epsilon}
# =\theta-\eta\,\frac{\hat m}{\sqrt{\hat v}+\epsilon}-\eta\lambda\theta,$$
#
# the articles' formula with Adam's step in place of the gradient. Both run below until they stop
# moving: 1400 steps, with $\beta_2=0.99$ instead of the default 0.999 so that Adam forgets its
# first, large gradients within a few hundred steps. The L2 optimum $\theta^*$ solves
# $A(\theta-t)+\lambda\theta=0$, that is $(A+\lambda I)\,\theta^*=A\,t$.

# %%
ADAM_LR, ADAM_STEPS, BETAS = 0.02, 1400, (0.9, 0.99)
adam_l2 = run(lambda p: torch.optim.Adam(p, lr=ADAM_LR, betas=BETAS, weight_decay=WD), steps=ADAM_STEPS)
adamw = run(lambda p: torch.optim.AdamW(p, lr=ADAM_LR, betas=BETAS, weight_decay=WD), steps=ADAM_STEPS)
l2_optimum = torch.linalg.solve(A + WD * torch.eye(2, dtype=DT), A @ target)


def penalised_grad_norm(theta):
    """The norm of the gradient of quad(θ) + λ/2·||θ||²: zero only at the L2 optimum."""
    return (A @ (theta - target) + WD * theta).norm().item()


for name, end in (("L2 optimum", l2_optimum), ("Adam + L2", adam_l2[-1]), ("AdamW", adamw[-1])):
    print(f"{name:<10}  θ = ({end[0]:.3f}, {end[1]:.3f})   gradient of the penalised loss: "
          f"{penalised_grad_norm(end):.3f}")

# %%
import matplotlib.pyplot as plt

grid = torch.linspace(-2, 2, 81, dtype=DT)
g1, g2 = torch.meshgrid(grid, grid, indexing="xy")
surface = 0.5 * (10 * (g1 - 1) ** 2 + (g2 - 1) ** 2)
fig, ax = plt.subplots(figsize=(5.5, 4.5))
ax.contour(g1.numpy(), g2.numpy(), surface.numpy(), levels=15, cmap="Greys", linewidths=0.6)
box = 1 / WD
ax.plot([-box, box, box, -box, -box], [-box, -box, box, box, -box], color="0.5", linestyle="--",
        linewidth=0.8, label="|θi| = 1/λ")
for path, name, style in ((sgd_decay, "SGD + decay (= L2)", "k:"), (adam_l2, "Adam + L2", "C0-"),
                          (adamw, "AdamW", "C3-")):
    ax.plot(path[:, 0].numpy(), path[:, 1].numpy(), style, label=name)
    ax.plot(path[-1, 0].item(), path[-1, 1].item(), style[:2] + "o", markersize=5)
ax.plot([l2_optimum[0].item()], [l2_optimum[1].item()], "kx", markersize=10, label="L2 optimum θ*")
ax.plot([1], [1], "k*", markersize=10, label="minimum of the loss")
ax.set(xlabel="θ1 (curvature 10)", ylabel="θ2 (curvature 1)",
       title=f"{ADAM_STEPS} Adam steps (lr {ADAM_LR}, β2 {BETAS[1]}), λ {WD:g}")
ax.legend(loc="lower right", fontsize="small")
fig.tight_layout()

# %% [markdown]
# SGD with decay and SGD on the L2 penalty are the same curve, and it ends at $\theta^*$. So does
# Adam + L2, where the gradient of the penalised loss is zero: Adam + L2 minimises
# $\mathcal{L}+\frac\lambda2\lVert\theta\rVert^2$. AdamW does not: it ends at $(0.500, 0.500)$, where that
# gradient has norm 4.035. AdamW stops where its two moves cancel, $\lambda\theta=-\hat m/(\sqrt{\hat v}+\epsilon)$:
# a fixed point of the decoupled update, not a minimiser of the penalised loss. Near a point where
# the gradient $g$ stays the same, $\hat m\to g$ and $\sqrt{\hat v}\to\lvert g\rvert$, so Adam's step is
# $\eta\operatorname{sign}(g)$ whatever the size of $g$, and the balance is at $\lvert\theta_i\rvert=1/\lambda=0.5$
# (the dashed box) for both coordinates here. In general a coordinate ends either on that box or
# inside it where its own loss gradient vanishes: when AdamW converges, it minimises $\mathcal{L}$
# subject to $\lVert\theta\rVert_\infty\le1/\lambda$ (a KKT point of that problem; Xie & Li, 2024,
# *Implicit Bias of AdamW: $\ell_\infty$-Norm Constrained Optimization*). Along the way, Adam + L2
# shrinks a coordinate less when its gradients are large (the penalty is divided by their RMS
# too), while AdamW shrinks every coordinate by the same factor.
#
# Why stop at 1400 steps? Much later, once Adam + L2 has also forgotten its early gradients, its
# per-coordinate step $\eta/\sqrt{\hat v}$ grows too large for the curvature and it starts to jitter
# around $\theta^*$: Adam with a constant learning rate does not settle for good.

# %% [markdown]
# ### Exercise 6 · One AdamW step
# Write a function `adamw_step(theta, g, lr, weight_decay)` that returns $\theta$ after **one**
# AdamW step from a fresh optimiser (β and ε at PyTorch's defaults, ε = 1e-8), for a float64
# parameter `theta` and its gradient `g` (same shape), by the formula above, **not with
# `torch.optim`**. On the first step Adam's bias-corrected ratio $\hat m/(\sqrt{\hat v}+\epsilon)$ is
# $g/(|g|+\epsilon)$. The check calls it with $\theta=(1.0,-2.0)$, $g=(0.1,0.3)$, $\eta=0.1$,
# $\lambda=0.5$ (below); grading with other parameters, gradients and rates.

# %% tags=["exercise"]
theta6, g6 = torch.tensor([1.0, -2.0], dtype=DT), torch.tensor([0.1, 0.3], dtype=DT)
LR6, WD6 = 0.1, 0.5


def self_check(fn):
    """adamw_step(theta6, g6, LR6, WD6) against one step of torch.optim.AdamW."""
    param = torch.nn.Parameter(theta6.clone())
    param.grad = g6.clone()
    torch.optim.AdamW([param], lr=LR6, weight_decay=WD6).step()
    return on_example(fn, (theta6.clone(), g6.clone(), LR6, WD6), expect_close(param.detach()))


ex6 = Exercise("01.6", "One AdamW step", Checker(self_check, "a function"),
               hints=("AdamW does two things in one step: it shrinks θ, then it takes the Adam step.",
                      ("First multiply θ by (1 − ηλ); then subtract η times Adam's ratio, which on the first "
                       "step is g / (|g| + ε) per coordinate. The gradient is the one at the original θ; "
                       "use the lr and weight_decay you are given.")),
               points=2)
adamw_step = ...

# %% tags=["solution"]
def adamw_step(theta, g, lr, weight_decay, eps=1e-8):
    return theta * (1 - lr * weight_decay) - lr * g / (g.abs() + eps)


# %%
ex6.check(adamw_step)

# %% tags=["hidden-test"]
def grade_adamw_step():
    """01.6 on parameters, gradients and rates drawn at grading time against torch.optim.AdamW, which
    (like every torch.optim optimiser) is forbidden while the answer runs."""
    import torch

    from bmcourse import graded

    rng = graded.fresh_rng()
    draw = torch.Generator().manual_seed(graded.fresh_seed(rng))
    cases = []
    for _ in range(3):
        size = rng.randint(1, 8)
        theta = torch.randn(size, generator=draw, dtype=torch.float64)
        grad = torch.randn(size, generator=draw, dtype=torch.float64) / 2
        lr, weight_decay = rng.uniform(0.001, 0.3), rng.uniform(0.0, 1.0)
        param = torch.nn.Parameter(theta.clone())
        param.grad = grad.clone()
        torch.optim.AdamW([param], lr=lr, weight_decay=weight_decay).step()
        cases.append(((theta, grad, lr, weight_decay), param.detach().clone()))
    graded.check_function(adamw_step, cases, "01.6 adamw_step",
                          forbid=("torch.optim.AdamW", "torch.optim.Adam", "torch.optim.Optimizer.__init__",
                                  "torch.optim.Adam.step", "torch.optim.adam.adam", "torch.optim.adamw.adamw",
                                  "torch.optim._functional.adam", "torch.optim._functional.adamw"),
                          why="this exercise asks for the update by its formula, not torch.optim")


grade_adamw_step()

# %% [markdown]
# ## 6 · Warm-up, linear decay and gradient clipping
#
# Fine-tuning usually multiplies the learning rate by a factor that rises linearly over the
# first $W$ steps (Adam's running averages are unreliable at first) and then falls linearly to 0
# at step $T$. `bmcourse.train.warmup_linear(step, total, warmup)` is that factor; with steps
# counted from 0 it is
#
# $$f(s)=\begin{cases}\dfrac{s+1}{W} & s<W\quad\text{(warm-up: }1/W,\ 2/W,\ \dots,\ 1\text{ at }s=W-1),\\[6pt]
# \max\!\Big(0,\ \dfrac{T-s}{T-W}\Big) & s\ge W\quad\text{(decay: 1 at }s=W,\ 0\text{ at }s=T\text{ and after).}\end{cases}$$
#
# In the code both denominators are at least 1, so $W=0$ means no warm-up (the decay starts
# at 1 on step 0) and $T=W$ does not divide by zero.

# %% tags=["setup"]
from bmcourse.train import warmup_linear

TOTAL, WARMUP, PEAK_LR = 100, 10, 5e-5

# %%
factors = [warmup_linear(step, TOTAL, WARMUP) for step in range(TOTAL)]
print("factor at steps 1, 5, 9, 11, 55, 98:", ", ".join(f"{factors[s]:.3f}" for s in (1, 5, 9, 11, 55, 98)))
fig, ax = plt.subplots(figsize=(5.0, 2.5))
ax.plot(range(TOTAL), [PEAK_LR * f for f in factors])
ax.set(xlabel="step", ylabel="learning rate", title=f"warm-up {WARMUP} steps, linear decay to 0")
fig.tight_layout()

# %% [markdown]
# **Gradient clipping** rescales the whole gradient when its norm exceeds a limit, keeping its
# direction: $g\leftarrow g\cdot\min(1,\ c/\lVert g\rVert)$. A gradient of norm 5 clipped at 1:

# %%
param = torch.nn.Parameter(torch.zeros(2))
param.grad = torch.tensor([3.0, 4.0])
norm_before = torch.nn.utils.clip_grad_norm_([param], max_norm=1.0)
print(f"norm before {norm_before.item():.4f}, after {param.grad.norm().item():.4f}")
print(f"gradient after clipping: ({param.grad[0].item():.4f}, {param.grad[1].item():.4f})")

# %% [markdown]
# Over many steps, clipping caps the occasional spike and leaves ordinary gradients alone.
# Here are 60 random gradients (a few large ones) before and after clipping at 1:

# %%
torch.manual_seed(0)
norms_before, norms_after = [], []
for step in range(60):
    param.grad = torch.randn(2) * (4.0 if step % 15 == 7 else 0.5)
    norms_before.append(torch.nn.utils.clip_grad_norm_([param], max_norm=1.0).item())
    norms_after.append(param.grad.norm().item())
fig, ax = plt.subplots(figsize=(5.0, 2.5))
ax.plot(norms_before, label="before clipping", color="0.6")
ax.plot(norms_after, label="after clipping at 1", color="tab:red")
ax.axhline(1.0, linestyle="--", color="black", linewidth=0.8)
ax.set(xlabel="step", ylabel="gradient norm", title="Gradient clipping caps spikes")
ax.legend(fontsize="small")
fig.tight_layout()
print(f"largest norm before {max(norms_before):.3f}, after {max(norms_after):.3f}; "
      f"{sum(b > 1 for b in norms_before)} of 60 steps clipped")

# %% [markdown]
# ### Exercise 7 · The learning rate at a step
# Write a function `lr_at(step, total, warmup, peak_lr)` that returns the learning rate at `step`
# (counted from 0) of the schedule above: `peak_lr` times the factor $f(s)$ with $T$ = `total` and
# $W$ = `warmup` (at least 1, and below `total`). Compute it from the definition, **without calling
# `warmup_linear`**. The check calls it with the schedule above (peak `PEAK_LR`, `TOTAL` steps,
# `WARMUP` warm-up steps) at step 30 and at a few other steps, in the warm-up and after `TOTAL`;
# grading with other schedules and steps.

# %% tags=["exercise"]
def self_check(fn):
    """lr_at at steps 30, 0, 4, 10, 99 and 120 of the schedule above against PEAK_LR * warmup_linear."""
    for step in (30, 0, 4, 10, 99, 120):
        passed, message = on_example(fn, (step, TOTAL, WARMUP, PEAK_LR), expect_close(PEAK_LR * warmup_linear(step, TOTAL, WARMUP), atol=1e-12))
        if not passed:
            return False, f"at step {step}: {message}"
    return True, "values match"


ex7 = Exercise("01.7", "Learning rate at a step", Checker(self_check, "a function"),
               hints=("Two cases: during the warm-up (step < warmup) the factor rises, after it the factor falls.",
                      ("After the warm-up the factor falls on a straight line from 1 at step warmup to 0 at "
                       "step total (and stays 0 after): find how far along that line the step is, then scale "
                       "peak_lr by it. In the warm-up, step 0 already has factor 1/warmup.")),
               points=1)
lr_at = ...

# %% tags=["solution"]
def lr_at(step, total, warmup, peak_lr):
    if step < warmup:
        return peak_lr * (step + 1) / warmup
    return peak_lr * max(0.0, (total - step) / (total - warmup))


# %%
ex7.check(lr_at)

# %% tags=["hidden-test"]
def grade_lr_at():
    """01.7 on schedules and steps drawn at grading time against warmup_linear, which is forbidden."""
    from bmcourse import graded
    from bmcourse.train import warmup_linear as reference

    rng = graded.fresh_rng()
    cases = []
    for _ in range(3):
        warmup = rng.randint(1, 40)
        total, peak = warmup + rng.randint(1, 400), 10 ** rng.uniform(-6, -2)
        for step in (rng.randrange(warmup), warmup, rng.randint(warmup, total), rng.randint(total, total + 50)):
            cases.append(((step, total, warmup, peak), peak * reference(step, total, warmup)))
    graded.check_function(lr_at, cases, "01.7 lr_at",
                          forbid=("bmcourse.train.warmup_linear", "bmcourse.train.loop.warmup_linear"),
                          why="this exercise asks for the schedule from its definition", rtol=1e-9, atol=0.0)


grade_lr_at()

# %% [markdown]
# ## 7 · Explore: the learning rate on a logistic-regression loss
#
# A seeded, two-feature dataset and a logistic regression without bias, so the loss is a
# surface over $w=(w_1,w_2)$. Gradient descent follows $w\leftarrow w-\eta\nabla\mathcal{L}(w)-\eta\lambda w$
# for 30 steps from $(-3, 3)$.

# %%
from bmcourse.widgets import interactive_or_static

data_gen = torch.Generator().manual_seed(0)
points = torch.cat([torch.randn(20, 2, generator=data_gen, dtype=DT) + torch.tensor([0.8, 0.4], dtype=DT),
                    torch.randn(20, 2, generator=data_gen, dtype=DT) - torch.tensor([0.8, 0.4], dtype=DT)])
point_labels = torch.cat([torch.ones(20, dtype=DT), torch.zeros(20, dtype=DT)])
W_START = torch.tensor([-3.0, 3.0], dtype=DT)
w1, w2 = torch.meshgrid(torch.linspace(-4, 10, 141, dtype=DT), torch.linspace(-4, 5, 91, dtype=DT), indexing="xy")
all_w = torch.stack([w1.reshape(-1), w2.reshape(-1)], dim=1)
loss_grid = F.binary_cross_entropy_with_logits(all_w @ points.T, point_labels.expand(len(all_w), -1),
                                               reduction="none").mean(1).reshape(w1.shape)
levels = (loss_grid.min() + torch.logspace(-2, 1, 16, dtype=DT)).numpy()  # contours denser near the minimum


# %%
def logistic_loss(w):
    """The mean BCE of the logistic regression with weights w."""
    return F.binary_cross_entropy_with_logits(points @ w, point_labels).item()


def gd_path(lr, weight_decay, steps=30):
    """Gradient-descent iterates on the logistic loss, with the articles' update rule."""
    w, path = W_START.clone(), [W_START.clone()]
    for _ in range(steps):
        grad = points.T @ (torch.sigmoid(points @ w) - point_labels) / len(points)
        w = w - lr * grad - lr * weight_decay * w
        path.append(w)
    return torch.stack(path)


def draw_path(ax, lr, weight_decay):
    """The loss contours and one descent path on `ax`."""
    path = gd_path(lr, weight_decay)
    ax.contour(w1.numpy(), w2.numpy(), loss_grid.numpy(), levels=levels, colors="0.7", linewidths=0.6)
    ax.plot(path[:, 0].numpy(), path[:, 1].numpy(), "C3.-", markersize=3)
    ax.plot([path[-1, 0].item()], [path[-1, 1].item()], "C3o", markersize=6)  # where it ends
    ax.set(xlim=(-4, 10), ylim=(-4, 5), xlabel="w1", ylabel="w2", title=f"η={lr:g}, λ={weight_decay:g}")
    return path


# %%
w_min = gd_path(3.0, 0.0, steps=200)[-1]
p_min = torch.sigmoid(points @ w_min)
hessian = points.T @ (points * (p_min * (1 - p_min)).unsqueeze(1)) / len(points)
h_max = torch.linalg.eigvalsh(hessian).max().item()
print(f"largest curvature at the minimum: h = {h_max:.3f}, so 1/h = {1 / h_max:.1f} and 2/h = {2 / h_max:.1f}")

# %% [markdown]
# Near its minimum the loss is almost a quadratic, and $h$ is its largest curvature. On a
# quadratic, gradient descent overshoots the minimum along that direction once $\eta>1/h$ (it
# zig-zags but still converges), and stops converging once $\eta>2/h$ (each jump lands further
# out). Far from the minimum the loss is flatter, so there a large step only travels far. Four settings:
# a learning rate far too small, a good one (below $1/h$), one above $2/h$, and the good one with
# weight decay. Each line below gives the end point and the loss at the last three steps (sliders
# for $\eta$ and $\lambda$ come after the discussion).

# %%
RUNS = [(0.2, 0.0), (3.0, 0.0), (18.0, 0.0), (3.0, 0.3)]  # too small, good, too large; good with decay


def four_runs():
    """The fixed (η, λ) settings side by side; prints where each path ends and its last losses."""
    fig, axes = plt.subplots(2, 2, figsize=(9.0, 6.5))
    lines = []
    for ax, (lr, wd) in zip(axes.flat, RUNS):
        path = draw_path(ax, lr, wd)
        last = " → ".join(f"{logistic_loss(w):.3f}" for w in path[-3:])
        lines.append(f"η={lr:<4g} λ={wd:<4g} ends at ({path[-1, 0]:.2f}, {path[-1, 1]:.2f}), loss {last}")
    fig.tight_layout()
    print("\n".join(lines))  # one print, so the stored output is one block
    return fig


def explorer():
    """Sliders for η and λ redrawing the path (only built when widgets are on)."""
    import ipywidgets as widgets
    from IPython.display import display

    def redraw(lr, weight_decay):
        _fig, ax = plt.subplots(figsize=(5.5, 4.0))
        draw_path(ax, lr, weight_decay)
        plt.show()

    display(widgets.interactive(redraw, lr=widgets.FloatLogSlider(value=3.0, base=10, min=-1, max=1.5, step=0.05),
                                weight_decay=widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05)))


fig = four_runs()

# %% [markdown]
# With $\eta=0.2$ the loss is still falling after 30 steps: too small. With $\eta=3$ it has
# settled at the minimum within a few steps. With $\eta=18$ the first step overshoots far to the
# right, and near the minimum the path keeps jumping across the valley: the loss alternates
# instead of settling (the jumps stop growing only because the loss flattens further out). Weight decay ($\lambda=0.3$) moves the end point towards the origin, to
# where the loss gradient balances $\lambda w$, at a higher loss.

# %% [markdown]
# Try other settings with the sliders (JupyterLab with ipywidgets; elsewhere the cell says so):

# %%
sliders = interactive_or_static(explorer, lambda: print("no sliders here: they need ipywidgets in a Jupyter kernel"))

# %% [markdown]
# ## Summary
#
# | section | what you checked | source formula (articles, §4.1–4.2) |
# |---|---|---|
# | 1 | $\partial\ell/\partial z=\hat y-y$; fused BCE is stable | $\ell=-[y\log\hat y+(1-y)\log(1-\hat y)]$, $\hat y=M_\theta(x)\in[0,1]$ |
# | 1 | the mean over examples | $\mathcal{L}(\theta)=\frac1N\sum_i\ell(M_\theta(x_i),y_i)$ (empirical risk) |
# | 2 | $\nabla_z\ell=\operatorname{softmax}(z)-\operatorname{onehot}(y)$ | cross-entropy for $C$ classes (NER labels) |
# | 3 | mean over non-ignored tokens; padding as `O` shrinks real gradients | $\frac1N\sum$ with $N$ = real tokens (pitfall 2) |
# | 4 | $dW=X^\top(P-Y)/N$, $db$, $dX=(P-Y)W^\top/N$ | $\nabla_\theta\mathcal{L}(\theta)$ "by back-propagation" |
# | 5 | decay = L2 for SGD; Adam + L2 ends at the L2 optimum, AdamW at its own fixed point | $\theta\leftarrow\theta-\eta\nabla_\theta\mathcal{L}(\theta)-\eta\lambda\theta$ |
# | 6 | warm-up + linear decay $f(s)$; clipping | the $\eta$ of that update, per step |
# | 7 | too small, good and too large $\eta$ on a 2-D loss | $\theta^*=\arg\min_\theta\mathcal{L}(\theta)$ |

# %%
# this notebook's headline result, shown in `bmcourse run`'s summary table
gradient_checks = [check_bce, check_fd, check_ce, check_ce_fd, check_masked, *head_checks, *sgd_checks]
bmcourse.headline("hand-derived results equal to their reference (allclose)",
                  f"{sum(c['allclose'] for c in gradient_checks)}/{len(gradient_checks)}")

# %%
print(checkpoint([ex1, ex2, ex3, ex4, ex5, ex6, ex7]))
