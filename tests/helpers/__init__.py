"""What several test modules share: console scripts run as users run them (lgbench), and
hand-built trial rows and stored runs (rows). Test modules import these, never each other."""
