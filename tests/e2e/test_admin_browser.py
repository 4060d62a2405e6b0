"""End to end in headless Chromium: log in, open an archived conversation's transcript and the dashboard, screenshot both."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from tests.sessions_app.admin_fixtures import PASSWORD, build_conversation, forked_pair

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DOC_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = [
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install -y chromium chromium-driver"),
    pytest.mark.skipif(not os.path.exists(CHROMEDRIVER), reason=f"{CHROMEDRIVER} missing: apt-get install -y chromium-driver"),
]


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="cs-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1100", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(1400, 900)
    height = driver.execute_script("return document.getElementById('content').scrollHeight + 150")
    driver.set_window_size(1400, min(max(height + 120, 900), 4000))
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    if os.environ.get("CONVOSTORE_DOC_SCREENSHOTS"):  # refresh the pictures in docs/admin.md
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOC_SCREENSHOTS / name)
    return path


def test_transcript_of_archived_conversation_and_dashboard(live_server, browser, tenant):
    lifecycle = pytest.importorskip("sessions_app.lifecycle")
    from selenium.webdriver.common.by import By

    User.objects.create_superuser("e2e-admin", "e2e@example.com", PASSWORD)
    conversation = build_conversation(tenant, "conv_archived_e2e", 24, metadata={"customer": "acme-corp"})
    assert lifecycle.conversation_archive(conversation=conversation, keep_window=False) is not None
    forked_pair(tenant)  # a hot conversation and a fork, so the tiers differ on the dashboard
    lifecycle.conversation_evict(conversation=build_conversation(tenant, "conv_warm_e2e", 6, with_call=False))

    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("e2e-admin")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert "Site administration" in browser.page_source

    browser.get(f"{live_server.url}/admin/sessions_app/conversation/{conversation.pk}/change/")
    transcript = browser.find_element(By.ID, "transcript").text
    assert "lookup_invoice" in transcript and "INV-42" in transcript
    assert "question number 10 about the invoice" in transcript and "archive" in transcript
    assert len(browser.find_elements(By.CSS_SELECTOR, "#transcript .cs-src-archive")) == 24
    screenshot(browser, "admin-transcript.png")

    browser.get(f"{live_server.url}/admin/dashboard/")
    dashboard = browser.find_element(By.ID, "convostore-dashboard")
    assert "Conversations by tier" in dashboard.text and "Semantic cache hit rate" in dashboard.text
    assert len(dashboard.find_elements(By.TAG_NAME, "svg")) >= 5
    assert (ARTIFACTS / "admin-transcript.png").stat().st_size > 10_000
    assert screenshot(browser, "admin-dashboard.png").stat().st_size > 10_000
