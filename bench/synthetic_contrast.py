"""How strongly the synthetic CelebA draws each attribute, at the model's size and as the model
redraws it: the same faces with one attribute switched on and off (``disguise.data.switched``).

    python bench/synthetic_contrast.py [--weights weights] [--faces 60] [--seed 5] [--labels Pointy_Nose,Bangs]

Per attribute, the median over the faces of the largest change of any pixel channel (of 255) and of
the number of pixels (of the model's size squared) changed by more than 8; on the faces as the
model sees them and on its reconstructions of them. An attribute whose switch the faces barely
show can be learned by no model, added by no slider and graded by no judge; one the faces show
but the reconstructions do not is beyond the model's drawing.
"""

from __future__ import annotations

import argparse
from statistics import median

import _common  # noqa: F401  (the import path)
import numpy as np

from disguise.attributes import DRAWN
from disguise.data.switched import CHANGED, Contrast, switched_pair
from disguise.sliders.editor import Editor


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(_common.ROOT / "weights"), help="the model whose size and drawing to use")
    p.add_argument("--faces", type=int, default=60, help="faces per attribute")
    p.add_argument("--seed", type=int, default=5, help="the synthetic set's seed the faces come from")
    p.add_argument("--labels", default="", help="comma-separated attributes (default: every drawn one)")
    args = p.parse_args()
    names = [a for a in args.labels.split(",") if a] or list(DRAWN)
    unknown = sorted(set(names) - set(DRAWN))
    if unknown:
        p.error(f"not drawn CelebA attributes: {', '.join(unknown)}")
    if args.faces < 1:
        p.error("--faces must be at least 1")
    editor = Editor.from_pretrained(args.weights)
    size = editor.policy.size
    print(f"{len(names)} attributes x {args.faces} faces of synthetic set {args.seed}, at {size} px "
          f"({args.weights}); pixels changed by more than {CHANGED}/255, of {size * size:,}")
    print("| attribute | faces: largest change | faces: pixels | reconstructions: largest change | reconstructions: pixels |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in names:
        pairs = [switched_pair(args.seed, k, name) for k in range(args.faces)]
        on = np.stack([editor.policy.apply(a) for a, _ in pairs])
        off = np.stack([editor.policy.apply(b) for _, b in pairs])
        drawn = [editor.decode_float(editor.encode(x)).mul(255).permute(0, 2, 3, 1).numpy() for x in (on, off)]
        faces = [Contrast.between(a, b) for a, b in zip(on, off)]
        redrawn = [Contrast.between(a, b) for a, b in zip(*drawn)]
        print(f"| {name} | {median(c.largest for c in faces):.0f} | {median(c.pixels for c in faces):.0f} | "
              f"{median(c.largest for c in redrawn):.0f} | {median(c.pixels for c in redrawn):.0f} |")


if __name__ == "__main__":
    main()
