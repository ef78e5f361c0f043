"""`adapter-xfer serve`: one base model in memory, many adapters, requests batched across setups.

`POST /predict` takes `{"task": "panx", "lang": "sw", "inputs": [...]}` and answers
`{"predictions": [...]}` (one per input, in order); `GET /health` answers `{"status": "ok", ...}`. Errors are
JSON `{"error": "..."}` with 400 (bad input, including a retrieval task), 404 (unknown task, adapter
or path), 405, 408 (the body did not arrive within `Handler.timeout`), 411, 413 (body over the limit),
503 (`max_queue` requests already waiting, or no answer within `result_timeout`) or 500 (our fault).
The server binds 127.0.0.1 unless told otherwise.

Batching: HTTP threads only parse and validate; one worker thread owns the model. It takes the first
waiting request, collects whatever else arrives within `window_ms`, groups the requests by task (a
task fixes preprocessing, head and decoding) and then by setup: requests with the same setup (same
language) share forward passes, whoever sent them; each different setup gets forward passes of its
own. Each request is preprocessed and decoded on its own, so one request's bad input fails only that
request. `adapters` 1.3.0 allows `Stack` inside `BatchSplit` (ALLOWED_NESTINGS), but with bottleneck
adapters the result is wrong: `BatchSplit` runs the layer's `pre_block` (the original layer norm)
and the nested `Stack` runs it again before its first adapter, so rows differ from the same setup
served alone (by 1e-3 to 1 in the logits on tiny, depending on the adapters, even for `BatchSplit(s, s)`); it applies
the invertible adapter of the first split's language to every row. `BatchSplit` of plain adapter
names is exact, but a language adapter alone is not a task setup, so mixed setups are grouped.
Merged LoRA is per setup, and setups change between groups, so the server never merges LoRA.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import torch

from adapter_xfer.adapter_sources import UnknownAdapter
from adapter_xfer.errors import UserError
from adapter_xfer.pipeline import Backbone, Pipeline, as_record, check_records, load_pipeline
from adapter_xfer.tasks import Task, get_task

MAX_BODY = 1 << 20  # bytes per request
MAX_QUEUE = 256  # requests waiting for the worker; beyond that the server answers 503 at once
MAX_BATCH_JOBS = 256  # requests the worker takes in one round
RESULT_TIMEOUT_S = 300.0  # a request not answered by then gets 503 (the client has likely given up)
SOCKET_TIMEOUT_S = 30.0  # a client silent this long (e.g. a body shorter than Content-Length) is dropped


class NotFound(UserError):
    """An unknown task, adapter or path (HTTP 404)."""


class Busy(Exception):
    """The server cannot take or answer the request now (HTTP 503); not the client's fault."""


@dataclass
class Job:
    """One request waiting for the worker."""

    pipe: Pipeline
    setup: Any  # the `adapters` block for the request's language
    records: list[dict]
    done: Future = field(default_factory=Future)


@torch.no_grad()
def forward_jobs(jobs: list[Job], batch_size: int) -> int:
    """Predict every job of one task: rows of the same setup share forward passes, across requests.

    A job whose records fail to preprocess or decode gets that exception; the others go on.
    Returns the number of forward passes.
    """
    pipe = jobs[0].pipe
    fmt, model, tokenizer = pipe.format, pipe.backbone.model, pipe.backbone.tokenizer
    model.eval()
    passes = 0
    for key in dict.fromkeys(str(job.setup) for job in jobs):
        group = [(n, job) for n, job in enumerate(jobs) if str(job.setup) == key]
        rows: list[tuple[int, dict]] = []
        for n, job in list(group):
            try:
                rows += [(n, f) for f in fmt.preprocess(job.records, tokenizer, pipe.task, pipe.max_length)]
            except Exception as exc:  # this request's input is at fault, not its neighbours'
                job.done.set_exception(exc)
                group.remove((n, job))
        if not group:
            continue
        rows.sort(key=lambda r: r[1].get("length", len(r[1]["input_ids"])))  # as `zero_shot.predict` sorts
        model.set_active_adapters(group[0][1].setup)
        model.active_head = pipe.head
        outputs: dict[int, list] = {n: [] for n, _ in group}  # per job: (outputs, features) per pass
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            batch = fmt.collate([f for _, f in chunk], tokenizer)
            result = model(**{k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")})
            passes += 1
            values = {name: getattr(result, name).float().cpu() for name in fmt.outputs}
            for n in outputs:
                index = [i for i, (m, _) in enumerate(chunk) if m == n]
                if index:
                    outputs[n].append(({k: v[index] for k, v in values.items()}, [chunk[i][1] for i in index]))
        for n, job in group:
            features = [f for _, fs in outputs[n] for f in fs]
            try:
                job.done.set_result(fmt.decode([o for o, _ in outputs[n]], features, job.records, pipe.task))
            except Exception as exc:  # e.g. a request whose records yielded no features
                job.done.set_exception(exc)
    pipe._active = None  # the worker changed the active setup behind the pipeline's back
    return passes


class Server:
    """The model, its pipelines (one per task, built on demand) and the batching worker."""

    def __init__(self, backbone: Backbone, window_ms: float = 5.0, batch_size: int = 32, max_length: int | None = None,
                 max_queue: int = MAX_QUEUE, result_timeout: float = RESULT_TIMEOUT_S):  # fmt: skip
        self.backbone, self.window = backbone, window_ms / 1000
        self.batch_size, self.max_length, self.result_timeout = batch_size, max_length, result_timeout
        self.pipes: dict[str, Pipeline] = {}
        self.jobs: queue.Queue[Job | None] = queue.Queue(maxsize=max_queue)
        self.forward_passes = 0  # reported by /health
        self.accepted = 0  # requests queued so far (tests wait on it before opening the gate)
        self._accepted_lock = threading.Lock()
        self.lock = threading.Lock()  # loading adapters and forward passes never overlap
        # The worker waits here after taking a request; always open, except in tests, which close it to
        # queue several requests first and so know exactly which ones share a round.
        self.gate = threading.Event()
        self.gate.set()
        self.worker = threading.Thread(target=self._work, name="adapter-xfer-worker", daemon=True)
        self.worker.start()

    def pipe_for(self, task: str) -> Pipeline:
        """The task's pipeline: a run's recorded setup for this head, else `Stack(lang_{lang}, task_<task>)`.

        `predict` accepts the same setups only (see `pipeline.check_recorded`), so both give the same answers.
        """
        if task not in self.pipes:
            head = f"task_{task}"
            setup = self.backbone.catalogue.setups.get(head, {"stack": ["lang_{lang}", head]})
            self.pipes[task] = load_pipeline("", setup, task=task, max_length=self.max_length,
                                             batch_size=self.batch_size, merge_lora=False,
                                             backbone=self.backbone)  # fmt: skip
        return self.pipes[task]

    def submit(self, request: Any) -> Future:
        """Validate a request body and queue it; the future holds `{id: prediction}`.

        Raises:
            NotFound: an unknown task or adapter. UserError: any other bad input (a retrieval task
            included). Busy: `max_queue` requests are already waiting.
        """
        if not isinstance(request, dict) or not isinstance(request.get("task"), str):
            raise UserError('the body must be a JSON object with "task", "lang" and "inputs"')
        inputs, lang = request.get("inputs"), request.get("lang")
        if not isinstance(inputs, list) or not inputs:
            raise UserError('"inputs" must be a non-empty list')
        if lang is not None and not (isinstance(lang, str) and lang.isidentifier()):
            raise UserError(f'"lang" must be a language code, not {lang!r}')
        task = _known_task(request["task"])
        check_records([], task)  # a retrieval task is bad input (400), not an unknown one
        try:
            with self.lock:
                pipe = self.pipe_for(task.name)
                setup = pipe.composition(lang)  # loads the adapters now, in this thread, once per name
        except UnknownAdapter as exc:
            raise NotFound(str(exc)) from None
        records = check_records([{**as_record(x, pipe.task), "id": i} for i, x in enumerate(inputs)], pipe.task)
        job = Job(pipe, setup, records)
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            raise Busy(f"the queue is full ({self.jobs.maxsize} requests waiting); try again later") from None
        with self._accepted_lock:
            self.accepted += 1
        return job.done

    def _work(self) -> None:
        stopping = False
        while not stopping:
            first = self.jobs.get()
            if first is None:
                return
            self.gate.wait()
            time.sleep(self.window)  # requests arriving together join this round
            batch = [first]
            while len(batch) < MAX_BATCH_JOBS:
                try:
                    job = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:  # finish this round, then stop (a full queue must not block `close`)
                    stopping = True
                    break
                batch.append(job)
            # Skip requests whose client timed out (cancelled); the rest can no longer be cancelled.
            self._run([job for job in batch if job.done.set_running_or_notify_cancel()])

    def _run(self, batch: list[Job]) -> None:
        for task in dict.fromkeys(job.pipe.task.name for job in batch):
            group = [job for job in batch if job.pipe.task.name == task]
            try:
                with self.lock:
                    self.forward_passes += forward_jobs(group, self.batch_size)
            except Exception as exc:  # a forward pass failed: report to its requests; the worker lives on
                for job in group:
                    if not job.done.done():
                        job.done.set_exception(exc)

    def close(self) -> None:
        """Stop the worker after the requests already queued."""
        self.gate.set()
        self.jobs.put(None)  # may wait for room: the worker keeps draining


def _known_task(name: str) -> Task:
    try:
        return get_task(name)
    except UserError as exc:
        raise NotFound(str(exc)) from None


class Handler(BaseHTTPRequestHandler):
    """JSON over HTTP; every error is a JSON object with a 4xx or 5xx status."""

    server: ThreadingHTTPServer  # with a `.app` (Server) and `.max_body` attached by `make_server`
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S  # set on each connection's socket: a silent client cannot hold a thread

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request on stderr would drown the server's own messages

    def do_GET(self) -> None:
        if self.path != "/health":
            return self._send(404, {"error": f"unknown path {self.path} (GET /health, POST /predict)"})
        app = self.server.app
        self._send(200, {"status": "ok", "model": app.backbone.name, "adapters": sorted(app.backbone.catalogue.entries),
                         "loaded": app.backbone.loaded_names(), "forward_passes": app.forward_passes,
                         "waiting": app.jobs.qsize()})  # fmt: skip

    def do_POST(self) -> None:
        if self.path != "/predict":
            return self._send(404, {"error": f"unknown path {self.path} (POST /predict)"})
        try:
            length = int(self.headers.get("Content-Length") or -1)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return self._send(411, {"error": "a Content-Length header is required"})
        if length > self.server.max_body:
            self.close_connection = True  # the unread body must not be taken for the next request
            return self._send(413, {"error": f"request body of {length} bytes exceeds {self.server.max_body}"})
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            return self._send(408, {"error": f"the request body did not arrive within {self.timeout:g} s"})
        try:
            request = json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError) as exc:
            return self._send(400, {"error": f"body is not valid JSON ({_json_fault(exc)})"})
        app = self.server.app
        try:
            future = app.submit(request)
            try:
                predictions = future.result(timeout=app.result_timeout)
            except FutureTimeout:
                future.cancel()  # still queued: the worker skips it
                raise Busy(f"no answer within {app.result_timeout:g} s; try again later") from None
        except Busy as exc:
            return self._send(503, {"error": str(exc)})
        except NotFound as exc:
            return self._send(404, {"error": str(exc)})
        except UserError as exc:
            return self._send(400, {"error": str(exc)})
        except Exception as exc:  # keep serving; the client learns it was our fault
            return self._send(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})
        self._send(200, {"predictions": [predictions[i] for i in range(len(predictions))]})


def _json_fault(exc: ValueError | RecursionError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return f"{type(exc).__name__}: {exc}"  # e.g. bytes that are not UTF-8


def make_server(app: Server, host: str = "127.0.0.1", port: int = 8000, max_body: int = MAX_BODY):
    """A `ThreadingHTTPServer` bound to `host:port` (port 0: any free one) serving `app`."""
    try:
        httpd = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    httpd.daemon_threads = True
    httpd.app, httpd.max_body = app, max_body  # type: ignore[attr-defined]
    return httpd
