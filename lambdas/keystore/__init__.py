"""Adapter: the per-subject key store (privacy.subjects.KeyStore) on DynamoDB and KMS."""
