"""Faces and images to learn from: reading and checking a CelebA folder, the decoded-faces cache,
index batches, a Gaussian blur of pictures in torch, the synthetic CelebA (drawn faces with true
labels), photo-like scenes, and the classic data sets' formats (MNIST's IDX files, Frey faces' .mat)."""
