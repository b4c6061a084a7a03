"""One Airflow operator per step kind."""
