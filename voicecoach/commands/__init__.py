"""Sub-commands of ``voicecoach``: each module has ``configure(parser)`` and ``run(args)``."""
