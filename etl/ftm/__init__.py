"""FollowTheMoney (FtM) interchange: the dataset as FtM entities (`python -m etl export ftm`) and FtM entities as a
ledger (`python -m etl import-ftm FILE`).

model.py derives which column goes to which FtM property from etl/schema.py, export.py builds and validates the
entities with the `followthemoney` package, ingest.py turns an FtM file into ledgers/imported/NAME.csv with the
importer's own checks, writer and merge proposals.
"""
