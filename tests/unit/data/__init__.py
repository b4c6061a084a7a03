"""Tests of amlflow.data."""
