"""Orchestration: settings, run_pipeline(), output formats, evaluation, CLI."""
