"""Results: the store, and what is read out of it: metrics, tables, plots, the report and its claims."""
