"""`spacetime serve` in a real browser: headless Debian Chromium driven by Playwright.

The server runs as a subprocess on a tiny random model (noise videos; the UI mechanics
are real) on a free port, and is always killed at the end. Chromium is the system's
(/usr/bin/chromium, installed by .ci/browser.sh); Playwright downloads nothing.
The screenshot after a generation is written to tests/artifacts/ui_after_generation.png.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARTIFACTS = Path(__file__).parent / "artifacts"
READY_TIMEOUT_S = 90

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
gradio_client = pytest.importorskip("gradio_client", reason="gradio is in the test extra")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing; run .ci/browser.sh", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`spacetime serve --model TINY` on a free port; yields its URL; killed at the end."""
    from spacetime.model_folder import write_tiny_model_folder

    folder = write_tiny_model_folder(tmp_path_factory.mktemp("tiny_model"))
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(log.parent / "gradio")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "spacetime", "serve", "--model", str(folder), "--port", str(port),
             "--max-upload-mb", "2", "--max-upload-seconds", "10", "--max-seconds", "4"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not is_up(url):
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the server was not ready in {READY_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield url
        assert proc.poll() is None, f"the server died:\n{log.read_text()[-3000:]}"
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]  # no request crashed a handler
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the server closes and removes its temporary files
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def is_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """A fresh page on the app; records every host it contacts."""
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.hosts = set()
    page.on("request", lambda request: page.hosts.add(request.url.split("/")[2]))
    page.goto(server, wait_until="load")
    yield page
    page.close()


def test_generate_plays_a_video_of_the_asked_duration(page, server):
    page.get_by_label("Prompt").first.fill("a red ball bounces on a checkered floor")
    page.fill("#seconds input[type=number]", "1.5")  # 12 frames at the model's 8 fps
    page.click("#run-generate")
    page.wait_for_function(
        "() => { const v = document.querySelector('#result-video video');"
        " return v && v.readyState >= 1 && isFinite(v.duration); }",
        timeout=60_000,
    )
    duration = page.evaluate("document.querySelector('#result-video video').duration")
    assert duration == pytest.approx(1.5, abs=0.07)
    played = page.evaluate(
        "async () => { const v = document.querySelector('#result-video video'); v.muted = true;"
        " await v.play(); await new Promise(r => setTimeout(r, 400));"
        " return {paused: v.paused, time: v.currentTime, width: v.videoWidth, error: v.error && v.error.code}; }"
    )
    assert played["error"] is None and played["width"] == 64
    assert not played["paused"] and played["time"] > 0.1, played  # the browser decodes and plays it
    seed = re.search(r"seed (\d+)", page.inner_text("#result-info")).group(1)  # shown, to reproduce it
    page.click("#reuse-seed")
    page.wait_for_function(f"() => document.querySelector('#seed input').value === '{seed}'", timeout=10_000)
    # The file behind the player is downloadable from the server.
    src = page.evaluate("document.querySelector('#result-video video').currentSrc")
    with urllib.request.urlopen(src, timeout=10) as response:
        assert response.status == 200 and len(response.read()) > 1000
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("document.querySelector('#result-video video').pause()")
    page.screenshot(path=str(ARTIFACTS / "ui_after_generation.png"), full_page=True)
    assert page.hosts == {server.split("/")[2]}, page.hosts  # nothing but the app itself: works offline


def test_damaged_upload_shows_one_readable_line(page, tmp_path):
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(b"\x00\x00\x00\x20ftypisom" + bytes(range(256)) * 20)
    page.get_by_role("tab", name="Edit").click()
    page.set_input_files("#edit-file input[type=file]", str(damaged))
    toast = page.locator("[data-testid='toast-body']").filter(has_text="damaged.mp4").first
    toast.wait_for(timeout=20_000)
    text = toast.locator("[data-testid='toast-text']").first.inner_text().strip()
    assert "damaged.mp4" in text and "\n" not in text and "Traceback" not in text, text
    assert "/tmp" not in text  # the server's paths stay on the server
    assert page.locator("text=/Traceback|File \"/").count() == 0
    # The limits are shown where one uploads.
    assert page.get_by_text("max 2 MB and 10 s").first.is_visible()


def test_concurrent_api_requests_all_finish(server):
    panel = ["model default", 64, "96x96", 2.0, 8, 12, 3.0]  # aspect, short side, size, seconds, fps, steps, guidance
    # Four users at once: the clients connect first (each fetches the app's config, slower than a
    # tiny generation), then all submit, so that the requests meet in the queue.
    clients = {seed: gradio_client.Client(server, verbose=False) for seed in (1, 2, 3, 4)}
    jobs = {seed: client.submit(f"ball {seed}", *panel, seed, api_name="/generate") for seed, client in clients.items()}
    waited = set()  # jobs seen waiting behind another one
    deadline = time.monotonic() + 60
    while not all(job.done() for job in jobs.values()) and time.monotonic() < deadline:
        for seed, job in jobs.items():
            status = job.status()
            if status.code.name == "IN_QUEUE" and (status.rank or 0) >= 1:
                waited.add(seed)
        time.sleep(0.02)
    for seed, job in jobs.items():
        video, _, info = job.result(timeout=30)
        assert Path(video["value"]["video"] if isinstance(video["value"], dict) else video["value"]).exists()
        assert f"**seed {seed}**" in info and "96x96, 16 frames" in info
    assert waited, "no request waited its turn: the queue did not serialise them"

    client = gradio_client.Client(server, verbose=False)
    with pytest.raises(gradio_client.exceptions.AppError, match=r"size '9x' must look like WIDTHxHEIGHT"):
        client.predict("x", "model default", 64, "9x", 1.0, 8, 2, 3.0, 1, api_name="/generate")
    assert is_up(server)  # still serving after the failure
    video, _, info = client.predict("after the error", *panel, 9, api_name="/generate")
    assert "**seed 9**" in info


def test_progress_reaches_the_page(server):
    """The pipeline's progress callback drives the page's gr.Progress (no tqdm patching)."""
    client = gradio_client.Client(server, verbose=False)
    job = client.submit("a ball", "model default", 64, "128x128", 4.0, 8, 40, 3.0, 1, api_name="/generate")
    seen, steps = set(), set()
    while not job.done():
        for update in job.status().progress_data or []:
            seen.add((update.desc or "").split(" ")[0])
            if (update.desc or "").startswith("denoising"):
                steps.add((update.index, update.length))
        time.sleep(0.01)
    job.result()
    assert "denoising" in seen, seen
    assert {length for _, length in steps} == {40} and len(steps) > 1, steps  # step counts out of the 40 asked
