"""Spreadsheet imports: ``python -m bot import FILE`` and the local workspace's file drop.

``read.py`` streams a CSV or XLSX file's rows, ``headers.py`` maps its columns (HubSpot,
Salesforce and Pipedrive export headers) and guesses what it holds, ``values.py`` reads dates,
amounts and people, ``kinds.py`` turns a row into a CRM event, ``importer.py`` runs the batches
through ``handlers.ingest.ingest_events``, ``cli.py`` is the command, ``samples.py`` the demo CSVs.
"""
