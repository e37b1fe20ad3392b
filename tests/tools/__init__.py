"""Tests for the tools/ scripts: benchmark smoke runs."""
