"""Tests of amlflow.storage."""
