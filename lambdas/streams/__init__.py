"""Kinesis adapters shared by the Lambdas (bundled with each function that writes to a stream)."""
