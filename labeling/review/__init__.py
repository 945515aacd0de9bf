"""Review room: the queue, verdicts, corrections and the quality gate."""
