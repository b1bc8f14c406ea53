"""Frames stage: decode every video once into a cache that every consumer derives its frames from."""
