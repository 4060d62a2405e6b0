"""The single exception type every codec failure is reported as."""


class ArchiveCorrupt(ValueError):
    """A segment or code table is damaged, truncated, or needs a table it was not given."""
