"""Tests of amlflow.timetables."""
