"""Disaster recovery: WAL archiving to S3, point-in-time restores, measured RPO and RTO."""
