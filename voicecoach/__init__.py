"""voicecoach: an offline, private voice companion for anxious attachment."""

__version__ = "0.1.0"
