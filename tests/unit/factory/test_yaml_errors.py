"""Each kind of error in a definition is reported by ``amlflow validate`` as file:line:column: step.field: message."""

from __future__ import annotations

import os
import textwrap

import pytest

from amlflow.cli import main

GOOD = """\
parameters:
  alpha: {type: integer, default: 1}
pipeline_data:
  d: {}
steps:
  - kind: PythonScriptStep
    name: first
    script_name: s.py
    arguments: [--alpha, $param.alpha, --out, $data.d]
    outputs: [$data.d]
  - kind: PythonScriptStep
    name: second
    script_name: s.py
    inputs: [$data.d]
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "s.py").write_text("print('step')\n")
    return tmp_path


def validate(capsys, *paths) -> tuple[int, list[str]]:
    code = main(["validate", *map(str, paths)])
    return code, capsys.readouterr().out.splitlines()


def write(folder, name: str, text: str) -> str:
    path = os.path.join(folder, name)
    with open(path, "w") as handle:
        handle.write(textwrap.dedent(text))
    return path


def test_a_good_definition_passes_with_exit_code_0(folder, capsys):
    assert validate(capsys, write(folder, "good.yaml", GOOD)) == (0, [])


# (file text, expected line after "<file>:")
CASES = {
    "yaml_syntax": (
        GOOD.replace("name: first", "name: [first"),
        "8:16: pipeline: invalid YAML: while parsing a flow sequence",
    ),
    "duplicate_key": (GOOD.replace("    name: second\n", "    name: second\n    name: third\n"), "13:5: name: key"),
    "unknown_field": (
        GOOD.replace("script_name: s.py\n    inputs", "scirpt_name: s.py\n    inputs"),
        "13:5: second.scirpt_name: unknown field 'scirpt_name' (did you mean 'script_name'?)",
    ),
    "missing_field": (
        GOOD.replace("    script_name: s.py\n    inputs", "    inputs"),
        "11:5: second: missing required field 'script_name'",
    ),
    "wrong_type": (GOOD + "    allow_reuse: 'yes'\n", "15:18: second.allow_reuse: 'yes' is not of type 'boolean'"),
    "unknown_kind": (
        GOOD.replace("kind: PythonScriptStep\n    name: second", "kind: PythonStep\n    name: second"),
        "11:11: second.kind: unknown step kind 'PythonStep'",
    ),
    "unknown_reference": (
        GOOD.replace("inputs: [$data.d]", "inputs: [$data.e]"),
        "14:14: second.inputs[0]: $data.e: no data named 'e' is declared under data_references, pipeline_data or "
        "output_datasets",
    ),
    "unknown_run_after": (GOOD + "    run_after: [zeroth]\n", "15:17: second.run_after[0]: no step is named 'zeroth'"),
    "script_not_found": (
        GOOD.replace("script_name: s.py\n    inputs", "script_name: t.py\n    inputs"),
        "13:18: second.script_name: script not found at",
    ),
    "data_not_produced": (
        GOOD.replace("    outputs: [$data.d]\n", "").replace(", --out, $data.d", ""),
        "13:14: second.inputs: PipelineData 'd' is consumed but no step of the pipeline produces it",
    ),
    "cycle": (
        GOOD.replace("    name: first\n", "    name: first\n    run_after: [second]\n"),
        "6:5: first.inputs: the pipeline has a cycle: first -> second -> first",
    ),
    "name_mismatch": ("name: other\n" + GOOD, "1:7: name: 'other' must equal the file name without extension"),
    "parameter_type": (
        GOOD.replace("type: integer, default: 1", "type: boolean, default: 1"),
        "2:35: parameters.alpha.default: default 1 is not of type boolean",
    ),
    "bad_schedule": ("schedule: every day\n" + GOOD, "1:11: schedule: 'every day' is not a valid schedule"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_kind_of_error_is_reported_with_its_location(folder, capsys, case):
    text, expected = CASES[case]
    path = write(folder, "bad.yaml", text)
    code, lines = validate(capsys, path)
    assert code == 1
    assert any(line.startswith(f"{path}:{expected}") for line in lines), lines


def test_python_module_errors_name_the_line_and_the_step_field(folder, capsys):
    broken = write(folder, "broken.py", "import os\n\nraise RuntimeError('no data')\n")
    invalid = write(
        folder,
        "invalid.py",
        """\
        from amlflow.core import Workspace
        from amlflow.pipeline.core import Pipeline
        from amlflow.pipeline.steps import PythonScriptStep

        step = PythonScriptStep(script_name="missing.py", name="only")
        Pipeline(Workspace(), [step]).publish(name="invalid")
        """,
    )
    code, lines = validate(capsys, broken, invalid)
    assert code == 1
    assert lines[0] == f"{broken}:3:1: pipeline: RuntimeError: no data"
    assert lines[1].startswith(f"{invalid}:6:1: only.script_name: script not found at ")


def test_a_folder_reports_only_its_bad_definitions(folder, capsys):
    """Definitions sit directly in the folder; step scripts in sub-folders (here: the parent)."""
    definitions = folder / "pipelines"
    definitions.mkdir()
    good = "default_source_directory: ..\n" + GOOD
    write(definitions, "good.yaml", good)
    write(definitions, "bad.yaml", good.replace("$data.d]\n  -", "$data.x]\n  -"))
    code, lines = validate(capsys, definitions)
    assert code == 1
    assert lines == [
        f"{definitions}/bad.yaml:11:15: first.outputs[0]: $data.x: no data named 'x' is declared under "
        "data_references, pipeline_data or output_datasets (declared: d)"
    ]


def test_render_prints_tasks_edges_and_params(folder, capsys):
    path = write(folder, "good.yaml", GOOD)
    assert main(["render", path]) == 0
    out = capsys.readouterr().out
    assert "DAG good\n" in out
    assert "params:\n  alpha = 1 (integer)\n" in out
    assert "  first: PythonScriptStepOperator\n" in out
    assert '    arguments: ["--alpha", "{{ params[\'alpha\'] }}", "--out", {"output": "d"}]' in out
    assert out.endswith("edges:\n  first -> second\n")


def test_render_shows_a_command_steps_command_line_as_such(folder, capsys):
    path = write(
        folder,
        "command.yaml",
        "steps:\n  - kind: CommandStep\n    name: listing\n    command: ls -l\n",
    )
    assert main(["render", path]) == 0
    out = capsys.readouterr().out
    assert '  listing: CommandStepOperator\n    command_line: "ls -l"\n' in out
    assert "script_name" not in out


def test_an_unchanged_file_is_read_from_the_cache_and_its_errors_keep_their_location(folder, capsys):
    """The second read skips YAML and schema work (the cache entry) yet places errors as the first did."""
    import pathlib

    from amlflow.factory import yaml_cache

    path = write(folder, "cached.yaml", GOOD.replace("script_name: s.py\n    inputs", "script_name: t.py\n    inputs"))
    entry = pathlib.Path(yaml_cache._entry(pathlib.Path(path).read_text()))
    first = validate(capsys, path)
    assert entry.exists()
    # prove the second read uses the entry: make the entry differ from the file
    entry.write_text(entry.read_text().replace('"second"', '"cached_second"'))
    second = validate(capsys, path)
    assert first[0] == second[0] == 1
    assert first[1] == [line.replace("cached_second", "second") for line in second[1]]
    assert "cached_second.script_name" in second[1][0] and first[1][0].startswith(f"{path}:13:18: second.script_name")
    write(folder, "cached.yaml", GOOD)  # a changed text is another entry: never a stale hit
    assert validate(capsys, path) == (0, [])
    assert len(list(entry.parent.glob("*.json"))) >= 2


def test_the_repository_examples_validate_from_relative_paths(monkeypatch, capsys):
    """Python modules run from their absolute path, as Airflow runs DAG files (``__file__``-relative folders)."""
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    assert validate(capsys, "dags/compare_models.py", "dags/pipelines") == (0, [])
