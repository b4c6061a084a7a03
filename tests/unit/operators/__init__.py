"""Tests of amlflow.operators."""
