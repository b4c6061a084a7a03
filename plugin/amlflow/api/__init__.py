"""The AML-compatible pipeline service, served by the amlflow Airflow plugin (``plugin.py``), and its URLs."""
