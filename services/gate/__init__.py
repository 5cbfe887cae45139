"""The gate the MES asks before each production step: PASS, or BLOCK with every reason and what to do."""
