"""The small names Azure ML's notebooks touch before their first pipeline: they import and behave as there."""

from __future__ import annotations

import json

import pytest


def test_the_sdk_version_prints():
    import amlflow
    import amlflow.core

    assert amlflow.__version__ == amlflow.core.VERSION


def test_compute_target_exception_is_where_the_samples_import_it_and_has_a_message():
    from amlflow.core import Workspace
    from amlflow.core.compute_target import ComputeTarget, ComputeTargetException

    with pytest.raises(ComputeTargetException) as raised:
        ComputeTarget(Workspace(), "cpu-cluster")
    assert "cpu-cluster" in raised.value.message


def test_a_workspaces_azure_fields_are_strings_from_its_config(tmp_path):
    from amlflow.core import Workspace

    (tmp_path / ".azureml").mkdir()
    config = {"subscription_id": "sub", "resource_group": "rg", "workspace_name": "ws1", "location": "westeurope"}
    (tmp_path / ".azureml" / "config.json").write_text(json.dumps(config))
    ws = Workspace.from_config(path=str(tmp_path))
    assert (ws.name, ws.resource_group, ws.location, ws.subscription_id) == ("ws1", "rg", "westeurope", "sub")
    bare = Workspace()
    # The samples print them with "+": never None.
    assert "Azure region: " + bare.location == "Azure region: airflow"
    assert (bare.subscription_id, bare.resource_group) == ("", "")


def test_runconfig_exports_the_library_and_spark_classes():
    from amlflow.core import databricks
    from amlflow.core.environment import Environment
    from amlflow.core.runconfig import EggLibrary, JarLibrary, MavenLibrary, PyPiLibrary, RCranLibrary, SparkSection

    assert (JarLibrary, MavenLibrary, PyPiLibrary, EggLibrary, RCranLibrary) == (
        databricks.JarLibrary,
        databricks.MavenLibrary,
        databricks.PyPiLibrary,
        databricks.EggLibrary,
        databricks.RCranLibrary,
    )
    spark = Environment("spark").spark
    assert isinstance(spark, SparkSection) and (spark.repositories, spark.packages, spark.precache_packages) == (
        [],
        [],
        True,
    )
    with pytest.raises(AttributeError):
        spark.pakages = []  # a misspelt setting fails instead of being ignored


def test_an_attached_adla_account_says_what_the_samples_print():
    from amlflow.core import Workspace
    from amlflow.core.compute import AdlaCompute, ComputeTarget

    ws = Workspace(subscription_id="sub")
    adla = ComputeTarget.attach(ws, "adla", AdlaCompute.attach_configuration("rg", "myadla"))
    assert (
        adla.cluster_resource_id
        == "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.DataLakeAnalytics/accounts/myadla"
    )
    assert adla.provisioning_errors is None


def test_run_details_tables_escape_and_align():
    from amlflow.widgets.run_details import html_table, text_table

    data = {"run_id": "r1", "status": "Running", "steps": [("train<1>", "Finished", "t0", "t1", "")]}
    assert "train&lt;1&gt;" in html_table(data)
    lines = text_table(data).splitlines()
    assert lines[0] == "PipelineRun r1 Status: Running"
    assert lines[2].split() == ["train<1>", "Finished", "t0", "t1"]
