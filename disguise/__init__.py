"""disguise: see how a face may look in disguise, with a VAE and CelebA attribute vectors.

The library's wings: ``data``, ``vae``, ``photo``, ``identity``, ``evaluation``, ``classic``,
``serving`` and ``training`` (the one run driver); the shared basics at the top: ``attributes``,
``frame``, ``files``, ``preprocess`` and ``pretrained`` (the one way models are saved and loaded).
Importing any module is cheap and has no side effects.
"""

__version__ = "0.1.0"
