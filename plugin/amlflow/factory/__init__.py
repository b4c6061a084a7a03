"""Turning pipeline definitions into Airflow DAGs: ``build_dag`` for a ``Pipeline`` object."""
