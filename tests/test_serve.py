"""`serve`: a real HTTP client against the server running in a thread on a free loopback port.

Batching tests close the worker's gate (`Server.gate`) until every request is queued, so which
requests share a round does not depend on thread timing.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from adapter_xfer.cli import build_parser
from adapter_xfer.pipeline import load_backbone, load_pipeline
from adapter_xfer.serving import Busy, Handler, Server, make_server
from tests.compose_helpers import build_exports

SENTENCES = ["Das Wetter ist heute schön .", "Berlin ist groß", "我们 明天 去 北京 。", "a b c d e f g h"]


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_exports")
    build_exports(tiny_checkpoint, root, "panx")
    app = Server(load_backbone("tiny", [str(root)]), window_ms=5, batch_size=64, max_length=64)
    httpd = make_server(app, port=0, max_body=4096)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()
    app.close()


def post(url: str, body, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/predict", data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def together(app: Server, url: str, bodies: list[dict]) -> list[tuple[int, dict]]:
    """Send every body over HTTP, each from its own thread, all in one round of the worker.

    Every body must pass `submit`'s validation (the gate opens once all of them are queued).
    """
    answers: list = [None] * len(bodies)
    threads = [
        threading.Thread(target=lambda i=i, b=b: answers.__setitem__(i, post(url, b))) for i, b in enumerate(bodies)
    ]
    before = app.accepted
    app.gate.clear()
    try:
        for thread in threads:
            thread.start()
        wait_for(lambda: app.accepted - before == len(bodies))
    finally:
        app.gate.set()
    for thread in threads:
        thread.join()
    return answers


def test_health_and_default_bind(server):
    _, url, _ = server
    with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
        health = json.load(response)
    assert health["status"] == "ok" and health["adapters"] == ["lang_de", "lang_zh", "task_panx"]
    assert set(health["loaded"]) <= set(health["adapters"]) and health["waiting"] == 0
    assert build_parser().parse_args(["serve", "--model", "tiny"]).host == "127.0.0.1"


def test_answers_equal_the_pipeline_and_concurrent_equals_one_by_one(server):
    app, url, root = server
    bodies = [{"task": "panx", "lang": lang, "inputs": SENTENCES[i::2]} for lang in ("de", "zh") for i in (0, 1)]
    alone = [post(url, body) for body in bodies]
    assert all(code == 200 for code, _ in alone)
    pipe = load_pipeline("tiny", "task=panx", adapters=[str(root)], max_length=64)
    for body, (_, answer) in zip(bodies, alone, strict=True):
        assert answer["predictions"] == pipe(body["inputs"], lang=body["lang"])
    assert alone[0][1] != alone[2][1]  # the language adapter changes the tags
    before = app.forward_passes
    assert together(app, url, bodies) == alone
    assert app.forward_passes - before == 2  # four requests, two setups: one forward pass per setup


def test_requests_for_one_setup_share_a_forward_pass(server):
    app, url, _ = server
    bodies = [{"task": "panx", "lang": "zh", "inputs": [s]} for s in SENTENCES]
    before = app.forward_passes
    answers = together(app, url, bodies)
    assert app.forward_passes - before == 1
    assert [a[1]["predictions"] for a in answers] == [post(url, b)[1]["predictions"] for b in bodies]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"task": "panx", "lang": "sw", "inputs": ["x"]}, 404, "unknown adapter 'lang_sw'"),
        ({"task": "nope", "lang": "de", "inputs": ["x"]}, 404, "unknown task 'nope'"),
        ({"task": "tatoeba", "lang": "de", "inputs": ["x"]}, 400, "ranks a whole candidate set"),
        ({"task": "panx", "lang": "de", "inputs": [{"tokens": "Das Wetter"}]}, 400, "'tokens' must be a non-empty"),
        ({"task": "panx", "lang": "de", "inputs": []}, 400, "non-empty list"),
        ({"task": "panx", "lang": "de", "inputs": [{"words": ["a"]}]}, 400, "has no 'tokens'"),
        ({"task": "panx", "lang": "../x", "inputs": ["a"]}, 400, "language code"),
        ({"lang": "de", "inputs": ["a"]}, 400, '"task"'),
    ],
)
def test_clear_json_errors(server, body, status, message):
    code, answer = post(server[1], body)
    assert code == status and message in answer["error"]


def test_bad_json_large_body_and_unknown_path(server):
    _, url, _ = server
    assert post(url, None, raw=b"{not json")[0] == 400
    code, answer = post(url, None, raw=b'{"task": "\xff\xfe"}')  # not UTF-8
    assert code == 400 and "not valid JSON" in answer["error"]
    code, answer = post(url, None, raw=b"[" * 1500 + b"]" * 1500)  # deeper than the parser's recursion
    assert code == 400 and "nested too deeply" in answer["error"]
    code, answer = post(url, {"task": "panx", "lang": "de", "inputs": ["word " * 2000]})
    assert code == 413 and "exceeds" in answer["error"]
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{url}/nothing", timeout=10)
    assert error.value.code == 404 and "unknown path" in json.load(error.value)["error"]


def test_a_bad_request_fails_alone_in_a_shared_round(server):
    app, url, _ = server
    good = {"task": "panx", "lang": "de", "inputs": SENTENCES[:2]}
    bad = {
        "task": "panx",
        "lang": "de",
        "inputs": [{"tokens": ["Hallo"], "tags": ["NOT-A-TAG"]}],
    }  # fails in preprocess
    before = app.forward_passes
    (bad_code, bad_answer), (good_code, good_answer) = together(app, url, [bad, good])
    assert bad_code == 400 and "NOT-A-TAG" in bad_answer["error"]
    assert good_code == 200 and good_answer == post(url, good)[1]
    assert app.forward_passes - before == 2  # the shared round ran (one pass), then the check alone


def test_a_silent_client_is_dropped_after_the_socket_timeout(server, monkeypatch):
    _, url, _ = server
    monkeypatch.setattr(Handler, "timeout", 0.5)
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")  # 99 bytes short
        start = time.monotonic()
        reply = b""
        while chunk := client.recv(4096):  # the server closes the connection after answering
            reply += chunk
        reply = reply.decode()
    assert reply.startswith("HTTP/1.1 408") and "did not arrive" in reply and time.monotonic() - start < 5


def test_no_answer_in_time_is_503_and_the_request_is_dropped(server, monkeypatch):
    app, url, _ = server
    monkeypatch.setattr(app, "result_timeout", 0.2)
    before = app.forward_passes
    app.gate.clear()  # the worker holds the request until the client has given up
    try:
        code, answer = post(url, {"task": "panx", "lang": "de", "inputs": ["Hallo Welt"]})
    finally:
        app.gate.set()
    assert code == 503 and "no answer within" in answer["error"]
    monkeypatch.setattr(app, "result_timeout", 60)
    assert post(url, {"task": "panx", "lang": "zh", "inputs": ["你好"]})[0] == 200
    assert app.forward_passes - before == 1  # the cancelled request never reached the model


def test_a_full_queue_refuses_at_once(server):
    app = Server(server[0].backbone, window_ms=0, max_queue=1)
    app.gate.clear()
    try:
        body = {"task": "panx", "lang": "de", "inputs": ["Hallo"]}
        first = app.submit(body)
        wait_for(lambda: app.jobs.qsize() == 0)  # the worker holds the first at the gate
        second = app.submit(body)
        with pytest.raises(Busy, match="queue is full"):
            app.submit(body)
    finally:
        app.gate.set()
    assert first.result(timeout=60) == second.result(timeout=60)
    app.close()
    app.worker.join(timeout=10)
    assert not app.worker.is_alive()
