"""Stands for a PySpark script: uploaded to DBFS by the step and run by the (double's) cluster."""

print("scoring")
