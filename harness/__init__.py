"""lgbench: measure libguestfs appliances the way guestfs-performance(1) says.

Heavy modules (guestfs, pandas, seaborn) are imported where used, so `import harness` and the
config tests work on machines without libguestfs.
"""

__version__ = "0.1.0"
