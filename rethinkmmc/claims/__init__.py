"""Each claim of Pang et al. (ICLR 2020) that the report tests, one module per notebook: what
it attacks or measures, its tables, and its verdict rows. The notebooks call these, one call
per step; the logic is here so that it is unit-tested (tests/test_claims.py).

- :mod:`.common`: looking up rows of result frames, results over several seeds.
- :mod:`.centers` (01), :mod:`.whitebox` (02), :mod:`.blackbox` (03), :mod:`.corruptions`
  (04), :mod:`.uncertainty` (05), :mod:`.cost` (06), :mod:`.density` (07), :mod:`.features`
  (08), :mod:`.remark3` (09), :mod:`.cmm` (10), :mod:`.hmmc` (11).
"""
