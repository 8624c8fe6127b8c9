"""The compare page: raw, compressed and every method of a test set, wiped against each other.

:func:`debiasqe.compare.page.build_page` writes ``results/compare/{dataset}/index.html``
(``debiasqe compare``; the ``compare`` rule).
"""
