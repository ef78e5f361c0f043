"""Multiple-choice tasks: XCOPA (XTREME-R) and the English tasks COPA, SocialIQA, PIQA, CommonsenseQA,
Cosmos QA, HellaSwag and SWAG.

`labels` are the stored gold codes in choice order (COPA "0"/"1", SIQA "1".."3" as on the Hub, with
the v1.4 files' "A".."C" mapped onto them; CommonsenseQA "A".."E"); the multiple-choice format turns a
code into its 0-based choice index, which is what predictions hold. Choices come either as numbered
fields (`choice0`, ...) or as one `choices` list, whichever the source stores.

XCOPA follows XTREME-R's recipe (after the XCOPA authors): SocialIQA first, then English COPA, then
zero-shot on XCOPA's test sets.

Hub sources: `cambridgeltl/xcopa`, `tau/commonsense_qa`, `Rowan/hellaswag` and `allenai/swag` hold
parquet on their main branch. `aps/super_glue` (COPA), `allenai/social_i_qa`, `ybisk/piqa` and
`allenai/cosmos_qa` still hold a loading script there (which current `datasets` refuses); their parquet
exists only in the Hub's `refs/convert/parquet` export (configs `copa`, `default`, `plain_text`,
`default`), so their entries load that revision (not verifiable offline).
"""

from adapter_xfer.tasks import HubSource, LocalLayout, Task

_COPA_COLUMNS = {"id": "idx", "context": "premise", "question": "question",
                 "choice0": "choice1", "choice1": "choice2", "label": "label"}  # fmt: skip
# The question word made explicit, as the XCOPA authors (and jiant) phrase it, in English for every language.
_COPA_OPTIONS = {
    "num_choices": 2,
    "question_templates": {"cause": "What was the cause of this?", "effect": "What happened as a result?"},
}
_XCOPA_LANGUAGES = ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")
_SIQA_COLUMNS = {"context": "context", "question": "question", "choice0": "answerA", "choice1": "answerB",
                 "choice2": "answerC", "label": "label"}  # fmt: skip
_PIQA_COLUMNS = {"context": "goal", "choice0": "sol1", "choice1": "sol2", "label": "label"}
_CSQA_COLUMNS = {"id": "id", "question": "question", "choices": "choices.text", "label": "answerKey"}
_COSMOS_COLUMNS = {"id": "id", "context": "context", "question": "question", "choice0": "answer0",
                   "choice1": "answer1", "choice2": "answer2", "choice3": "answer3", "label": "label"}  # fmt: skip
_HELLASWAG_COLUMNS = {"id": "ind", "context": "ctx_a", "question": "ctx_b", "choices": "endings", "label": "label"}
_SWAG_COLUMNS = {"context": "sent1", "question": "sent2", "choice0": "ending0", "choice1": "ending1",
                 "choice2": "ending2", "choice3": "ending3", "label": "label"}  # fmt: skip
_FOUR = ("0", "1", "2", "3")

ENTRIES: tuple[Task, ...] = (
    Task(
        name="xcopa",
        format="multiple_choice",
        summary="XCOPA, causal commonsense reasoning in 11 languages (XTREME-R); trained on SIQA, then COPA",
        languages=_XCOPA_LANGUAGES,
        labels=("0", "1"),
        metric="accuracy",
        hub=HubSource(
            path="cambridgeltl/xcopa",
            config="{lang}",
            splits={"dev": "validation", "test": "test"},
            columns=_COPA_COLUMNS,
        ),
        local=(
            LocalLayout(  # cambridgeltl/xcopa's data/ folder
                folder="xcopa",
                files={"dev": "data/{lang}/val.{lang}.jsonl", "test": "data/{lang}/test.{lang}.jsonl"},
                reader="jsonl",
                columns=_COPA_COLUMNS,
                labelled_test=True,
            ),
        ),
        train_task="copa",
        recipe=("siqa",),
        id_scheme="field",
        license="CC BY 4.0",
        options=_COPA_OPTIONS,
    ),
    Task(
        name="copa",
        format="multiple_choice",
        summary="COPA, English causal commonsense reasoning (trains XCOPA, after SIQA)",
        languages=("en",),
        labels=("choice1", "choice2"),  # SuperGLUE's class names; the local files store 0/1
        metric="accuracy",
        hub=HubSource(
            path="aps/super_glue",
            revision="refs/convert/parquet",  # main holds a loading script
            config="copa",
            splits={"train": "train", "dev": "validation", "test": "test"},
            columns=_COPA_COLUMNS,
            labelled_test=False,
        ),
        local=(
            LocalLayout(  # XTREME-R's download (400 train, 100 val); test labels are placeholder zeros
                folder="copa_en",
                files={"train": "train-{lang}.jsonl", "dev": "val-{lang}.jsonl", "test": "test-{lang}.jsonl"},
                reader="jsonl",
                columns=_COPA_COLUMNS,
                label_map={"0": "choice1", "1": "choice2"},
            ),
        ),
        id_scheme="field",
        license="BSD-2-Clause",
        options=_COPA_OPTIONS,
    ),
    Task(
        name="siqa",
        format="multiple_choice",
        summary="SocialIQA v1.4, English social commonsense QA (first stage of XCOPA's recipe)",
        languages=("en",),
        labels=("1", "2", "3"),
        metric="accuracy",
        hub=HubSource(
            path="allenai/social_i_qa",
            revision="refs/convert/parquet",  # main holds a loading script
            config="default",
            splits={"train": "train", "dev": "validation"},
            columns=_SIQA_COLUMNS,
            labelled_test=False,
        ),
        local=(
            LocalLayout(  # the v1.4 release the XCOPA authors use: gold in `correct` (A/B/C), labelled test
                folder="socialiqa",
                files={
                    "train": "socialIQa_v1.4_trn.jsonl",
                    "dev": "socialIQa_v1.4_dev.jsonl",
                    "test": "socialIQa_v1.4_tst.jsonl",
                },
                reader="jsonl",
                columns={**_SIQA_COLUMNS, "label": "correct"},
                label_map={"A": "1", "B": "2", "C": "3"},
                labelled_test=True,
            ),
            LocalLayout(  # the original release (socialiqa-train-dev.zip): X.jsonl + X-labels.lst (1/2/3)
                folder="socialiqa-train-dev",
                files={"train": "train.jsonl", "dev": "dev.jsonl"},
                reader="jsonl_labels_lst",
                columns=_SIQA_COLUMNS,
            ),
        ),
        license="CC BY 4.0",
        options={"num_choices": 3},
    ),
    Task(
        name="piqa",
        format="multiple_choice",
        summary="PIQA, English physical commonsense: a goal and two solutions",
        languages=("en",),
        labels=("0", "1"),
        metric="accuracy",
        hub=HubSource(
            path="ybisk/piqa",
            revision="refs/convert/parquet",  # main holds a loading script
            config="plain_text",
            splits={"train": "train", "dev": "validation"},
            columns=_PIQA_COLUMNS,
            labelled_test=False,
        ),
        local=(
            LocalLayout(  # X.jsonl + line-aligned X-labels.lst; tests.jsonl has no labels
                folder="piqa",
                files={"train": "train.jsonl", "dev": "valid.jsonl"},
                reader="jsonl_labels_lst",
                columns=_PIQA_COLUMNS,
            ),
        ),
        license="AFL-3.0",
        options={"num_choices": 2},
    ),
    Task(
        name="csqa",
        format="multiple_choice",
        summary="CommonsenseQA v1.11, English commonsense QA with five choices",
        languages=("en",),
        labels=("A", "B", "C", "D", "E"),
        metric="accuracy",
        hub=HubSource(
            path="tau/commonsense_qa",
            config="default",
            splits={"train": "train", "dev": "validation", "test": "test"},
            columns=_CSQA_COLUMNS,
            labelled_test=False,
        ),
        local=(
            LocalLayout(  # original nested files or the Hub export of the same names (the reader takes both)
                folder="commonsenseqa",
                files={"train": "train_rand_split.jsonl", "dev": "dev_rand_split.jsonl"},
                reader="csqa_jsonl",
                columns=_CSQA_COLUMNS,
            ),
        ),
        id_scheme="field",
        license="MIT",
        options={"num_choices": 5},
    ),
    Task(
        name="cosmosqa",
        format="multiple_choice",
        summary="Cosmos QA, English commonsense reading comprehension with four answers",
        languages=("en",),
        labels=_FOUR,
        metric="accuracy",
        hub=HubSource(
            path="allenai/cosmos_qa",
            revision="refs/convert/parquet",  # main holds a loading script
            config="default",
            splits={"train": "train", "dev": "validation"},
            columns=_COSMOS_COLUMNS,
            labelled_test=False,
        ),
        local=(
            LocalLayout(  # the release's CSVs: id,context,question,answer0..answer3,label
                folder="cosmosqa",
                files={"train": "train.csv", "dev": "valid.csv"},
                reader="csv_header",
                columns=_COSMOS_COLUMNS,
            ),
        ),
        id_scheme="field",
        license="CC BY 4.0",
        options={"num_choices": 4},
    ),
    Task(
        name="hellaswag",
        format="multiple_choice",
        summary="HellaSwag, English commonsense sentence completion (context vs. four endings)",
        languages=("en",),
        labels=_FOUR,
        metric="accuracy",
        hub=HubSource(
            path="Rowan/hellaswag",
            config="default",
            splits={"train": "train", "dev": "validation", "test": "test"},
            columns=_HELLASWAG_COLUMNS,
            labelled_test=False,
        ),
        local=(
            LocalLayout(  # rowanz/hellaswag's data/ files; the test file has no labels
                folder="hellaswag",
                files={"train": "hellaswag_train.jsonl", "dev": "hellaswag_val.jsonl"},
                reader="jsonl",
                columns=_HELLASWAG_COLUMNS,
            ),
        ),
        id_scheme="field",
        license="MIT",
        # ctx_a vs. ctx_b + ending, as HellaSwag's own BERT baseline pairs them
        options={"num_choices": 4, "question_with": "choice"},
    ),
    Task(
        name="swag",
        format="multiple_choice",
        summary="SWAG, English grounded commonsense inference (sentence vs. four continuations)",
        languages=("en",),
        labels=_FOUR,
        metric="accuracy",
        hub=HubSource(
            path="allenai/swag",
            config="regular",
            splits={"train": "train", "dev": "validation", "test": "test"},
            columns=_SWAG_COLUMNS,
            labelled_test=False,
        ),
        local=(
            LocalLayout(  # rowanz/swagaf's data/ CSVs; the test file has no labels
                folder="swagaf",
                files={"train": "data/train.csv", "dev": "data/val.csv"},
                reader="csv_header",
                columns=_SWAG_COLUMNS,
            ),
        ),
        license="MIT",
        # sent1 vs. sent2 + ending (the SWAG paper's and transformers' run_swag pairing)
        options={"num_choices": 4, "question_with": "choice"},
    ),
)
