"""The pipeline view's JSON route (``amlflow.api.pipeline_view``) on the session stack."""

from __future__ import annotations

import os
import urllib.parse

import pytest

from amlflow.api.urls import run_page_path
from tests.conftest import ROOT
from tests.example_pipeline import DAG_ID as EXAMPLE
from tests.example_pipeline import installed_example
from tests.fixtures.airflow_stack import wait_until
from tests.fixtures.auth_manager import HIDDEN_DAG, OUTSIDER
from tests.integration.test_notebook_submit import run_notebook_text

pytestmark = pytest.mark.integration

DAG_ID = "pipeline_view"
VIEW = "/amlflow/view/v1.0/dags/{dag_id}/runs/{run_id}"


@pytest.fixture(scope="module")
def runs(airflow_stack):
    """A run that ran every step, then an unchanged run whose ``score`` reuses the first's."""
    airflow_stack.install_dag(os.path.join(ROOT, "tests", "integration", "pipeline_view.py"), DAG_ID)
    status, answer = airflow_stack.request("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    assert status == 200, answer
    first = airflow_stack.run(DAG_ID, {"factor": 3, "regenerate_outputs": True})
    second = airflow_stack.run(DAG_ID, {"factor": 3})
    assert (first["state"], second["state"]) == ("success", "success")
    return first["dag_run_id"], second["dag_run_id"]


def view(stack, run_id: str, user: str | None = "admin") -> tuple[int, dict]:
    return stack.request("GET", VIEW.format(dag_id=DAG_ID, run_id=run_id), user=user)


def test_a_run_shows_its_steps_in_graph_order_with_status_parameters_outputs_and_metrics(airflow_stack, runs):
    first, _second = runs
    status, answer = view(airflow_stack, first)
    assert status == 200, answer
    assert answer["pipeline"]["id"] == DAG_ID
    assert (answer["run"]["id"], answer["run"]["status"]) == (first, "Finished")
    assert answer["run"]["parameters"] == {"factor": 3}
    assert [(s["name"], s["status"], s["upstream"]) for s in answer["steps"]] == [
        ("score", "Finished", []),
        ("report", "Finished", ["score"]),
    ]
    score = answer["steps"][0]
    assert score["reused"] is None and score["seconds"] > 0
    assert score["log"] == f"dags/{DAG_ID}/runs/{first}/tasks/score"
    location = airflow_stack.xcom(DAG_ID, first, "score", "scores")
    assert score["outputs"] == {"scores": {k: location[k] for k in ("datastore", "path", "uri")}}
    assert score["metrics"] == {
        "accuracy": 0.75,
        "losses": [0.9, 0.5, 0.3],
        "curve": {"epoch": [1, 2], "acc": [0.5, 0.75]},
        "confusion": {"label": ["a", "b"], "count": [3, 4]},
    }


def test_a_reused_step_names_the_run_it_reused_and_shows_that_runs_outputs_and_metrics(airflow_stack, runs):
    first, second = runs
    earlier, now = view(airflow_stack, first)[1], view(airflow_stack, second)[1]
    score, report = now["steps"]
    assert score["reused"] == {"dag_id": DAG_ID, "run_id": first, "task_id": "score"}
    assert score["outputs"] == earlier["steps"][0]["outputs"]
    assert score["metrics"]["accuracy"] == 0.75
    assert report["reused"] is None  # allow_reuse=False: it ran again


def test_a_viewer_may_look_and_a_caller_without_a_token_may_not(airflow_stack, runs):
    first, _second = runs
    assert view(airflow_stack, first, user="viewer")[0] == 200
    assert view(airflow_stack, first, user=None)[0] == 401


def test_an_unknown_run_gets_404_naming_it(airflow_stack, runs):
    status, answer = view(airflow_stack, "no_such_run")
    assert status == 404
    assert answer["error"]["message"] == f"pipeline '{DAG_ID}' has no run 'no_such_run'"


# -- the pages, in headless Chromium ---------------------------------------------------------------------
PAGE = "/amlflow/view/dags/{dag_id}/runs/{run_id}"


def step_section(browser, name: str):
    from selenium.webdriver.common.by import By

    return browser.driver.find_element(By.CSS_SELECTOR, f'section.step[data-step="{name}"]')


def test_the_run_page_shows_steps_reuse_outputs_and_a_metric_chart(browser, airflow_stack, runs):
    from selenium.webdriver.common.by import By

    first, second = runs
    browser.open_as(airflow_stack, "admin", PAGE.format(dag_id=DAG_ID, run_id=second))
    nodes = browser.driver.find_elements(By.CSS_SELECTOR, "svg.graph g.node")
    assert [(n.get_attribute("data-step"), n.get_attribute("data-status")) for n in nodes] == [
        ("score", "Finished"),
        ("report", "Finished"),
    ]
    score, report = step_section(browser, "score"), step_section(browser, "report")
    assert "Finished" in score.find_element(By.CSS_SELECTOR, "h3 .status").text
    reused_from = score.find_element(By.CSS_SELECTOR, "a.reused-from")
    assert reused_from.text == first
    assert urllib.parse.unquote(reused_from.get_attribute("href")).endswith(f"/runs/{first}")
    assert not report.find_elements(By.CSS_SELECTOR, "a.reused-from")  # allow_reuse=False: it ran again
    chart = score.find_element(By.CSS_SELECTOR, 'figure.chart[data-metric="losses"]')
    assert chart.get_attribute("data-points") == "3" and chart.find_elements(By.CSS_SELECTOR, "polyline")
    assert score.find_element(By.CSS_SELECTOR, 'figure.chart[data-metric="curve"]')
    log = score.find_element(By.CSS_SELECTOR, "a.log").get_attribute("href")
    assert log == f"{airflow_stack.url}/dags/{DAG_ID}/runs/{second}/tasks/score"
    browser.screenshot("pipeline-view-run")


def test_an_output_link_downloads_the_file_the_step_wrote(browser, airflow_stack, runs):
    from selenium.webdriver.common.by import By

    first, second = runs
    browser.open_as(airflow_stack, "admin", PAGE.format(dag_id=DAG_ID, run_id=second))
    link = step_section(browser, "score").find_element(By.CSS_SELECTOR, '.output[data-output="scores"] a.download')
    assert link.text == "scores.json"
    link.click()
    saved = os.path.join(browser.downloads, "scores.json")
    wait_until(lambda: os.path.exists(saved), timeout=30, what="the download")
    location = airflow_stack.xcom(DAG_ID, first, "score", "scores")  # the reused run's output
    written = os.path.join(airflow_stack.local_output(location), "scores.json")
    with open(written, "rb") as original, open(saved, "rb") as downloaded:
        assert downloaded.read() == original.read()


def test_a_download_reads_only_files_under_the_output(airflow_stack, runs):
    first, _second = runs
    files = VIEW.format(dag_id=DAG_ID, run_id=first) + "/steps/score/outputs/scores/files/"
    assert airflow_stack.request("GET", files + "scores.json")[0] == 200
    status, answer = airflow_stack.request("GET", files + "../../../../../etc/passwd")
    assert status in (400, 404), answer
    status, answer = airflow_stack.request("GET", files + "missing.json")
    assert status == 404 and answer["error"]["message"] == "output 'scores' of step 'score' has no file 'missing.json'"
    status, answer = airflow_stack.request("GET", files.replace("/outputs/scores/", "/outputs/nothing/") + "x")
    assert status == 404 and "has no output 'nothing'" in answer["error"]["message"]
    assert airflow_stack.request("GET", files + "scores.json", user=None)[0] == 401


def test_the_view_is_a_tab_of_the_run_in_airflows_ui(browser, airflow_stack, runs):
    from selenium.webdriver.common.by import By

    first, _second = runs
    browser.open_as(airflow_stack, "admin", f"/dags/{DAG_ID}/runs/{first}/plugin/amlflow-pipeline-view")
    wait_until(lambda: browser.driver.find_elements(By.CSS_SELECTOR, "iframe"), timeout=30, what="the tab's frame")
    browser.driver.switch_to.frame(browser.driver.find_element(By.CSS_SELECTOR, "iframe"))
    try:
        wait_until(lambda: browser.driver.find_elements(By.CSS_SELECTOR, "section.step"), timeout=30, what="the steps")
        assert [
            s.get_attribute("data-step") for s in browser.driver.find_elements(By.CSS_SELECTOR, "section.step")
        ] == [
            "score",
            "report",
        ]
    finally:
        browser.driver.switch_to.default_content()
    browser.screenshot("pipeline-view-in-airflow")


def test_a_viewer_sees_the_page_and_cannot_trigger(browser, airflow_stack, runs):
    from selenium.webdriver.common.by import By

    first, _second = runs
    browser.open_as(airflow_stack, "viewer", PAGE.format(dag_id=DAG_ID, run_id=first))
    assert step_section(browser, "score").find_element(By.CSS_SELECTOR, "h3 .status").text == "Finished"
    browser.screenshot("pipeline-view-as-viewer")
    status, _answer = airflow_stack.request("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None}, "viewer")
    assert status == 403


def test_a_browser_without_a_login_is_sent_to_airflows_login(browser, airflow_stack, runs):
    first, _second = runs
    browser.open_as(airflow_stack, None, PAGE.format(dag_id=DAG_ID, run_id=first))
    wait_until(lambda: "/login" in browser.driver.current_url, timeout=30, what="the login page")
    assert "runs/" not in browser.driver.page_source or "section" not in browser.driver.page_source


def test_each_step_task_links_to_the_pipeline_view(airflow_stack, runs):
    first, _second = runs
    status, links = airflow_stack.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{first}/taskInstances/score/links")
    assert status == 200, links
    page = run_page_path(DAG_ID, first)  # the run id URL-encoded, as the page's own links are
    assert links["extra_links"] == {"Pipeline view": page, "Step outputs": f"{page}#step-score"}


def test_the_pipelines_page_lists_the_pipeline_with_its_runs_and_compares_two(browser, airflow_stack, runs):
    from selenium.webdriver.common.by import By

    first, second = runs
    browser.open_as(airflow_stack, "admin", "/amlflow/view/pipelines")
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "table.published tr")
    found = [r for r in rows if DAG_ID in [td.text for td in r.find_elements(By.TAG_NAME, "td")]]
    assert len(found) == 1, browser.driver.page_source[:3000]
    row = found[0]
    assert [a.text for a in row.find_elements(By.CSS_SELECTOR, "a.run")][:2] == [second, first]
    browser.screenshot("pipeline-view-pipelines")
    row.find_element(By.CSS_SELECTOR, "a.compare").click()
    header = [th.text for th in browser.driver.find_elements(By.CSS_SELECTOR, "table.compare tr:first-child th")]
    assert header[1:] == [first, second]
    cells = {
        tr.find_element(By.TAG_NAME, "th").text: [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in browser.driver.find_elements(By.CSS_SELECTOR, "table.compare tr")[1:]
    }
    assert cells["parameter factor"] == ["3", "3"]
    assert cells["score · accuracy"] == ["0.75", "0.75"]
    assert cells["score · losses"] == ["0.3 (last of 3)", "0.3 (last of 3)"]
    browser.screenshot("pipeline-view-compare")


def test_a_compare_of_one_run_is_refused_naming_the_query(airflow_stack, runs):
    first, _second = runs
    status, answer = airflow_stack.request("GET", f"/amlflow/view/dags/{DAG_ID}/compare?run={first}")
    assert status == 400 and "run: name two runs or more" in str(answer)


def test_a_user_without_access_to_the_dag_sees_nothing_of_it(browser, airflow_stack, runs):
    first, _second = runs
    assert OUTSIDER == "outsider" and HIDDEN_DAG == DAG_ID
    browser.open_as(airflow_stack, OUTSIDER, PAGE.format(dag_id=DAG_ID, run_id=first))
    page = browser.driver.page_source
    assert "403" in page and "score" not in page and "scores.json" not in page
    browser.open_as(airflow_stack, OUTSIDER, "/amlflow/view/pipelines")
    assert DAG_ID not in browser.driver.page_source
    browser.open_as(airflow_stack, OUTSIDER, f"/amlflow/view/dags/{DAG_ID}/compare?run={first}&run={_second}")
    assert "score" not in browser.driver.page_source
    files = VIEW.format(dag_id=DAG_ID, run_id=first) + "/steps/score/outputs/scores/files/scores.json"
    for path in (VIEW.format(dag_id=DAG_ID, run_id=first), files):
        assert airflow_stack.request("GET", path, user=OUTSIDER)[0] == 403
    assert airflow_stack.request("GET", "/amlflow/view/pipelines", user="viewer")[0] == 200


def test_the_example_pipelines_run_shows_its_three_steps_reused_by_an_unchanged_run(browser, airflow_stack):
    from selenium.webdriver.common.by import By

    example = installed_example(airflow_stack)
    status, answer = example.request("PATCH", f"/api/v2/dags/{EXAMPLE}", {"is_paused": False})
    assert status == 200, answer
    first = example.run(EXAMPLE, {"pipeline_arg": 2}, timeout=300)
    second = example.run(EXAMPLE, {"pipeline_arg": 2}, timeout=300)
    assert (first["state"], second["state"]) == ("success", "success")
    browser.open_as(airflow_stack, "viewer", PAGE.format(dag_id=EXAMPLE, run_id=second["dag_run_id"]))
    nodes = browser.driver.find_elements(By.CSS_SELECTOR, "svg.graph g.node")
    assert [(n.get_attribute("data-step"), n.get_attribute("data-status")) for n in nodes] == [
        ("train.py", "Finished"),
        ("extract.py", "Finished"),
        ("compare.py", "Finished"),
    ]
    for step in ("train.py", "extract.py", "compare.py"):  # unchanged: every step reuses an earlier output
        assert step_section(browser, step).find_elements(By.CSS_SELECTOR, "a.reused-from"), step
    browser.screenshot("pipeline-view-example")


METRICS_NOTEBOOK = """
import json
from amlflow.core import Workspace
from amlflow.pipeline.core.run import PipelineRun

ws = Workspace.from_config()
steps = {{name: PipelineRun.get(ws, run_id).find_step_run(name)[0] for name in ("score", "report")}}
print("RESULT " + json.dumps({{name: step.get_metrics() for name, step in steps.items()}}))
""".replace("run_id", "{run_id!r}")


def test_a_notebook_reads_a_steps_metrics_from_the_deployment_not_from_its_own_datastore(airflow_stack, runs, tmp_path):
    _first, second = runs
    elsewhere = tmp_path / "another-machines-datastores"  # nothing of the run's artifacts is there
    elsewhere.mkdir()
    text = METRICS_NOTEBOOK.format(run_id=second)
    metrics = run_notebook_text(airflow_stack, tmp_path, text, AIRFLOW__AMLFLOW__LOCAL_DATASTORE_ROOT=str(elsewhere))
    assert metrics["score"]["accuracy"] == 0.75 and metrics["score"]["losses"] == [0.9, 0.5, 0.3]  # reused: the first's
    assert metrics["report"] == {}
