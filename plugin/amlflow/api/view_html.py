"""The pipeline view's HTML: a run's page drawn from the JSON of ``amlflow.api.pipeline_view``.

Drawn on the server, one self-contained page (its style inline, its charts SVG, no script), so it opens at
once inside Airflow's UI (an external view, in an iframe) and behind Airflow's own login. Every text that
comes from a run is escaped.
"""

from __future__ import annotations

import html
import json
import urllib.parse
from typing import Any

from amlflow.api.urls import compare_page_path, run_page_path

#: Output files listed under each output; the rest are counted ("and 12 more").
FILES_SHOWN = 20

#: A status's colour, in the badges and the graph's boxes; any other status (NotStarted, Queued) is grey.
_STATUS_COLOURS = {"Finished": "#2f855a", "Failed": "#c53030", "Running": "#2b6cb0", "Canceled": "#975a16"}
_OTHER_STATUS_COLOUR = "#7b8794"
_REUSED_COLOUR = "#6b46c1"

_STYLE = (
    """
body{font-family:system-ui,sans-serif;margin:16px;color:#1f2933}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px} h3{font-size:15px;margin:0}
table{border-collapse:collapse;margin:4px 0} td,th{border:1px solid #d9dee3;padding:3px 8px;text-align:left}
.step{border:1px solid #d9dee3;border-radius:6px;padding:8px 12px;margin:8px 0}
.muted{color:#616e7c;font-size:13px} svg text{font-size:11px;fill:#1f2933}
"""
    + f".status{{display:inline-block;border-radius:8px;padding:1px 8px;font-size:12px;color:#fff;"
    f"background:{_OTHER_STATUS_COLOUR}}} .reused{{background:{_REUSED_COLOUR}}}\n"
    + " ".join(f".{status}{{background:{colour}}}" for status, colour in _STATUS_COLOURS.items())
)

#: (step, output) -> the output's files (path under the output, size), or why the datastore could not list them.
OutputFiles = dict[tuple[str, str], list[tuple[str, int]] | str]

_BOX_WIDTH, _BOX_HEIGHT, _COLUMN, _ROW = 150, 34, 190, 50


def run_page(view: dict[str, Any], files: OutputFiles, links: dict[str, str]) -> str:
    """The page of one run.

    ``files`` holds at most ``FILES_SHOWN + 1`` files of each output; ``links`` the URLs the page points to:
    ``ui`` (Airflow UI's base) and ``download`` (with ``{step}``, ``{output}``, ``{file}`` to fill).
    """
    pipeline, run = view["pipeline"], view["run"]
    parts = [
        f"<h1>{_text(pipeline['name'])}</h1>",
        f'<div class="muted">{_text(pipeline.get("description") or "")}</div>',
        f"<p>Run <code>{_text(run['id'])}</code> {_status(run['status'])} · experiment "
        f"{_text(run.get('experiment') or '-')} · {_duration(run.get('seconds'))}</p>",
        "<h2>Parameters</h2>",
        _table(["parameter", "value"], [[name, value] for name, value in run["parameters"].items()]),
        "<h2>Steps</h2>",
        _graph(view["steps"]),
        *(_step(step, files, links) for step in view["steps"]),
    ]
    title = f"{pipeline['name']} · {run['id']}"
    return _document(title, "\n".join(parts))


def error_page(status_code: int, message: str) -> str:
    """A refusal as a page: the HTTP status and the message that names what is wrong."""
    return _document(f"{status_code}", f'<h1>{status_code}</h1><p class="error">{_text(message)}</p>')


def _document(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_text(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _graph(steps: list[dict[str, Any]]) -> str:
    """The steps as boxes in layers, each after the steps it reads from, joined by lines."""
    layer: dict[str, int] = {}
    for step in steps:  # in graph order: every step after its upstream steps
        layer[step["name"]] = 1 + max((layer[name] for name in step["upstream"]), default=-1)
    rows: dict[int, int] = {}
    where: dict[str, tuple[int, int]] = {}
    for step in steps:
        column = layer[step["name"]]
        where[step["name"]] = (column * _COLUMN + 10, rows.get(column, 0) * _ROW + 10)
        rows[column] = rows.get(column, 0) + 1
    width = (max(layer.values(), default=0) + 1) * _COLUMN
    height = max(rows.values(), default=1) * _ROW + 10
    lines = [
        f'<line x1="{where[up][0] + _BOX_WIDTH}" y1="{where[up][1] + _BOX_HEIGHT // 2}" '
        f'x2="{where[step["name"]][0]}" y2="{where[step["name"]][1] + _BOX_HEIGHT // 2}" stroke="#9aa5b1"/>'
        for step in steps
        for up in step["upstream"]
    ]
    boxes = [
        f'<a href="#step-{_attribute(step["name"])}"><g class="node" data-step="{_attribute(step["name"])}" '
        f'data-status="{_attribute(step["status"])}"><rect x="{x}" y="{y}" width="{_BOX_WIDTH}" '
        f'height="{_BOX_HEIGHT}" rx="5" fill="{_STATUS_COLOURS.get(step["status"], _OTHER_STATUS_COLOUR)}" '
        f'stroke="{_REUSED_COLOUR if step["reused"] else "none"}" stroke-width="3"/>'
        f'<text x="{x + 8}" y="{y + 21}" style="fill:#fff">{_text(_shortened(step["name"]))}'
        f"{' ♻' if step['reused'] else ''}</text></g></a>"
        for step in steps
        for x, y in [where[step["name"]]]
    ]
    return f'<svg class="graph" width="{width}" height="{height}">{"".join(lines + boxes)}</svg>'


def _step(step: dict[str, Any], files: OutputFiles, links: dict[str, str]) -> str:
    name = step["name"]
    head = [
        f"<h3>{_text(name)} {_status(step['status'])}",
        f' <span class="muted">try {step["try_number"]} · {_duration(step.get("seconds"))}</span>',
        f' · <a class="log" href="{_attribute(links["ui"] + step["log"])}" target="_top">log in Airflow</a>',
        "</h3>",
    ]
    reused = step["reused"]
    if reused:
        earlier = run_page_path(reused["dag_id"], reused["run_id"])
        head.append(
            f'<p><span class="status reused">reused</span> output of run '
            f'<a class="reused-from" href="{_attribute(earlier)}">{_text(reused["run_id"])}</a></p>'
        )
    if step.get("databricks_run_page"):
        head.append(f'<p><a href="{_attribute(step["databricks_run_page"])}" target="_blank">Databricks run</a></p>')
    parts = [*head]
    for output, location in step["outputs"].items():
        parts.append(_output(name, output, location, files.get((name, output), []), links["download"]))
    if step["metrics"]:
        parts.append(_metrics(step["metrics"]))
    anchor = _attribute(name)
    return f'<section class="step" id="step-{anchor}" data-step="{anchor}">{"".join(parts)}</section>'


def _output(step: str, output: str, location: dict[str, str], files: list[tuple[str, int]] | str, download: str) -> str:
    if isinstance(files, str):  # why the datastore could not list them
        files, items = [], [f"<li class='muted not-listed'>files not listed: {_text(files)}</li>"]
    else:
        items = []
    items += [
        f'<li><a class="download" download href="{_attribute(_download_url(download, step, output, path))}">'
        f"{_text(path)}</a> <span class='muted'>{size:,} bytes</span></li>"
        for path, size in files[:FILES_SHOWN]
    ]
    if len(files) > FILES_SHOWN:
        items.append(f"<li class='muted'>and more: read the rest from {_text(location['uri'])}</li>")
    return (
        f'<div class="output" data-output="{_attribute(output)}"><b>{_text(output)}</b> '
        f'<span class="muted">{_text(location["datastore"])}: {_text(location["path"])}</span>'
        f"<ul>{''.join(items) or '<li class=muted>no files</li>'}</ul></div>"
    )


def _download_url(template: str, step: str, output: str, path: str) -> str:
    quote = urllib.parse.quote
    return template.format(step=quote(step, safe=""), output=quote(output, safe=""), file=quote(path))


def _metrics(metrics: dict[str, Any]) -> str:
    """Scalars in one table; a list as a line chart; rows and tables as a table, and a chart of each number
    column after the first."""
    scalars = [[name, value] for name, value in metrics.items() if not isinstance(value, (list, dict))]
    parts = [_table(["metric", "value"], scalars)] if scalars else []
    for name, value in metrics.items():
        if isinstance(value, list):
            parts.append(_chart(name, name, value))
        elif isinstance(value, dict):
            columns = list(value)
            length = max((len(value[c]) if isinstance(value[c], list) else 1 for c in columns), default=0)
            rows = [[_cell(value[c], i) for c in columns] for i in range(length)]
            parts.append(f"<div><b>{_text(name)}</b>{_table(columns, rows)}</div>")
            # A row's first column is its x (an epoch, a step): the others are charted in its order.
            charted = columns[1:] if len(columns) > 1 else columns
            parts += [_chart(name, f"{name}: {c}", value[c]) for c in charted if _is_series(value[c])]
    return f'<div class="metrics">{"".join(parts)}</div>'


def _cell(values: Any, index: int) -> Any:
    if isinstance(values, list):
        return values[index] if index < len(values) else ""
    return values if index == 0 else ""


def _chart(metric: str, title: str, values: list[Any]) -> str:
    """A line chart of the numbers in ``values`` against their index (its points carry their values)."""
    numbers = [float(v) for v in values if _is_number(v)]
    if not numbers:
        return f"<div><b>{_text(title)}</b>: {_text(json.dumps(values))}</div>"
    width, height, pad = 320, 120, 24
    low, high = min(numbers), max(numbers)
    spread = (high - low) or 1.0
    step = (width - 2 * pad) / max(len(numbers) - 1, 1)
    points = [(pad + i * step, height - pad - (n - low) / spread * (height - 2 * pad)) for i, n in enumerate(numbers)]
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#2b6cb0"/>' for x, y in points)
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return (
        f'<figure class="chart" data-metric="{_attribute(metric)}" data-points="{len(numbers)}"><figcaption>'
        f"{_text(title)}</figcaption><svg width='{width}' height='{height}'>"
        f"<text x='2' y='{pad - 8}'>{high:g}</text><text x='2' y='{height - 6}'>{low:g}</text>"
        f"<polyline fill='none' stroke='#2b6cb0' stroke-width='2' points='{path}'/>{dots}</svg></figure>"
    )


def _table(header: list[str], rows: list[list[Any]], name: str = "") -> str:
    head = "".join(f"<th>{_text(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell_html(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{_attribute(name)}"><tr>{head}</tr>{body}</table>'


def _cell_html(cell: Any) -> str:
    return cell if isinstance(cell, _Html) else _text(_shown(cell))


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _status(status: str) -> str:
    return f'<span class="status {_attribute(status)}">{_text(status)}</span>'


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not ended"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _shortened(name: str, limit: int = 20) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _is_series(values: Any) -> bool:
    """Whether ``values`` is worth a chart: a list of two numbers or more."""
    return isinstance(values, list) and len(values) > 1 and all(_is_number(v) for v in values)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: Any) -> str:
    return html.escape(str(value), quote=False)


def _attribute(value: Any) -> str:
    return html.escape(str(value), quote=True)


def pipelines_page(
    published: list[dict[str, Any]],
    recent_runs: dict[str, list[str]],
    endpoints: list[dict[str, Any]],
    schedules: list[dict[str, Any]],
    experiments: list[str],
) -> str:
    """The published pipelines (each with its latest runs, newest first, and a compare link), endpoints,
    schedules and experiments."""
    rows = []
    for pipeline in published:
        runs = recent_runs.get(pipeline["Id"], [])
        run_links = " ".join(
            f'<a class="run" href="{_attribute(run_page_path(pipeline["Id"], run_id))}">{_text(run_id)}</a>'
            for run_id in runs
        )
        if len(runs) >= 2:
            compare = compare_page_path(pipeline["Id"], [runs[1], runs[0]])
            run_links += f' · <a class="compare" href="{_attribute(compare)}">compare the last two</a>'
        rows.append(
            [
                pipeline["Name"],
                pipeline["Id"],
                pipeline.get("Version") or "",
                pipeline["Status"],
                pipeline["TotalRunSteps"],
                pipeline["Parameters"],
                _Html(run_links or "<span class='muted'>no runs yet</span>"),
            ]
        )
    endpoint_rows = [
        [e["Name"], e["Status"], e["DefaultVersion"], {v["Version"]: v["PipelineId"] for v in e["PipelineVersionList"]}]
        for e in endpoints
    ]
    schedule_rows = [
        [
            s["name"],
            s["status"],
            s.get("pipeline_id") or s.get("pipeline_endpoint_id"),
            s.get("experiment_name"),
            s.get("recurrence") or {"datastore": s.get("datastore_name"), "path": s.get("path_on_datastore")},
        ]
        for s in schedules
    ]
    parts = [
        "<h1>Pipelines</h1>",
        "<h2>Published pipelines</h2>",
        _table(["name", "id", "version", "status", "steps", "parameters", "latest runs"], rows, "published"),
        "<h2>Pipeline endpoints</h2>",
        _table(["name", "status", "default version", "versions"], endpoint_rows, "endpoints"),
        "<h2>Schedules</h2>",
        _table(["name", "status", "pipeline or endpoint", "experiment", "when"], schedule_rows, "schedules"),
        "<h2>Experiments</h2>",
        _table(["experiment"], [[name] for name in experiments], "experiments"),
    ]
    return _document("Pipelines", "\n".join(parts))


def compare_page(views: list[dict[str, Any]]) -> str:
    """Runs of one pipeline side by side: status, duration, parameters, and each step's metrics (a list by its
    last value and length); a row whose values differ is marked."""
    header = ["", *(view["run"]["id"] for view in views)]
    rows: list[tuple[str, list[Any]]] = [
        ("status", [view["run"]["status"] for view in views]),
        ("duration", [_duration(view["run"].get("seconds")) for view in views]),
    ]
    parameters = sorted({name for view in views for name in view["run"]["parameters"]})
    rows += [(f"parameter {name}", [view["run"]["parameters"].get(name, "") for view in views]) for name in parameters]
    metrics = sorted({(step["name"], metric) for view in views for step in view["steps"] for metric in step["metrics"]})
    for step_name, metric in metrics:
        values = []
        for view in views:
            step = next((s for s in view["steps"] if s["name"] == step_name), None)
            values.append(_compared(step["metrics"].get(metric, "") if step else ""))
        rows.append((f"{step_name} · {metric}", values))
    body = "".join(
        f'<tr class="{"differs" if len({json.dumps(v, sort_keys=True) for v in values}) > 1 else "same"}">'
        f"<th>{_text(label)}</th>" + "".join(f"<td>{_text(_shown(v))}</td>" for v in values) + "</tr>"
        for label, values in rows
    )
    head = "".join(f"<th>{_text(cell)}</th>" for cell in header)
    title = views[0]["pipeline"]["name"]
    return _document(
        f"Compare · {title}",
        f"<h1>{_text(title)}: {len(views)} runs compared</h1>"
        f"<style>.differs td{{background:#fefcbf}}</style><table class='compare'><tr>{head}</tr>{body}</table>",
    )


def _compared(value: Any) -> Any:
    """A metric as one cell: a list by its last value and its length, a table by its row count."""
    if isinstance(value, list):
        return f"{_shown(value[-1])} (last of {len(value)})" if value else "[]"
    if isinstance(value, dict):
        lengths = [len(v) for v in value.values() if isinstance(v, list)]
        return f"{max(lengths, default=1)} rows"
    return value


class _Html(str):
    """Markup made here, from escaped parts: shown as is in a table cell."""
