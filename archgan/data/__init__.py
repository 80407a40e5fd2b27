"""Training data: image folders and their uint8 cache (folder.py), per-step batches on the device
(stream.py), and the bundled emoji (archgan.resources.bundled_emoji_dir)."""
