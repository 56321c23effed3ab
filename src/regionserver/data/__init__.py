"""The data path of a RegionServer: region stores of HBase's data model, scanners, filters (DESIGN §11)."""
