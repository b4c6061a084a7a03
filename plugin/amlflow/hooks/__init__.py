"""Airflow hooks of amlflow: Data Lake Analytics and Databricks."""
