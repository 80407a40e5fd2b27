"""The torch modules of the layer types, one file per family; imported only when a network is built.
Each family's registry entry (archgan/layers/<family>.py) names its builder here."""
