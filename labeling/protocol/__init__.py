"""Protocol room: capturing git-smart-commit's protocol from the user's own tool.

``session`` plays the model's side over an OpenAI-compatible endpoint, ``layout``
turns what the tool sent into comparable layouts and a content hash, ``store``
keeps it as a ProtocolVersion (with the drift diff), ``check`` compares gsctune's
built-in renderer with a capture, ``scratch`` builds a throwaway repository that
shows the tool every rendering case.
"""
