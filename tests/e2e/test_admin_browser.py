"""The admin in headless Chromium at 1280×800 and 1920×1080: what support staff see without scrolling, no clipped
columns, no 404 in the browser's log; screenshots of each page (docs/screenshots/ with CONVOSTORE_DOC_SCREENSHOTS=1)."""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from tests.sessions_app.admin_fixtures import PASSWORD, build_conversation, forked_pair

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DOC_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SIZES = [(1280, 800), (1920, 1080)]
START_TIMEOUT = 60  # seconds for chromedriver to listen (a loaded machine starts it slowly)
PAGE_TIMEOUT = 120  # seconds for a page, or an element on it: an upper bound only, every wait ends when the page is ready

pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install -y chromium chromium-driver"),
    pytest.mark.skipif(not os.path.exists(CHROMEDRIVER), reason=f"{CHROMEDRIVER} missing: apt-get install -y chromium-driver"),
]


def chromedriver_service():
    """A Selenium Service whose chromedriver binds a port the OS picks (``--port=0``) and reports it on stdout.

    Selenium's own Service picks a free port, closes it, and starts chromedriver on it: in between, any of
    the other processes on a shared machine (test stacks pick free ports all the time) may take it, and
    the start fails with a WebDriver error. Here nothing is chosen in advance; the start waits (explicitly,
    up to START_TIMEOUT) for chromedriver's own "started successfully on port N" line."""
    from selenium.webdriver.chrome.service import Service

    class OsPortService(Service):
        def start(self):
            self.process = subprocess.Popen([self._path, "--port=0", *self.service_args], stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
            lines: queue.Queue = queue.Queue()
            threading.Thread(target=_drain, args=(self.process.stdout, lines), daemon=True).start()
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise RuntimeError(f"chromedriver did not report its port within {START_TIMEOUT} s") from None
                if line is None:
                    raise RuntimeError(f"chromedriver exited with {self.process.wait()} before it was ready")
                announced = re.search(r"started successfully on port (\d+)", line)
                if announced:
                    self.port = int(announced.group(1))
                    return

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return OsPortService(CHROMEDRIVER, service_args=[f"--log-path={ARTIFACTS / 'chromedriver.log'}"])


def _drain(stream, lines: queue.Queue) -> None:
    """Hand chromedriver's stdout lines over until it closes (so its pipe never fills)."""
    for line in stream:
        lines.put(line)
    lines.put(None)


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")

    profile = tempfile.mkdtemp(prefix="cs-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=chromedriver_service(), options=options)
    try:
        driver.set_page_load_timeout(PAGE_TIMEOUT)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def viewport(driver, width: int, height: int) -> None:
    """Make the page's viewport exactly width × height, whatever frame the window has (device metrics, as DevTools'
    device mode does), and wait until the page reports that size."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    wait(driver).until(lambda d: d.execute_script("return [window.innerWidth, window.innerHeight]") == [width, height])


def wait(driver):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, PAGE_TIMEOUT)


def open_page(driver, url: str, ready: str) -> None:
    """Load ``url`` and wait until its ``ready`` element (CSS) is in a completely loaded document."""
    driver.get(url)
    page_ready(driver, ready)


def page_ready(driver, ready: str) -> None:
    wait(driver).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && document.querySelector(arguments[0]) !== null", ready))


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    if os.environ.get("CONVOSTORE_DOC_SCREENSHOTS"):  # refresh the pictures in docs/admin.md
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOC_SCREENSHOTS / name)
    return path


def problems_in_log(driver) -> list[str]:
    """Console errors and failed loads (a 404 for /favicon.ico shows up here)."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" or "404" in entry["message"] or "Failed to load" in entry["message"]]


def rect(driver, selector: str) -> dict:
    found = driver.execute_script(
        "const e = document.querySelector(arguments[0]); if (e === null) return null; const r = e.getBoundingClientRect();"
        "return {top: r.top + window.scrollY, bottom: r.bottom + window.scrollY, left: r.left, right: r.right};", selector)
    assert found is not None, f"{selector} is not on {driver.current_url}"
    return found


def build_support_data(tenant):
    """An archived, rehydrated and re-archived conversation with a function call; a fork; a warm one; long ids."""
    lifecycle = pytest.importorskip("sessions_app.lifecycle")
    conversation = build_conversation(tenant, "conv_archived_e2e", 24, metadata={"customer": "acme-corp"})
    lifecycle.conversation_archive(conversation=conversation, keep_window=False)
    lifecycle.conversation_rehydrate(conversation=conversation)
    conversation.refresh_from_db()
    assert lifecycle.conversation_archive(conversation=conversation, keep_window=False) is not None
    forked_pair(tenant)
    lifecycle.conversation_evict(conversation=build_conversation(tenant, "conv_warm_e2e", 6, with_call=False))
    for n in range(3):
        build_conversation(tenant, f"support-ticket-2026-11-{n:02d}.customer-escalation:billing-dispute", 4, with_call=False)
    conversation.refresh_from_db()
    return conversation


@pytest.mark.parametrize("width, height", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_support_pages_at_common_screen_sizes(live_server, browser, tenant, width, height):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of

    User.objects.create_superuser("e2e-admin", "e2e@example.com", PASSWORD)
    conversation = build_support_data(tenant)
    size = f"{width}x{height}"
    viewport(browser, width, height)
    open_page(browser, f"{live_server.url}/admin/login/", "#login-form input[type=submit]")
    login_form = browser.find_element(By.ID, "login-form")
    browser.find_element(By.NAME, "username").send_keys("e2e-admin")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The login page has the same header and a #content-main too: wait until it is gone and the index is there.
    wait(browser).until(staleness_of(login_form))
    page_ready(browser, "#convostore-dashboard")

    # The index: our header, the app list before the charts.
    assert browser.find_element(By.ID, "site-name").text == "ConvoStore administration"
    assert rect(browser, "#content-main")["top"] < rect(browser, "#convostore-dashboard")["top"]
    screenshot(browser, f"admin-index-{size}.png")

    # The list: every column inside the viewport, each tier on one line and matching the truth.
    open_page(browser, f"{live_server.url}/admin/sessions_app/conversation/", "#result_list")
    screenshot(browser, f"admin-conversations-{size}.png")
    last_header = browser.execute_script("const h = document.querySelectorAll('#result_list thead th'); return h[h.length - 1].getBoundingClientRect().right")
    assert last_header <= browser.execute_script("return document.documentElement.clientWidth"), size
    tiers = browser.find_elements(By.CSS_SELECTOR, "#result_list td.field-tier_badge .cs-tier")
    assert len(tiers) == 7
    for badge in tiers:
        assert browser.execute_script("return arguments[0].getClientRects().length", badge) == 1
    row = browser.find_element(By.XPATH, "//tr[.//a[text()='conv_archived_e2e']]")
    assert row.find_element(By.CSS_SELECTOR, ".cs-tier").text == "cold"

    # The conversation: the transcript starts within the first screen; fields are collapsed below it.
    open_page(browser, f"{live_server.url}/admin/sessions_app/conversation/{conversation.pk}/change/", "#transcript")
    screenshot(browser, f"admin-transcript-{size}.png")
    transcript = rect(browser, "#transcript")
    assert transcript["top"] + 120 < height, transcript  # its heading and first rows are visible
    assert rect(browser, "fieldset details, fieldset.collapse")["top"] > transcript["bottom"]
    assert "Redis: not in Redis" in browser.find_element(By.ID, "conversation-head").text
    rows = browser.find_elements(By.CSS_SELECTOR, "#transcript tr.cs-row")
    assert len(rows) == 24 and all(r.find_element(By.TAG_NAME, "time").text for r in rows)
    assert "lookup_invoice" in rows[0].text and "function_call" in rows[0].text
    purge = browser.find_element(By.CSS_SELECTOR, "button[value=purge]")
    assert purge.value_of_css_property("background-color") != browser.find_element(
        By.CSS_SELECTOR, "button[value=evict_now]").value_of_css_property("background-color")

    open_page(browser, f"{live_server.url}/admin/dashboard/", "#convostore-dashboard svg")
    dashboard = browser.find_element(By.ID, "convostore-dashboard")
    assert "Conversations by tier" in dashboard.text and len(dashboard.find_elements(By.TAG_NAME, "svg")) >= 5
    screenshot(browser, f"admin-dashboard-{size}.png")
    assert problems_in_log(browser) == []
