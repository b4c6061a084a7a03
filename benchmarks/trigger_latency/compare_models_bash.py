"""Compare_Models written by hand with BashOperators: the anchor of ``benchmarks/trigger_latency.py``.

The same three scripts (``compare_models/`` beside this file in the DAG folder) with the same arguments,
reading the uploaded input and writing run-scoped folders of the local ``workspaceblobstore`` datastore
directly: what a data engineer writes without amlflow.
"""

import os
import sys

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compare_models")
STORE = "$AIRFLOW_HOME/datastores/workspaceblobstore"
DATA = f'"{STORE}/20newsgroups/20news.csv"'
PYTHON = sys.executable


def out(name: str) -> str:
    """A run-scoped folder of the datastore, as amlflow would make (Jinja fills in the run id)."""
    return f'"{STORE}/bash/{{{{ run_id }}}}/{name}"'


with DAG(
    "Compare_Models_Bash",
    schedule=None,
    params={"pipeline_arg": Param(10, type="integer")},
    is_paused_upon_creation=False,
    tags=["benchmark"],
):
    train = BashOperator(
        task_id="train.py",
        cwd=SCRIPTS,
        bash_command=f"{PYTHON} train.py --input {DATA} --output {out('processed_data1')}",
    )
    extract = BashOperator(
        task_id="extract.py",
        cwd=SCRIPTS,
        bash_command=(
            f"{PYTHON} extract.py --input_data {DATA} --models {out('processed_data1')}"
            f" --output_extract {out('processed_data2')}"
        ),
    )
    compare = BashOperator(
        task_id="compare.py",
        cwd=SCRIPTS,
        bash_command=(
            f"{PYTHON} compare.py --comp_data1 {out('processed_data1')} --comp_data2 {out('processed_data2')}"
            f" --output_data {out('out_data3')} --param1 {{{{ params.pipeline_arg }}}}"
        ),
    )
    train >> extract >> compare
