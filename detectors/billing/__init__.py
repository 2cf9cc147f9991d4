"""Cloud billing detectors: LLM spend on AWS, Azure and GCP bills, from the billing APIs or export files.

``aws.py``, ``azure.py`` and ``gcp.py`` are the detectors (one per cloud); ``common.py`` holds what
they share (options, the catalogue match, aggregation into findings), ``sql.py`` builds the one
aggregate query over an export schema, and ``files.py`` runs it with DuckDB over export files.
The cloud SDKs and DuckDB are imported only inside ``run``: every ``scan`` imports these modules.
"""
