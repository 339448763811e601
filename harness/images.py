"""Guest disk images for inspection (placeholder until the images module lands)."""
