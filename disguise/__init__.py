"""disguise: see how a face may look in disguise, with a VAE and CelebA attribute vectors."""

__version__ = "0.1.0"
