"""Export room: SFT training-data snapshots."""
