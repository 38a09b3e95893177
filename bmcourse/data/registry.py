"""One table naming every dataset the course uses: kind, local folder, Hub repository, labels, sample."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HubSource:
    """Where a dataset lives on the Hugging Face Hub (parquet/JSON only, never a loading script)."""

    repo: str
    revision: str = "main"
    data_dir: str | None = None    # a config's folder on refs/convert/parquet (multi-config repos)
    columns: dict[str, str] = field(default_factory=dict)  # our column -> Hub column
    splits: tuple[str, ...] = ("train", "validation", "test")  # splits with usable labels


# Script-based repositories are read from the Hub's parquet conversion branch. On that branch a
# multi-config repository has one folder per config: pass it as data_dir (name= fails there,
# and no data_dir silently merges all configs). See the dataset viewer docs, "parquet" page.
PARQUET = "refs/convert/parquet"


@dataclass(frozen=True)
class DatasetInfo:
    """A registry row."""

    name: str
    kind: str                      # "ner" or "classification"
    domain: str
    folder: str                    # folder name under BMCOURSE_DATA_DIR
    types: tuple[str, ...] = ()    # NER entity types, in label order
    labels: tuple[str, ...] = ()   # classification labels in order; () = sorted from the data
    sample: str | None = None      # embedded sample folder under bmcourse/samples
    hub: HubSource | None = None
    description: str = ""


WNUT_TYPES = ("corporation", "creative-work", "group", "location", "person", "product")
POLITICS_TYPES = ("country", "election", "event", "location", "misc", "organisation",
                  "person", "politicalparty", "politician")
SCIENCE_TYPES = ("academicjournal", "astronomicalobject", "award", "chemicalcompound",
                 "chemicalelement", "country", "discipline", "enzyme", "event", "location",
                 "misc", "organisation", "person", "protein", "scientist", "theory", "university")

REGISTRY: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo("conll2003", "ner", "news", "conll2003", types=("PER", "ORG", "LOC", "MISC"),
                    sample="news_ner", description="CoNLL-2003 English news NER",
                    hub=HubSource("eriktks/conll2003", revision=PARQUET)),
        DatasetInfo("wnut17", "ner", "social media", "wnut17", types=WNUT_TYPES,
                    sample="social_ner", description="WNUT-17 emerging entities in social media",
                    hub=HubSource("leondz/wnut_17", revision=PARQUET)),
        DatasetInfo("ncbi_disease", "ner", "biomedical", "ncbi_disease", types=("Disease",),
                    sample="biomed_ner", description="NCBI-disease mentions in PubMed abstracts",
                    hub=HubSource("ncbi/ncbi_disease", revision=PARQUET)),
        DatasetInfo("crossner_politics", "ner", "politics", "crossner_politics",
                    types=POLITICS_TYPES, sample="politics_ner",
                    description="CrossNER politics domain",
                    hub=HubSource("DFKI-SLT/cross_ner", revision=PARQUET, data_dir="politics")),
        DatasetInfo("crossner_science", "ner", "natural science", "crossner_science",
                    types=SCIENCE_TYPES, sample="science_ner",
                    description="CrossNER natural-science domain",
                    hub=HubSource("DFKI-SLT/cross_ner", revision=PARQUET, data_dir="science")),
        DatasetInfo("sst2", "classification", "movie reviews", "sst2",
                    labels=("negative", "positive"), sample="movie_sentiment",
                    description="SST-2 binary sentiment (GLUE)",
                    hub=HubSource("stanfordnlp/sst2", columns={"text": "sentence"},
                                  splits=("train", "validation"))),
        DatasetInfo("banking77", "classification", "banking customer service", "banking77",
                    sample="intent", description="BANKING77 intents (77 classes)",
                    hub=HubSource("PolyAI/banking77", revision=PARQUET)),
        DatasetInfo("financial_phrasebank", "classification", "finance",
                    "financial_phrasebank_allagree", labels=("negative", "neutral", "positive"),
                    sample="finance_sentiment",
                    description="Financial PhraseBank, sentences with 100% annotator agreement",
                    hub=HubSource("takala/financial_phrasebank", revision=PARQUET,
                                  data_dir="sentences_allagree", columns={"text": "sentence"})),
    ]
}
