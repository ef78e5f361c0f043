"""`serve`: a real HTTP client against the server running in a thread on a free loopback port."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from adapter_xfer.cli import build_parser
from adapter_xfer.pipeline import load_backbone, load_pipeline
from adapter_xfer.serving import Server, make_server
from tests.compose_helpers import build_exports

SENTENCES = ["Das Wetter ist heute schön .", "Berlin ist groß", "我们 明天 去 北京 。", "a b c d e f g h"]


@pytest.fixture(scope="module")
def server(tiny_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_exports")
    build_exports(tiny_checkpoint, root, "panx")
    app = Server(load_backbone("tiny", [str(root)]), window_ms=400, batch_size=64, max_length=64)
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


def together(url: str, bodies: list[dict]) -> list[tuple[int, dict]]:
    """Send every body at once, each from its own thread."""
    answers: list = [None] * len(bodies)
    threads = [
        threading.Thread(target=lambda i=i, b=b: answers.__setitem__(i, post(url, b))) for i, b in enumerate(bodies)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_health_and_default_bind(server):
    _, url, _ = server
    with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
        health = json.load(response)
    assert health["status"] == "ok" and health["adapters"] == ["lang_de", "lang_zh", "task_panx"]
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
    assert together(url, bodies) == alone
    assert app.forward_passes - before == 2  # four requests, two setups: one forward pass per setup


def test_requests_for_one_setup_share_a_forward_pass(server):
    app, url, _ = server
    bodies = [{"task": "panx", "lang": "zh", "inputs": [s]} for s in SENTENCES]
    before = app.forward_passes
    answers = together(url, bodies)
    assert app.forward_passes - before == 1
    assert [a[1]["predictions"] for a in answers] == [post(url, b)[1]["predictions"] for b in bodies]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"task": "panx", "lang": "sw", "inputs": ["x"]}, 404, "unknown adapter 'lang_sw'"),
        ({"task": "nope", "lang": "de", "inputs": ["x"]}, 404, "unknown task 'nope'"),
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
    code, answer = post(url, {"task": "panx", "lang": "de", "inputs": ["word " * 2000]})
    assert code == 413 and "exceeds" in answer["error"]
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{url}/nothing", timeout=10)
    assert error.value.code == 404 and "unknown path" in json.load(error.value)["error"]
