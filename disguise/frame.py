"""CelebA's aligned frame: the image size and where the eyes and the mouth sit in it.

CelebA's "Align&Cropped" images were made by a similarity transform that puts the left eye, the
right eye and the mouth centre at these points of a 178 x 218 image (``shared/CELEBA.md``). The
synthetic faces are drawn in this frame, uploads are warped into it, and the preprocessing crop is a
box inside it: one definition for all of them.
"""

from __future__ import annotations

WIDTH, HEIGHT = 178, 218
SIZE = (WIDTH, HEIGHT)  # (width, height), as PIL gives image sizes
LEFT_EYE = (70.745, 112.0)
RIGHT_EYE = (108.237, 112.0)
MOUTH = (89.432, 153.514)
EYE_MID = ((LEFT_EYE[0] + RIGHT_EYE[0]) / 2, (LEFT_EYE[1] + RIGHT_EYE[1]) / 2)
