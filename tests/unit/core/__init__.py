"""Tests of amlflow.core."""
