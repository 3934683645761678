"""A real headless Chromium (Debian's ``chromium`` and ``chromium-driver``) through Selenium.

Tests that need it skip, saying why, only where the browser or its driver is absent.
"""

from __future__ import annotations

import shutil
import time

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

#: the page's text, shadow roots included (Bokeh renders its widgets in them)
DEEP_TEXT = """
function deep(node) {
  let text = '';
  if (node.shadowRoot) text += deep(node.shadowRoot);
  for (const child of node.childNodes) {
    if (child.nodeType === 3) text += child.textContent + ' ';
    else if (child.nodeName !== 'STYLE' && child.nodeName !== 'SCRIPT') text += deep(child);
  }
  return text;
}
return deep(document.body);
"""

#: click the button labelled arguments[0], wherever its shadow root is
CLICK = """
function find(node, label) {
  for (const b of node.querySelectorAll('button')) if (b.textContent.trim() === label) return b;
  for (const el of node.querySelectorAll('*')) {
    if (el.shadowRoot) { const b = find(el.shadowRoot, label); if (b) return b; }
  }
  return null;
}
const button = find(document, arguments[0]);
if (button) button.click();
return button !== null;
"""


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium driven by Selenium (no driver download: Debian's chromedriver)."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("headless Chromium not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1300,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def page_text(driver) -> str:
    return driver.execute_script(DEEP_TEXT)


def wait_for_text(driver, predicate, timeout_s: float = 120.0) -> str:
    """The page's text once ``predicate(text)`` holds (polls every 0.5 s)."""
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = page_text(driver)
        if predicate(text):
            return text
        time.sleep(0.5)
    raise AssertionError(f"the page never showed what was expected; it shows: {text[:2000]}")


def click(driver, label: str) -> None:
    assert driver.execute_script(CLICK, label), f"no button {label!r} on the page"
