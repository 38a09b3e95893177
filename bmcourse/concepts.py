"""The course's concept map: one table of the ideas the source articles name, drawn two ways from
the same data (mermaid for JupyterLab, a matplotlib figure for Colab and GitHub), and the EN/中文
glossary. Notebook 00 shows all three; a test keeps its mermaid cell equal to :func:`mermaid`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bmcourse.i18n import language
from bmcourse.i18n import tr as _

#: The course's notebooks, by number (a test keeps this equal to the files in notebooks/).
NOTEBOOK_FILES = {"00": "00_foundations.ipynb", "01": "01_loss_and_gradients.ipynb",
                  "02": "02_ner_finetuning.ipynb", "03": "03_domain_transfer.ipynb",
                  "04": "04_applications.ipynb", "05": "05_deployment_and_trust.ipynb"}

#: The notebooks that are written: all six, 00-05. A notebook planned in NOTEBOOK_FILES but not in
#: this set has its concepts marked "(in preparation)" and not linked.
PUBLISHED = frozenset({"00", "01", "02", "03", "04", "05"})


@dataclass(frozen=True)
class Concept:
    """One idea: its names, one sentence of meaning, where the course runs it (or what to read)."""

    key: str
    en: str
    zh: str
    meaning: str
    column: int                 # position in the drawn map: column (left to right) ...
    row: float                  # ... and row (top to bottom)
    where: str | None = None    # "NN §k" where the course runs it
    reading: str | None = None  # one pointer when the course does not run it


CONCEPTS: tuple[Concept, ...] = (
    Concept("pretrain", "pre-training", "预训练",
            "Learning general-purpose representations from large unlabelled corpora, e.g. by predicting masked words.",
            0, 0, where="00 §2"),
    Concept("foundation", "foundation model", "基础模型",
            "A large model pre-trained once on broad data and adapted to many downstream tasks.",
            0, 1.5, where="00 §2"),
    Concept("finetune", "fine-tuning", "微调",
            "Continuing training of the pre-trained weights on labelled data for one task.",
            1, 0, where="02 §4"),
    Concept("transfer", "transfer learning", "迁移学习",
            "Reusing what was learned on one task or domain to learn another with less data.",
            1, 1.2, where="03"),
    Concept("crossdomain", "cross-domain / vertical-domain use", "跨领域应用 / 垂直领域",
            "Applying a model trained on general text to a specialised field such as medicine, law or finance.",
            1, 2.4, where="03"),
    Concept("fewshot", "few-shot learning", "少样本学习",
            "Adapting from a handful of labelled examples per class.",
            1, 3.6, where="03"),
    Concept("peft", "parameter-efficient fine-tuning (PEFT)", "参数高效微调",
            "Training a small set of new or selected parameters while the pre-trained weights stay frozen.",
            2, 0, where="03"),
    Concept("adapter", "adapters", "适配器",
            "Small bottleneck layers inserted into each block; only they are trained.",
            3, -0.6, reading="Houlsby et al., Parameter-Efficient Transfer Learning for NLP (ICML 2019)"),
    Concept("prompt", "prompt tuning", "提示微调",
            "Learning a few continuous prompt vectors prepended to the input of a frozen model.",
            3, 0.3, reading="Lester et al., The Power of Scale for Parameter-Efficient Prompt Tuning (EMNLP 2021)"),
    Concept("lora", "LoRA", "低秩适配 (LoRA)",
            "Adding a trainable low-rank update BA beside frozen weight matrices.",
            3, 1.2, where="03"),
    Concept("bitfit", "BitFit", "偏置微调 (BitFit)",
            "Training only the bias terms (and the task head).",
            3, 2.1, where="03"),
    Concept("continual", "continual learning", "持续学习",
            "Learning new tasks in sequence without catastrophic forgetting (灾难性遗忘) of the old ones, e.g. by replay.",
            2, 1.5, where="03"),
    Concept("augment", "data augmentation", "数据增强",
            "Creating extra training examples by label-preserving changes, e.g. swapping entity mentions.",
            2, 2.7, where="03"),
    Concept("adversarial", "adversarial training", "对抗训练",
            "Training on deliberately perturbed inputs so small changes do not flip predictions.",
            2, 3.9, where="05"),
    Concept("kg", "knowledge graphs", "知识图谱",
            "Structured facts (entity, relation, entity) that can ground or enrich a model.",
            4, -0.6, reading="Pan et al., Unifying Large Language Models and Knowledge Graphs: A Roadmap (2024)"),
    Concept("multimodal", "multimodal learning", "多模态学习",
            "One model over several kinds of data, such as text with images or audio.",
            4, 0.5, reading="Radford et al., Learning Transferable Visual Models From Natural Language "
                            "Supervision (CLIP, ICML 2021)"),
    Concept("interpret", "interpretability", "可解释性",
            "Explaining which inputs drove a prediction, e.g. with gradient attributions.",
            4, 1.6, where="05"),
    Concept("privacy", "privacy", "隐私保护",
            "Keeping personal data out of outputs and logs, e.g. by redacting names before storage.",
            4, 2.7, where="04"),
    Concept("safety", "safety", "安全性",
            "Measuring failure modes (robustness, misuse, errors) before deployment.",
            4, 3.8, where="05"),
)

#: (from, to) keys: "builds on / leads to".
EDGES: tuple[tuple[str, str], ...] = (
    ("pretrain", "foundation"), ("foundation", "finetune"), ("foundation", "transfer"),
    ("transfer", "crossdomain"), ("transfer", "fewshot"), ("finetune", "peft"),
    ("peft", "adapter"), ("peft", "prompt"), ("peft", "lora"), ("peft", "bitfit"),
    ("finetune", "continual"), ("finetune", "augment"), ("finetune", "adversarial"),
    ("foundation", "kg"), ("foundation", "multimodal"), ("foundation", "interpret"),
    ("foundation", "privacy"), ("foundation", "safety"),
)

#: Terms the notebooks use beyond the map, for the glossary.
EXTRA_TERMS: tuple[tuple[str, str], ...] = (
    ("catastrophic forgetting", "灾难性遗忘"), ("contextual embedding", "上下文嵌入"),
    ("linear probe", "线性探针"), ("empirical risk", "经验风险"), ("cross-entropy", "交叉熵"),
    ("weight decay", "权重衰减"), ("named-entity recognition (NER)", "命名实体识别"),
    ("sub-word token", "子词"), ("token", "词元"), ("tokenizer", "分词器"), ("entity", "实体"),
    ("label", "标签"), ("embedding", "嵌入"), ("encoder", "编码器"), ("attention", "注意力"),
    ("loss", "损失"), ("gradient", "梯度"), ("backpropagation", "反向传播"), ("optimizer", "优化器"),
    ("learning rate", "学习率"), ("batch", "批量"), ("epoch", "轮"), ("overfitting", "过拟合"),
    ("training set", "训练集"), ("validation set", "验证集"), ("test set", "测试集"),
    ("precision", "精确率"), ("recall", "召回率"), ("accuracy", "准确率"), ("calibration", "校准"),
    ("zero-shot", "零样本"), ("replay", "回放"), ("elastic weight consolidation (EWC)", "弹性权重巩固"),
    ("knowledge distillation", "知识蒸馏"), ("teacher model", "教师模型"), ("student model", "学生模型"),
    ("quantisation", "量化"), ("inference", "推理"), ("latency", "延迟"), ("deployment", "部署"),
    ("drift", "漂移"), ("attribution", "归因"), ("Integrated Gradients", "积分梯度"),
    ("robustness", "鲁棒性"), ("redaction", "脱敏"), ("intent", "意图"), ("sentiment", "情感"),
    ("semantic search", "语义搜索"), ("pooling", "池化"), ("hyperparameter", "超参数"),
    ("exercise", "练习"), ("hint", "提示"),
)


def by_key() -> dict[str, Concept]:
    """The concepts by key."""
    return {c.key: c for c in CONCEPTS}


def runs_in_course(concept: Concept) -> bool:
    """True when a notebook of the course runs this concept (not only names it)."""
    return concept.where is not None


def where_text(concept: Concept) -> str:
    """Where the course runs a concept ("notebook 02 §4"), with "(in preparation)" for later notebooks,
    or "not run here: read ..." for concepts the course only names."""
    if concept.where is None:
        return f"not run here; read: {concept.reading}"
    number = concept.where.split()[0]
    status = "" if number in PUBLISHED else " (in preparation)"
    return f"notebook {concept.where}{status}"


def _mermaid_label(concept: Concept) -> str:
    return f"{concept.en}<br/>{concept.zh}".replace('"', "'")


def mermaid() -> str:
    """The concept map as a mermaid flowchart (a ```mermaid block, as notebook 00's markdown cell holds it)."""
    lines = ["```mermaid", "flowchart LR"]
    for c in CONCEPTS:
        lines.append(f'    {c.key}["{_mermaid_label(c)}"]')
    for a, b in EDGES:
        lines.append(f"    {a} --> {b}")
    run = ",".join(c.key for c in CONCEPTS if runs_in_course(c))
    named = ",".join(c.key for c in CONCEPTS if not runs_in_course(c))
    lines += ["    classDef run fill:#d9ead3,stroke:#38761d", "    classDef named fill:#eeeeee,stroke:#999999,stroke-dasharray: 4 3",
              f"    class {run} run", f"    class {named} named", "```"]
    return "\n".join(lines)


def draw_map(figsize: tuple[float, float] = (13.0, 6.2)) -> Any:
    """The same map as a static matplotlib figure (green: run in the course; grey, dashed: named only)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=figsize)
    width, height, dx = 0.86, 0.62, 1.0
    centre = {c.key: (c.column * dx, -c.row) for c in CONCEPTS}
    for a, b in EDGES:
        (xa, ya), (xb, yb) = centre[a], centre[b]
        ax.annotate("", xy=(xb - width / 2, yb), xytext=(xa + width / 2, ya),
                    arrowprops={"arrowstyle": "->", "color": "#666666", "lw": 0.8,
                                "shrinkA": 0, "shrinkB": 0})
    for c in CONCEPTS:
        x, y = centre[c.key]
        run = runs_in_course(c)
        ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                    boxstyle="round,pad=0.02", linewidth=1.0,
                                    facecolor="#d9ead3" if run else "#eeeeee",
                                    edgecolor="#38761d" if run else "#999999",
                                    linestyle="-" if run else "--"))
        label = c.en if len(c.en) < 24 else c.en.replace(" (", "\n(").replace(" / ", " /\n")
        if language() == "zh_CN":  # the Chinese edition labels the map with the glossary's terms
            label = c.zh.replace(" (", "\n(").replace(" / ", " /\n")
        ax.text(x, y + 0.08, label, ha="center", va="center", fontsize=7.5)
        where = _("nb {where}").format(where=c.where) if run else _("named only")
        ax.text(x, y - 0.2, where, ha="center", va="center", fontsize=6.5, color="#444444")
    ax.set_xlim(-0.6, 4.6)
    ax.set_ylim(-4.4, 1.1)
    ax.axis("off")
    ax.set_title(_("Course concept map (green: run in a notebook; grey, dashed: named only)"), fontsize=10)
    fig.tight_layout()
    return fig


def where_markdown(concept: Concept) -> str:
    """:func:`where_text` as markdown, linking to the notebook when it is published."""
    text = where_text(concept)
    number = concept.where.split()[0] if concept.where else None
    if number in PUBLISHED:
        return f"[{text}]({NOTEBOOK_FILES[number]})"
    return text


def _markdown(rows: list[dict[str, str]]) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row[h].replace("|", "\\|") for h in header) + " |" for row in rows]
    return "\n".join(lines)


def markdown_table() -> str:
    """The concept table as markdown: English, 中文, meaning, and a link to where the course runs it."""
    return _markdown([{**row, "in the course": where_markdown(c)} for row, c in zip(table(), CONCEPTS)])


def glossary_markdown() -> str:
    """The glossary as a markdown table."""
    return _markdown(glossary())


def table() -> list[dict[str, str]]:
    """One row per concept: English, 中文, meaning, where in the course."""
    return [{"concept": c.en, "中文": c.zh, "meaning": c.meaning, "in the course": where_text(c)}
            for c in CONCEPTS]


def glossary() -> list[dict[str, str]]:
    """The EN/中文 glossary: every term of the map, then the other terms the notebooks use."""
    rows = [{"English": c.en, "中文": c.zh} for c in CONCEPTS]
    rows += [{"English": en, "中文": zh} for en, zh in EXTRA_TERMS]
    return sorted(rows, key=lambda r: r["English"].lower())
