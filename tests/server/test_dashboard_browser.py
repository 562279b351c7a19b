"""The dashboard in a real headless Chromium (Debian's chromium and chromium-driver, driven by
selenium), against a real ``rootwalk serve`` in front of the lab.

The page is loaded once per module; the tests send DNS questions with dnspython and wait (with
deadlines, never sleeps) for the counters, the live tail and the drawn walk to show them.
Screenshots go to the test's temporary directory; with ROOTWALK_DOCS_SCREENSHOT=1 the walk's
one is also written to docs/dashboard.png (how that image was made).

Where no browser is installed (``make test`` installs it when run as root), these tests skip
and say so.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.name
import dns.rcode
import pytest

from rootwalk.lab import Lab

from .conftest import ServeProcess, ask, dashboard_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT = 15.0
DOCS = Path(__file__).resolve().parents[2] / "docs"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip(
        "no headless browser: install Debian's chromium and chromium-driver "
        "(make test does, as root)",
        allow_module_level=True,
    )

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def served(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    proc = dashboard_server(lab, tmp_path_factory.mktemp("dash-browser"))
    yield proc
    assert proc.stop() == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def page(served: ServeProcess) -> Iterator[WebDriver]:
    m = served.find(r"dashboard on (http://\S+/)")
    assert m is not None, served.stderr
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="rootwalk-chromium-")
    # No connection anywhere but the dashboard: this machine's network is closed, and
    # Chromium's own background traffic would only be refused (and slow it down).
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1900",
        f"--user-data-dir={profile}",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    try:
        driver.get(m.group(1))
        wait(driver, lambda d: d.find_element(By.ID, "conn").text == "live")
        yield driver
        # No script error, no failed request; but the explanation's 404: that route is
        # another part's, and absent here on purpose (the last test).
        errors = [
            e
            for e in driver.get_log("browser")
            if e["level"] == "SEVERE"
            and not ("/api/explain?" in e["message"] and "404" in e["message"])
        ]
        assert not errors, errors
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver: WebDriver, until: Any, timeout: float = WAIT) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(until)


def number(driver: WebDriver, element_id: str) -> int:
    text = driver.find_element(By.ID, element_id).text.replace(",", "")
    return int(text) if text.isdigit() else 0


def rows(driver: WebDriver, selector: str) -> list[dict[str, str]]:
    """Every row's data-* attributes and text, read in one script: the page re-renders its
    tables every second, so element handles would go stale between two reads."""
    script = """
        return Array.from(document.querySelectorAll(arguments[0])).map(
            (e) => Object.assign({text: e.textContent}, e.dataset));
    """
    return list(driver.execute_script(script, selector))


def tail_rows(driver: WebDriver) -> list[tuple[str, str]]:
    return [(r.get("name", ""), r.get("how", "")) for r in rows(driver, "#tail tbody tr")]


def test_counters_and_live_tail_change(page: WebDriver, served: ServeProcess, shots: Path) -> None:
    at = served.addresses[0]
    queries, blocked = number(page, "queries-total"), number(page, "blocked-total")
    for _ in range(3):
        assert ask(at, "www.example.com").rcode() == dns.rcode.NOERROR
    assert ask(at, "ads.example.com").rcode() == dns.rcode.NXDOMAIN
    wait(page, lambda d: number(d, "queries-total") >= queries + 4)
    wait(page, lambda d: number(d, "blocked-total") >= blocked + 1)
    wait(page, lambda d: ("ads.example.com.", "blocked") in {r[:2] for r in tail_rows(d)})
    assert ("www.example.com.", "cache") in {r[:2] for r in tail_rows(page)}
    nx = rows(page, "#rcodes .bar[data-k='NXDOMAIN'] .n")
    assert nx and int(nx[0]["text"].replace(",", "")) >= 1

    # The filter keeps matching rows only.
    box = page.find_element(By.ID, "tail-filter")
    box.send_keys("ads.")
    wait(page, lambda d: {r[0] for r in tail_rows(d)} == {"ads.example.com."})
    box.clear()
    box.send_keys(" ")  # clear() fires no input event; an empty filter after trimming
    # Paused: new rows are held (and counted), not shown, until resumed.
    page.find_element(By.ID, "tail-pause").click()
    assert ask(at, "mail.example.com").rcode() == dns.rcode.NOERROR
    wait(page, lambda d: d.find_element(By.ID, "tail-held").text.startswith("paused, "))
    wait(page, lambda d: not d.find_element(By.ID, "tail-held").text.startswith("paused, 0"))
    assert "mail.example.com." not in {r[0] for r in tail_rows(page)}
    page.find_element(By.ID, "tail-pause").click()
    wait(page, lambda d: "mail.example.com." in {r[0] for r in tail_rows(d)})

    # Top names over a window picked in the page.
    Select(page.find_element(By.ID, "top-window")).select_by_value("60")
    wait(page, lambda d: "www.example.com." in {r.get("key") for r in rows(d, "#top-names tr")})
    assert "ads.example.com." in {r.get("key") for r in rows(page, "#top-blocked tr")}
    page.save_screenshot(str(shots / "counters.png"))


def test_resolve_box_draws_the_walk(
    page: WebDriver, lab: Lab, served: ServeProcess, shots: Path
) -> None:
    name = page.find_element(By.ID, "resolve-name")
    name.clear()
    name.send_keys("www.example.org")  # glueless: a sub-walk for the name servers' addresses
    Select(page.find_element(By.ID, "resolve-type")).select_by_visible_text("A")
    page.find_element(By.ID, "resolve-go").click()
    wait(page, lambda d: "www.example.org. A: NOERROR" in d.find_element(By.ID, "walk-status").text)
    hops = rows(page, "#walk-hops tr.hop")
    asked = [(h["server"], h["address"], h["zone"]) for h in hops if h["address"]]
    assert len(asked) >= 4, hops
    lanes = page.execute_script("return document.getElementById('walk-svg').textContent")
    for server, address, zone in asked:
        srv = lab.server(address or "")
        assert srv.name == server, (server, address)
        assert srv.serves(dns.name.from_text(zone or "."))
        assert server in lanes and address in lanes  # each server has its lane, named
    zones = [z for _, _, z in asked]
    assert zones[0] == "." and "org." in zones and zones[-1] == "example.org."
    assert "glueless" in lanes
    page.save_screenshot(str(shots / "walk.png"))
    if os.environ.get("ROOTWALK_DOCS_SCREENSHOT"):
        page.save_screenshot(str(DOCS / "dashboard.png"))

    # Walked again: the cache answers, no server is asked.
    page.find_element(By.ID, "resolve-go").click()
    wait(page, lambda d: "from the cache" in d.find_element(By.ID, "walk-status").text)
    assert [h["kind"] for h in rows(page, "#walk-hops tr.hop")] == ["cache"]


def test_resolve_box_goes_on_to_the_web_page(page: WebDriver, lab: Lab, shots: Path) -> None:
    """The seeds' whole story in the resolve box: walk web.example.com (steps 1-7), then open
    the page at the address found (steps 8 and 9: the lab's web server and its title)."""
    assert lab.web is not None
    name = page.find_element(By.ID, "resolve-name")
    name.clear()
    name.send_keys("web.example.com")
    Select(page.find_element(By.ID, "resolve-type")).select_by_visible_text("A")
    page.find_element(By.ID, "resolve-go").click()
    wait(page, lambda d: d.find_element(By.ID, "walk-browse").is_displayed())
    assert lab.web.address in page.find_element(By.ID, "browse-what").text
    port = page.find_element(By.ID, "browse-port")
    port.clear()
    port.send_keys(str(lab.port))
    page.find_element(By.ID, "browse-go").click()
    wait(page, lambda d: "9. web server -> browser" in d.find_element(By.ID, "browse-result").text)
    text = page.find_element(By.ID, "browse-result").text
    assert f"8. browser -> web server {lab.web.address}:{lab.port}" in text
    assert "200 OK" in text and "Hello from web.example.com" in text
    page.save_screenshot(str(shots / "nine-steps.png"))
    # A name whose address is not this machine's offers no such step.
    name.clear()
    name.send_keys("www.example.com")
    page.find_element(By.ID, "resolve-go").click()
    wait(page, lambda d: "www.example.com. A: NOERROR" in d.find_element(By.ID, "walk-status").text)
    assert not page.find_element(By.ID, "walk-browse").is_displayed()


def test_upstream_servers_panel(page: WebDriver, lab: Lab, served: ServeProcess) -> None:
    assert ask(served.addresses[0], "www.eng.example.com").rcode() == dns.rcode.NOERROR
    eng = lab.server("ns1.eng.example.com").address

    def servers(d: WebDriver) -> dict[str, dict[str, str]] | None:
        found = {r.get("address", ""): r for r in rows(d, "#upstreams tbody tr")}
        return found if eng in found else None

    seen = wait(page, servers)  # polled every 5 s by the page
    assert seen[eng]["zone"] == "eng.example.com."
    assert seen[eng]["server"] == "ns1.eng.example.com."
    assert seen[eng]["backedOff"] == "false"
    root = [r for r in seen.values() if r["zone"] == "."]
    assert root and all(lab.server(r["address"]).name == r["server"] for r in root)


def test_click_in_tail_draws_the_walk_it_took(
    page: WebDriver, lab: Lab, served: ServeProcess
) -> None:
    """A query in the live tail, clicked: the explanation (GET /api/explain) says the cache
    answered it, and the page draws the walk that fetched it (the walk log keeps it)."""
    assert ask(served.addresses[0], "www.example.net").rcode() == dns.rcode.NOERROR
    assert ask(served.addresses[0], "www.example.net").rcode() == dns.rcode.NOERROR
    wait(page, lambda d: "www.example.net." in {r[0] for r in tail_rows(d)})
    pause = page.find_element(By.ID, "tail-pause")
    pause.click()  # rows stay still while paused: the one to click is not re-rendered
    try:
        row = page.find_element(By.CSS_SELECTOR, '#tail tbody tr[data-name="www.example.net."]')
        row.click()
        wait(page, lambda d: "answered from the cache" in d.find_element(By.ID, "walk-status").text)
        hops = rows(page, "#walk-hops tr.hop")
        zones = {h["zone"] for h in hops if h["address"]}
        assert "example.net." in zones, hops
        net = {s.address for s in lab.servers_for("example.net")}
        assert net & {h["address"] for h in hops}, hops
    finally:
        pause.click()
