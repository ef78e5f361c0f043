"""Retrieval tasks: Tatoeba and BUCC 2018 (XTREME), LAReQA and Mewsli-X (XTREME-R).

None of them is trained: the `retrieval` format embeds both sides with mean-pooled hidden states of a
middle layer of whatever setup is active (after the intermediate chain, as in the original study) and
retrieves by cosine (Tatoeba, LAReQA, Mewsli-X) or ratio-margin mining (BUCC). `options["mode"]` picks
the retrieval flavour; the other options are the published settings of each task.
"""

from adapter_xfer.tasks import HubSource, LocalLayout, Task

# XTREME's 36 Tatoeba languages + XTREME-R's 5 (az, lt, pl, uk, ro), mapped to LASER's ISO 639-3 codes
# (XTREME's `utils_preprocess.tatoeba_preprocess`). The Hub's google/xtreme has configs for the 36 only.
_TATOEBA_CODES = {
    "af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "es": "spa", "et": "est",
    "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun", "id": "ind",
    "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz", "ko": "kor", "ml": "mal", "mr": "mar",
    "nl": "nld", "pt": "por", "ru": "rus", "sw": "swh", "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl",
    "tr": "tur", "ur": "urd", "vi": "vie", "zh": "cmn",
    "az": "aze", "lt": "lit", "pl": "pol", "uk": "ukr", "ro": "ron",
}  # fmt: skip

_BUCC_LOCAL = {"src_id": "src_id", "text_a": "src_text", "tgt_id": "tgt_id", "text_b": "tgt_text", "role": "role"}
_RANKING = {"id": "id", "kind": "kind", "text": "text", "gold": "gold"}
_ZERO_SHOT_NOTE = "evaluated zero-shot by embedding similarity (XTREME-R's baselines fine-tune a dual encoder first)"

ENTRIES: tuple[Task, ...] = (
    Task(
        name="tatoeba",
        format="retrieval",
        summary="Tatoeba (LASER v1), nearest English sentence by cosine; 36 XTREME + 5 XTREME-R languages",
        languages=tuple(sorted(_TATOEBA_CODES)),
        labels=(),
        metric="tatoeba",
        hub=HubSource(
            path="google/xtreme",
            config="tatoeba.{lang}",
            splits={"test": "validation"},
            columns={"text_a": "source_sentence", "text_b": "target_sentence"},
            codes=_TATOEBA_CODES,
        ),
        local=(
            # LASER's layout (XTREME's own folder sorts the English side and withholds the gold order).
            LocalLayout(
                folder="tatoeba",
                files={"test": "tatoeba.{lang}-eng.{lang}"},
                reader="tatoeba_pair",
                columns={"text_a": "src", "text_b": "tgt"},
                labelled_test=True,
                codes=_TATOEBA_CODES,
            ),
        ),
        license="CC BY 2.0 FR (Tatoeba)",
        options={"mode": "nearest", "max_length": 512},
    ),
    Task(
        name="bucc",
        format="retrieval",
        summary="BUCC 2018 parallel sentence mining to English, ratio margin, threshold tuned on dev (XTREME)",
        languages=("de", "fr", "ru", "zh"),
        labels=(),
        metric="bucc",
        # google/xtreme keeps only the gold pairs of each split (no distractor sentences): mining from the
        # Hub is nearly trivial and not comparable with published scores; use data_dir for the real task.
        hub=HubSource(
            path="google/xtreme",
            config="bucc18.{lang}",
            splits={"dev": "validation", "test": "test"},
            columns={
                "src_id": "source_lang",
                "text_a": "source_sentence",
                "tgt_id": "target_lang",
                "text_b": "target_sentence",
            },
        ),
        local=(
            LocalLayout(  # XTREME's download (sample -> dev, training -> test; test gold removed)
                folder="bucc2018",
                files={"dev": "{lang}-en.dev.{lang}", "test": "{lang}-en.test.{lang}"},
                reader="bucc",
                columns=_BUCC_LOCAL,
            ),
            LocalLayout(  # ../shared/data: zh-en dev only
                folder="bucc2018_sample",
                files={"dev": "{lang}-en.dev.{lang}"},
                reader="bucc",
                columns=_BUCC_LOCAL,
            ),
        ),
        license="BUCC 2018 shared task data (research use)",
        options={"mode": "mine", "max_length": 512, "margin_k": 4, "retrieval": "max"},
    ),
    Task(
        name="lareqa",
        format="retrieval",
        summary=f"LAReQA on XQuAD-R, answer-sentence retrieval from an 11-language pool, mAP@20; {_ZERO_SHOT_NOTE}",
        languages=("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh"),
        labels=(),
        metric="map_at_20",
        # Parquet-backed, but without XQuAD-R's sentence breaks and one language per config: it cannot
        # form the candidate pool, and the format refuses it with a message asking for data_dir.
        hub=HubSource(
            path="google-research-datasets/xquad_r",
            config="{lang}",
            splits={"test": "validation"},
            columns={"id": "id", "text": "question"},
        ),
        local=(
            LocalLayout(  # XTREME-R's download_lareqa_data.sh: the lareqa repository under lareqa/
                folder="lareqa",
                files={"test": "xquad-r/{lang}.json"},
                reader="lareqa",
                columns=_RANKING,
                labelled_test=True,
            ),
        ),
        id_scheme="field",
        license="CC BY-SA 4.0",
        options={"mode": "rank", "k": 20, "query_max_length": 96, "candidate_max_length": 256},
    ),
    Task(
        name="mewslix",
        format="retrieval",
        summary=f"Mewsli-X entity linking as retrieval among 1M entity descriptions, mAP@20; {_ZERO_SHOT_NOTE}",
        languages=("ar", "de", "en", "es", "fa", "ja", "pl", "ro", "ta", "tr", "uk"),
        labels=(),
        metric="map_at_20",
        # JSON lines, not parquet; per-language mention files without the candidate set (a tar.gz in the
        # repository), so the format refuses it with a message asking for data_dir.
        hub=HubSource(
            path="izhx/mewsli-x",
            config="{lang}",
            splits={"dev": "validation", "test": "test"},
            columns={},
        ),
        local=(
            LocalLayout(  # XTREME-R's download_mewslix_data.sh: one mentions file for all languages
                folder="mewslix",
                files={"dev": "wikinews_mentions-dev.jsonl", "test": "wikinews_mentions-test.jsonl"},
                reader="mewslix",
                columns={**_RANKING, "lang": "lang"},
                labelled_test=True,
                language_column="lang",
            ),
        ),
        id_scheme="field",
        license="Mewsli-X release terms (WikiNews text CC BY 2.5, Wikipedia descriptions CC BY-SA)",
        options={"mode": "rank", "k": 20, "query_max_length": 64, "candidate_max_length": 64},
    ),
)
