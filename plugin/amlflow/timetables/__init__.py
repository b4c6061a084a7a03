"""Airflow timetables that schedule runs the way Azure ML v1 schedules do."""
