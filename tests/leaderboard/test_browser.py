"""The board's page in a real headless Chromium (Debian's chromium + chromedriver, driven by
selenium): sorting, the role filter, and a hostile model name shown as text.

The browser is required: without it these tests fail (install it with `make system`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.leaderboard.conftest import HOSTILE_SPEC

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).is_file():
            pytest.fail(f"{binary} is missing: install chromium and chromium-driver (make system)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SE_OFFLINE", "true")  # selenium must not look for drivers online
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: webdriver.Chrome, board: Path) -> webdriver.Chrome:
    browser.get((board / "index.html").as_uri())
    assert browser.title == "curvebench leaderboard"
    return browser


def _visible_rows(driver: webdriver.Chrome) -> list[dict]:
    """Visible rows of the board, in display order, as {column: cell text}."""
    return driver.execute_script(
        """
        const keys = Array.from(document.querySelectorAll('#board th')).map(th => th.dataset.key);
        return Array.from(document.querySelectorAll('#board tbody tr'))
          .filter(tr => !tr.hidden && tr.offsetParent !== null)
          .map(tr => Object.fromEntries(keys.map((k, i) => [k, k === 'model'
            ? tr.cells[i].querySelector('summary').textContent : tr.cells[i].textContent])));
        """
    )


def _number(text: str) -> float:
    return float("inf") if text == "–" else float(text.split(" [")[0])


def test_clicking_a_header_sorts_the_rows(page: webdriver.Chrome) -> None:
    header = page.find_element(By.CSS_SELECTOR, '#board th[data-key="abs_loss_delta"]')
    header.click()
    values = [_number(r["abs_loss_delta"]) for r in _visible_rows(page)]
    assert len(values) == 9
    assert values == sorted(values)
    assert len(set(values)) > 1
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    again = [_number(r["abs_loss_delta"]) for r in _visible_rows(page)]
    assert again == sorted(again, reverse=True)
    assert header.get_attribute("aria-sort") == "descending"
    page.find_element(By.CSS_SELECTOR, '#board th[data-key="role"] button').click()
    roles = [r["role"] for r in _visible_rows(page)]
    assert roles == sorted(roles)


def test_the_role_filter_shows_only_that_role(page: webdriver.Chrome) -> None:
    select = Select(page.find_element(By.ID, "role-filter"))
    assert [o.text for o in select.options] == ["all", "training", "generated", "ood"]
    select.select_by_visible_text("ood")
    rows = _visible_rows(page)
    assert [r["role"] for r in rows] == ["ood"] * 3
    select.select_by_visible_text("all")
    assert len(_visible_rows(page)) == 9


def test_a_hostile_model_name_is_shown_as_text_and_runs_nothing(page: webdriver.Chrome) -> None:
    with pytest.raises(NoAlertPresentException):
        page.switch_to.alert  # noqa: B018 (the property raises when there is no alert)
    summaries = [
        s.get_property("textContent") for s in page.find_elements(By.CSS_SELECTOR, "summary")
    ]
    assert summaries.count(HOSTILE_SPEC) == 3  # one row per role, the text intact
    assert page.find_elements(By.CSS_SELECTOR, "#board img") == []
    assert len(page.find_elements(By.TAG_NAME, "script")) == 2
    details = page.find_element(By.XPATH, "//summary[contains(., '<script>')]/..")
    details.find_element(By.TAG_NAME, "summary").click()
    assert "<script>alert(1)</script>" in details.text


def test_the_page_shows_nats_per_second_n_and_intervals(page: webdriver.Chrome) -> None:
    headers = [
        th.get_attribute("data-key") for th in page.find_elements(By.CSS_SELECTOR, "#board th")
    ]
    assert "nats_per_second_original" in headers and "n_pairs" in headers
    column = headers.index("nats_per_second_original")
    row = page.find_elements(By.CSS_SELECTOR, "#board tbody tr")[0]
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    value, interval = cells[column].replace("\n", " ").split(" [")
    low, high = (float(v) for v in interval.rstrip("]").split(", "))
    assert low <= float(value) <= high
    assert int(cells[headers.index("n_pairs")]) > 0


REPOSITORY_BOARD = Path(__file__).resolve().parents[2] / "leaderboard" / "index.html"


def test_the_repository_board_fits_1400_pixels_with_one_unit_per_table(
    browser: webdriver.Chrome,
) -> None:
    browser.set_window_size(1400, 1000)
    browser.get(REPOSITORY_BOARD.as_uri())
    width = browser.execute_script("return document.documentElement.clientWidth")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    tables = browser.find_elements(By.CSS_SELECTOR, "table.board")
    units = [t.get_attribute("data-unit") for t in tables]
    assert sorted(units) == ["nats/code", "nats/token"]  # audio-reference apart
    for table in tables:
        assert table.rect["x"] + table.rect["width"] <= width
        names = {
            s.get_property("textContent")
            for s in table.find_elements(By.CSS_SELECTOR, "td.model summary")
        }
        audio = table.get_attribute("data-unit") == "nats/code"
        assert (names == {"audio-reference"}) if audio else ("audio-reference" not in names)
    # a model's name stays on one line
    summary = browser.find_element(By.CSS_SELECTOR, "td.model summary")
    assert summary.rect["height"] < 2 * float(
        browser.execute_script(
            "return parseFloat(getComputedStyle(arguments[0]).lineHeight) || 20", summary
        )
    )
    assert browser.find_elements(By.CSS_SELECTOR, "#validity tbody tr")


def test_the_task_filter_shows_each_task_of_the_protocol(browser: webdriver.Chrome) -> None:
    browser.get(REPOSITORY_BOARD.as_uri())
    select = Select(browser.find_element(By.ID, "task-filter"))
    tasks = [o.text for o in select.options]
    assert tasks[0] == "noise-at-5s" and "silence" in tasks and len(tasks) == len(set(tasks))

    def shown() -> list[str]:
        return browser.execute_script(
            "return Array.from(document.querySelectorAll('table.board tbody tr[data-index]'))"
            ".filter(tr => !tr.hidden).map(tr => tr.dataset.task)"
        )

    first = shown()
    assert first and set(first) == {"noise-at-5s"}
    select.select_by_visible_text("silence")
    rows = shown()
    assert set(rows) == {"silence"} and len(rows) == len(first)  # every model, every role
    assert browser.find_element(By.ID, "task-name").text == "silence"
    Select(browser.find_element(By.ID, "role-filter")).select_by_visible_text("ood")
    assert set(shown()) == {"silence"} and len(shown()) == len(first) // 3
