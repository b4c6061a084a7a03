"""Airflow triggers of amlflow: ADLA jobs and datastore changes."""
