"""The cases of ``benchmarks/run.py``: linear Fokker–Planck problems against PDE packages
(:mod:`.linear`, :mod:`.peers`), guided reverse processes against particles (:mod:`.guided`),
throughput and scaling (:mod:`.throughput`); timing in :mod:`.record`, tables and figures in
:mod:`.report`."""
