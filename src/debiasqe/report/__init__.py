"""Paper outputs: tables, figures and the paper's published reference values."""
