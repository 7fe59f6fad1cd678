"""The telemetry pipeline: write-ahead log -> background batcher -> MLflow ``log_batch``."""
