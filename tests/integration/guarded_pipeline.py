"""Pipelines for the probes of issue 20: a step that runs until released, and one that shows its environment.

``Guarded_Slow``: slow.py reads the DataReference ``notes``, writes 1 MB of its output, then (when the
parameter ``control`` names a folder) writes its pid there and runs until a file ``release`` appears,
so a test can kill its task or stop the scheduler while it runs. ``Guarded_Env`` writes the environment
its script got into its output.
"""

from amlflow.core import Datastore, Workspace
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
store = Datastore(ws, "workspaceblobstore")
notes = DataReference(store, data_reference_name="notes", path_on_datastore="guarded/notes.txt")
out = PipelineData("out", datastore=store)
label = PipelineParameter(name="label", default_value="x")
control = PipelineParameter(name="control", default_value="")
repeat = PipelineParameter(name="repeat", default_value=1)
slow = PythonScriptStep(
    "slow.py",
    arguments=["--input", notes, "--out", out, "--label", label, "--repeat", repeat, "--control", control],
    inputs=[notes],
    outputs=[out],
    source_directory="guarded_pipeline",
    allow_reuse=False,
)
Pipeline(ws, [slow]).publish(name="Guarded_Slow")

environment = PipelineData("environment", datastore=store)
dump = PythonScriptStep(
    "env_dump.py",
    arguments=["--out", environment],
    outputs=[environment],
    params={"mode": "probe"},
    source_directory="guarded_pipeline",
    allow_reuse=False,
)
Pipeline(ws, [dump]).publish(name="Guarded_Env")
