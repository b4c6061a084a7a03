"""Tests of amlflow.widgets."""
