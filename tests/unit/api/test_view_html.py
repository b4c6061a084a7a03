"""The pipeline view's page as drawn from a run's view: escaping, reuse, outputs, charts."""

from __future__ import annotations

from amlflow.api import view_html

LINKS = {"ui": "/", "download": "/files/{step}/{output}/{file}"}


def view(step_name: str = "train", metrics: dict | None = None, reused: dict | None = None) -> dict:
    step = {
        "name": step_name,
        "status": "Finished",
        "try_number": 1,
        "seconds": 2.5,
        "upstream": [],
        "reused": reused,
        "outputs": {"model": {"datastore": "workspaceblobstore", "path": "runs/1/model", "uri": "wasbs://x/model"}},
        "databricks_run_page": None,
        "metrics": metrics or {},
        "log": f"dags/p/runs/1/tasks/{step_name}",
    }
    return {
        "pipeline": {"id": "p", "name": "p", "description": None},
        "run": {"id": "1", "status": "Finished", "experiment": "e", "parameters": {"n": 1}, "seconds": 3.0},
        "steps": [step],
    }


def test_text_from_a_run_is_escaped_wherever_it_is_shown():
    page = view_html.run_page(view('<script>alert("x")</script>', {"<b>m</b>": 1}), {}, LINKS)
    assert "<script>" not in page and "<b>m</b>" not in page
    assert "&lt;script&gt;" in page


def test_a_reused_step_links_to_the_run_it_reused():
    page = view_html.run_page(view(reused={"dag_id": "p", "run_id": "a+b", "task_id": "train"}), {}, LINKS)
    assert '<a class="reused-from" href="/amlflow/view/dags/p/runs/a%2Bb">a+b</a>' in page


def test_an_output_lists_its_files_as_downloads_and_says_when_there_are_more():
    files = [(f"part-{n}.csv", n) for n in range(view_html.FILES_SHOWN + 1)]
    page = view_html.run_page(view(), {("train", "model"): files}, LINKS)
    assert page.count('class="download"') == view_html.FILES_SHOWN
    assert 'href="/files/train/model/part-0.csv"' in page
    assert "and more: read the rest from wasbs://x/model" in page


def test_lists_and_rows_are_charted_point_by_point_against_the_first_column():
    metrics = {"loss": [0.9, 0.5, 0.2], "curve": {"epoch": [1, 2, 3, 4], "acc": [0.1, 0.2, 0.3, 0.4]}, "acc": 0.4}
    page = view_html.run_page(view(metrics=metrics), {}, LINKS)
    assert 'data-metric="loss" data-points="3"' in page
    assert 'data-metric="curve" data-points="4"' in page and "curve: acc" in page and "curve: epoch" not in page
    assert "<td>acc</td><td>0.4</td>" in page


def test_an_output_the_datastore_could_not_list_says_why_and_the_page_is_still_drawn():
    page = view_html.run_page(view(), {("train", "model"): "datastore 'x' has no Airflow connection"}, LINKS)
    assert (
        "files not listed: datastore &#x27;x&#x27; has no Airflow connection" in page
        or "files not listed: datastore 'x'" in page
    )
    assert 'class="download"' not in page and "<h3>train" in page
