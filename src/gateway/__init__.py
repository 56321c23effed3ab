"""Gateways: daemons that serve another system's client protocol over the Regent SDK (DESIGN.md §12).

`gateway.thrift` is `regent thrift`, HBase's Thrift1 `Hbase` service, so that happybase programs (and any
Thrift HBase client) work unchanged.
"""
