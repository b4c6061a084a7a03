"""Tests of amlflow.pipeline.core."""
