"""Storage service: Files in S3."""
