#!/usr/bin/env python3
"""Print the feature dimension of the first matrix of a kaldiio scp (for shell stages).

    python -m espnet_plugin.bin.feat_dim exp/svae_x/latents/train/latents.scp    # -> 64
"""
import sys

import kaldiio


def main(cmd=None) -> None:
    args = cmd if cmd is not None else sys.argv[1:]
    if len(args) != 1:
        sys.exit("usage: python -m espnet_plugin.bin.feat_dim <feats.scp>")
    with open(args[0]) as f:
        key, path = f.readline().split(maxsplit=1)
    print(kaldiio.load_mat(path.strip()).shape[1])


if __name__ == "__main__":
    main()
