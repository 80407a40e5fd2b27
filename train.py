#!/usr/bin/env python3
"""Train a progressive GAN: `python train.py --help` lists every flag (the same as `archgan train`)."""
import sys

from archgan.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
