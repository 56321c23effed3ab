"""The status pages in a real browser: headless Chromium driven by selenium (Debian's `chromium` and
`chromium-driver`; .ci/run installs them). Each page renders its sections with the cluster's real data and
no console error, and the region search finds a region. A screenshot of each page is kept: the test prints
where (REGENT_SCREENSHOTS=DIR puts them in DIR, e.g. docs/screenshots)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import Cluster, module_cluster, wait_until
from tests.http_helpers import get_json, http_url

CHROMIUM = ("chromium", "chromium-browser")
DRIVER = "chromedriver"


def _find(names: tuple[str, ...]) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, driver = _find(CHROMIUM), _find((DRIVER,))
    if chromium is None or driver is None:
        pytest.fail(
            "the browser tests need Debian's chromium and chromium-driver packages "
            f"(found chromium: {chromium}, chromedriver: {driver}): apt-get install chromium chromium-driver"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,1400"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(driver), options=options)
    drv.set_page_load_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = Path(os.environ["REGENT_SCREENSHOTS"]) if os.environ.get("REGENT_SCREENSHOTS") else None
    folder = where or tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the status pages: {folder}")
    return folder


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with module_cluster(tmp_path_factory, servers=3) as made:
        made.admin.create_table("users", ["info", "raw"], num_regions=9)
        made.admin.create_table("events", ["e"], split_keys=[b"\x00\xffbinary", b"m"])
        made.wait_open("users", 9)
        made.wait_open("events", 3)
        first = made.admin.table_regions("users")[0]
        made.admin.move(first.region_id)
        yield made


def _open(browser: Any, url: str, shots: Path, name: str) -> None:
    browser.get(url)
    browser.save_screenshot(str(shots / f"{name}.png"))
    errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not errors, f"console errors on {url}: {errors}"


def _section(browser: Any, section_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.ID, section_id).text)


def test_the_master_page_shows_every_section_with_the_clusters_data(
    browser: Any, cluster: Cluster, shots: Path
) -> None:
    base = http_url(cluster.masters[0])
    _open(browser, base + "/", shots, "master")
    assert "active" in _section(browser, "master")
    assert cluster.admin.cluster_status().master_epoch >= 1
    servers = _section(browser, "servers")
    for server in cluster.servers:
        assert server.address in servers
    assert "users" in _section(browser, "tables") and "events" in _section(browser, "tables")
    assert "OPEN" in _section(browser, "regions")
    assert "No region is in transition" in _section(browser, "rit")
    assert "Procedures and locks" in _section(browser, "procedures")
    from selenium.webdriver.common.by import By

    assert browser.find_elements(By.CSS_SELECTOR, "#regions-per-server svg rect")  # the bars
    assert browser.find_elements(By.CSS_SELECTOR, "#history svg")


def test_the_master_page_shows_the_balancer_normalizer_and_janitor_with_their_last_runs(
    browser: Any, cluster: Cluster, shots: Path
) -> None:
    admin = cluster.admin
    balanced = admin.balance()
    janitor = admin.catalog_janitor_run()
    assert janitor.findings == ()
    assert admin.normalizer_switch(False) is True
    try:
        skipped = admin.normalize()
        assert not skipped.ran
        base = http_url(cluster.masters[0])
        _open(browser, base + "/", shots, "master")
        from selenium.webdriver.common.by import By

        section = browser.find_element(By.ID, "chores")
        browser.execute_script("arguments[0].scrollIntoView();", section)
        section.screenshot(str(shots / "master-chores.png"))
        chores = _section(browser, "chores")
        for label in ("Balancer", "Normalizer", "Catalog janitor"):
            assert label in chores, chores
        balancer = _section(browser, "chore-balancer")
        assert "on" in balancer and "5.0 min" in balancer and balanced.reason.split(" (")[0] in balancer
        normalizer = _section(browser, "chore-normalizer")
        assert "off" in normalizer and "skipped: the normalizer is switched off" in normalizer
        assert "operator" in normalizer
        janitor_row = _section(browser, "chore-catalog-janitor")
        assert "consistent; 0 split/merge parents removed, 0 kept" in janitor_row, janitor_row
        switches = _section(browser, "split-merge-switches")
        assert "Splits on" in switches and "merges on" in switches

        doc = get_json(base + "/status.json")["chores"]
        assert doc["normalizer"]["on"] is False and doc["normalizer"]["last_run"]["ran"] is False
        assert doc["balancer"]["on"] is True and doc["balancer"]["period_s"] == 300
        assert doc["catalog_janitor"]["last_run"]["outcome"].startswith("consistent")
        assert doc["split_on"] is True and doc["merge_on"] is True
    finally:
        admin.normalizer_switch(True)


def test_the_search_finds_a_region_by_id_and_by_row_with_its_story(
    browser: Any, cluster: Cluster, shots: Path
) -> None:
    from selenium.webdriver.common.by import By

    base = http_url(cluster.masters[0])
    moved = cluster.admin.table_regions("users")[0]
    browser.get(base + "/")
    browser.find_element(By.ID, "search-id").send_keys(str(moved.region_id))
    browser.find_element(By.ID, "search-id-go").click()
    wait_until(lambda: "/region" in browser.current_url, 10, "the region page")
    _open(browser, browser.current_url, shots, "region")
    assert browser.find_element(By.ID, "region-state").text == "OPEN"
    assert browser.find_element(By.ID, "region-server").text == str(moved.server)
    story = _section(browser, "story")
    assert "table ddl" in story and "move" in story, story

    browser.get(base + "/")
    browser.find_element(By.ID, "search-table").send_keys("events")
    browser.find_element(By.ID, "search-row").send_keys("\\x00\\xffzz")
    browser.find_element(By.ID, "search-row-go").click()
    wait_until(lambda: "/region" in browser.current_url, 10, "the region page")
    region = _section(browser, "region")
    assert "events" in region and "\\x00\\xFFbinary" in region, region  # the key shown escaped


def test_the_procedures_logs_and_stacks_pages_render(browser: Any, cluster: Cluster, shots: Path) -> None:
    base = http_url(cluster.masters[0])
    _open(browser, base + "/procedures", shots, "procedures")
    procedures = _section(browser, "procedure-list")
    assert "create_table" in procedures and "SUCCESS" in procedures
    assert "Table locks" in _section(browser, "locks")
    _open(browser, base + "/logs", shots, "logs")
    assert "master_active" in _section(browser, "logs")
    _open(browser, base + "/stacks", shots, "stacks")
    assert "asyncio tasks" in browser.page_source and "meta-writer" in browser.page_source


def test_the_regionserver_page_shows_its_regions_load_and_lease(
    browser: Any, cluster: Cluster, shots: Path
) -> None:
    server = cluster.servers[0]
    _open(browser, http_url(server) + "/", shots, "regionserver")
    assert server.address in _section(browser, "server")
    master = _section(browser, "master")
    assert cluster.masters[0].address in master and "valid" in master
    regions = _section(browser, "regions")
    served = [r for r in cluster.admin.table_regions("users") if r.server and r.server.port == server.port]
    assert served and all(str(r.region_id) in regions for r in served)
    assert "users" in _section(browser, "load")
