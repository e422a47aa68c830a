"""Export a model's decoder to ONNX for the page: ``python -m train.export_onnx --model weights/``.

Writes MODEL/decoder.onnx (or --out), a self-contained file that records the weights it came
from, then checks it: random codes decoded by onnxruntime and by PyTorch, pixels compared. The
app exports one by itself at start when the weights folder has none; this command is for
bundling it (and for seeing the check).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from disguise.vae.model import VAE, WEIGHTS_NAME
from disguise.vae.onnx_decoder import DECODER_NAME, check_parity, export_decoder, weights_digest
from train._cli import fail, run


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m train.export_onnx", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="weights folder (config.json, model.safetensors)")
    p.add_argument("--out", default=None, help=f"default: MODEL/{DECODER_NAME}")
    p.add_argument("--check", type=int, default=256, help="random codes to compare (0: no check)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    folder = Path(args.model)
    model = VAE.from_pretrained(folder)
    out = Path(args.out) if args.out else folder / DECODER_NAME
    t0 = time.perf_counter()
    export_decoder(model, out, weights_digest(folder / WEIGHTS_NAME))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - t0:.1f} s")
    if args.check:
        # codes like the app decodes: the prior's spread, and edits pushing well beyond it
        gen = torch.Generator().manual_seed(args.seed)
        codes = torch.randn(args.check, model.config.z_dim, generator=gen) * torch.linspace(0.5, 3, args.check)[:, None]
        parity = check_parity(out, model, codes)
        print(f"onnxruntime against PyTorch: {parity}")
        if parity.max_levels > 1:
            fail(f"the export differs from PyTorch by {parity.max_levels} levels (more than 1)", code=1)
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
