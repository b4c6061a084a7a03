"""Tests of amlflow.pipeline."""
