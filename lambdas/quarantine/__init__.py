"""Recovering quarantined records: the redrive of Firehose's error objects back onto the source
stream (``redrive``), its Lambda handler, and its S3 and Kinesis adapters."""
