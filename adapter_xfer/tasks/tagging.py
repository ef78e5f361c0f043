"""Sequence-labelling tasks (`tagging`): UD-POS and PAN-X (XTREME / XTREME-R), CCG supertagging
(English intermediate task), MasakhaNER (African-language NER, trained on PAN-X English).

Records are sentences `{"id": position in the split file, "tokens": [...], "tags": [...]}`; scores are
seqeval's default F1 plus token accuracy, as XTREME's scorer computes them for NER and UD-POS.

Local layouts (first one whose folder holds the split wins; see `data.find_layout`):

- UD-POS: XTREME's download `udpos/{split}-{lang}.tsv` (test labels removed), the labelled copy in
  ../shared/data `udpos_xtreme/`, then UD's own CoNLL-U `ud_conllu/{treebank}-ud-{split}.conllu` for
  the languages mapped to a treebank below (one main treebank per language, where XTREME pools all of
  a language's treebanks; UD's multi-word tokens are split into syntactic words there).
- PAN-X: XTREME's download `panx/` (test labels removed), ../shared/data `panx_xtreme/` (English train
  and labelled dev), and the labelled test of Babelscape/wikineural `wikiann/{lang}/test.conllu`
  (the same sentences as XTREME's PAN-X test, with gold tags).
- CCG: CCGbank is licensed (LDC2005T13), so there is no Hub source: `ccg/{train,dev,test}.tsv` are
  `word<TAB>supertag` files (sections 02-21, 00 and 23). The supertag set is open; `labels` lists the
  common lexical categories plus `<unk>`, which absorbs the others in training (scores keep the gold
  tags, so a rarer category always counts as an error). Supertagging accuracy is the `accuracy` field.
- MasakhaNER 1.0: `masakhaner/{code}/{split}.txt` (`word tag`). Its Hub copy, masakhane/masakhaner,
  is a loading-script dataset whose parquet export only lives at revision `refs/convert/parquet`.
"""

from adapter_xfer.errors import UserError
from adapter_xfer.tasks import HubSource, LocalLayout, Task


class _NoHubSplits(dict):
    """The split table of a task with no parquet Hub source: looking a split up is a user error."""

    def __init__(self, task: str, reason: str):
        super().__init__()
        self.message = f"task '{task}' has no Hugging Face Hub source ({reason}): local files only; set data_dir"

    def __missing__(self, split: str):
        raise UserError(self.message)


def _local_only(task: str, reason: str) -> HubSource:
    return HubSource(path="", config="", splits=_NoHubSplits(task, reason), columns=dict(_COLUMNS),
                     labelled_test=False)  # fmt: skip


_COLUMNS = {"tokens": "tokens", "tags": "tags"}  # the readers' row fields
_XTREME_FILES = {"train": "train-{lang}.tsv", "dev": "dev-{lang}.tsv", "test": "test-{lang}.tsv"}

# Universal POS tags in the order of google/xtreme's `pos_tags` class labels.
_UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
         "SCONJ", "SYM", "VERB", "X")  # fmt: skip
# IOB2 tags in the order of the WikiANN / google/xtreme `ner_tags` class labels.
_NER = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")

# google/xtreme's UD-POS configs are `udpos.<English name>` for XTREME's 33 languages.
_UDPOS_HUB = {"af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "de": "German", "el": "Greek", "en": "English",
              "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fr": "French",
              "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
              "kk": "Kazakh", "ko": "Korean", "mr": "Marathi", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian",
              "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "ur": "Urdu",
              "vi": "Vietnamese", "yo": "Yoruba", "zh": "Chinese"}  # fmt: skip
# XTREME-R adds these; google/xtreme has no config for them (from the Hub they fail with a clear error).
_UDPOS_XTREME_R = ("lt", "pl", "ro", "uk", "wo")
# One main UD treebank per language (file prefix of `{treebank}-ud-{split}.conllu`).
_UD_TREEBANKS = {"af": "af_afribooms", "ar": "ar_padt", "bg": "bg_btb", "de": "de_gsd", "el": "el_gdt",
                 "en": "en_ewt", "es": "es_ancora", "et": "et_edt", "eu": "eu_bdt", "fa": "fa_seraji",
                 "fi": "fi_tdt", "fr": "fr_gsd", "he": "he_htb", "hi": "hi_hdtb", "hu": "hu_szeged",
                 "id": "id_gsd", "it": "it_isdt", "ja": "ja_gsd", "kk": "kk_ktb", "ko": "ko_gsd",
                 "lt": "lt_alksnis", "mr": "mr_ufal", "nl": "nl_alpino", "pl": "pl_pdb", "pt": "pt_bosque",
                 "ro": "ro_rrt", "ru": "ru_syntagrus", "ta": "ta_ttb", "te": "te_mtg", "th": "th_pud",
                 "tl": "tl_trg", "tr": "tr_imst", "uk": "uk_iu", "ur": "ur_udtb", "vi": "vi_vtb", "wo": "wo_wtb",
                 "yo": "yo_ytb", "zh": "zh_gsd"}  # fmt: skip

# PAN-X: XTREME's 40 languages, then XTREME-R's additions (qu pl uk az lt pa gu ro).
_PANX_LANGS = ("af", "ar", "bg", "bn", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu", "id",
               "it", "ja", "jv", "ka", "kk", "ko", "ml", "mr", "ms", "my", "nl", "pt", "ru", "sw", "ta", "te", "th",
               "tl", "tr", "ur", "vi", "yo", "zh", "az", "gu", "lt", "pa", "pl", "qu", "ro", "uk")  # fmt: skip

# MasakhaNER 1.0: ISO 639-1 code (639-3 where none exists) -> the dataset's folder code.
_MASAKHANER = {"am": "amh", "ha": "hau", "ig": "ibo", "rw": "kin", "lg": "lug", "luo": "luo", "pcm": "pcm",
               "sw": "swa", "wo": "wol", "yo": "yor"}  # fmt: skip

# Common CCGbank lexical categories (the most frequent ones in sections 02-21, by category family);
# `<unk>` stands for every other category in training.
_CCG = (
    ",", ".", ":", ";", "LRB", "RRB", "conj",
    "N", "NP", "N/N", "NP[nb]/N", "NP/NP", "NP/N", "NP\\NP", "N\\N", "(N/N)/(N/N)", "(N/N)\\(N/N)", "N/PP",
    r"N/(S[to]\NP)", "N/S[em]", "NP[thr]", "NP[expl]", r"(NP[nb]/N)\NP", r"(NP\NP)/NP", r"(NP\NP)/(S[dcl]\NP)",
    r"(NP\NP)/(S[dcl]/NP)", r"(NP\NP)/S[dcl]", r"(NP\NP)/(NP\NP)", "PP", "PP/NP", r"PP/(S[ng]\NP)",
    r"(S\NP)\(S\NP)", r"(S\NP)/(S\NP)", "S/S", r"S\S", r"((S\NP)\(S\NP))/NP", r"((S\NP)\(S\NP))/S[dcl]",
    r"((S\NP)\(S\NP))/(S[ng]\NP)", r"((S\NP)\(S\NP))/((S\NP)\(S\NP))", "(S/S)/NP", "(S/S)/S[dcl]",
    r"(S[adj]\NP)/(S[adj]\NP)", "S[em]/S[dcl]",
    r"S[dcl]\NP", r"(S[dcl]\NP)/NP", r"((S[dcl]\NP)/NP)/NP", r"(S[dcl]\NP)/PP", r"((S[dcl]\NP)/PP)/NP",
    r"(S[dcl]\NP)/S[dcl]", r"(S[dcl]\NP)/S[em]", r"(S[dcl]\NP)/(S[b]\NP)", r"(S[dcl]\NP)/(S[to]\NP)",
    r"((S[dcl]\NP)/(S[to]\NP))/NP", r"(S[dcl]\NP)/(S[pt]\NP)", r"(S[dcl]\NP)/(S[pss]\NP)",
    r"(S[dcl]\NP)/(S[ng]\NP)", r"(S[dcl]\NP)/(S[adj]\NP)", r"(S[dcl]\S[dcl])\NP", r"(S[dcl]\S[dcl])/NP",
    r"(S[dcl]\NP[thr])/NP",
    r"S[b]\NP", r"(S[b]\NP)/NP", r"((S[b]\NP)/NP)/NP", r"(S[b]\NP)/PP", r"((S[b]\NP)/PP)/NP", r"(S[b]\NP)/S[dcl]",
    r"(S[b]\NP)/(S[to]\NP)", r"((S[b]\NP)/(S[to]\NP))/NP", r"(S[b]\NP)/(S[adj]\NP)", r"(S[b]\NP)/(S[pt]\NP)",
    r"(S[b]\NP)/(S[pss]\NP)", r"(S[b]\NP)/(S[ng]\NP)",
    r"S[ng]\NP", r"(S[ng]\NP)/NP", r"(S[ng]\NP)/PP", r"((S[ng]\NP)/PP)/NP", r"(S[ng]\NP)/(S[to]\NP)",
    r"(S[ng]\NP)/S[dcl]", r"(S[ng]\NP)/(S[adj]\NP)",
    r"S[pt]\NP", r"(S[pt]\NP)/NP", r"(S[pt]\NP)/PP", r"(S[pt]\NP)/(S[pss]\NP)", r"(S[pt]\NP)/(S[to]\NP)",
    r"(S[pt]\NP)/(S[adj]\NP)", r"(S[pt]\NP)/S[dcl]", r"(S[pt]\NP)/(S[ng]\NP)",
    r"S[pss]\NP", r"(S[pss]\NP)/PP", r"(S[pss]\NP)/NP", r"(S[pss]\NP)/(S[to]\NP)",
    r"(S[to]\NP)/(S[b]\NP)", r"S[adj]\NP", r"(S[adj]\NP)/PP", r"(S[adj]\NP)/(S[to]\NP)", r"(S[adj]\NP)\NP",
    "<unk>",
)  # fmt: skip

ENTRIES: tuple[Task, ...] = (
    Task(
        name="udpos",
        format="tagging",
        summary="UD-POS, universal part-of-speech tagging in 38 languages (XTREME + XTREME-R)",
        languages=tuple(sorted((*_UDPOS_HUB, *_UDPOS_XTREME_R))),
        labels=_UPOS,
        metric="seqeval",
        hub=HubSource(
            path="google/xtreme",
            config="udpos.{lang}",
            splits={"train": "train", "dev": "validation", "test": "test"},
            columns={"tokens": "tokens", "tags": "pos_tags"},
            codes=_UDPOS_HUB,
        ),
        local=(
            LocalLayout(folder="udpos", files=_XTREME_FILES, reader="tagged_tsv", columns=_COLUMNS),
            LocalLayout(
                folder="udpos_xtreme", files=_XTREME_FILES, reader="tagged_tsv", columns=_COLUMNS, labelled_test=True
            ),
            LocalLayout(
                folder="ud_conllu",
                reader="conllu",
                columns=_COLUMNS,
                labelled_test=True,
                files={s: f"{{lang}}-ud-{s}.conllu" for s in ("train", "dev", "test")},
                codes=_UD_TREEBANKS,
            ),
        ),
        license="Universal Dependencies treebank licenses (mostly CC BY-SA 4.0; some NC)",
    ),
    Task(
        name="panx",
        format="tagging",
        summary="PAN-X / WikiANN named entities (PER, ORG, LOC) in 48 languages (XTREME + XTREME-R)",
        languages=_PANX_LANGS,
        labels=_NER,
        metric="seqeval",
        # Rahimi et al. (2019) splits, as google/xtreme's PAN-X.<lang>, but covering XTREME-R's languages too.
        hub=HubSource(
            path="unimelb-nlp/wikiann",
            config="{lang}",
            splits={"train": "train", "dev": "validation", "test": "test"},
            columns={"tokens": "tokens", "tags": "ner_tags"},
        ),
        local=(
            LocalLayout(folder="panx", files=_XTREME_FILES, reader="tagged_tsv", columns=_COLUMNS),
            LocalLayout(
                folder="panx_xtreme",
                files={"train": "train-{lang}.tsv", "dev": "dev-{lang}.tsv"},
                reader="tagged_tsv",
                columns=_COLUMNS,
            ),
            LocalLayout(
                folder="wikiann",
                files={"test": "{lang}/test.conllu"},
                reader="indexed_tsv",
                columns=_COLUMNS,
                labelled_test=True,
            ),
        ),
        license="WikiANN: ODC-BY (Pan et al. 2017; Rahimi et al. 2019 splits); wikineural copy CC BY-NC-SA 4.0",
    ),
    Task(
        name="ccg",
        format="tagging",
        summary="CCGbank supertagging, English (intermediate task; local files only)",
        languages=("en",),
        labels=_CCG,
        metric="seqeval",
        hub=_local_only("ccg", "CCGbank is licensed by the LDC, LDC2005T13"),
        local=(
            LocalLayout(
                folder="ccg",
                files={"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"},
                reader="tagged_tsv",
                columns=_COLUMNS,
                labelled_test=True,
            ),
        ),
        license="LDC User Agreement (CCGbank, LDC2005T13)",
        options={"unknown_tag": "<unk>"},
    ),
    Task(
        name="masakhaner",
        format="tagging",
        summary="MasakhaNER 1.0, named entities in 10 African languages; trained on PAN-X English",
        languages=tuple(_MASAKHANER),
        labels=(*_NER, "B-DATE", "I-DATE"),  # PAN-X's tags first: a PAN-X head's outputs mean the same tags
        metric="seqeval",
        hub=_local_only("masakhaner", "masakhane/masakhaner is a loading-script dataset"),
        local=(
            LocalLayout(
                folder="masakhaner",
                reader="tagged_space",
                columns=_COLUMNS,
                labelled_test=True,
                files={s: f"{{lang}}/{s}.txt" for s in ("train", "dev", "test")},
                codes=_MASAKHANER,
            ),
        ),
        train_task="panx",
        license="CC BY-NC 4.0",
    ),
)
