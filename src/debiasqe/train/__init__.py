"""Training stage: recipes, the trainer, losses (incl. L_R), EMA, checkpoints."""
