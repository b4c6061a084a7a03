"""Tests of amlflow.triggers."""
