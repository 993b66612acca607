"""Evaluation suite (`roomtone eval`): a seeded test set with ground truth, the systems under test,
their metrics with confidence intervals, and a Markdown report.

Modules, one job each: ``cases`` (test set), ``systems`` (what is scored), ``deconvolution``
(room and ambience of an output against the known dry input), ``spectral``, ``texture``,
``perceptual`` (STOI, speaker similarity, DNSMOS), ``retrieval``, ``stats`` (bootstrap CIs),
``metrics`` (per-output numbers), ``runner`` (the loop), ``report`` (files), ``cli``.
Heavy optional packages (pystoi, resemblyzer, speechmos, matplotlib: the ``eval`` extra) are
imported lazily, only by the metric that needs them.
"""
