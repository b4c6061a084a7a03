"""Tests of amlflow.factory."""
