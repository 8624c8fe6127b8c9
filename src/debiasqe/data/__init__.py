"""Dataset acquisition (download, verify, extract, split) and training patches."""
