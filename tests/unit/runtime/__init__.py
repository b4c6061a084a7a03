"""Tests of amlflow.runtime."""
