"""Dogfooding through a recording proxy (issue 14, item 4).

``forward`` is the OpenAI-compatible (and native Ollama) proxy that passes every
request to the real student endpoint unchanged and hands each exchange to a
``Recorder``; ``sessions`` groups exchanges into the tool's sessions; ``convert``
turns a finished session into the hunks, diff and proposal it shows; ``store``
keeps sessions as RecordedSession rows and the finished ones as examples with a
production label for review; ``run`` serves it for ``manage.py record_sessions``.
"""
