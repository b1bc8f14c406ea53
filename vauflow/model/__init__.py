"""Models: build the tiny presets locally, fetch the real ones, load either, and build model inputs."""
