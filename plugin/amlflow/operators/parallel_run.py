"""The three tasks of a ParallelRunStep: plan the mini-batches, run each one (mapped), gather and commit.

* ``ParallelRunPlanOperator`` (``<step>.plan``): locates the inputs, snapshots the source directory,
  fingerprints the step and either finds an earlier run to reuse (no mini-batch then) or returns the
  mini-batches (``amlflow.runtime.mini_batches``), which Airflow maps the next task over.
* ``ParallelRunMiniBatchOperator`` (``<step>.mini_batch``, one task instance per mini-batch): stages the
  side inputs and the mini-batch's data, runs the entry script on it (``amlflow.runtime.parallel_driver``)
  and keeps the mini-batch's result in the datastore.
* ``ParallelRunGatherOperator`` (``<step>``, the step's own task id, so downstream steps and ``StepRun``
  find its outputs as any step's): checks the error thresholds, writes the ``append_row`` file with every
  mini-batch's rows in order, adds the files the script wrote to ``output_dir``, and commits the output.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from amlflow import config
from amlflow.core.model import MODEL_DIR_ENV, latest_versions, stage_models
from amlflow.exceptions import StepFailedError, StepInterruptedError
from amlflow.extra_links import STEP_LINKS
from amlflow.runtime import mini_batches, reuse
from amlflow.runtime.arguments import data_environment, resolve_argv
from amlflow.runtime.fingerprint import step_fingerprint
from amlflow.runtime.inputs import locate_input, stage_inputs
from amlflow.runtime.lifecycle import StepLifecycle
from amlflow.runtime.outputs import StagedOutputs
from amlflow.runtime.parallel_driver import INIT_FAILED
from amlflow.runtime.script import ScriptProcess
from amlflow.runtime.script_env import run_variables, script_environment
from amlflow.runtime.snapshot import snapshot_for_run
from amlflow.runtime.tries import step_retry_arguments, step_try
from amlflow.storage import get_backend, leases
from amlflow.storage.base import join

#: XCom keys of the plan task (beside its return value, the mini-batches).
PRIMARY_INPUTS_XCOM_KEY = "amlflow_parallel_inputs"
REUSED_XCOM_KEY = "amlflow_parallel_reused"
MODELS_XCOM_KEY = "amlflow_parallel_models"
#: XCom key of the gather task: how many mini-batches, items and rows, and which failed.
SUMMARY_XCOM_KEY = "amlflow_parallel_summary"


class _ParallelRunTask(BaseOperator):
    """What the three tasks share: the step's definition, as JSON-able specs.

    :param step_name: the step's name (the gather task's id; the others are ``<step>.plan``, ``<step>.mini_batch``).
    :param entry_script: the script with ``init()`` and ``run()``, relative to ``source_directory``.
    :param source_directory: the folder whose snapshot the script runs in.
    :param arguments: the entry script's argv (side inputs as ``{"input": port}``, outputs as ``{"output": port}``).
    :param inputs: input specs: the first ``primary_inputs`` are split into mini-batches, the others are side inputs.
    :param outputs: the step's output spec (none for ``summary_only`` without an output).
    :param parallel_config: ParallelRunConfig's tunables, Jinja-rendered (PipelineParameters are templates).
    :param compute_target: the compute target's name, type and size.
    :param allow_reuse: whether an earlier identical run's output may stand in for this one.
    :param environment_variables: the config's and its environment's variables for the entry script.
    :param retries_are_ours: whether the task has amlflow's step retries (given by ``partial()`` of a mapped
        task; else found as every step operator finds it).
    """

    template_fields: Sequence[str] = ("arguments", "parallel_config")
    template_fields_renderers = {"arguments": "json", "parallel_config": "json"}
    ui_color = "#d9f2e6"

    def __init__(
        self,
        *,
        step_name: str,
        entry_script: str,
        source_directory: str,
        arguments: list[Any] | None = None,
        inputs: list[dict[str, Any]] | None = None,
        primary_inputs: int = 1,
        outputs: list[dict[str, Any]] | None = None,
        parallel_config: dict[str, Any] | None = None,
        compute_target: dict[str, Any] | None = None,
        allow_reuse: bool = True,
        environment_variables: dict[str, str] | None = None,
        retries_are_ours: bool | None = None,
        **kwargs: Any,
    ) -> None:
        # A mapped task's arguments were given to ``partial()``, which chose its retries already.
        self._retries_are_ours = step_retry_arguments(kwargs) if retries_are_ours is None else retries_are_ours
        super().__init__(**kwargs)
        self.step_name = step_name
        self.entry_script = entry_script
        self.source_directory = source_directory
        self.arguments = list(arguments or [])
        self.inputs = list(inputs or [])
        self.primary_inputs = primary_inputs
        self.outputs = list(outputs or [])
        self.parallel_config = dict(parallel_config or {})
        self.compute_target = compute_target
        self.allow_reuse = allow_reuse
        self.environment_variables = dict(environment_variables or {})

    def setting(self, name: str) -> Any:
        """A tunable of the config as its type: a PipelineParameter's value arrives as rendered text."""
        value = self.parallel_config.get(name)
        if not isinstance(value, str) or name in ("output_action", "logging_level", "input_type"):
            return value
        if name == "partition_keys":
            return json.loads(value)
        if name == "mini_batch_size":
            from amlflow.pipeline.steps.parallel_run_config import mini_batch_size_value

            return mini_batch_size_value(value.strip())
        return float(value) if name in ("run_invocation_timeout", "allowed_failed_percent") else int(value)

    @property
    def plan_task_id(self) -> str:
        return f"{self.step_name}.plan"

    def _output_datastores(self) -> list[str]:
        return [spec.get("datastore") or config.get("default_datastore") for spec in self.outputs]


class ParallelRunPlanOperator(_ParallelRunTask):
    """Which mini-batches the step runs (its return value, mapped over), or none when it reuses a run."""

    @classmethod
    def get_serialized_fields(cls) -> frozenset[str]:
        """The base fields, and the input specs."""
        # The api-server reads the input specs from the serialized DAG (DataPath and dataset assignments).
        return frozenset(super().get_serialized_fields() | {"inputs"})

    def execute(self, context: Any) -> list[dict[str, Any]]:
        """List the mini-batches to map over (none when an earlier run is reused), within one step try."""
        with step_try(context, self.log, self._output_datastores(), self._retries_are_ours):
            return self._plan(context)

    def _plan(self, context: Any) -> list[dict[str, Any]]:
        ti = context["ti"]
        located = [(spec, locate_input(spec, ti)) for spec in self.inputs]
        snapshot = snapshot_for_run(self.source_directory, ti.dag_id, ti.run_id, self.step_name)
        if not snapshot.contains(self.entry_script):
            raise StepFailedError(
                f"step {self.step_name!r}, field 'parallel_run_config.entry_script': {self.entry_script} is not in "
                f"the snapshot of {self.source_directory} (missing, outside the folder, or excluded by .amlignore)"
            )
        fingerprint = step_fingerprint(
            kind="ParallelRunStep",
            name=self.step_name,
            code=snapshot.content_hash,
            script_name=self.entry_script,
            arguments=self.arguments,
            params={**self.environment_variables, **{k: str(v) for k, v in self.parallel_config.items()}},
            compute=self.compute_target,
            inputs=located,
            outputs=self.outputs,
        )
        ti.xcom_push(key=reuse.FINGERPRINT_XCOM_KEY, value=fingerprint)
        earlier = StepLifecycle(context, self.outputs, fingerprint, self.allow_reuse, self.log).earlier_run()
        if earlier is not None:
            self.log.info("%s can be reused (same fingerprint %s): no mini-batch runs", earlier.describe(), fingerprint)
            ti.xcom_push(key=REUSED_XCOM_KEY, value=reuse.reuse_xcom(earlier))
            return []
        primary = located[: self.primary_inputs]
        ti.xcom_push(key=MODELS_XCOM_KEY, value=latest_versions())
        ti.xcom_push(key=PRIMARY_INPUTS_XCOM_KEY, value=[_input_value(spec, where) for spec, where in primary])
        batches = mini_batches.numbered([batch for i, item in enumerate(primary) for batch in self._split(i, *item)])
        if not batches:
            raise StepFailedError(f"step {self.step_name!r}: its inputs hold no files or rows, so it has no mini-batch")
        self.log.info("%d mini-batches; at most %s run at once", len(batches), self.parallel_config.get("concurrency"))
        return batches

    def _split(self, input_index: int, spec: dict[str, Any], where: Any) -> list[dict[str, Any]]:
        keys = self.setting("partition_keys")
        if spec["kind"] == "Dataset" and self.setting("input_type") == "TabularDataset":
            return self._split_rows(input_index, spec, where, keys)
        files, partition_format = _input_files(spec, where)
        if keys:
            return mini_batches.file_partitions(files, partition_format, keys)
        return mini_batches.file_batches(files, self.setting("mini_batch_size"))

    def _split_rows(self, input_index: int, spec: dict[str, Any], dataset: Any, keys: list[str] | None) -> list[dict]:
        from amlflow.data.tabular_dataset import TabularDataset

        if not isinstance(dataset, TabularDataset):
            raise StepFailedError(f"input {spec['name']!r}: the step's inputs are TabularDatasets, this one is not")
        frame = dataset.to_pandas_dataframe()
        if keys:
            return mini_batches.row_partitions(input_index, frame, keys)
        source_bytes = sum(_source_sizes(dataset.definition)) or int(frame.memory_usage(deep=True).sum())
        return mini_batches.row_batches(input_index, len(frame), source_bytes, self.setting("mini_batch_size"))


class ParallelRunMiniBatchOperator(_ParallelRunTask):
    """One mini-batch: ``init()`` and ``run(mini_batch)`` of the entry script, its result kept in the datastore.

    :param mini_batch: the mini-batch (from the plan task: ``expand(mini_batch=...)``).
    """

    def __init__(self, *, mini_batch: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mini_batch = mini_batch
        self._process: ScriptProcess | None = None
        self._stopping = False

    def execute(self, context: Any) -> None:
        """Run the entry script on this task's mini-batch and keep its result, within one step try."""
        batch = self.mini_batch or {}
        context["mini_batch_label"] = f"{batch.get('index')}: {mini_batches.label(batch)}"
        with step_try(context, self.log, self._output_datastores(), self._retries_are_ours):
            self._run_mini_batch(context, batch)

    def _run_mini_batch(self, context: Any, batch: dict[str, Any]) -> None:
        ti = context["ti"]
        snapshot = snapshot_for_run(self.source_directory, ti.dag_id, ti.run_id, self.step_name)
        side = [(spec, locate_input(spec, ti)) for spec in self.inputs[self.primary_inputs :]]
        owner = {"dag_id": ti.dag_id, "run_id": ti.run_id, "task_id": ti.task_id, "try_number": ti.try_number}
        with leases.take(leases.work_root(), "step-", owner) as workdir:
            _datasets, side_paths = stage_inputs(side, workdir.path)
            request = self._request(context, batch, workdir.path, side_paths)
            cwd = snapshot.checkout(os.path.join(workdir.path, "source"))
            request["entry_script"] = os.path.join(cwd, self.entry_script)
            request_path = os.path.join(workdir.path, "request.json")
            with open(request_path, "w") as handle:
                json.dump(request, handle)
            self._run_driver(cwd, request_path, request, context)
            with open(request["result"]) as handle:
                outcome = json.load(handle)
            prefix = self._keep_files(ti, batch["index"], request["output_dir"])
        result = mini_batches.MiniBatchResult(
            index=batch["index"],
            label=mini_batches.label(batch),
            items=request["item_count"],
            succeeded=outcome["succeeded"],
            rows=outcome["rows"],
            error=outcome.get("error"),
            tries=outcome["tries"],
            files_prefix=prefix,
        )
        mini_batches.write_result(ti.dag_id, ti.run_id, self.step_name, result)
        if result.failed:
            self.log.warning("Mini-batch %s failed after %d tries: %s", result.label, result.tries, result.error)
        else:
            self.log.info("Mini-batch %s: %d of %d items succeeded", result.label, result.succeeded, result.items)

    def _request(self, context: Any, batch: dict[str, Any], workdir: str, side_paths: dict[str, str]) -> dict:
        output_dir = os.path.join(workdir, "output")
        os.makedirs(output_dir)
        outputs = {spec["name"]: output_dir for spec in self.outputs}
        request: dict[str, Any] = {
            "index": batch["index"],
            "argv": resolve_argv(self.arguments, side_paths, outputs),
            "partition": batch.get("partition"),
            "timeout": self.setting("run_invocation_timeout"),
            "max_tries": self.setting("run_max_try"),
            "append_row": self.setting("output_action").lower() == "append_row",
            "logging_level": self.setting("logging_level"),
            "output_dir": output_dir,
            "result": os.path.join(workdir, "result.json"),
            "side_inputs": side_paths,
        }
        if "files" in batch:
            folder = os.path.join(workdir, "mini_batch")
            request["files"] = [_fetch(mini_batches.source_file(entry), folder) for entry in batch["files"]]
            request["item_count"] = len(request["files"])
            if batch.get("partition"):
                request["dataset"] = self._primary_value(context, 0)
        else:
            frame = self._rows(context, batch)
            request["frame"] = os.path.join(workdir, "mini_batch.pkl")
            frame.to_pickle(request["frame"])
            request["item_count"] = len(frame)
            request["dataset"] = self._primary_value(context, batch["input"])
        return request

    def _primary_value(self, context: Any, index: int) -> dict[str, Any] | None:
        values = context["ti"].xcom_pull(task_ids=self.plan_task_id, key=PRIMARY_INPUTS_XCOM_KEY) or []
        value = values[index] if index < len(values) else None
        return value.get("dataset") if isinstance(value, dict) else None

    def _rows(self, context: Any, batch: dict[str, Any]) -> Any:
        from amlflow.data.dataset_values import dataset_from_value

        dataset = dataset_from_value(self._primary_value(context, batch["input"]))
        frame = dataset.to_pandas_dataframe()
        if "partition" in batch:
            chosen = frame
            for key, value in batch["partition"].items():
                chosen = chosen[chosen[key].map(mini_batches._text) == value]
            return chosen.reset_index(drop=True)
        start, stop = batch["rows"]
        return frame.iloc[start:stop].reset_index(drop=True)

    def _run_driver(self, cwd: str, request_path: str, request: dict[str, Any], context: Any) -> None:
        from amlflow_user.parallel_run import OUTPUT_DIR_ENV

        ti = context["ti"]
        models = ti.xcom_pull(task_ids=self.plan_task_id, key=MODELS_XCOM_KEY) or []
        aml_env = {
            **data_environment(request["side_inputs"], {spec["name"]: request["output_dir"] for spec in self.outputs}),
            **run_variables(ti.run_id, ti.task_id, None),
            OUTPUT_DIR_ENV: request["output_dir"],
            MODEL_DIR_ENV: stage_models(models, os.path.join(leases.work_root(), "models")),
        }
        self.log.info("Running %s on mini-batch %s", self.entry_script, mini_batches.label(self.mini_batch or {}))
        self._process = ScriptProcess(
            [sys.executable, "-m", "amlflow.runtime.parallel_driver", request_path],
            cwd,
            script_environment(self.environment_variables, aml_env),
            self.log,
            config.get_int("stderr_tail_lines"),
        )
        done = self._process.run()
        if self._stopping:
            raise StepInterruptedError(
                f"step {self.step_name!r}: the mini-batch task was told to stop and stopped the entry script; "
                "a try that could not finish is retried while retries are left"
            )
        if done.returncode != 0:
            what = (
                "init() failed" if done.returncode == INIT_FAILED else f"the entry script exited with {done.returncode}"
            )
            tail = "\n".join(done.stderr_tail) or "(nothing on stderr)"
            raise StepFailedError(
                f"step {self.step_name!r}, {self.entry_script}: {what}; last lines of stderr:\n{tail}"
            )

    def _keep_files(self, ti: Any, index: int, output_dir: str) -> str | None:
        """Upload what the script wrote to ``output_dir``, under this try's own folder; that folder, or None."""
        pairs = [
            (os.path.join(root, name), os.path.relpath(os.path.join(root, name), output_dir))
            for root, _dirs, names in os.walk(output_dir)
            for name in sorted(names)
        ]
        if not pairs:
            return None
        prefix = join(mini_batches.result_folder(ti.dag_id, ti.run_id, self.step_name, index), f"try-{ti.try_number}")
        get_backend(config.get("default_datastore")).upload_many((local, join(prefix, rel)) for local, rel in pairs)
        return prefix

    def on_kill(self) -> None:
        """SIGTERM to the task: stop the entry script."""
        self._stopping = True
        if self._process is not None:
            self._process.kill()


class ParallelRunGatherOperator(_ParallelRunTask):
    """The step's end: thresholds checked, every mini-batch's rows and files committed as the output once."""

    operator_extra_links = STEP_LINKS

    def execute(self, context: Any) -> None:
        """Check the thresholds and commit the step's output, within one step try."""
        with step_try(context, self.log, self._output_datastores(), self._retries_are_ours):
            self._gather(context)

    def _gather(self, context: Any) -> None:
        ti = context["ti"]
        fingerprint = ti.xcom_pull(task_ids=self.plan_task_id, key=reuse.FINGERPRINT_XCOM_KEY)
        lifecycle = StepLifecycle(context, self.outputs, fingerprint, self.allow_reuse, self.log)
        if ti.xcom_pull(task_ids=self.plan_task_id, key=REUSED_XCOM_KEY):
            earlier = reuse.find_reusable(fingerprint, [spec["name"] for spec in self.outputs])
            if earlier is None:
                raise StepFailedError(
                    f"step {self.step_name!r}: the run it was to reuse is no longer committed; run the pipeline again"
                )
            lifecycle.hand_on(earlier, "no mini-batch ran", metrics=False)
            return
        batches = ti.xcom_pull(task_ids=self.plan_task_id) or []
        results = [self._result(ti, batch) for batch in batches]
        thresholds = mini_batches.Thresholds(
            self.setting("error_threshold"),
            self.setting("allowed_failed_count"),
            self.setting("allowed_failed_percent"),
        )
        broken = thresholds.exceeded(results)
        failures = mini_batches.describe_failures(results)
        if broken:
            raise StepFailedError(f"step {self.step_name!r}: {'; '.join(broken)}. Failed:\n{failures}")
        if failures:
            self.log.warning("Within the error thresholds, these failed:\n%s", failures)
        committed, registered = self._commit(ti, results) if self.outputs else ({}, {})
        lifecycle.finish(committed, registered)
        ti.xcom_push(key=SUMMARY_XCOM_KEY, value=_summary(results))

    def _result(self, ti: Any, batch: dict[str, Any]) -> mini_batches.MiniBatchResult:
        result = mini_batches.read_result(ti.dag_id, ti.run_id, self.step_name, batch["index"])
        if result is None:
            raise StepFailedError(
                f"step {self.step_name!r}: mini-batch {batch['index']} ({mini_batches.label(batch)}) left no result"
            )
        return result

    def _commit(self, ti: Any, results: list[mini_batches.MiniBatchResult]) -> tuple[dict[str, Any], dict[str, Any]]:
        backend = get_backend(config.get("default_datastore"))
        with StagedOutputs(self.outputs, ti.dag_id, ti.run_id, ti.task_id) as outputs:
            local = outputs.local_paths()[self.outputs[0]["name"]]
            for result in results:
                if result.files_prefix:
                    for info in backend.list_files(result.files_prefix):
                        target = os.path.join(local, *info.path[len(result.files_prefix) + 1 :].split("/"))
                        os.makedirs(os.path.dirname(target), exist_ok=True)
                        backend.download_file(info.path, target)
            if self.setting("output_action").lower() == "append_row":
                name = self.parallel_config.get("append_row_file_name") or "parallel_run_step.txt"
                with open(os.path.join(local, name), "w") as handle:
                    for result in results:
                        handle.writelines(row + "\n" for row in result.rows)
            committed = outputs.commit()
            return committed, outputs.registered


def _summary(results: list[mini_batches.MiniBatchResult]) -> dict[str, Any]:
    return {
        "mini_batches": len(results),
        "failed_mini_batches": [result.index for result in results if result.failed][: mini_batches.LISTED_FAILURES],
        "failed_items": sum(result.failed_items for result in results),
        "succeeded_items": sum(result.succeeded for result in results),
        "rows": sum(len(result.rows) for result in results),
    }


def _input_value(spec: dict[str, Any], where: Any) -> dict[str, Any]:
    """How the mini-batch tasks find the dataset the plan read (the one this run chose)."""
    if spec["kind"] == "Dataset":
        from amlflow.data.dataset_values import dataset_value

        return {"dataset": dataset_value(where)}
    return {"location": where.to_xcom() if hasattr(where, "to_xcom") else list(where)}


def _input_files(spec: dict[str, Any], where: Any) -> tuple[list[Any], str | None]:
    """The files of a primary input, and its partition_format (a dataset's; an earlier step's output has none)."""
    from amlflow.data.dataset_sources import SourceFile
    from amlflow.runtime.inputs import resolve_input

    if spec["kind"] == "Dataset":
        return where._files(), where.definition.get("partition_format")
    backend, path = resolve_input(spec, where)
    files = [info for info in backend.list_files(path) if not _is_bookkeeping(info.path)]
    return [
        SourceFile("datastore", backend.name, info.path, info.path[len(path) :].lstrip("/"), "/" + info.path)
        for info in files
    ], None


def _is_bookkeeping(path: str) -> bool:
    return any(part.startswith(".amlflow") for part in path.split("/"))


def _source_sizes(definition: dict[str, Any]) -> list[int]:
    from amlflow.data.dataset_sources import listing_prefix

    sizes = []
    for source in definition.get("sources", []):
        if "datastore" in source:
            sizes.extend(
                info.size for info in get_backend(source["datastore"]).list_files(listing_prefix(source["path"]))
            )
    return sizes


def _fetch(file: Any, folder: str) -> str:
    local = os.path.join(folder, *file.relative.split("/"))
    in_place = file.in_place()
    if in_place:
        return in_place
    file.fetch(local)
    return local
