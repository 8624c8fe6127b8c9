"""Enhancement stage: a trained generator over a folder of compressed images."""
