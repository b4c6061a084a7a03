"""Tests of amlflow.pipeline.steps."""
