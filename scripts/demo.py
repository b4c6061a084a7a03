"""``make demo``: start Airflow from ``.demo/``, run the example pipeline over REST, show what happens.

Airflow (api-server, scheduler, dag-processor, triggerer) runs on 127.0.0.1, port ``AMLFLOW_DEMO_PORT``
(default 8080), with AIRFLOW_HOME ``.demo/`` and the repository's ``dags/`` as its DAG folder. A demo
already running on that port is reused; one on another port is restarted. Airflow keeps running
afterwards (``make stop`` stops it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from scripts.stack import Stack, StackError  # noqa: E402 - the repository root is put on the path first

HOME = os.path.join(ROOT, ".demo")
DAG_ID = "Compare_Models"
REPORT = ("compare.py", "out_data3", "report.json")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pipeline-arg", type=int, default=1, help="value of pipeline_arg (the pipeline's default: 10)"
    )
    args = parser.parse_args()
    port = int(os.environ.get("AMLFLOW_DEMO_PORT", "8080"))
    try:
        stack = start(port)
        return run_example(stack, args.pipeline_arg)
    except StackError as error:
        print(f"\ndemo failed: {error}", file=sys.stderr)
        return 1


def start(port: int) -> Stack:
    previous = Stack.load(HOME)
    if previous is not None and previous.running():
        if previous.port == port and previous.healthy():
            print(f"Airflow from the previous `make demo` is running at {previous.url}: reusing it.")
            return previous
        why = "is not healthy" if previous.port == port else f"runs on port {previous.port}, not {port}"
        print(f"The previous demo's Airflow {why}: restarting it.")
        previous.stop()
    stack = Stack.prepare(HOME, port, dags_folder=os.path.join(ROOT, "dags"), users={"admin": "admin"})
    print(f"Starting Airflow 3 (api-server, scheduler, dag-processor, triggerer) on {stack.url}, home {HOME} ...")
    began = time.monotonic()
    stack.start()
    print(f"Airflow is healthy after {time.monotonic() - began:.0f} s; component logs in {stack.run_dir}.")
    return stack


def run_example(stack: Stack, pipeline_arg: int) -> int:
    print("\nUploading the example's input data (dags/compare_models/upload_data.py) ...")
    upload = subprocess.run(
        [sys.executable, os.path.join(ROOT, "dags", "compare_models", "upload_data.py")],
        env=stack.env,
        capture_output=True,
        text=True,
    )
    if upload.returncode != 0:
        raise StackError(f"upload_data.py failed:\n{upload.stderr}")
    print("  " + upload.stdout.strip().splitlines()[-1])

    token = stack.token("admin")
    dag = stack.wait_for_dag(DAG_ID, token)
    print(f"Pipeline {DAG_ID} is published (paused: {dag['is_paused']}).")

    print(f"\nPOST {stack.url}/api/v2/dags/{DAG_ID}/dagRuns  conf={{'pipeline_arg': {pipeline_arg}}}")
    run_id = stack.trigger(DAG_ID, {"pipeline_arg": pipeline_arg}, token)["dag_run_id"]

    # From here on the demo is a user of amlflow's client, as a notebook would be after a REST trigger.
    os.environ.update(stack.env)  # this deployment's config: the client reads outputs from its datastores
    from amlflow.api.urls import run_page_path
    from amlflow.core import Workspace
    from amlflow.core.authentication import AirflowTokenAuthentication
    from amlflow.pipeline.core.run import PipelineRun

    auth = AirflowTokenAuthentication(api_url=stack.url, username="admin", password=stack.passwords["admin"])
    run = PipelineRun.get(Workspace(auth=auth, api_url=stack.url), run_id)
    status = run.wait_for_completion(show_output=True, timeout_seconds=600, raise_on_error=False)
    if status == "Finished":
        show_outputs(run)
    else:
        for step in run.get_steps():
            if step.get_status() == "Failed":
                print(f"\n{step.name} failed; end of its stderr:\n{step.get_stderr_log()[-3000:]}")
    print(f"\nAirflow UI:   {run.get_portal_url()}")
    print(f'Pipeline view: {stack.url}{run_page_path(DAG_ID, run_id)} (the run\'s "Pipeline view" tab)')
    print(f"Log in as:    admin / {stack.passwords['admin']}")
    print(f"REST API:     {stack.url}/api/v2 (token: POST {stack.url}/auth/token)")
    print("Airflow keeps running; `make stop` stops it.")
    return 0 if status == "Finished" else 1


def show_outputs(run: Any) -> None:
    print("\nOutputs (datastore paths, committed with a manifest):")
    for step in run.get_steps():
        for name, port in step.get_outputs().items():
            print(f"  {step.name:<12} {name:<16} {port.uri}{'  (reused)' if step.is_reused else ''}")
    step_name, output, file_name = REPORT
    folder = os.path.join(HOME, "outputs")  # download() adds the output's run-scoped datastore path
    port = run.find_step_run(step_name)[0].get_output_data(output)
    port.download(folder, overwrite=True, show_progress=False)
    local = os.path.join(folder, *port.path_on_datastore.split("/"), file_name)
    with open(local) as handle:
        report = json.load(handle)
    summary = {k: report[k] for k in ("best_model", "ranking", "scores", "pipeline_arg", "pipeline_arg_env")}
    print(f"\nReport of {step_name}, downloaded to {local}:")
    print("  " + json.dumps(summary, indent=1).replace("\n", "\n  "))


if __name__ == "__main__":
    sys.exit(main())
