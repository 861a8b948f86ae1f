"""Layer 5, many calls as one: swept parameters, their items and their combined Dataset, run locally
or on Dask."""
