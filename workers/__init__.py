"""Tier workers: the Celery app and task, provider adapters, retry and fallback."""
