"""The `adapter-xfer` command line: thin glue over the library functions that tests call directly.

Exit codes: 0 success; 2 user error (one line on stderr naming the file, key or value at fault; no
traceback unless `--debug`); 1 internal error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from adapter_xfer.errors import UserError


def _ls(args: argparse.Namespace) -> int:
    from adapter_xfer.formats import FORMATS
    from adapter_xfer.methods import METHODS
    from adapter_xfer.modeling import known_models
    from adapter_xfer.tasks import TASKS

    rows: list[tuple[str, ...]] = {
        "tasks": lambda: [(t.name, t.format, str(len(t.languages)), t.summary) for t in TASKS.values()],
        "methods": lambda: [(m.name, m.summary) for m in METHODS.values()],
        "models": known_models,
        "formats": lambda: [(name,) for name in FORMATS],
    }[args.what]()
    for row in rows:
        print("\t".join(row))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from adapter_xfer.config import load_config
    from adapter_xfer.plan import validate

    config = load_config(args.config, args.overrides)
    for stage in validate(config):
        print(stage)
    print(f"{args.config}: valid")
    return 0


def _train(args: argparse.Namespace) -> int:
    from adapter_xfer.config import load_config
    from adapter_xfer.run import train_run

    outcome = train_run(load_config(args.config, args.overrides))
    from adapter_xfer.stages import is_main_process

    if is_main_process():  # one line per run, not one per process
        print(outcome.message)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from adapter_xfer.run import eval_run

    print(eval_run(args.run_dir, args.overrides).message)
    return 0


def _score(args: argparse.Namespace) -> int:
    from adapter_xfer.scoring import score_file

    metrics = score_file(args.task, args.lang, args.predictions, args.split, args.data_dir, args.max_examples)
    print(json.dumps(metrics, sort_keys=True))
    return 0


def _report(args: argparse.Namespace) -> int:
    from adapter_xfer.results import report

    print(report(args.paths, args.out), end="")
    return 0


def _models(args: argparse.Namespace) -> int:
    from pathlib import Path

    from adapter_xfer.modeling import is_named_model, resolve_checkpoint
    from adapter_xfer.offline_models import OFFLINE_MODELS

    if not is_named_model(args.name):
        known = ", ".join(["tiny", *OFFLINE_MODELS, "random:<one of these>"])
        raise UserError(f"'{args.name}' is not a named offline model (known: {known})")
    print(Path(resolve_checkpoint(args.name, progress=True)).resolve())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from adapter_xfer.demo import run_demo

    if args.data_only:
        from adapter_xfer.demo import write_demo_data

        print(write_demo_data(f"{args.out}/data").resolve())
        return 0
    run_demo(args.out, model=args.model, compare_random=not args.no_random_baseline)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from adapter_xfer.pipeline import load_pipeline, read_inputs, write_predictions

    pipe = load_pipeline(args.model, args.setup, args.adapters, task=args.task, max_length=args.max_length,
                         batch_size=args.batch_size)  # fmt: skip
    records = read_inputs(args.input)
    write_predictions(pipe.predict(records, args.lang), args.output)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from adapter_xfer.pipeline import load_backbone
    from adapter_xfer.serving import Server, make_server

    app = Server(load_backbone(args.model, args.adapters), window_ms=args.window_ms, batch_size=args.batch_size,
                 max_length=args.max_length)  # fmt: skip
    httpd = make_server(app, args.host, args.port, args.max_body)
    host, port = httpd.server_address[:2]
    print(f"serving {args.model} with {len(app.backbone.catalogue.entries)} adapters on http://{host}:{port} "
          "(GET /health, POST /predict)", file=sys.stderr, flush=True)  # fmt: skip
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()
        app.close()
    return 0


def _export(args: argparse.Namespace) -> int:
    from adapter_xfer.export import export_run

    if (args.yes or args.private) and not args.push:
        raise UserError("--yes and --private apply to --push REPO_ID only")
    folders = export_run(args.run_dir, args.name, args.out)
    for folder in folders:
        print(folder)
    if args.push:
        from adapter_xfer.hub import push_export

        push_export(args.push, folders, yes=args.yes, private=args.private)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every verb."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks and library warnings")
    parser = argparse.ArgumentParser(prog="adapter-xfer", description=__doc__.splitlines()[0], parents=[common])
    subparsers = parser.add_subparsers(dest="verb", required=True)

    class _Verbs:  # every verb accepts --debug too, before or after its arguments
        @staticmethod
        def add_parser(name: str, **kwargs):
            return subparsers.add_parser(name, parents=[common], **kwargs)

    verbs = _Verbs()

    p = verbs.add_parser("ls", help="list tasks, methods, models or formats")
    p.add_argument("what", choices=["tasks", "methods", "models", "formats"])
    p.set_defaults(func=_ls)

    for name, func, text in (
        ("validate", _validate, "check a config; loads no model"),
        ("train", _train, "train every stage of a config, then evaluate zero-shot"),
    ):
        p = verbs.add_parser(name, help=text)
        p.add_argument("config")
        p.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.max_steps=10")
        p.set_defaults(func=func)

    p = verbs.add_parser("eval", help="re-evaluate a finished run into a new run folder")
    p.add_argument("run_dir")
    p.add_argument("overrides", nargs="*", help="e.g. eval.languages=de,zh eval.split=dev")
    p.set_defaults(func=_eval)

    p = verbs.add_parser("score", help="score a predictions file against gold; prints JSON on its last line")
    p.add_argument("task")
    p.add_argument("--lang", required=True)
    p.add_argument("--split", default="")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--predictions", required=True, help="predictions JSONL, or - for stdin")
    p.add_argument("--max-examples", type=int, default=0, help="score the first N gold examples only")
    p.set_defaults(func=_score)

    p = verbs.add_parser("report", help="Markdown tables regenerated from results.json files")
    p.add_argument("paths", nargs="+")
    p.add_argument("--out", default=None)
    p.set_defaults(func=_report)

    p = verbs.add_parser("models", help="prepare named offline models")
    sub = p.add_subparsers(dest="action", required=True)
    q = sub.add_parser("prepare", help="make a named model ready in the local cache; prints its folder")
    q.add_argument("name")
    q.set_defaults(func=_models)

    p = verbs.add_parser("predict", help="predict with composed adapters; writes predictions JSONL")
    p.add_argument("--model", required=True, help="Hub id, checkpoint folder, tiny or a named offline model")
    p.add_argument("--setup", required=True, help='"lang=sw task=panx" or a YAML file ({stack: [lang_sw, task_panx]})')
    p.add_argument("--adapters", nargs="+", default=[], metavar="SRC",
                   help="run folders, export folders or Hub ids; NAME=SRC names a single adapter")  # fmt: skip
    p.add_argument("--task", default=None, help="default: the task the head is named after (task_<task>)")
    p.add_argument("--lang", default=None, help="the language of a setup with a lang_{lang} slot")
    p.add_argument("--input", default="-", help="JSONL with the task's input fields, or - for stdin")
    p.add_argument("--output", default="-", help="predictions JSONL, or - for stdout")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=None, help="default: the run's max_seq_length, else 128")
    p.set_defaults(func=_predict)

    p = verbs.add_parser("serve", help="an HTTP server: one base model, many adapters (POST /predict)")
    p.add_argument("--model", required=True)
    p.add_argument("--adapters", nargs="+", default=[], metavar="SRC")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--window-ms", type=float, default=5.0, help="how long requests are collected into one batch")
    p.add_argument("--max-body", type=int, default=1 << 20, help="largest request body in bytes (else 413)")
    p.set_defaults(func=_serve)

    p = verbs.add_parser("export", help="export a run's adapters, fusions and setup to hub_exports/ (and push)")
    p.add_argument("run_dir")
    p.add_argument("--name", default=None, help="export name (default: the run folder's name)")
    p.add_argument("--out", default="hub_exports", help="export root (default: hub_exports)")
    p.add_argument("--push", metavar="REPO_ID", default=None, help="upload the export to this Hub model repository")
    p.add_argument("--yes", action="store_true", help="really upload (without it --push only lists the files)")
    p.add_argument("--private", action="store_true", help="create the Hub repository as private")
    p.set_defaults(func=_export)

    p = verbs.add_parser("demo", help="the offline demo: language adapters, a chain, adapter vs full_ft")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--model", default=None, help="model name (default: the offline encoder, else tiny)")
    p.add_argument("--no-random-baseline", action="store_true")
    p.add_argument("--data-only", action="store_true", help="only write the demo data under OUT/data")
    p.set_defaults(func=_demo)
    return parser


def _quiet_libraries() -> None:
    import logging
    import warnings

    for name in ("transformers", "adapters", "datasets", "accelerate"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `adapter-xfer`; returns the exit code."""
    args = build_parser().parse_args(argv)
    if not args.debug:
        _quiet_libraries()
    try:
        return args.func(args)
    except UserError as exc:
        if args.debug:
            raise
        print(f"adapter-xfer: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("adapter-xfer: interrupted (a re-run resumes from the last checkpoint)", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"adapter-xfer: internal error: {type(exc).__name__}: {exc} (re-run with --debug)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
