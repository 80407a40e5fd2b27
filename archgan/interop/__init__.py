"""Other packages' files: attn_gan_pytorch configs and state dicts (attn_gan.py), and the one loader of
pretrained weights for our networks (pretrained.py)."""
