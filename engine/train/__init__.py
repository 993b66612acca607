"""Training pipeline for the soundscape stylizer (Li et al., "Self-Supervised Audio-Visual
Soundscape Stylization"): corpus -> pretext pairs -> enhancement H -> cached shards ->
VAE -> vocoder -> conditional LDM -> one ``engine.diffusion`` package.

This package imports ``engine.diffusion``; the models never import it. Submodules are imported
explicitly (``from engine.train.pairs import PretextSampler``) so that importing one light
module never drags in torch, PyAV, DeepFilterNet or nara-wpe.
"""
