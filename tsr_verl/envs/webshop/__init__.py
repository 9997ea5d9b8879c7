"""WebShop without Java: a faithful reimplementation of princeton-nlp/WebShop's text environment.

Parts: ``schema`` (data contract), ``store`` (catalog on disk), ``goals`` (goal generation and
fixed splits), ``synthetic`` (a small catalog in the raw schemas), ``download`` (real data
tiers), ``search`` (BM25 backends), ``reward`` (the purchase reward), ``env`` (pages, actions,
fork, progress), ``shards`` (Ray actors serving many sessions).
"""
