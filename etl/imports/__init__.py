"""Turn public datasets (leaks, registers, other outlets' spreadsheets) into ledgers through YAML mappings.

mapping.py reads and checks a mapping file, readers.py reads the source tables it names, transform.py maps their
rows onto ledger columns, resolve.py proposes entity merges, and run.py ties them together for `python -m etl
import MAPPING`.
"""
