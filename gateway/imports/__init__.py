"""Bringing existing files in: zip archives over HTTP (`archive`), trees of folders on disk from the command line
(`tree`). Both write through the files service and its one write step, and announce through the change hook."""
