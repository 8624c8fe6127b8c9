"""Compression stage: codecs (registered by decoration), the per-level compress job, rate summary."""
