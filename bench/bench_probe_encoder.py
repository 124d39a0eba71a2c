#!/usr/bin/env python3
"""ASR-probe encoder: ESPnet's packed ``rnn`` BiLSTM vs the project's unpacked ``blstm``, side by side.

    python bench/bench_probe_encoder.py [--quick] [--device cuda] [--threads 1]

One training step (forward + backward) of the probe's encoder on a batch like the embedded recipe's
(8 utterances of 100 Hz fbank, 2-3 s, 80 -> 128 pre-encoder output), the two encoders with the same
sizes (2 layers, 128 units per direction). Both compute the same function
(``tests/test_probe_encoder.py``); the script prints the median time per step and the ratio.
"""
from __future__ import annotations

import argparse

import torch

from common import add_common_args, interleaved, machine_info, median, resolve_args, table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(p, repeats=5)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=300, help="longest utterance in frames (100 Hz)")
    args = p.parse_args()
    device = resolve_args(args)
    from espnet2.asr.encoder.rnn_encoder import RNNEncoder

    from espnet_plugin.probe.encoder import BLSTMEncoder

    frames = 100 if args.quick else args.frames
    torch.manual_seed(0)
    lens = torch.linspace(frames, frames * 0.6, args.batch).long()
    x = torch.randn(args.batch, frames, 128, device=device)
    packed = RNNEncoder(128, rnn_type="lstm", bidirectional=True, use_projection=False, num_layers=2,
                        hidden_size=128, output_size=128, dropout=0.1, subsample=None).to(device)
    ours = BLSTMEncoder(128, num_layers=2, hidden_size=128, output_size=128, dropout=0.1).to(device)

    def step(enc):
        def run():
            y, _, _ = enc(x.requires_grad_(False), lens)
            y.sum().backward()
        return run

    times = interleaved({"rnn (packed)": step(packed), "blstm (unpacked)": step(ours)}, device,
                        args.repeats, args.warmup)
    print(machine_info(device))
    t_rnn, t_ours = median(times["rnn (packed)"]), median(times["blstm (unpacked)"])
    print(table(["encoder", "s / step (fwd + bwd)", "speed-up"],
                [["ESPnet rnn, packed", f"{t_rnn:.3f}", "1.00x"],
                 ["blstm, unpacked", f"{t_ours:.3f}", f"{t_rnn / t_ours:.2f}x"]]))


if __name__ == "__main__":
    main()
