"""The lake-scale backfill: an S3 Batch Operations task handler that runs the stream's scrubber over
one historic JSON-lines object and writes the result to the lake."""
