"""Partitions on object storage: the bucket and the versions a store keeps there."""
