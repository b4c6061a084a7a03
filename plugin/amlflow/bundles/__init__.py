"""Where pipelines sent from notebooks live: an Airflow DAG bundle the api-server writes into.

``Experiment.submit(pipeline)`` and ``pipeline.publish()`` outside a DAG file send a YAML definition and
code snapshots to the amlflow plugin on the api-server, which writes them into the bundle named by
``[amlflow] pipeline_bundle`` (``layout`` says where each file goes). The dag-processor parses the bundle
like any other, and every worker reads it at task start, so no machine needs another's disk:

- on one machine, a ``LocalDagBundle`` folder (``store.FolderStore`` writes it);
- on many, ``DatastoreDagBundle``: the bundle's files in the default datastore (Azure Blob), copied to
  each machine by the bundle itself (``store.DatastoreStore`` writes it).
"""
